// The watchdog's reading of kernel logs: each kind of report a debug kernel
// prints is found, named, and cut down to its title and top frames; ordinary
// boot noise is not a splat.
import test from 'ava';
import { findSplats, describeSplat, type SplatKind } from '../../src/vm/splat.ts';
import { KernelLog, summarizeKernelLog } from '../../src/vm/kernel-log.ts';

const stamp = (lines: string[], t0 = 12.5) => lines.map((l, i) => `[${(t0 + i / 1e6).toFixed(6).padStart(12)}] ${l}`).join('\n');

const WARN = stamp([
  '------------[ cut here ]------------',
  'WARNING: CPU: 1 PID: 212 at /tmp/buggy/buggy.c:41 buggy_mask+0x2c/0x40 [buggy]',
  'Modules linked in: buggy(OE)',
  'CPU: 1 UID: 0 PID: 212 Comm: sh Tainted: G           OE      6.12.0-irqlab-debug #1',
  'RIP: 0010:buggy_mask+0x2c/0x40 [buggy]',
  'Call Trace:',
  ' <TASK>',
  ' ? __warn+0x89/0x130',
  ' ? buggy_mask+0x2c/0x40 [buggy]',
  ' ? report_bug+0x16d/0x1a0',
  ' buggy_mask+0x2c/0x40 [buggy]',
  ' irq_disable+0x3a/0x60',
  ' disable_irq_nosync+0x10/0x20',
  ' </TASK>',
  'irq event stamp: 5120',
  '---[ end trace 0000000000000000 ]---',
]);

const LOCKDEP = stamp([
  '',
  '======================================================',
  'WARNING: possible circular locking dependency detected',
  '6.12.0-irqlab-debug #1 Tainted: G           OE',
  '------------------------------------------------------',
  'sh/212 is trying to acquire lock:',
  'ffff888004a1c0d8 (&dev->lock){+.+.}-{3:3}, at: buggy_write_msg+0x21/0x60 [buggy]',
  '',
  'the existing dependency chain (in reverse order) is:',
  '-> #1 (&irq_desc_lock_class){-.-.}-{2:2}:',
  '       _raw_spin_lock_irqsave+0x3d/0x60',
  '       __irq_get_desc_lock+0x4f/0x90',
  'stack backtrace:',
  'CPU: 0 UID: 0 PID: 212 Comm: sh Tainted: G           OE      6.12.0-irqlab-debug #1',
  'Call Trace:',
  ' <TASK>',
  ' dump_stack_lvl+0x68/0x90',
  ' print_circular_bug+0x1a4/0x1c0',
  ' check_noncircular+0x12f/0x150',
  ' __lock_acquire+0x13b1/0x2270',
  ' lock_acquire+0xc9/0x2e0',
  ' __mutex_lock+0x8f/0x7e0',
  ' buggy_write_msg+0x21/0x60 [buggy]',
  ' irq_chip_write_msi_msg+0x1e/0x30',
  ' </TASK>',
]);

const SLEEP = stamp([
  'BUG: sleeping function called from invalid context at kernel/locking/mutex.c:585',
  'in_atomic(): 1, irqs_disabled(): 1, non_block: 0, pid: 0, name: swapper/1',
  'preempt_count: 10001, expected: 0',
  'Call Trace:',
  ' <IRQ>',
  ' dump_stack_lvl+0x68/0x90',
  ' __might_resched+0x16a/0x1c0',
  ' __mutex_lock+0x55/0x7e0',
  ' buggy_handler+0x1c/0x40 [buggy]',
  ' __handle_irq_event_percpu+0x8a/0x280',
  ' </IRQ>',
]);

const NOBODY = stamp([
  'irq 34: nobody cared (try booting with the "irqpoll" option)',
  'CPU: 0 UID: 0 PID: 0 Comm: swapper/0 Not tainted 6.12.0 #1',
  'Call Trace:',
  ' <IRQ>',
  ' dump_stack_lvl+0x68/0x90',
  ' __report_bad_irq+0x35/0xb0',
  ' note_interrupt+0x2b7/0x300',
  ' handle_irq_event+0x6e/0x80',
  ' </IRQ>',
  'handlers:',
  '[<000000003c9e0a1e>] buggy_handler [buggy]',
  'Disabling IRQ #34',
  'some later unrelated line',
]);

