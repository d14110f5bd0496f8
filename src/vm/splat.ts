// Kernel splats: the reports a kernel prints when something is wrong (WARN_ON,
// BUG, oopses, lockdep, sleeping in atomic context, KASAN, an interrupt nobody
// handled, RCU stalls, lockups, hung tasks). Finds them in kernel log text and
// cuts each down to what a person needs: its title line and the top frames of
// its call trace. Pure text in, records out; the Vm side is kernel-log.ts.

export type SplatKind =
  | 'warning' // WARN_ON / WARN (a "cut here" report)
  | 'bug' // BUG(), BUG: ... reports, kernel BUG at
  | 'oops' // Oops, general protection fault, NULL dereference, panic
  | 'lockdep' // lock order, recursion, inconsistent state, suspicious RCU use
  | 'atomic-sleep' // sleeping function called from invalid context / scheduling while atomic
  | 'kasan'
  | 'ubsan'
  | 'irq-nobody-cared' // irq N: nobody cared (the kernel then disables the line)
  | 'irq-spurious' // spurious / unexpected interrupt reports, no handler for a vector
  | 'irq-remap-fault' // the interrupt-remapping unit refused a message (it is lost)
  | 'rcu-stall'
  | 'soft-lockup'
  | 'hard-lockup'
  | 'hung-task';

export interface Splat {
  kind: SplatKind;
  /** The line that says what happened, without its timestamp. */
  title: string;
  /** Top frames of its call trace (function+offset), reliable ones first; may be empty. */
  frames: string[];
  /** The report's own lines, timestamps removed (capped). */
  lines: string[];
  /** Line number in the scanned text where it starts (0-based). */
  line: number;
}

interface Trigger {
  kind: SplatKind;
  re: RegExp;
}

