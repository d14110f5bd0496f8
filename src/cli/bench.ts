// irqlab bench [--rounds N] [--quick] [--profile]: irqlab against a C floor
// (bench/run.ts), with a table for people and bench/out/results.json.
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { runBench, describeRun, BENCH_POLL_US } from '../../bench/run.ts';
import { checkPollUs } from '../transport/poll-mode.ts';
import { profileServer, renderProfile } from '../../bench/profile.ts';
import { measureCosts, renderCosts } from '../../bench/syscalls.ts';
import { OUT_DIR } from '../../bench/build.ts';

const help = `usage: irqlab bench [--rounds N] [--quick] [--poll-us N] [--profile]

Builds a C floor server and load client (with the host's gcc), starts the floor,
a Node floor, \`irqlab serve\` and \`irqlab serve --poll-us N\`, runs the same
vfio-user loads against each, interleaved over several rounds, measures MSI-X
and IMS interrupt rates from TypeScript and a guest's MMIO reads and
interrupts in both modes, and prints medians with the issue's targets as
verdicts. Machine-readable results: results.json (its path is printed at the end).

options:
  --rounds N   rounds (default 5; 3 with --quick)
  --no-guest   skip the guest rows (no QEMU boot)
  --quick      smaller loads (about 20 s instead of about a minute)
  --poll-us N  the poll window of the poll-mode rows (default ${BENCH_POLL_US})
  --profile    then show where irqlab's time goes: user/kernel CPU and system
               calls per operation for each server (perf, when allowed), and
               irqlab serve under node --cpu-prof for the round-trip and
               posted-write loads, by function with file:line
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string' },
      quick: { type: 'boolean' },
      profile: { type: 'boolean' },
      'no-guest': { type: 'boolean' },
      'poll-us': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const rounds = values.rounds === undefined ? undefined : Number(values.rounds);
  if (rounds !== undefined && (!Number.isInteger(rounds) || rounds < 1)) {
    process.stderr.write(`irqlab bench: --rounds wants a positive integer, got ${values.rounds}\n`);
    return 2;
  }
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const pollUs = values['poll-us'] === undefined ? undefined : checkPollUs(values['poll-us'], '--poll-us');
  const { results, table } = await runBench({ rounds, quick: values.quick, progress, noGuest: values['no-guest'], pollUs });
  process.stdout.write(`\n${describeRun(results)}\n\n${table}\n`);
  if (results.errors.length) process.stdout.write(`\nerrors:\n${results.errors.map((e) => `  ${e}`).join('\n')}\n`);
  process.stdout.write(`\nresults: ${join(OUT_DIR, 'results.json')}\n`);
  if (values.profile) {
    const costs = await measureCosts({ n: values.quick ? 10000 : undefined, progress });
    process.stdout.write(`\nper operation, each server (round trips on one CPU):\n\n${renderCosts(costs)}\n`);
    const summaries = await profileServer({ n: values.quick ? 10000 : undefined, progress });
    process.stdout.write(`\nwhere irqlab serve spends its time (self time by function, timed part of the load only):\n\n`);
    for (const s of summaries) process.stdout.write(`${renderProfile(s)}\n`);
    process.stdout.write(`profiles: ${join(OUT_DIR, 'profile')}\n`);
  }
  return results.errors.length ? 1 : 0;
}
