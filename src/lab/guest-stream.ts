// A long guest command whose output a person should see as it comes: the
// agent answers one request at a time and returns output only at the end, so
// the script runs detached in the guest, writing to a file that the host
// polls. A script that stops printing for too long is reported as stuck (it
// is left running: a process blocked in the kernel cannot be killed anyway).
import type { Vm } from '../vm/index.ts';

export interface StreamResult {
  /** The script's exit status, when it finished. */
  status?: number;
  /** Why we stopped waiting, when it did not finish. */
  stuck?: string;
}

const DIR = '/tmp/irqlab-stream';

export async function runStreaming(vm: Vm, script: string, onLine: (line: string) => void, opts: { stallMs: number; pollMs?: number }): Promise<StreamResult> {
  // One guest request to set up and start (each costs time on a busy machine).
  const end = 'IRQLAB_SCRIPT_END';
  if (script.includes(end)) throw new Error(`a streamed guest script may not contain ${end}`);
  await vm.run([
    `rm -rf ${DIR} && mkdir -p ${DIR} || exit 1`,
    `cat >${DIR}/run.sh <<'${end}'`, script, end,
    `setsid sh -c 'sh ${DIR}/run.sh >${DIR}/out 2>&1; echo $? >${DIR}/rc' </dev/null >/dev/null 2>&1 &`,
  ].join('\n'), { check: true });
  let offset = 0;
  let pending = Buffer.alloc(0);
  let lastOutput = Date.now();
  const take = (chunk: Buffer, final: boolean) => {
    offset += chunk.length;
    pending = Buffer.concat([pending, chunk]);
    let nl: number;
    while ((nl = pending.indexOf(0x0a)) >= 0) {
      onLine(pending.subarray(0, nl).toString('utf8'));
      pending = pending.subarray(nl + 1);
    }
    if (final && pending.length) onLine(pending.toString('utf8'));
  };
  for (;;) {
    // The status file is written after the last output: once it is there, one more read drains the rest.
    const r = await vm.run(`tail -c +${offset + 1} ${DIR}/out 2>/dev/null; cat ${DIR}/rc >&2 2>/dev/null`, { encoding: 'buffer' });
    const rc = r.stderr.toString('utf8').trim();
    if (rc !== '') {
      const rest = await vm.run(`tail -c +${offset + 1 + r.stdout.length} ${DIR}/out`, { encoding: 'buffer' });
      take(Buffer.concat([r.stdout, rest.stdout]), true);
      return { status: Number(rc) };
    }
    if (r.stdout.length) {
      take(r.stdout, false);
      lastOutput = Date.now();
    } else if (Date.now() - lastOutput > opts.stallMs) {
      return { stuck: `no output for ${Math.round(opts.stallMs / 1000)} s: the program is stuck (the driver waits for READ/WRITE/COPY interrupts without a timeout)` };
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 300));
  }
}
