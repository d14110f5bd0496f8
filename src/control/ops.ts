// What the control channel can do to a running device: fire interrupts,
// complete work, manage fault rules, pull the device out, report statistics.
// Each op checks its arguments and throws an Error whose message is the
// answer a person reads.
import type { PciFunction } from '../pci/function.ts';
import type { VfioUserServer } from '../server/server.ts';
import { ImsQueueDevice } from '../devices/ims-queue.ts';
import { IRQ_KINDS, isIrqKind } from '../irq/events.ts';

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
    return {
      vendor: t.device.spec.ids.vendor, device: t.device.spec.ids.device,
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
    return { id: t.device.faults.add(a.rule) };
  },

  'fault.list'(t) {
    return t.device.faults.list();
  },

  'fault.remove'(t, a) {
    if (!t.device.faults.remove(String(a.id))) throw new Error(`no fault rule ${String(a.id)}`);
    return {};
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
