// What the control channel can do to a running device: fire interrupts,
// complete work, manage fault rules, pull the device out, report statistics.
// Each op checks its arguments and throws an Error whose message is the
// answer a person reads.
import type { PciFunction } from '../pci/function.ts';
import type { VfioUserServer } from '../server/server.ts';
import { ImsQueueDevice } from '../devices/ims-queue.ts';
import { IRQ_KINDS, isIrqKind } from '../irq/events.ts';
import { parseRule } from '../faults/rules.ts';

export interface ControlTarget {
  device: PciFunction;
  server?: VfioUserServer;
}

type Op = (t: ControlTarget, args: Record<string, unknown>) => unknown;


function int(args: Record<string, unknown>, key: string, dflt?: number): number {
  const v = args[key] ?? dflt;
  const n = typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new Error(`${key} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
}

function queueDevice(t: ControlTarget): ImsQueueDevice {
  if (!(t.device instanceof ImsQueueDevice)) throw new Error('this device has no work queues');
  return t.device;
}

export const ops: Record<string, Op> = {
  info(t) {
    const s = t.server?.session;
    const ids = t.device.spec.ids;
    return {
      name: t.device.constructor.name, vendor: ids.vendor, device: ids.device,
      subsystemVendor: ids.subsystemVendor ?? ids.vendor, subsystem: ids.subsystem ?? 0, classCode: ids.classCode,
      socket: t.server?.socketPath, client: s ? { pid: s.peer?.pid, uid: s.peer?.uid, since: new Date(s.startedAt).toISOString() } : null,
      removed: t.device.removed, faults: t.device.faults.list().length,
    };
  },

  fire(t, a) {
    const kind = a.kind;
    if (!isIrqKind(kind)) throw new Error(`kind must be one of ${IRQ_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
    // spurious() refuses an index the device lacks, naming the valid range (never wraps it).
    return { outcome: t.device.spurious(kind, int(a, 'index', 0)) };
  },

  complete(t, a) {
    const d = queueDevice(t);
    const q = int(a, 'queue');
    if (q >= d.numQueues) throw new Error(`queue ${q} does not exist (0..${d.numQueues - 1})`);
    const n = int(a, 'n', 1);
    if (n > 1_000_000) throw new Error('at most 1000000 completions at once');
    return { outcomes: d.complete(q, n) };
  },

  'fault.add'(t, a) {
    return { id: t.device.faults.add(parseRule(a.rule)) };
  },

  'fault.list'(t) {
    return t.device.faults.list();
  },

  'fault.remove'(t, a) {
    const id = String(a.id);
    const rule = t.device.faults.list().find((r) => r.id === id);
    if (!rule || !t.device.faults.remove(id)) {
      const ids = t.device.faults.list().map((r) => r.id);
      throw new Error(`no fault rule ${JSON.stringify(id)}; ${ids.length ? `the rules are ${ids.join(', ')}` : 'there are no rules'}`);
    }
    return { id, description: rule.description, seen: rule.seen, applied: rule.applied };
  },

  'fault.clear'(t) {
    const n = t.device.faults.list().length;
    t.device.faults.clear();
    return { cleared: n };
  },

  'device.remove'(t, a) {
    t.device.surpriseRemove({ config: a.config === true });
    return { removed: true };
  },

  'device.aer'(t, a) {
    t.device.aerError({ bit: a.bit === undefined ? undefined : int(a, 'bit'), fatal: a.fatal === true, signal: a.signal !== false });
    return {};
  },

  'guest-errors.clear'(t) {
    return t.device.clearGuestErrors();
  },

  'device.reset'(t) {
    t.device.reset('reset from the control channel');
    return {};
  },

  stats(t) {
    const s = t.server?.session;
    const out: Record<string, unknown> = {
      irqs: t.device.counters.snapshot(),
      faults: Object.fromEntries(t.device.faults.totals),
      guestErrors: t.device.guestErrors(),
      session: s ? { ...s.ctx.stats } : null,
    };
    const d = t.device;
    if (d instanceof ImsQueueDevice) {
      out.queues = Array.from({ length: d.numQueues }, (_, q) => ({ queue: q, ...d.queue(q) }));
      out.doorbell = d.doorbellCount;
    }
    return out;
  },
};
