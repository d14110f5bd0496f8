// Scenario scripts: a TypeScript file whose default export gets the device
// and the booted guest, injects faults, and checks what the guest did. Run
// with `irqlab run FILE`; tests run the same files in shared boots.
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { Testbed, type TestbedOptions } from '../lab/testbed.ts';
import { fireInRounds, type RoundsOptions, type RoundsResult } from '../lab/rounds.ts';
import { eventually } from '../lab/eventually.ts';
import type { ImsQueueDevice } from '../devices/ims-queue.ts';
import type { GuestDriver } from '../guest/driver.ts';
import type { Vm } from '../vm/index.ts';
import type { FaultEngine } from '../faults/engine.ts';

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
  /** The device to boot against, when not the default reference device. */
  device?: () => ImsQueueDevice;
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

/** Runs a scenario in an existing testbed, leaving no fault rule behind. */
export async function runInTestbed(mod: ScenarioModule, bed: Testbed, log: (line: string) => void = () => {}): Promise<void> {
  try {
    await mod.default(scenarioContext(bed, log));
  } finally {
    bed.device.faults.clear();
  }
}

/** Boots what the scenario asks for, runs it, stops. Throws what the scenario threw. */
export async function runScenarioFile(file: string, overrides: Partial<TestbedOptions<ImsQueueDevice>> = {}, log: (line: string) => void = () => {}): Promise<void> {
  const mod = await loadScenario(file);
  const { rootPort: _rootPort, ...opts } = mod.options ?? {};
  const bed = await Testbed.start({ cpus: 2, ...opts, ...overrides, rootPort: mod.options?.rootPort, device: mod.device?.() });
  try {
    await runInTestbed(mod, bed, log);
  } finally {
    await bed.stop();
  }
}