const NOISE = stamp([
  'Linux version 6.12.0-irqlab-debug (root@lab) #1 SMP PREEMPT_DYNAMIC',
  'irqlab: loading out-of-tree module taints kernel.',
  'irqlab: module verification failed: signature and/or required key missing - tainting kernel',
  'DMAR-IR: Enabled IRQ remapping in xapic mode',
  'pci 0000:00:03.0: [f1ab:0001] type 00 class 0xff0000 PCIe Endpoint',
  'Lock dependency validator: Copyright (c) 2006 Red Hat, Inc., Ingo Molnar',
  '... MAX_LOCKDEP_SUBCLASSES:  8',
  'irqlab 0000:00:03.0: 8 MSI-X vectors, 8 queues on IMS',
  'DMAR: DRHD: handling fault status reg 2',
  'DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0xfebf4000 [fault reason 0x06] PTE Read access is not set',
]);

test('boot noise, taint notices, lockdep\'s own banner and DMA remapping faults are not splats', (t) => {
  t.deepEqual(findSplats(NOISE), []);
});

test('a WARN_ON is a warning with its title and the reported function as the top frame', (t) => {
  const [s, ...rest] = findSplats(`${NOISE}\n${WARN}\n${NOISE}`);
  t.is(rest.length, 0);
  t.is(s.kind, 'warning');
  t.regex(s.title, /^WARNING: CPU: 1 PID: 212 at \/tmp\/buggy\/buggy.c:41/);
  t.deepEqual(s.frames.slice(0, 3), ['buggy_mask+0x2c/0x40 [buggy]', 'irq_disable+0x3a/0x60', 'disable_irq_nosync+0x10/0x20']);
  t.true(s.lines.at(-1)!.startsWith('---[ end trace'));
});

test('a lockdep report is lockdep, not a plain warning, and its frames skip lockdep\'s own', (t) => {
  const [s, ...rest] = findSplats(LOCKDEP);
  t.is(rest.length, 0);
  t.is(s.kind, 'lockdep');
  t.is(s.title, 'WARNING: possible circular locking dependency detected');
  t.deepEqual(s.frames.slice(0, 3), ['__mutex_lock+0x8f/0x7e0', 'buggy_write_msg+0x21/0x60 [buggy]', 'irq_chip_write_msi_msg+0x1e/0x30']);
});

test('sleeping in atomic context names the sleeper\'s caller', (t) => {
  const [s] = findSplats(SLEEP);
  t.is(s.kind, 'atomic-sleep');
  t.deepEqual(s.frames.slice(0, 2), ['__mutex_lock+0x55/0x7e0', 'buggy_handler+0x1c/0x40 [buggy]']);
});

test('"nobody cared" ends at "Disabling IRQ" and later lines are not part of it', (t) => {
  const [s] = findSplats(NOBODY);
  t.is(s.kind, 'irq-nobody-cared');
  t.true(s.lines.at(-1)!.startsWith('Disabling IRQ #34'));
  t.deepEqual(s.frames, ['handle_irq_event+0x6e/0x80']);
});

