// Scenario scripts: a TypeScript file whose default export gets the device
// and the booted guest, injects faults, and checks what the guest did. Run
// with `irqlab run FILE`; tests run the same files in shared boots.
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { Testbed, type TestbedOptions } from '../lab/testbed.ts';
import { fireInRounds, type RoundsOptions, type RoundsResult } from '../lab/rounds.ts';
import { eventually } from '../lab/eventually.ts';
import type { ImsQueueDevice } from '../devices/ims-queue.ts';
import type { PciFunction } from '../pci/function.ts';
import type { GuestDriver } from '../guest/driver.ts';
import type { Vm } from '../vm/index.ts';
import type { FaultEngine } from '../faults/engine.ts';
import { KernelSplatError, type KernelLogReport } from '../vm/kernel-log.ts';

export interface ScenarioContext {
  bed: Testbed;
  device: ImsQueueDevice;
  vm: Vm;
  /** The reference device's guest driver (debugfs view and ctl). */
  driver: GuestDriver;
  faults: FaultEngine;
  log(line: string): void;
  /** Fires indexes in rounds the guest can count (see src/lab/rounds.ts). */
  rounds(o: RoundsOptions): Promise<RoundsResult>;
  sleep(ms: number): Promise<void>;
  /** Polls until cond() holds, or throws after ms. */
  eventually(what: string, cond: () => Promise<boolean> | boolean, ms?: number): Promise<void>;
}

export type Scenario = (ctx: ScenarioContext) => Promise<void>;

export interface ScenarioModule {
  default: Scenario;
  /** How to boot for this scenario (kernel, iommu, cpus, devices behind a root port...). */
  options?: Omit<TestbedOptions<ImsQueueDevice>, 'device'> & { rootPort?: boolean };
  /** One line saying what the scenario shows. */
  description?: string;
  /**
   * The device to boot against, when not the default reference device (any
   * PCI function: then ctx.driver is absent and ctx.device is that function).
   */
  device?: () => PciFunction;
  /**
   * Kernel reports the scenario provokes on purpose (matched against a
   * splat's title and lines): they do not fail it, and their absence does.
   */
  expectSplat?: RegExp | RegExp[];
}

export function scenarioContext(bed: Testbed, log: (line: string) => void): ScenarioContext {
  return {
    bed, device: bed.device, vm: bed.vm, driver: bed.driver!, faults: bed.device.faults, log,
    rounds: fireInRounds,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    eventually: (what, cond, ms = 8000) => eventually(what, cond, { timeoutMs: ms, intervalMs: 20 }),
  };
}

export async function loadScenario(file: string): Promise<ScenarioModule> {
  let mod: ScenarioModule;
  try {
    mod = await import(pathToFileURL(resolve(file)).href);
  } catch (err) {
    throw new Error(`cannot load scenario ${file}: ${(err as Error).message}`);
  }
  if (typeof mod.default !== 'function') throw new Error(`${file} must export default async function (ctx) { ... }`);
  return mod;
}

/**
 * Runs a scenario in an existing testbed, leaving no fault rule behind, then
 * checks the guest kernel's log: a splat the scenario did not declare in
 * `expectSplat` fails it, and so does a declared one that did not come.
 */
export async function runInTestbed(mod: ScenarioModule, bed: Testbed, log: (line: string) => void = () => {}): Promise<KernelLogReport> {
  const kernelLog = bed.vm.kernelLog;
  for (const re of [mod.expectSplat ?? []].flat()) kernelLog.expect(re);
  try {
    await mod.default(scenarioContext(bed, log));
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
 */
export async function runScenarioFile(file: string, overrides: Partial<TestbedOptions<ImsQueueDevice>> = {}, log: (line: string) => void = () => {}): Promise<KernelLogReport> {
  const mod = await loadScenario(file);
  const { rootPort: _rootPort, ...opts } = mod.options ?? {};
  const bed = (await Testbed.start({ cpus: 2, ...opts, ...overrides, rootPort: mod.options?.rootPort, device: mod.device?.() })) as Testbed;
  try {
    return await runInTestbed(mod, bed, log);
  } finally {
    await bed.stop();
  }
}
