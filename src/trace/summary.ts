// What a message said, in a few fields: each payload is decoded with the
// protocol's codec table (the same decoders the server and client use), then
// cut down to what a person reading a trace needs. The accessed bytes are kept
// only for small accesses; a large transfer is summarised by its count.
import { Command, MSG_TYPE_MASK, MsgType, FLAG_ERROR, WRITE_MULTI_DATA } from '../protocol/constants.ts';
import { codecs } from '../protocol/codecs.ts';
import type { Header } from '../protocol/header.ts';
import type {
  Version, DmaMap, DmaUnmap, DmaAccess, DmaData, DeviceInfo, RegionInfo, IoFdsInfo, IrqInfo, IrqSet,
  RegionAccess, RegionData, WriteMultiEntry, DeviceFeature, MigData,
} from '../protocol/index.ts';
import type { Summary, U64 } from './format.ts';

/** Accessed bytes up to this size are kept in the trace. */
export const SMALL_DATA = 64;
/** REGION_WRITE_MULTI entries kept per message. */
const MULTI_KEPT = 8;

export function u64(v: bigint): U64 {
  return v <= 0x1fffffffffffffn ? Number(v) : v;
}

/**
 * The bytes of an access as a register sees them: a little-endian number for
 * 1, 2, 4 and 8 bytes, the bytes themselves up to SMALL_DATA, nothing beyond.
 */
export function accessed(data: Uint8Array): { value?: U64; data?: Uint8Array } {
  switch (data.length) {
    case 1: return { value: data[0] };
    case 2: return { value: data[0] | (data[1] << 8) };
    case 4: return { value: (data[0] | (data[1] << 8) | (data[2] << 16) | (data[3] << 24)) >>> 0 };
    case 8: return { value: u64(new DataView(data.buffer, data.byteOffset, 8).getBigUint64(0, true)) };
    default: return data.length <= SMALL_DATA && data.length > 0 ? { data } : {};
  }
}

function regionAccess(a: RegionAccess): Summary {
  return { region: a.region, offset: u64(a.offset), count: a.count };
}

function regionData(d: RegionData): Summary {
  const s: Summary = { region: d.region, offset: u64(d.offset), count: d.count };
  return addAccessed(s, d.data);
}

function dmaData(d: DmaData): Summary {
  return addAccessed({ address: u64(d.address), count: d.count }, d.data);
}

function addAccessed(s: Summary, data: Uint8Array): Summary {
  const a = accessed(data);
  if (a.value !== undefined) s.value = a.value;
  else if (a.data) s.data = a.data;
  return s;
}

type Summariser = (decoded: any) => Summary | null;

/** Per command: [request, reply] summarisers of what the codec decoded. */
const summarisers: Record<number, [Summariser, Summariser]> = {
  [Command.VERSION]: [version, version],
  [Command.DMA_MAP]: [(m: DmaMap) => ({ address: u64(m.address), size: u64(m.size), offset: u64(m.offset), flags: m.flags }), () => null],
  [Command.DMA_UNMAP]: [unmap, unmap],
  [Command.DEVICE_GET_INFO]: [(d: DeviceInfo) => ({ argsz: d.argsz }), (d: DeviceInfo) => ({ flags: d.flags, regions: d.numRegions, irqs: d.numIrqs })],
  [Command.DEVICE_GET_REGION_INFO]: [
    (i: RegionInfo) => ({ index: i.index, argsz: i.argsz }),
    (i: RegionInfo) => ({ index: i.index, flags: i.flags, size: u64(i.size), offset: u64(i.offset), argsz: i.argsz }),
  ],
  [Command.DEVICE_GET_REGION_IO_FDS]: [ioFds, ioFds],
  [Command.DEVICE_GET_IRQ_INFO]: [(i: IrqInfo) => ({ index: i.index }), (i: IrqInfo) => ({ index: i.index, flags: i.flags, count: i.count })],
  [Command.DEVICE_SET_IRQS]: [
    (s: IrqSet) => {
      const out: Summary = { index: s.index, start: s.start, count: s.count, flags: s.flags };
      if (s.data && s.data.length <= SMALL_DATA) out.data = s.data;
      return out;
    },
    () => null,
  ],
  [Command.REGION_READ]: [regionAccess, regionData],
  [Command.REGION_WRITE]: [regionData, regionAccess],
  [Command.DMA_READ]: [(a: DmaAccess) => ({ address: u64(a.address), count: a.count }), dmaData],
  [Command.DMA_WRITE]: [dmaData, (a: DmaAccess | undefined) => (a ? { address: u64(a.address), count: a.count } : null)],
  [Command.DEVICE_RESET]: [() => null, () => null],
  [Command.REGION_WRITE_MULTI]: [
    (entries: WriteMultiEntry[]) => ({
      count: entries.length,
      writes: entries.slice(0, MULTI_KEPT).map((e) => {
        const a = accessed(e.data.subarray(0, Math.min(e.count, WRITE_MULTI_DATA)));
        return [e.region, u64(e.offset), e.count, a.value ?? a.data ?? new Uint8Array(0)];
      }),
    }),
    (completed: number) => ({ count: completed }),
  ],
  [Command.DEVICE_FEATURE]: [feature, feature],
  [Command.MIG_DATA_READ]: [mig, mig],
  [Command.MIG_DATA_WRITE]: [mig, () => null],
};

function version(v: Version): Summary {
  const s: Summary = { major: v.major, minor: v.minor };
  const caps = v.json?.capabilities;
  if (caps && typeof caps === 'object') s.capabilities = caps as Record<string, unknown>;
  return s;
}

function unmap(m: DmaUnmap): Summary {
  return { address: u64(m.address), size: u64(m.size), flags: m.flags };
}

function ioFds(i: IoFdsInfo): Summary {
  return { index: i.index, count: i.count };
}

function feature(f: DeviceFeature): Summary {
  return { flags: f.flags, argsz: f.argsz, count: f.data.length };
}

function mig(m: MigData): Summary {
  return { size: m.size, argsz: m.argsz, count: m.data.length };
}

/** The summary of one message, or null when there is nothing to say (empty, error reply, unknown command). */
export function summarise(header: Header, payload: Uint8Array): Summary | null {
  if (header.flags & FLAG_ERROR) return null;
  const entry = summarisers[header.command];
  const codec = codecs[header.command];
  if (!entry || !codec) return null;
  const reply = (header.flags & MSG_TYPE_MASK) === MsgType.REPLY;
  if (payload.length === 0 && (reply || header.command === Command.DEVICE_RESET)) return null;
  try {
    return reply ? entry[1](codec.reply.decode(payload)) : entry[0](codec.request.decode(payload));
  } catch (err) {
    return { malformed: (err as Error).message };
  }
}