test('each other kind is recognised from its title line', (t) => {
  const cases: [string, SplatKind][] = [
    ['BUG: kernel NULL pointer dereference, address: 0000000000000008', 'oops'],
    ['Oops: general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] PREEMPT SMP', 'oops'],
    ['kernel BUG at drivers/misc/buggy.c:10!', 'bug'],
    ['BUG: KASAN: slab-use-after-free in buggy_free+0x1e/0x40 [buggy]', 'kasan'],
    ['UBSAN: array-index-out-of-bounds in drivers/misc/buggy.c:20:5', 'ubsan'],
    ['watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [sh:212]', 'soft-lockup'],
    ['rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:', 'rcu-stall'],
    ['INFO: task kworker/0:1:34 blocked for more than 120 seconds.', 'hung-task'],
    ['__common_interrupt: 1.55 No irq handler for vector', 'irq-spurious'],
    ['spurious APIC interrupt through vector ff on CPU#0, should never happen.', 'irq-spurious'],
    ['DMAR: [INTR-REMAP] Request device [ff:1f.7] fault index 0xfff0 [fault reason 0x22] Present field in the IRTE entry is clear', 'irq-remap-fault'],
    ['BUG: scheduling while atomic: sh/212/0x00000002', 'atomic-sleep'],
    ['WARNING: suspicious RCU usage', 'lockdep'],
    ['BUG: spinlock bad magic on CPU#0, sh/212', 'lockdep'],
  ];
  for (const [line, kind] of cases) {
    const found = findSplats(stamp([line, 'Call Trace:', ' <TASK>', ' buggy_fn+0x1/0x2 [buggy]', ' </TASK>']));
    t.is(found.length, 1, line);
    t.is(found[0].kind, kind, line);
  }
});

test('an oops after "BUG: unable to handle" is one report, and so is the panic it causes', (t) => {
  const found = findSplats(stamp([
    'BUG: kernel NULL pointer dereference, address: 0000000000000008',
    '#PF: supervisor read access in kernel mode',
    'Oops: Oops: 0000 [#1] PREEMPT SMP NOPTI',
    'Call Trace:',
    ' <TASK>',
    ' buggy_probe+0x11/0x30 [buggy]',
    ' </TASK>',
    'Kernel panic - not syncing: Fatal exception',
  ]));
  t.is(found.length, 1);
  t.deepEqual(found[0].frames, ['buggy_probe+0x11/0x30 [buggy]']);
});

test('describeSplat quotes the title and the top frames', (t) => {
  const [s] = findSplats(SLEEP);
  t.is(describeSplat(s, 2), 'atomic-sleep: BUG: sleeping function called from invalid context at kernel/locking/mutex.c:585\n    at __mutex_lock+0x55/0x7e0\n    at buggy_handler+0x1c/0x40 [buggy]');
});

function fakeLog(text: { v: string }, dmesgWorks = true) {
  return new KernelLog({
    dmesg: async () => { if (!dmesgWorks) throw new Error('agent gone'); return text.v; },
    get console() { return text.v; },
    kernel: { name: 'x', vmlinuz: '/nonexistent' },
  });
}

test('check() fails on a new splat, quoting it, and only reports each splat once', async (t) => {
  const log = { v: NOISE };
  const kl = fakeLog(log);
  t.deepEqual((await kl.check()).unexpected, []);
  log.v += `\n${SLEEP}`;
  const err = await t.throwsAsync(kl.check());
  t.regex(err!.message, /reported 1 problem:\n  atomic-sleep: BUG: sleeping function called from invalid context[^\n]*\n      at __mutex_lock/);
  t.deepEqual((await kl.check()).unexpected, [], 'already reported');
});

test('an expected splat is claimed; a missing expected splat fails', async (t) => {
  const log = { v: NOISE };
  const kl = fakeLog(log);
  kl.expect(/sleeping function called from invalid context/);
  log.v += `\n${SLEEP}`;
  const r = await kl.check();
  t.is(r.expected.length, 1);
  t.regex(summarizeKernelLog(r), /^kernel log: clean \(stock kernel[^)]*\); 1 expected report/);
  kl.expect(/possible circular locking/);
  const err = await t.throwsAsync(kl.check());
  t.regex(err!.message, /did not report the expected \/possible circular locking\//);
});

test('when the guest cannot answer, the console text is read instead', async (t) => {
  const kl = fakeLog({ v: `${NOISE}\n${WARN}` }, false);
  const r = await kl.report();
  t.true(r.fromConsole);
  t.is(r.unexpected.length, 1);
  t.regex(summarizeKernelLog(r), /^kernel log: 1 problem\(s\) \(stock kernel[^)]*\); first: WARNING: CPU: 1/);
});
