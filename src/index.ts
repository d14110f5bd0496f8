// irqlab's public API.
export { VfioUserServer, type ServerOptions } from './server/server.ts';
export { PciFunction, type PciFunctionSpec, type PciIds, type BarWindow } from './pci/function.ts';
export { ConfigSpace } from './pci/config-space.ts';
export type { CapabilitySpec } from './pci/capabilities.ts';
export type { BarSpec, BarType } from './pci/bars.ts';
export { RegisterMap, type RegisterSpec, type RegisterMapSpec, type Access } from './device/register-map.ts';
export type { DeviceModel, DeviceContext } from './device/model.ts';
export { ImsQueueDevice, type ImsQueueOptions } from './devices/ims-queue.ts';
export { loadDevice, builtinDevices } from './devices/registry.ts';
export type { IrqEvent, IrqKind, IrqOutcome } from './irq/events.ts';
export { VfioUserClient } from './client/index.ts';
export { VfioError, Errno } from './protocol/index.ts';
export { FaultEngine, type FaultEvent, type RuleStatus } from './faults/engine.ts';
export { parseRule, describeRule, type FaultRule } from './faults/rules.ts';
export type { Scenario, ScenarioContext, ScenarioModule } from './scenario/scenario.ts';
export { Testbed, type TestbedOptions } from './lab/testbed.ts';
export { GuestDriver } from './guest/driver.ts';
