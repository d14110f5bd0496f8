// One table of codecs for every command, both directions: the server decodes
// requests and encodes replies, the client the reverse, and the trace printer
// decodes both. Tests round-trip every entry.
import { Command } from './constants.ts';
import { EMPTY } from './header.ts';
import { encodeVersion, decodeVersion } from './version.ts';
import {
  encodeDmaMap, decodeDmaMap, encodeDmaUnmap, decodeDmaUnmap, encodeDmaRead, decodeDmaRead,
  encodeDmaData, decodeDmaData, encodeDmaWriteReply, decodeDmaWriteReply,
} from './dma.ts';
import {
  encodeDeviceInfo, decodeDeviceInfo, encodeRegionInfo, decodeRegionInfo, encodeIoFds, decodeIoFds,
  encodeIrqInfo, decodeIrqInfo, encodeIrqSet, decodeIrqSet,
} from './device.ts';
import {
  encodeRegionAccess, decodeRegionAccess, encodeRegionData, decodeRegionData,
  encodeWriteMulti, decodeWriteMulti, encodeWriteMultiReply, decodeWriteMultiReply,
} from './region.ts';
import { encodeDeviceFeature, decodeDeviceFeature, encodeMigData, decodeMigData } from './feature.ts';
import { WRITE_MULTI_MAX } from './constants.ts';

export interface Codec<T> {
  encode(value: T): Uint8Array;
  decode(payload: Uint8Array): T;
}

export interface CommandCodecs {
  request: Codec<any>;
  reply: Codec<any>;
}

const empty: Codec<undefined> = { encode: () => EMPTY, decode: () => undefined };

export const codecs: Record<number, CommandCodecs> = {
  [Command.VERSION]: { request: { encode: encodeVersion, decode: decodeVersion }, reply: { encode: encodeVersion, decode: decodeVersion } },
  [Command.DMA_MAP]: { request: { encode: encodeDmaMap, decode: decodeDmaMap }, reply: empty },
  [Command.DMA_UNMAP]: { request: { encode: encodeDmaUnmap, decode: decodeDmaUnmap }, reply: { encode: encodeDmaUnmap, decode: decodeDmaUnmap } },
  [Command.DEVICE_GET_INFO]: {
    request: { encode: encodeDeviceInfo, decode: (p) => decodeDeviceInfo(p) },
    reply: { encode: encodeDeviceInfo, decode: (p) => decodeDeviceInfo(p, 'DEVICE_GET_INFO reply') },
  },
  [Command.DEVICE_GET_REGION_INFO]: {
    request: { encode: encodeRegionInfo, decode: (p) => decodeRegionInfo(p) },
    reply: { encode: encodeRegionInfo, decode: (p) => decodeRegionInfo(p, 'DEVICE_GET_REGION_INFO reply') },
  },
  [Command.DEVICE_GET_REGION_IO_FDS]: { request: { encode: encodeIoFds, decode: decodeIoFds }, reply: { encode: encodeIoFds, decode: decodeIoFds } },
  [Command.DEVICE_GET_IRQ_INFO]: {
    request: { encode: encodeIrqInfo, decode: (p) => decodeIrqInfo(p) },
    reply: { encode: encodeIrqInfo, decode: (p) => decodeIrqInfo(p, 'DEVICE_GET_IRQ_INFO reply') },
  },
  [Command.DEVICE_SET_IRQS]: { request: { encode: encodeIrqSet, decode: decodeIrqSet }, reply: empty },
  [Command.REGION_READ]: {
    request: { encode: encodeRegionAccess, decode: (p) => decodeRegionAccess(p, 'REGION_READ') },
    reply: { encode: encodeRegionData, decode: (p) => decodeRegionData(p, 'REGION_READ reply') },
  },
  [Command.REGION_WRITE]: {
    request: { encode: encodeRegionData, decode: (p) => decodeRegionData(p, 'REGION_WRITE') },
    reply: { encode: encodeRegionAccess, decode: (p) => decodeRegionAccess(p, 'REGION_WRITE reply') },
  },
  [Command.DMA_READ]: {
    request: { encode: encodeDmaRead, decode: decodeDmaRead },
    reply: { encode: encodeDmaData, decode: (p) => decodeDmaData(p, 'DMA_READ reply') },
  },
  [Command.DMA_WRITE]: {
    request: { encode: encodeDmaData, decode: (p) => decodeDmaData(p, 'DMA_WRITE') },
    reply: { encode: encodeDmaWriteReply, decode: decodeDmaWriteReply },
  },
  [Command.DEVICE_RESET]: { request: empty, reply: empty },
  [Command.REGION_WRITE_MULTI]: {
    request: { encode: encodeWriteMulti, decode: (p) => decodeWriteMulti(p, WRITE_MULTI_MAX) },
    reply: { encode: encodeWriteMultiReply, decode: decodeWriteMultiReply },
  },
  [Command.DEVICE_FEATURE]: {
    request: { encode: encodeDeviceFeature, decode: decodeDeviceFeature },
    reply: { encode: encodeDeviceFeature, decode: decodeDeviceFeature },
  },
  [Command.MIG_DATA_READ]: {
    request: { encode: encodeMigData, decode: (p) => decodeMigData(p, 'MIG_DATA_READ') },
    reply: { encode: encodeMigData, decode: (p) => decodeMigData(p, 'MIG_DATA_READ reply') },
  },
  [Command.MIG_DATA_WRITE]: {
    request: { encode: encodeMigData, decode: (p) => decodeMigData(p, 'MIG_DATA_WRITE') },
    reply: empty,
  },
};
