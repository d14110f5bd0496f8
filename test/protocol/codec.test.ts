import test from 'ava';
import {
  codecs, Command, VfioError, Errno, frame, readHeader, HEADER_SIZE, FLAG_NO_REPLY, MsgType,
  decodeVersion, encodeVersion, parseCapabilities, decodeIrqSet, encodeIrqSet, decodeRegionData,
  decodeWriteMulti, encodeWriteMulti, IRQ_SET_DATA_BOOL, IRQ_SET_DATA_NONE, IRQ_SET_ACTION_TRIGGER,
  IRQ_SET_ACTION_MASK, IRQ_SET_DATA_EVENTFD,
} from '../../src/protocol/index.ts';

const bytes = (...v: number[]) => new Uint8Array(v);

// One representative value per command and direction; every entry must
// survive encode -> decode unchanged.
const samples: Record<number, { request: unknown; reply: unknown }> = {
  [Command.VERSION]: {
    request: { major: 0, minor: 0, json: { capabilities: { max_msg_fds: 16, write_multiple: true } } },
    reply: { major: 0, minor: 0, json: { capabilities: { pgsizes: 4096 } } },
  },
  [Command.DMA_MAP]: { request: { argsz: 32, flags: 3, offset: 0x1000n, address: 0xc0000n, size: 0x8000_0000n }, reply: undefined },
  [Command.DMA_UNMAP]: {
    request: { argsz: 24, flags: 0, address: 0xc0000n, size: 0x4000n },
    reply: { argsz: 24, flags: 0, address: 0xc0000n, size: 0x4000n },
  },
  [Command.DEVICE_GET_INFO]: {
    request: { argsz: 16, flags: 0, numRegions: 0, numIrqs: 0 },
    reply: { argsz: 16, flags: 3, numRegions: 9, numIrqs: 5 },
  },
  [Command.DEVICE_GET_REGION_INFO]: {
    request: { argsz: 32, flags: 0, index: 7, capOffset: 0, size: 0n, offset: 0n },
    reply: { argsz: 56, flags: 0xb, index: 2, capOffset: 32, size: 0x2000n, offset: 0n, caps: bytes(1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) },
  },
  [Command.DEVICE_GET_REGION_IO_FDS]: {
    request: { argsz: 16, flags: 0, index: 0, count: 0 },
    reply: { argsz: 56, flags: 0, index: 0, count: 1, subRegions: new Uint8Array(40).fill(7) },
  },
  [Command.DEVICE_GET_IRQ_INFO]: {
    request: { argsz: 16, flags: 0, index: 2, count: 0 },
    reply: { argsz: 16, flags: 3, index: 2, count: 8 },
  },
  [Command.DEVICE_SET_IRQS]: {
    request: { argsz: 23, flags: IRQ_SET_DATA_BOOL | IRQ_SET_ACTION_TRIGGER, index: 2, start: 1, count: 3, data: bytes(1, 0, 1) },
    reply: undefined,
  },
  [Command.REGION_READ]: {
    request: { offset: 0x20n, region: 0, count: 4 },
    reply: { offset: 0x20n, region: 0, count: 4, data: bytes(1, 2, 3, 4) },
  },
  [Command.REGION_WRITE]: {
    request: { offset: 0x24n, region: 0, count: 2, data: bytes(9, 8) },
    reply: { offset: 0x24n, region: 0, count: 2 },
  },
  [Command.DMA_READ]: {
    request: { address: 0xfee00000n, count: 16 },
    reply: { address: 0xfee00000n, count: 3, data: bytes(5, 6, 7) },
  },
  [Command.DMA_WRITE]: {
    request: { address: 0xfee00000n, count: 4, data: bytes(0x31, 0, 0, 0) },
    reply: { address: 0xfee00000n, count: 4 },
  },
  [Command.DEVICE_RESET]: { request: undefined, reply: undefined },
  [Command.REGION_WRITE_MULTI]: {
    request: [{ offset: 0x24n, region: 0, count: 4, data: bytes(1, 0, 0, 0) }, { offset: 0x8n, region: 2, count: 1, data: bytes(0xff) }],
    reply: 2,
  },
  [Command.DEVICE_FEATURE]: {
    request: { argsz: 16, flags: (1 << 16) | 1, data: new Uint8Array(0) },
    reply: { argsz: 16, flags: (1 << 16) | 1, data: bytes(1, 0, 0, 0, 0, 0, 0, 0) },
  },
  [Command.MIG_DATA_READ]: {
    request: { argsz: 4104, size: 4096, data: new Uint8Array(0) },
    reply: { argsz: 12, size: 4, data: bytes(1, 2, 3, 4) },
  },
  [Command.MIG_DATA_WRITE]: { request: { argsz: 8, size: 2, data: bytes(1, 2) }, reply: undefined },
};

for (const [cmd, c] of Object.entries(codecs)) {
  for (const dir of ['request', 'reply'] as const) {
    test(`codec round trip: ${cmd} ${dir}`, (t) => {
      const value = samples[Number(cmd)][dir];
      const encoded = c[dir].encode(value);
      t.deepEqual(c[dir].decode(encoded), value);
    });
  }
}

