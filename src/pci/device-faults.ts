// Fault injection composed onto a device: the fault engine's hooks go into
// the seams the layers below declare. The irq gate is the hook every
// interrupt model raises through, always (it also holds delayed interrupts
// and a pulled-out device's silence); the command interceptor, the region
// access hook and the DMA hook are in place only while a rule is in force,
// so a device without rules never leaves its own code on an access.
import type { Interceptor } from '../transport/interceptor.ts';
import type { HandlerContext, RegionAccessHook } from '../device/model.ts';
import type { DeviceDmaHook } from '../dma/device-dma.ts';
import type { IrqHook } from '../irq/hooks.ts';
import type { IrqEvent } from '../irq/events.ts';
import type { FaultEngine } from '../faults/engine.ts';
import { IrqGate } from '../faults/irq-gate.ts';
import { faultInterceptor } from '../faults/interceptor.ts';
import { faultAccessHook, faultDmaHook } from '../faults/access.ts';

/** The lists a device consults: per interrupt, per command, per region access, per device DMA. */
export interface DeviceSeams {
  irqHooks: IrqHook[];
  interceptors: Interceptor<HandlerContext>[];
  accessHooks: RegionAccessHook[];
  dmaHooks: DeviceDmaHook[];
}

/** Puts `faults` into the device's seams; returns its gate (emit reports what the gate decides). */
export function attachFaults(faults: FaultEngine, emit: (e: IrqEvent) => void, seams: DeviceSeams): IrqGate {
  const gate = new IrqGate(faults, emit);
  seams.irqHooks.unshift(gate);
  const command = faultInterceptor(faults);
  const access = faultAccessHook(faults);
  const dma = faultDmaHook(faults);
  const place = <T>(list: T[], hook: T, on: boolean) => {
    const at = list.indexOf(hook);
    if (on && at < 0) list.unshift(hook);
    if (!on && at >= 0) list.splice(at, 1);
  };
  faults.on('change', () => {
    const on = faults.active;
    place(seams.interceptors, command, on);
    place(seams.accessHooks, access, on);
    place(seams.dmaHooks, dma, on);
  });
  return gate;
}
