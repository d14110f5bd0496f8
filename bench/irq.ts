// Interrupt rates from TypeScript, in one process: an ImsQueueDevice served by
// a VfioUserServer to the TypeScript client over a real socket.
//
//   MSI-X:  the client binds an eventfd to vector 0, enables bus mastering and
//           MSI-X (capability control bit 15); device.fireMsix(0) in bursts,
//           timed until the eventfd has counted every signal (a fire may be
//           decided later, after the device reads the vector's mask from the
//           client's table). Three states of the table: the client's (as
//           QEMU emulates it) with BAR2 unassigned, the same with BAR2
//           assigned (the mask is read by DMA_READ), and the device's own
//           (the client touched it). As the reference, signalEventFd() alone.
//   IMS:    the client programs IMS slot 0 in BAR0 (address 0xfee00000, data
//           0x31, unmasked); device.fireIms(0) in bursts, timed until the
//           client has received every DMA_WRITE (client.memory.msis). Server
//           and client share the one thread here, so this is the cost of both.
//
// Run as a script it prints one JSON object (what bench/run.ts does, in a
// fresh process per round):  node --import tsx bench/irq.ts [--msix N] [--raw N] [--ims N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { ImsQueueDevice, IMS_TABLE_OFFSET } from '../src/devices/ims-queue.ts';
import { VfioUserServer } from '../src/server/server.ts';
import { VfioUserClient } from '../src/client/index.ts';
import { IrqIndex, Region } from '../src/protocol/index.ts';
import { createEventFd, drainEventFd, signalEventFd, closeFd, type EventFd } from '../ffi/index.ts';

export interface RateResult {
  n: number;
  seconds: number;
  perSecond: number;
}

/** N fires of MSI-X vector 0, timed until the client's eventfd has counted N signals. */
export interface MsixResult extends RateResult {
  /** What fireMsix() returned, by outcome ("queued": decided later, after a probe of the client's table). */
  outcomes: Record<string, number>;
  signalsSeen: number;
}

export interface IrqBenchResult {
  /** The device as the client left it after binding and enabling: the table is the client's (as under QEMU), BAR2 unassigned. */
  msix: MsixResult;
  /** The same with BAR2 assigned: the device reads the vector's mask from the client's table (DMA_READ) before each send. */
  msixProbed: MsixResult;
  /** The client accessed the table through the device: its own table decides, no probe. */
  msixTableOwned: MsixResult;
  /** signalEventFd() alone: the eventfd write through koffi. */
  eventfdRaw: RateResult;
  /** device.fireIms(0) until the client has all the DMA_WRITEs. */
  ims: RateResult & { burst: number; fireSeconds: number; received: number; maxInFlight: number };
}

export interface IrqBenchOptions {
  msixN: number;
  /** Fires in the probed variant (each one a DMA_READ round trip). */
  probedN?: number;
  rawN: number;
  imsN: number;
  /** IMS interrupts fired before yielding to the event loop. */
  imsBurst?: number;
}

const PCI_COMMAND = 0x04;
const PCI_COMMAND_MEMORY_MASTER = 0x0006;
const PCI_BASE_ADDRESS_2 = 0x18;
/** Where BAR2 (MSI-X table and PBA) goes in the probed variant: an address no DMA_MAP covers, as MMIO under QEMU. */
const BAR2_ADDRESS = 0xfebf0000;
const MSIX_CONTROL = 2;
const MSIX_ENABLE = 0x8000;
const MSIX_VECTOR_CTRL = 12;
const MSI_ADDRESS = 0xfee00000;
const IMS_DATA = 0x31;
/** MSI-X fires between yields to the event loop (deliveries may be asynchronous). */
const MSIX_BURST = 1024;

const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
const rate = (n: number, s: number): RateResult => ({ n, seconds: s, perSecond: n / s });