test('every command of the spec (1-13, 15-18) has a codec', (t) => {
  const expected = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 18];
  t.deepEqual(Object.keys(codecs).map(Number).sort((a, b) => a - b), expected);
});

test('frame writes a header whose size covers the payload', (t) => {
  const m = frame(7, Command.REGION_READ, FLAG_NO_REPLY, bytes(1, 2, 3));
  const h = readHeader(m);
  t.deepEqual(h, { id: 7, command: Command.REGION_READ, size: HEADER_SIZE + 3, flags: FLAG_NO_REPLY | MsgType.COMMAND, error: 0 });
});

const errnoOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e instanceof VfioError ? e.errno : -1;
  }
  return 0;
};

test('short payloads are EINVAL naming the field', (t) => {
  const err = t.throws(() => codecs[Command.REGION_READ].request.decode(bytes(1, 2, 3)), { instanceOf: VfioError });
  t.is(err!.errno, Errno.EINVAL);
  t.regex(err!.message, /REGION_READ: payload is 3 bytes, too short for offset/);
});

test('REGION_WRITE count must match the data that follows', (t) => {
  const p = codecs[Command.REGION_WRITE].request.encode({ offset: 0n, region: 0, count: 4, data: bytes(1, 2, 3, 4) });
  p[12] = 5; // count 5, 4 data bytes
  t.is(errnoOf(() => decodeRegionData(p, 'REGION_WRITE')), Errno.EINVAL);
});

test('VERSION data must be NUL-terminated JSON object', (t) => {
  const ok = encodeVersion({ major: 0, minor: 0, json: { capabilities: {} } });
  t.is(errnoOf(() => decodeVersion(ok.subarray(0, ok.length - 1))), Errno.EINVAL);
  const notJson = new Uint8Array([0, 0, 0, 0, ...new TextEncoder().encode('{nope'), 0]);
  t.is(errnoOf(() => decodeVersion(notJson)), Errno.EINVAL);
  const arr = new Uint8Array([0, 0, 0, 0, ...new TextEncoder().encode('[1]'), 0]);
  t.is(errnoOf(() => decodeVersion(arr)), Errno.EINVAL);
  t.deepEqual(decodeVersion(bytes(0, 0, 1, 0)), { major: 0, minor: 1 });
});

test('capabilities: defaults from the spec, types validated', (t) => {
  t.deepEqual(parseCapabilities(undefined), {
    maxMsgFds: 1, maxDataXferSize: 1 << 20, maxDmaMaps: 65535, pgsizes: 4096, writeMultiple: false, twinSocket: false,
  });
  t.is(parseCapabilities({ capabilities: { write_multiple: true, max_msg_fds: 16 } }).maxMsgFds, 16);
  t.is(errnoOf(() => parseCapabilities({ capabilities: { max_msg_fds: -1 } })), Errno.EINVAL);
  t.is(errnoOf(() => parseCapabilities({ capabilities: { max_data_xfer_size: '1M' } })), Errno.EINVAL);
  t.is(errnoOf(() => parseCapabilities({ capabilities: { write_multiple: 1 } })), Errno.EINVAL);
  t.is(errnoOf(() => parseCapabilities({ capabilities: [] })), Errno.EINVAL);
});

test('SET_IRQS: exactly one DATA and one ACTION flag, no unknown flags, no overflow', (t) => {
  const enc = (flags: number, start = 0, count = 1, data?: Uint8Array) => encodeIrqSet({ argsz: 20, flags, index: 2, start, count, data });
  t.is(errnoOf(() => decodeIrqSet(enc(IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER))), 0);
  t.is(errnoOf(() => decodeIrqSet(enc(IRQ_SET_DATA_NONE | IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER))), Errno.EINVAL);
  t.is(errnoOf(() => decodeIrqSet(enc(IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER | IRQ_SET_ACTION_MASK))), Errno.EINVAL);
  t.is(errnoOf(() => decodeIrqSet(enc(IRQ_SET_DATA_NONE))), Errno.EINVAL);
  t.is(errnoOf(() => decodeIrqSet(enc(IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER | 0x40))), Errno.EINVAL);
  t.is(errnoOf(() => decodeIrqSet(enc(IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, 0xffffffff, 2))), Errno.EINVAL);
  t.is(errnoOf(() => decodeIrqSet(enc(IRQ_SET_DATA_BOOL | IRQ_SET_ACTION_TRIGGER, 0, 4, bytes(1)))), Errno.EINVAL);
});

test('REGION_WRITE_MULTI: wr_cnt must match the entries and stay within the bound', (t) => {
  const p = encodeWriteMulti([{ offset: 0n, region: 0, count: 4, data: bytes(1, 2, 3, 4) }]);
  t.is(decodeWriteMulti(p, 200).length, 1);
  t.is(errnoOf(() => decodeWriteMulti(p.subarray(0, p.length - 1), 200)), Errno.EINVAL);
  const big = new Uint8Array(8);
  new DataView(big.buffer).setBigUint64(0, 201n, true);
  t.is(errnoOf(() => decodeWriteMulti(big, 200)), Errno.EINVAL);
});