// Order matters: the first trigger that matches a line decides its kind (a
// lockdep report's title also starts with "WARNING:").
const TRIGGERS: Trigger[] = [
  { kind: 'lockdep', re: /^WARNING: (possible circular locking dependency|possible recursive locking|inconsistent lock state|possible irq lock inversion|HARDIRQ-safe -> HARDIRQ-unsafe|SOFTIRQ-safe -> SOFTIRQ-unsafe|suspicious RCU usage|bad unlock balance|held lock freed|lock held when returning to user space|nested lock was not taken|Nested lock was not taken|lock held at task exit)/ },
  { kind: 'lockdep', re: /^(INFO: trying to register non-static key|BUG: key [0-9a-f]+ has not been registered|DEBUG_LOCKS_WARN_ON|BUG: (spinlock|rwlock) (bad magic|recursion|already unlocked|wrong owner|wrong CPU|lockup suspected)|BUG: workqueue leaked lock|BUG: held lock freed|BUG: MAX_LOCKDEP)/ },
  { kind: 'atomic-sleep', re: /^BUG: (sleeping function called from invalid context|scheduling while atomic|using smp_processor_id\(\) in preemptible|using __this_cpu_\w+\(\) in preemptible|Invalid wait context)/ },
  { kind: 'kasan', re: /^BUG: KASAN: / },
  { kind: 'ubsan', re: /^UBSAN: / },
  { kind: 'soft-lockup', re: /^(watchdog: )?BUG: soft lockup/ },
  { kind: 'hard-lockup', re: /^(watchdog: )?(Watchdog detected hard LOCKUP|BUG: hard lockup)/ },
  { kind: 'rcu-stall', re: /^(rcu: )?INFO: rcu_\w+ (detected stalls|self-detected stall)/ },
  { kind: 'hung-task', re: /^INFO: task \S+ blocked for more than \d+ seconds/ },
  { kind: 'irq-nobody-cared', re: /^irq \d+: nobody cared/ },
  { kind: 'irq-spurious', re: /(^spurious (APIC|8259A) interrupt|^unexpected IRQ trap at vector|No irq handler for vector|^do_IRQ: .*No irq handler|^IRQ \d+: no longer affine|^Spurious interrupt \(vector)/ },
  // DMA faults are left out: the lab's own PBA probe provokes one under DMA translation.
  { kind: 'irq-remap-fault', re: /^DMAR: \[INTR-REMAP\] / },
  { kind: 'oops', re: /^(Oops: |BUG: unable to handle (kernel|page fault)|BUG: kernel NULL pointer dereference|general protection fault|Kernel panic - not syncing|stack segment: |invalid opcode: )/ },
  { kind: 'bug', re: /^(kernel BUG at |BUG: )/ },
  { kind: 'warning', re: /^WARNING: (CPU: \d+ PID: \d+ at |at )/ },
];

/** printk's time prefix ("[   12.345678] ") and a caller id ("[T123]") when configured. */
const STAMP = /^\[\s*\d+\.\d+\](\[\s*[TC]\d+\])?\s?/;
const FRAME = /^\s*(\? )?([A-Za-z_][\w.$]*\+0x[0-9a-f]+\/0x[0-9a-f]+)( \[[\w-]+\])?/;
/** Frames that are the reporting machinery, not the code being reported. */
const NOISE_FRAME = /^(dump_stack\w*|show_stack|__warn|warn_slowpath\w*|report_bug|handle_bug|exc_invalid_op|asm_exc_invalid_op|__might_resched|__might_sleep|__might_fault|print_circular_bug|check_noncircular|check_prev_add|validate_chain|__lock_acquire|lock_acquire|print_usage_bug|mark_lock|mark_lock_irq|valid_state|lockdep_\w+|kasan_report|print_report|__asan_\w+|__kasan_\w+|__report_bad_irq|note_interrupt|__ubsan_\w+|ubsan_\w+|panic)\+/;
const END = /^(---\[ end (trace|Kernel panic)|={20,}$)/;
const MAX_LINES = 200;
/** Reports that are one line long. */
const ONE_LINE: ReadonlySet<SplatKind> = new Set(['irq-spurious', 'irq-remap-fault']);
const MAX_FRAMES = 8;

export function stripStamp(line: string): string {
  return line.replace(STAMP, '');
}

function classify(line: string): SplatKind | undefined {
  for (const t of TRIGGERS) if (t.re.test(line)) return t.kind;
  return undefined;
}

/**
 * Finds every splat in `text` (console output or dmesg). A report runs from
 * its title to its end marker, the next report, or MAX_LINES lines.
 */
export function findSplats(text: string): Splat[] {
  const raw = text.split('\n');
  const lines = raw.map(stripStamp);
  const out: Splat[] = [];
  let cur: Splat | undefined;
  let inTrace = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const kind = classify(l);
    // A lockdep report prints "WARNING: ..." inside a "=====" frame; an oops
    // that follows a BUG line belongs to it.
    if (kind && !(cur && continues(cur, kind, l))) {
      cur = { kind, title: l.trim(), frames: [], lines: [l], line: i };
      out.push(cur);
      inTrace = false;
      if (ONE_LINE.has(kind)) cur = undefined;
      continue;
    }
    if (!cur) continue;
    if (cur.lines.length >= MAX_LINES) {
      cur = undefined;
      continue;
    }
    cur.lines.push(l);
    if (/Call Trace:|stack backtrace:|^\s*<(TASK|IRQ|NMI|SOFTIRQ)>/.test(l)) inTrace = true;
    const f = inTrace ? FRAME.exec(l) : null;
    if (f && !f[1] && cur.frames.length < MAX_FRAMES && !NOISE_FRAME.test(f[2])) cur.frames.push(f[2] + (f[3] ?? ''));
    if ((END.test(l.trim()) && cur.lines.length > 2) || (cur.kind === 'irq-nobody-cared' && /^Disabling IRQ #/.test(l))) cur = undefined;
  }
  return out;
}

/** Whether a trigger line is part of the report in progress rather than a new one. */
function continues(cur: Splat, kind: SplatKind, line: string): boolean {
  if (cur.lines.length >= MAX_LINES) return false;
  // "BUG: kernel NULL pointer dereference" is followed by "Oops: ..." of the same fault.
  if (cur.kind === 'oops' && kind === 'oops' && /^Oops: /.test(line)) return true;
  // A panic caused by the report in progress (panic_on_warn, fatal exception).
  if (kind === 'oops' && /^Kernel panic - not syncing: (Fatal exception|panic_on_warn|softlockup|hung_task)/.test(line)) return true;
  return false;
}

/** A splat as a failure message quotes it: title, then "  at frame" lines. */
export function describeSplat(s: Splat, frames = 5): string {
  const at = s.frames.slice(0, frames).map((f) => `\n    at ${f}`).join('');
  return `${s.kind}: ${s.title}${at}`;
}