export async function measureIrqs(opts: IrqBenchOptions): Promise<IrqBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'irqlab-bench-'));
  const device = new ImsQueueDevice();
  const server = new VfioUserServer(device, { socketPath: join(dir, 'dev.sock'), log: () => {} }).listen();
  let client: VfioUserClient | undefined;
  try {
    client = await VfioUserClient.connect(server.socketPath);
    await client.write16(Region.CONFIG, PCI_COMMAND, PCI_COMMAND_MEMORY_MASTER);
    if (!device.busMaster) throw new Error('bus mastering did not turn on');
    return {
      ...(await measureMsix(device, client, opts)),
      ims: await measureIms(device, client, opts),
    };
  } finally {
    client?.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Fires vector 0 n times (in bursts, yielding between them) and waits until n signals arrived. */
async function fireUntilSeen(device: ImsQueueDevice, ev: EventFd, n: number): Promise<MsixResult> {
  ev.poll();
  const before = ev.total;
  const outcomes: Record<string, number> = {};
  const t0 = process.hrtime.bigint();
  for (let fired = 0; fired < n;) {
    const k = Math.min(MSIX_BURST, n - fired);
    for (let i = 0; i < k; i++) {
      const o = device.fireMsix(0);
      outcomes[o] = (outcomes[o] ?? 0) + 1;
    }
    fired += k;
    if (fired < n) await yieldToLoop();
  }
  const deadline = Date.now() + 60000;
  while (ev.total - before < n) {
    ev.poll();
    if (ev.total - before >= n) break;
    if (Date.now() > deadline) throw new Error(`MSI-X: ${ev.total - before} of ${n} signals arrived (${JSON.stringify(outcomes)})`);
    await yieldToLoop();
  }
  return { ...rate(n, seconds(t0)), outcomes, signalsSeen: ev.total - before };
}

async function measureMsix(device: ImsQueueDevice, client: VfioUserClient, opts: IrqBenchOptions): Promise<Omit<IrqBenchResult, 'ims'>> {
  const cap = device.caps.msix;
  if (cap === undefined) throw new Error('the device has no MSI-X capability');
  const [ev] = await client.bindEventfds(IrqIndex.MSIX, 0, 1);
  const control = await client.read16(Region.CONFIG, cap + MSIX_CONTROL);
  await client.write16(Region.CONFIG, cap + MSIX_CONTROL, control | MSIX_ENABLE);
  if (!device.msix?.enabled) throw new Error('MSI-X did not turn on');

  await fireUntilSeen(device, ev, Math.ceil(opts.msixN / 10)); // warm-up
  const msix = await fireUntilSeen(device, ev, opts.msixN);

  // BAR2 assigned: the mask probe becomes a DMA_READ of the client's table,
  // which the client answers from memory it holds there but never mapped for
  // the device (as QEMU answers from the table it emulates): vector 0 unmasked.
  client.memory.add(BigInt(BAR2_ADDRESS), 0x2000);
  await client.write32(Region.CONFIG, PCI_BASE_ADDRESS_2, BAR2_ADDRESS);
  if (device.barAddress(2) !== BigInt(BAR2_ADDRESS)) throw new Error(`BAR2 reads back as ${device.barAddress(2)}`);
  const probedN = opts.probedN ?? Math.ceil(opts.msixN / 10);
  await fireUntilSeen(device, ev, Math.ceil(probedN / 10));
  const msixProbed = await fireUntilSeen(device, ev, probedN);

  // The client unmasks vector 0 in the device's own table: the device owns the table from then on.
  await client.write32(Region.BAR2, MSIX_VECTOR_CTRL, 0);
  await fireUntilSeen(device, ev, Math.ceil(opts.msixN / 10));
  const msixTableOwned = await fireUntilSeen(device, ev, opts.msixN);

  const fd = createEventFd();
  try {
    for (let i = 0; i < opts.rawN / 10; i++) signalEventFd(fd);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < opts.rawN; i++) signalEventFd(fd);
    const eventfdRaw = rate(opts.rawN, seconds(t0));
    const seen = drainEventFd(fd);
    if (seen !== opts.rawN + Math.ceil(opts.rawN / 10)) throw new Error(`eventfd counted ${seen} signals, ${opts.rawN + Math.ceil(opts.rawN / 10)} were sent`);
    return { msix, msixProbed, msixTableOwned, eventfdRaw };
  } finally {
    closeFd(fd);
  }
}

async function measureIms(device: ImsQueueDevice, client: VfioUserClient, opts: IrqBenchOptions): Promise<IrqBenchResult['ims']> {
  const slot = IMS_TABLE_OFFSET; // slot 0: address low, address high, data, control
  await client.write32(Region.BAR0, slot + 0x0, MSI_ADDRESS);
  await client.write32(Region.BAR0, slot + 0x4, 0);
  await client.write32(Region.BAR0, slot + 0x8, IMS_DATA);
  await client.write32(Region.BAR0, slot + 0xc, 0);
  const s = device.ims.slot(0);
  if (s.address !== BigInt(MSI_ADDRESS) || s.data !== IMS_DATA || s.masked) throw new Error(`IMS slot 0 reads back as ${JSON.stringify({ ...s, address: s.address.toString(16) })}`);

  const burst = opts.imsBurst ?? 256;
  const msis = client.memory.msis;
  let maxInFlight = 0;
  const run = async (n: number): Promise<{ s: number; fireS: number }> => {
    const start = msis.length;
    let fireNs = 0n;
    const t0 = process.hrtime.bigint();
    for (let fired = 0; fired < n;) {
      const k = Math.min(burst, n - fired);
      const f0 = process.hrtime.bigint();
      for (let i = 0; i < k; i++) device.fireIms(0);
      fireNs += process.hrtime.bigint() - f0;
      fired += k;
      maxInFlight = Math.max(maxInFlight, fired - (msis.length - start));
      await yieldToLoop();
    }
    const deadline = Date.now() + 30000;
    while (msis.length - start < n) {
      if (Date.now() > deadline) throw new Error(`the client received ${msis.length - start} of ${n} IMS messages`);
      await yieldToLoop();
    }
    return { s: seconds(t0), fireS: Number(fireNs) / 1e9 };
  };
  await run(Math.ceil(opts.imsN / 10)); // warm-up
  const bad = msis.find((m) => m.address !== BigInt(MSI_ADDRESS) || m.data !== IMS_DATA);
  if (bad) throw new Error(`an IMS message went to 0x${bad.address.toString(16)} with data 0x${bad.data.toString(16)}`);
  msis.length = 0;
  maxInFlight = 0;
  const r = await run(opts.imsN);
  return { ...rate(opts.imsN, r.s), burst, fireSeconds: r.fireS, received: msis.length, maxInFlight };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      msix: { type: 'string', default: '200000' }, probed: { type: 'string', default: '20000' }, raw: { type: 'string', default: '500000' },
      ims: { type: 'string', default: '20000' }, burst: { type: 'string', default: '256' },
    },
  });
  const result = await measureIrqs({
    msixN: Number(values.msix), probedN: Number(values.probed), rawN: Number(values.raw), imsN: Number(values.ims), imsBurst: Number(values.burst),
  });
  process.stdout.write(JSON.stringify(result) + '\n');
}
