// Tracing never holds the trace in memory: a million posted writes go
// through a recorder with a small buffer, which stays under its bound; a
// disk that stops taking data costs records (counted, and said in the
// stream), never memory.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Region } from '../../src/protocol/index.ts';
import { ImsQueueDevice, Reg } from '../../src/devices/ims-queue.ts';
import * as R from '../../src/pci/regs.ts';
import { TraceRecorder, readTrace, type MsgRecord } from '../../src/trace/index.ts';
import { startServer } from '../helpers/server.ts';
import { tempDir } from './helpers.ts';

test.serial('a million posted writes with tracing on: the buffer stays under its bound and the file reads back whole', async (t) => {
  const tmp = tempDir();
  t.teardown(() => tmp.remove());
  const file = join(tmp.dir, 'storm.trace');
  const bufferBytes = 256 << 10;
  const rec = await TraceRecorder.open(file, { bufferBytes, chunkBytes: 32 << 10 });
  const h = startServer(new ImsQueueDevice(), { tap: rec.tap });
  t.teardown(() => h.close());
  rec.attach({ server: h.server, device: h.device });
  const c = await h.connect();
  await c.write16(Region.CONFIG, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY);

  const N = 1_000_000;
  const BURST = 5000;
  const one = new Uint8Array([1, 0, 0, 0]);
  let peak = 0;
  for (let sent = 0; sent < N; sent += BURST) {
    for (let i = 0; i < BURST; i++) void c.regionWrite(0, Reg.DOORBELL, one, { posted: true });
    // The read is answered after every write before it: a sync point that
    // keeps the client from queueing the whole storm.
    await c.read32(0, Reg.DB_COUNT);
    const s = rec.stats;
    peak = Math.max(peak, s.bufferedBytes, s.heldBytes);
  }
  t.is(h.device.doorbellCount, N, 'every write reached the device');
  c.close();
  await rec.close();
  const s = rec.stats;
  t.true(s.peakBufferedBytes <= bufferBytes, `peak buffered ${s.peakBufferedBytes} <= ${bufferBytes}`);
  t.true(peak <= bufferBytes, `held ${peak} <= ${bufferBytes}`);
  t.log(`records ${s.records}, dropped ${s.dropped}, ${s.bytesWritten} bytes (${(s.bytesWritten / s.records).toFixed(1)} per record), peak buffered ${s.peakBufferedBytes}`);

  let posted = 0;
  let dropped = 0;
  let end;
  for await (const r of readTrace(file)) {
    if (r.kind === 'msg' && (r as MsgRecord).noReply && r.commandName === 'REGION_WRITE') posted++;
    else if (r.kind === 'drop') dropped += r.count;
    else if (r.kind === 'end') end = r;
  }
  t.truthy(end, 'the trace is closed');
  t.is(dropped, s.dropped, 'drop records account for every dropped record');
  t.true(posted + dropped >= N, 'every posted write is in the trace or counted as dropped');
  t.is(end!.records, s.records);
});

test.serial('a disk that takes nothing: records are dropped and counted, memory stays at the bound, the stream says how many went missing', async (t) => {
  const tmp = tempDir();
  t.teardown(() => tmp.remove());
  // A FIFO nobody reads yet: writes block once the pipe holds 64 KiB.
  const fifo = join(tmp.dir, 'slow.fifo');
  execFileSync('mkfifo', [fifo]);
  const reader = createReadStream(fifo);
  const bufferBytes = 64 << 10;
  const rec = await TraceRecorder.open(fifo, { bufferBytes, chunkBytes: 16 << 10 });
  const N = 200_000;
  for (let i = 0; i < N; i++) {
    rec.recordIrq({ kind: 'msix', index: i & 7, outcome: 'delivered' });
    if (i % 1000 === 0) await new Promise((r) => setImmediate(r)); // let writes start (and block)
  }
  const s = rec.stats;
  t.true(s.dropped > 0, 'records were dropped');
  t.true(s.heldBytes <= bufferBytes && s.peakBufferedBytes <= bufferBytes, `held ${s.heldBytes}, peak ${s.peakBufferedBytes} <= ${bufferBytes}`);
  t.is(s.records + s.dropped, N, 'every record is either in the trace or counted');

  // Now the disk catches up: the rest is written, with the drop count.
  const copy = join(tmp.dir, 'copy.trace');
  const copied = pipeline(reader, createWriteStream(copy));
  await rec.close();
  await copied;
  let irqs = 0;
  let inDropRecords = 0;
  let end;
  for await (const r of readTrace(copy)) {
    if (r.kind === 'irq') irqs++;
    else if (r.kind === 'drop') {
      inDropRecords += r.count;
      t.true(r.since <= r.t, 'a drop record says since when');
    } else if (r.kind === 'end') end = r;
  }
  t.is(irqs, s.records);
  t.is(inDropRecords, s.dropped);
  t.deepEqual({ records: end!.records, dropped: end!.dropped }, { records: s.records, dropped: s.dropped });
});
