// Scenario scripts: a TypeScript file whose default export gets the device
// and the booted guest, injects faults, and checks what the guest did. Run
// with `irqlab run FILE`; tests run the same files in shared boots.
import { Testbed, type TestbedOptions } from '../lab/testbed.ts';
import { fireInRounds, type RoundsOptions, type RoundsResult } from '../lab/rounds.ts';
import { eventually } from '../lab/eventually.ts';
import type { ImsQueueDevice } from '../devices/ims-queue.ts';
import { deviceFrom } from '../devices/registry.ts';
import { importUserModule } from '../devices/user-module.ts';
import type { PciFunction } from '../pci/function.ts';
import type { GuestDriver } from '../guest/driver.ts';
import type { GenericDriver } from '../guest/generic.ts';
import type { Vm } from '../vm/index.ts';
import type { FaultEngine } from '../faults/engine.ts';
import { KernelSplatError, type KernelLogReport } from '../vm/kernel-log.ts';
import { closest } from '../text/suggest.ts';

/**
 * What a scenario gets, for the device type it runs against (default the
 * reference device): `scenario<MyDevice>` or ScenarioContext<MyDevice>.
 */
export interface ScenarioContext<D extends PciFunction = ImsQueueDevice> {
  bed: Testbed<D>;
  device: D;
  vm: Vm;
  /** The reference device's guest driver (debugfs view and ctl); for other devices, undefined. */
  driver: D extends ImsQueueDevice ? GuestDriver : GuestDriver | undefined;
  /** The generic guest driver's view of the device (options.bind or irqlab run --bind), else undefined. */
  generic: GenericDriver | undefined;
  faults: FaultEngine;
  log(line: string): void;
  /** Fires indexes in rounds the guest can count (see src/lab/rounds.ts). */
  rounds(o: RoundsOptions): Promise<RoundsResult>;
  sleep(ms: number): Promise<void>;
  /** Polls until cond() holds, or throws after ms. */
  eventually(what: string, cond: () => Promise<boolean> | boolean, ms?: number): Promise<void>;
}

export type Scenario<D extends PciFunction = ImsQueueDevice> = (ctx: ScenarioContext<D>) => Promise<void>;

/** How a scenario boots: the testbed's options, without the device (that is `device`). */
export type ScenarioOptions = Omit<TestbedOptions<PciFunction>, 'device' | 'devices'>;

export interface ScenarioModule<D extends PciFunction = PciFunction> {
  default: Scenario<D>;
  /** How to boot for this scenario (kernel, iommu, cpus, bind, devices behind a root port...). */
  options?: ScenarioOptions;
  /** One line saying what the scenario shows. */
  description?: string;
  /**
   * The device to boot against, when not the default reference device: a
   * factory (or a device). `irqlab run SCENARIO DEVICE` overrides it.
   */
  device?: (() => D | Promise<D>) | D;
  /**
   * Kernel reports the scenario provokes on purpose (matched against a
   * splat's title and lines): they do not fail it, and their absence does.
   */
  expectSplat?: RegExp | RegExp[];
}

/**
 * Types a scenario for its device without writing the context's type:
 *   export default scenario<MyDevice>(async ({ device, generic }) => { ... });
 */
export function scenario<D extends PciFunction = ImsQueueDevice>(fn: Scenario<D>): Scenario<D> {
  return fn;
}

export function scenarioContext<D extends PciFunction>(bed: Testbed<D>, log: (line: string) => void): ScenarioContext<D> {
  return {
    bed, device: bed.device, vm: bed.vm, driver: bed.driver as ScenarioContext<D>['driver'], generic: bed.generic[0], faults: bed.device.faults, log,
    rounds: fireInRounds,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    eventually: (what, cond, ms = 8000) => eventually(what, cond, { timeoutMs: ms, intervalMs: 20 }),
  };
}

export async function loadScenario(file: string): Promise<ScenarioModule> {
  const mod = (await importUserModule(file, 'scenario')) as Partial<ScenarioModule>;
  if (typeof mod.default !== 'function') throw new Error(`${file} must export default async function (ctx) { ... }`);
  // A misspelt export (`option`, `devices`) would be ignored silently: refuse it.
  const known = ['default', 'options', 'description', 'device', 'expectSplat'];
  for (const name of Object.keys(mod)) {
    const meant = known.includes(name) ? undefined : closest(name, known);
    if (meant) throw new Error(`${file} exports "${name}": did you mean "${meant}"? A scenario exports ${known.join(', ')}`);
  }
  return mod as ScenarioModule;
}

/** The device a scenario module asks for (its `device` export), or undefined for the reference device. */
export async function scenarioDevice(mod: ScenarioModule, file: string): Promise<PciFunction | undefined> {
  return mod.device === undefined ? undefined : deviceFrom(mod.device, `${file}'s device export`);
}

/** The testbed a scenario boots: its options, the caller's overrides, the device. */
export function scenarioBed(mod: ScenarioModule, overrides: Partial<ScenarioOptions>, device: PciFunction | undefined): TestbedOptions<PciFunction> {
  return { cpus: 2, ...mod.options, ...overrides, device };
}

/**
 * Runs a scenario in an existing testbed, leaving no fault rule behind, then
 * checks the guest kernel's log: a splat the scenario did not declare in
 * `expectSplat` fails it, and so does a declared one that did not come.
 */
export async function runInTestbed(mod: ScenarioModule, bed: Testbed<PciFunction>, log: (line: string) => void = () => {}): Promise<KernelLogReport> {
  const kernelLog = bed.vm.kernelLog;
  for (const re of [mod.expectSplat ?? []].flat()) kernelLog.expect(re);
  try {
    await mod.default(scenarioContext(bed, log) as ScenarioContext<PciFunction>);
  } catch (err) {
    // A splat is often the reason a check failed: say so with the failure.
    const r = await kernelLog.report().catch(() => undefined);
    if (r && err instanceof Error) {
      kernelLogReports.set(err, r);
      if (r.unexpected.length) err.message += `\n${kernelLog.describe(r)}`;
    }
    throw err;
  } finally {
    bed.device.faults.clear();
  }
  try {
    return await kernelLog.check();
  } catch (err) {
    if (err instanceof KernelSplatError) kernelLogReports.set(err, err.report);
    throw err;
  }
}

const kernelLogReports = new WeakMap<Error, KernelLogReport>();

/** The kernel log's report that went with a scenario's failure, if it could be read. */
export function kernelLogOf(err: unknown): KernelLogReport | undefined {
  return err instanceof Error ? kernelLogReports.get(err) : undefined;
}

/**
 * Boots what the scenario asks for, runs it, stops. Throws what the scenario
 * threw (or the kernel log's problems); returns the kernel log's report.
 * `device` (a device, or a module path / built-in name already loaded by the
 * caller) overrides the scenario's own.
 */
export async function runScenarioFile(file: string, overrides: Partial<ScenarioOptions> = {}, log: (line: string) => void = () => {}, device?: PciFunction): Promise<KernelLogReport> {
  const mod = await loadScenario(file);
  const bed = await Testbed.start(scenarioBed(mod, overrides, device ?? (await scenarioDevice(mod, file))));
  try {
    return await runInTestbed(mod, bed, log);
  } finally {
    await bed.stop();
  }
}
