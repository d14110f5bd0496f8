// A lab session for irqlab boot and irqlab run: the testbed (servers, QEMU,
// guest), a trace of the first device and its control socket. Everything is
// checked before anything starts, and whatever started is stopped on every
// way out: a failure at any step, the end of the session, or a signal.
import { Testbed, type TestbedOptions } from '../lab/testbed.ts';
import { ControlServer } from '../control/server.ts';
import { TraceRecorder } from '../trace/index.ts';
import { loadLab, resolveKernel } from '../vm/lab.ts';
import type { PciFunction } from '../pci/function.ts';
import { parentDirExists } from './paths.ts';
import { UsageError } from './usage.ts';

export interface SessionOptions {
  testbed: TestbedOptions<PciFunction>;
  /** Record the first device's messages, interrupts, DMA and faults to this file. */
  trace?: string;
  /** The device's name in the trace header. */
  traceName?: string;
  /** A control socket for irqlab ctl, on the first device. */
  control?: string;
  log: (line: string) => void;
}

export interface Session {
  bed: Testbed<PciFunction>;
  control?: ControlServer;
  stop(): Promise<void>;
}

/** The paths and the kernel, checked before a socket, a file or a process exists. */
export function checkSession(o: { trace?: string; control?: string; kernel?: string }): void {
  if (o.trace !== undefined) parentDirExists(o.trace, '--trace');
  if (o.control !== undefined) parentDirExists(o.control, '--control');
  if (o.kernel !== undefined) {
    try {
      resolveKernel(loadLab(), o.kernel);
    } catch (err) {
      throw new UsageError(`--kernel ${o.kernel}: ${(err as Error).message}`);
    }
  }
}

export async function startSession(o: SessionOptions): Promise<Session> {
  const rec = o.trace ? await TraceRecorder.open(o.trace, { deviceName: o.traceName }) : undefined;
  let bed: Testbed<PciFunction>;
  try {
    bed = await Testbed.start({
      ...o.testbed,
      // The trace is the first device's: its server alone is tapped.
      serverFor: (d, i) => ({ ...o.testbed.serverFor?.(d, i), ...(rec && i === 0 ? { tap: rec.tap, dmaObserver: (op, a, data) => rec.recordDmaAccess(op, a, data) } : {}) }),
      onServer: (server, d, i) => {
        o.testbed.onServer?.(server, d, i);
        if (i === 0) rec?.attach({ server, device: d });
      },
    });
  } catch (err) {
    await rec?.close().catch(() => {});
    throw err;
  }
  let control: ControlServer | undefined;
  try {
    control = o.control ? await ControlServer.listen(o.control, { device: bed.device, server: bed.server }, o.log) : undefined;
  } catch (err) {
    await bed.stop().catch(() => {});
    await rec?.close().catch(() => {});
    throw err;
  }
  if (control) o.log(`control socket: ${control.path} (irqlab ctl ${control.path} ...)`);
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= (async () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await control?.close().catch(() => {});
    await bed.stop().catch(() => {});
    await rec?.close();
  })());
  // A signal ends the session the same way, then the process with the signal's status.
  const onSignal = (sig: NodeJS.Signals) => {
    o.log(`${sig}: stopping the guest and the servers`);
    void stop().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return { bed, control, stop };
}
