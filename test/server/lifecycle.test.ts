// Sessions: posted writes, one client at a time, disconnects at awkward
// moments, reset between clients, no leaked descriptors.
import test from 'ava';
import { Command, Errno, VfioError, Region, encodeRegionData, encodeRegionAccess, IrqIndex } from '../../src/protocol/index.ts';
import { connectUnix, closeFd, SocketStream, openFdCount, EventFd } from '../../ffi/index.ts';
import { Reg, IRQLAB_ID_MAGIC } from '../../src/devices/ims-queue.ts';
import { startServer, sleep } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';
import type { Header } from '../../src/protocol/index.ts';

test.serial('a posted write (NO_REPLY) is applied and never answered', async (t) => {
  const h = startServer();
  const replies: Header[] = [];
  const c = await h.connect({ tap: (dir, hdr) => { if (dir === 'in') replies.push(hdr); } });
  await c.write16(Region.CONFIG, 4, 0x2);
  replies.length = 0;
  await c.write32(0, Reg.SCRATCH, 0x1234abcd, { posted: true });
  t.is(await c.read32(0, Reg.SCRATCH), 0x1234abcd, 'the read sees the earlier posted write (strict order)');
  t.is(replies.length, 1, 'one reply: the read; none for the posted write');
  t.is(h.server.session!.ctx.stats.postedWrites, 1);
  h.close();
});

test.serial('a second client is refused with EBUSY and the first is undisturbed', async (t) => {
  const h = startServer();
  const first = await h.connect();
  await first.write16(Region.CONFIG, 4, 0x2);
  const err = await t.throwsAsync(h.connect(), { instanceOf: VfioError });
  t.is((err as VfioError).errno, Errno.EBUSY);
  t.true(h.logs.some((l) => /refused client .*busy/.test(l)));
  t.is(await first.read32(0, 0), IRQLAB_ID_MAGIC);
  h.close();
});

test.serial('a client that vanishes mid-message is dropped; the device is reset and the next client is served', async (t) => {
  const h = startServer();
  const c = await h.connect();
  await c.write16(Region.CONFIG, 4, 0x2);
  await c.write32(0, Reg.SCRATCH, 77);
  // Half a REGION_WRITE, then the socket closes.
  const msg = encodeRegionData({ offset: BigInt(Reg.SCRATCH), region: 0, count: 4, data: new Uint8Array([1, 2, 3, 4]) });
  const framed = new Uint8Array(16 + msg.length);
  new DataView(framed.buffer).setUint32(4, framed.length, true);
  new DataView(framed.buffer).setUint16(2, Command.REGION_WRITE, true);
  framed.set(msg, 16);
  c.sendRaw(framed.subarray(0, 21));
  await sleep(10);
  c.close();
  await eventually('the server to drop the session', () => h.server.session === null);
  const d = await h.connect();
  t.is(await d.read16(Region.CONFIG, 4), 0, 'command register back to reset');
  await d.write16(Region.CONFIG, 4, 0x2);
  t.is(await d.read32(0, Reg.SCRATCH), 0, 'SCRATCH back to its reset value');
  h.close();
});

test.serial('disconnecting at every message boundary and inside messages leaves no descriptor behind', async (t) => {
  const h = startServer();
  const base = openFdCount();
  const read = encodeRegionAccess({ offset: 0n, region: Region.CONFIG, count: 4 });
  for (let cut = 0; cut < 40; cut += 3) {
    const c = await h.connect();
    await c.dmaMap(0x200000n, 0x10000);
    await c.write16(Region.CONFIG, 0x4, 0x6);
    await c.bindEventfds(IrqIndex.MSIX, 0, 4);
    const m = new Uint8Array(16 + read.length);
    new DataView(m.buffer).setUint16(2, Command.REGION_READ, true);
    new DataView(m.buffer).setUint32(4, m.length, true);
    m.set(read, 16);
    const ev = new EventFd();
    c.sendRaw(m.subarray(0, Math.min(cut, m.length)), cut > 0 ? [ev.fd] : []);
    ev.close();
    c.close();
    await eventually('disconnect', () => h.server.session === null);
  }
  await eventually('open descriptors back to the baseline', () => openFdCount() === base);
  t.is(h.device.msix!.lines.assigned, 0, 'no eventfd kept from gone clients');
  h.close();
});

test.serial('a raw connection that never speaks can be closed and the next client served', async (t) => {
  const h = startServer();
  const fd = connectUnix(h.socket);
  const s = new SocketStream(fd, { onReadable() {}, onError() {} });
  await sleep(20);
  s.close();
  await eventually('the session to end', () => h.server.session === null);
  const c = await h.connect();
  t.is(await c.configRead32(0), 0x0001f1ab);
  h.close();
});

test.serial('a client that connects and closes without a word, followed at once by the next client: the next one is served, 100 times in a row', async (t) => {
  // A health check, or QEMU reconnecting quickly: the first connection's end
  // and the second one's arrival reach the server in the same turn of the
  // event loop, the accept first.
  const h = startServer();
  t.teardown(() => h.close());
  const refused: string[] = [];
  h.server.on('refused', (_peer, why) => refused.push(why));
  for (let i = 0; i < 100; i++) {
    closeFd(connectUnix(h.socket));
    const c = await h.connect();
    t.is(await c.configRead32(0), 0x0001f1ab);
    c.close();
    await eventually('the session to end', () => h.server.session === null);
  }
  t.deepEqual(refused, [], 'no client was refused');
});

test.serial('REGION_WRITE_MULTI applies entries in order; a bad entry stops the batch and wr_cnt says how many were applied', async (t) => {
  const h = startServer();
  const c = await h.connect();
  await c.write16(Region.CONFIG, 4, 0x2);
  const le = (v: number) => new Uint8Array([v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24]);
  const done = await c.writeMulti([
    { offset: BigInt(Reg.SCRATCH), region: 0, count: 4, data: le(7) },
    { offset: BigInt(Reg.DOORBELL), region: 0, count: 4, data: le(1) },
    { offset: BigInt(Reg.DOORBELL), region: 0, count: 4, data: le(2) },
    { offset: 0x10000n, region: 0, count: 4, data: le(3) }, // beyond BAR0
    { offset: BigInt(Reg.SCRATCH), region: 0, count: 4, data: le(9) },
  ]);
  t.is(done, 3);
  t.is(await c.read32(0, Reg.SCRATCH), 7, 'entries after the bad one were not applied');
  t.is(h.device.doorbellCount, 2);
  t.is(await c.read32(0, Reg.DB_LAST), 2, 'applied in order');
  h.close();
});

test.serial('REGION_WRITE_MULTI is refused when write_multiple was not negotiated', async (t) => {
  const h = startServer(undefined, { limits: { writeMultiple: false } });
  const c = await h.connect();
  t.false(c.server!.writeMultiple, 'the VERSION reply does not offer it');
  const e = await t.throwsAsync(c.writeMulti([{ offset: 0n, region: 7, count: 1, data: new Uint8Array(1) }]), { instanceOf: VfioError });
  t.is((e as VfioError).errno, Errno.EINVAL);
  t.is(await c.configRead32(0), 0x0001f1ab);
  h.close();
});
