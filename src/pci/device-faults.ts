// Fault injection composed onto a device: the fault engine's hooks go into
// the seams the layers below declare. The irq gate is the hook every
// interrupt model raises through, always (it also holds delayed interrupts
// and a pulled-out device's silence); the command interceptor, the region
// access hook and the DMA hook are in place only while a rule is in force,
// so a device without rules never leaves its own code on an access. The
// posted-write buffer comes first of the access hooks (a read must let held
// writes land before anything answers it) while a 'late' write rule is in
// force or the device holds writes of its own; those rules are one of its
// policies.
import type { Interceptor } from '../transport/interceptor.ts';
import type { HandlerContext, RegionAccessHook } from '../device/model.ts';
import type { PostedWriteBuffer } from '../device/posted-writes.ts';
import type { DeviceDmaHook } from '../dma/device-dma.ts';
import type { IrqHook } from '../irq/hooks.ts';
import type { IrqEvent, IrqKind } from '../irq/events.ts';
import type { FaultRule } from '../faults/rules.ts';
import type { FaultEngine } from '../faults/engine.ts';
import { IrqGate } from '../faults/irq-gate.ts';
import { faultInterceptor } from '../faults/interceptor.ts';
import { faultAccessHook, faultDmaHook } from '../faults/access.ts';
import { isLate } from '../faults/engine.ts';

/** The lists a device consults: per interrupt, per command, per region access, per device DMA. */
export interface DeviceSeams {
  irqHooks: IrqHook[];
  interceptors: Interceptor<HandlerContext>[];
  accessHooks: RegionAccessHook[];
  dmaHooks: DeviceDmaHook[];
  postedWrites: PostedWriteBuffer;
  /** What is wrong with an interrupt index of the device (undefined: fine, or a kind it lacks). */
  irqIndex(kind: IrqKind, index: number): string | undefined;
}

/** An irq rule naming an index, or a misroute vector, the device does not have (never wrapped at fire time). */
function checkIrqRule(rule: FaultRule, irqIndex: DeviceSeams['irqIndex']): string | undefined {
  if (rule.on !== 'irq') return undefined;
  if (rule.kind !== undefined && rule.index !== undefined) {
    const bad = irqIndex(rule.kind, rule.index);
    if (bad) return `fault rule on ${rule.kind} ${rule.index}: ${bad}`;
  }
  const a = rule.action;
  if (typeof a === 'object' && 'misroute' in a && a.misroute.vector !== undefined) {
    // A vector is where an eventfd interrupt (MSI-X, MSI) lands instead.
    const bad = irqIndex(rule.kind === 'msi' ? 'msi' : 'msix', a.misroute.vector);
    if (bad) return `misroute to ${bad}`;
  }
  return undefined;
}

/**
 * Puts `faults` into the device's seams; returns its gate (emit reports what
 * the gate decides) and sync(), which places the hooks again after the
 * device's own write windows changed.
 */
export function attachFaults(faults: FaultEngine, emit: (e: IrqEvent) => void, seams: DeviceSeams): { gate: IrqGate; sync: () => void } {
  const gate = new IrqGate(faults, emit);
  faults.checks.push((rule) => checkIrqRule(rule, seams.irqIndex));
  // Only a posted write can land late: config space and I/O BARs complete theirs.
  faults.checks.push((rule) => (rule.on === 'write' && isLate(rule.action) && !seams.postedWrites.isPosted(rule.region)
    ? `a late write rule on region ${rule.region}: its writes are not posted (only memory BARs' are)`
    : undefined));
  seams.irqHooks.unshift(gate);
  const command = faultInterceptor(faults);
  const access = faultAccessHook(faults);
  const dma = faultDmaHook(faults);
  const place = <T>(list: T[], hook: T, on: boolean) => {
    const at = list.indexOf(hook);
    if (on && at < 0) list.unshift(hook);
    if (!on && at >= 0) list.splice(at, 1);
  };
  const buffer = seams.postedWrites;
  buffer.policies.push((region, offset, length) => (faults.holdsWrites ? faults.regionWriteLate(region, offset, length) : undefined));
  const sync = () => {
    const on = faults.active;
    place(seams.interceptors, command, on);
    place(seams.accessHooks, access, on);
    place(seams.dmaHooks, dma, on);
    const holding = faults.holdsWrites || buffer.holding;
    // Nothing holds writes any more: what was held lands now, in order.
    if (!holding) buffer.drain('the rules holding it are gone');
    const at = seams.accessHooks.indexOf(buffer);
    if (at >= 0) seams.accessHooks.splice(at, 1);
    if (holding) seams.accessHooks.unshift(buffer);
  };
  faults.on('change', sync);
  return { gate, sync };
}
