// irqlab run SCENARIO.ts: boot what the scenario asks for, run it, say PASS or FAIL.
import { parseArgs } from 'node:util';
import { loadScenario, runScenarioFile, kernelLogOf } from '../scenario/scenario.ts';
import { summarizeKernelLog } from '../vm/kernel-log.ts';

const help = `usage: irqlab run SCENARIO.ts [--kernel 6.12|7.3|6.12-debug|7.3-debug|PATH] [--iommu]

Runs a scenario script: its default export receives { device, vm, driver,
faults, ... } once a guest has booted against the reference device with the
irqlab module loaded, injects faults and checks what the guest saw (throwing
on a mismatch). The guest kernel's log is watched: a kernel report (WARNING,
BUG, Oops, lockdep, sleeping in atomic context, "nobody cared"...) fails the
run unless the scenario declares it (export const expectSplat = /pattern/).
The last line says whether the kernel log was clean and which debug checkers
the kernel had. See examples/faults/ for one scenario per fault kind.
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { kernel: { type: 'string' }, iommu: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help || positionals.length !== 1) {
    process.stdout.write(help);
    return values.help ? 0 : 2;
  }
  const file = positionals[0];
  const mod = await loadScenario(file);
  const t0 = Date.now();
  const say = (s: string) => process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${s}\n`);
  say(`${file}${mod.description ? `: ${mod.description}` : ''}`);
  const overrides: Record<string, unknown> = { onProgress: (p: { message: string }) => say(p.message) };
  if (values.kernel) overrides.kernel = values.kernel;
  if (values.iommu) overrides.iommu = true;
  try {
    const kernelLog = await runScenarioFile(file, overrides, say);
    say('PASS');
    say(summarizeKernelLog(kernelLog));
  } catch (err) {
    say(`FAIL: ${(err as Error).message}`);
    const kernelLog = kernelLogOf(err);
    if (kernelLog) say(summarizeKernelLog(kernelLog));
    return 1;
  }
  return 0;
}
