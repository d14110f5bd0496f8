// irqlab run SCENARIO.ts [DEVICE]: boot what the scenario asks for, run it, say PASS or FAIL.
import { parseArgs } from 'node:util';
import { basename } from 'node:path';
import { loadScenario, runInTestbed, scenarioBed, scenarioDevice, kernelLogOf } from '../scenario/scenario.ts';
import { summarizeKernelLog } from '../vm/kernel-log.ts';
import { loadDevice, builtinDevices } from '../devices/registry.ts';
import { checkSession, startSession } from './session.ts';
import { UsageError } from './usage.ts';

const help = `usage: irqlab run SCENARIO.ts [DEVICE] [options]

Runs a scenario script: its default export receives { device, vm, driver,
generic, faults, ... } once a guest has booted against the device, injects
faults and checks what the guest saw (throwing on a mismatch).

The device is DEVICE (${Object.keys(builtinDevices).join(', ')}, or a module
whose default export is a device or a function returning one), else the one the
scenario exports (export const device = () => ...), else the reference device
with the irqlab module loaded (ctx.driver). Any other device can have the
generic guest driver bound (--bind, or options.bind in the scenario): ctx.generic
counts its interrupts per vector and reads and writes its registers.

The guest kernel's log is watched: a kernel report (WARNING, BUG, Oops,
lockdep, sleeping in atomic context, "nobody cared"...) fails the run unless
the scenario declares it (export const expectSplat = /pattern/). The last line
says whether the kernel log was clean and which debug checkers the kernel had.
The examples/faults/ folder of irqlab has one scenario per fault kind.

options:
  --kernel NAME|PATH      guest kernel: 6.12, 7.3, 6.12-debug, 7.3-debug or your bzImage
                          (default: the scenario's, else 6.12)
  --iommu                 add an Intel vIOMMU with interrupt remapping
  --bind                  bind the generic guest driver to the device
  --trace FILE            record every message, interrupt, DMA and fault (irqlab trace FILE)
  --control PATH          a control socket for irqlab ctl while the scenario runs
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      kernel: { type: 'string' }, iommu: { type: 'boolean' }, bind: { type: 'boolean' },
      trace: { type: 'string' }, control: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (positionals.length < 1 || positionals.length > 2) {
    throw new UsageError(positionals.length ? `one scenario and at most one device, got ${positionals.join(' ')}` : 'which scenario? (irqlab run SCENARIO.ts [DEVICE])');
  }
  const [file, deviceSpec] = positionals;
  // Everything is checked before a socket, a file or a process exists.
  checkSession({ trace: values.trace, control: values.control, kernel: values.kernel });
  const mod = await loadScenario(file);
  const device = deviceSpec ? await loadDevice(deviceSpec) : await scenarioDevice(mod, file);
  const opts = scenarioBed(mod, {
    ...(values.kernel ? { kernel: values.kernel } : {}),
    ...(values.iommu ? { iommu: true } : {}),
    ...(values.bind ? { bind: true } : {}),
  }, device);
  if (opts.kernel !== undefined && values.kernel === undefined) checkSession({ kernel: String(opts.kernel) });

  const t0 = Date.now();
  const say = (s: string) => process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${s}\n`);
  say(`${file}${mod.description ? `: ${mod.description}` : ''}${deviceSpec ? ` (device ${deviceSpec})` : ''}`);
  const session = await startSession({
    testbed: { ...opts, onProgress: (p) => say(p.message) },
    trace: values.trace, traceName: deviceSpec ? basename(deviceSpec) : undefined, control: values.control,
    log: say,
  });
  try {
    const kernelLog = await runInTestbed(mod, session.bed, say);
    say('PASS');
    say(summarizeKernelLog(kernelLog));
    return 0;
  } catch (err) {
    say(`FAIL: ${(err as Error).message}`);
    const kernelLog = kernelLogOf(err);
    if (kernelLog) say(summarizeKernelLog(kernelLog));
    return 1;
  } finally {
    await session.stop();
  }
}
