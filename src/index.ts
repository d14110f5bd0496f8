// irqlab's public API: what a device author, a scenario writer and a test
// need, importable as 'irqlab' (README: "Use irqlab in your own project").
export { VfioUserServer, type ServerOptions } from './server/server.ts';
export { PciFunction, type PciFunctionSpec, type PciIds, type BarWindow } from './pci/function.ts';
export { ConfigSpace } from './pci/config-space.ts';
export type { CapabilitySpec, MsiSpec, MsixSpec } from './pci/capabilities.ts';
export type { BarSpec, BarType } from './pci/bars.ts';
export { RegisterMap, type RegisterSpec, type NarrowRegisterSpec, type WideRegisterSpec, type RegisterMapSpec, type Access } from './device/register-map.ts';
export type { DeviceModel, DeviceContext, HandlerContext, RegionAccessHook } from './device/model.ts';
export type { Interceptor } from './server/session.ts';
export type { IrqHook, MessageOverride } from './irq/hooks.ts';
export type { DeviceDmaHook, DmaVerdict, DmaReadOptions, DmaWriteOptions } from './dma/device-dma.ts';
export { DMA_PIECE } from './dma/dma-space.ts';
export { crc32, crc32Le } from './dma/crc32.ts';
export { DmaOrdering } from './irq/dma-ordering.ts';
export {
  ImsTable, type ImsHost, type ImsSlot,
  IMS_SLOT_SIZE, IMS_ADDR_LO, IMS_ADDR_HI, IMS_DATA, IMS_CTRL, IMS_CTRL_MASK, IMS_CTRL_PENDING,
} from './irq/ims.ts';
export { ImsQueueDevice, type ImsQueueOptions } from './devices/ims-queue.ts';
export { loadDevice, builtinDevices, type DeviceFactory } from './devices/registry.ts';
export { IRQ_KINDS, type IrqEvent, type IrqKind, type IrqOutcome } from './irq/events.ts';
export { VfioUserClient } from './client/index.ts';
export { VfioError, Errno } from './protocol/index.ts';
/** vfio-user's numbers: regions (0-5 BARs, 6 ROM, 7 config), irq indexes, commands by name. */
export { Region, IrqIndex, Command, commandName, irqIndexName, type CommandCode } from './protocol/constants.ts';
export { FaultEngine, type FaultEvent, type RuleStatus } from './faults/engine.ts';
export {
  parseRule, describeRule, RuleError, ACTIONS,
  type FaultRule, type IrqRule, type ReadRule, type WriteRule, type CommandRule, type DmaRule, type When,
  type IrqAction, type ReadAction, type WriteAction, type CommandAction, type DmaAction, type CommandName,
} from './faults/rules.ts';
export { scenario, type Scenario, type ScenarioContext, type ScenarioModule, type ScenarioOptions } from './scenario/scenario.ts';
export { Testbed, referenceDevices, type TestbedOptions } from './lab/testbed.ts';
export { fireInRounds, type RoundsOptions, type RoundsResult } from './lab/rounds.ts';
export { eventually } from './lab/eventually.ts';
export { GuestDriver } from './guest/driver.ts';
export { GenericDriver, type GenericInfo, type GenericVector, type GenericMode, type PokeResult } from './guest/generic.ts';
export { Vm, type VmOptions } from './vm/index.ts';
export { TraceRecorder, readTrace } from './trace/index.ts';
export { ControlServer } from './control/server.ts';
export { ControlClient } from './control/client.ts';
