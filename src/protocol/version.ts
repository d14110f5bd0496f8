// VFIO_USER_VERSION: the handshake. Both directions use the same layout:
// major, minor, then optional NUL-terminated JSON with "capabilities".
import { Reader, Writer } from './wire.ts';
import { einval } from './errno.ts';
import {
  DEFAULT_MAX_DATA_XFER, DEFAULT_MAX_DMA_MAPS, DEFAULT_MAX_MSG_FDS, DEFAULT_PGSIZES,
} from './constants.ts';

export interface Version {
  major: number;
  minor: number;
  /** The JSON object; undefined when no version data was sent. */
  json?: Record<string, unknown>;
}

export function encodeVersion(v: Version): Uint8Array {
  const json = v.json ? new TextEncoder().encode(JSON.stringify(v.json) + '\0') : new Uint8Array(0);
  return new Writer(4 + json.length).u16(v.major).u16(v.minor).raw(json).done();
}

export function decodeVersion(payload: Uint8Array): Version {
  const r = new Reader(payload, 'VERSION');
  const major = r.u16('version major');
  const minor = r.u16('version minor');
  if (r.remaining === 0) return { major, minor };
  const data = r.rest();
  const nul = data.indexOf(0);
  if (nul !== data.length - 1) {
    throw einval(nul < 0 ? 'VERSION: version data is not NUL-terminated' : 'VERSION: bytes after the NUL that ends the version data');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(0, nul)));
  } catch (err) {
    throw einval(`VERSION: version data is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw einval('VERSION: version data must be a JSON object');
  }
  return { major, minor, json: parsed as Record<string, unknown> };
}

/** Smallest transfer size accepted from a peer: an 8-byte access in one piece. */
export const MIN_DATA_XFER = 8;

/** The capabilities both sides agreed on (defaults from the spec where absent). */
export interface Capabilities {
  maxMsgFds: number;
  maxDataXferSize: number;
  maxDmaMaps: number;
  pgsizes: number;
  writeMultiple: boolean;
  twinSocket: boolean;
}

export const defaultCapabilities: Capabilities = {
  maxMsgFds: DEFAULT_MAX_MSG_FDS,
  maxDataXferSize: DEFAULT_MAX_DATA_XFER,
  maxDmaMaps: DEFAULT_MAX_DMA_MAPS,
  pgsizes: DEFAULT_PGSIZES,
  writeMultiple: false,
  twinSocket: false,
};

function positiveInt(caps: Record<string, unknown>, key: string, fallback: number, max = 2 ** 53 - 1): number {
  const v = caps[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw einval(`VERSION: capability ${key} must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Parses a peer's "capabilities" object, with the spec's defaults for what is absent. */
export function parseCapabilities(json: Record<string, unknown> | undefined): Capabilities {
  const raw = json?.capabilities;
  if (raw === undefined) return { ...defaultCapabilities };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw einval('VERSION: "capabilities" must be a JSON object');
  }
  const caps = raw as Record<string, unknown>;
  const wm = caps.write_multiple;
  if (wm !== undefined && typeof wm !== 'boolean') throw einval('VERSION: capability write_multiple must be a boolean');
  const twin = caps.twin_socket;
  if (twin !== undefined && (typeof twin !== 'object' || twin === null)) throw einval('VERSION: capability twin_socket must be an object');
  const pgsizes = positiveInt(caps, 'pgsizes', DEFAULT_PGSIZES);
  if (caps.pgsizes !== undefined && pgsizes === 0) throw einval('VERSION: capability pgsizes must name at least one page size');
  // A 4-byte interrupt message cut in pieces is dropped by QEMU (writes to the
  // interrupt window under 4 bytes are ignored), and pieces of 0 never end.
  if (typeof caps.max_data_xfer_size === 'number' && caps.max_data_xfer_size < MIN_DATA_XFER) {
    throw einval(`VERSION: capability max_data_xfer_size must be at least ${MIN_DATA_XFER}, got ${caps.max_data_xfer_size}`);
  }
  return {
    maxMsgFds: positiveInt(caps, 'max_msg_fds', DEFAULT_MAX_MSG_FDS, 253),
    maxDataXferSize: positiveInt(caps, 'max_data_xfer_size', DEFAULT_MAX_DATA_XFER),
    maxDmaMaps: positiveInt(caps, 'max_dma_maps', DEFAULT_MAX_DMA_MAPS),
    pgsizes,
    writeMultiple: wm === true,
    twinSocket: (twin as { supported?: unknown } | undefined)?.supported === true,
  };
}

/** The JSON form of capabilities, as sent in a VERSION message. */
export function capabilitiesJson(c: Capabilities): Record<string, unknown> {
  const caps: Record<string, unknown> = {
    max_msg_fds: c.maxMsgFds,
    max_data_xfer_size: c.maxDataXferSize,
    max_dma_maps: c.maxDmaMaps,
    pgsizes: c.pgsizes,
  };
  if (c.writeMultiple) caps.write_multiple = true;
  return { capabilities: caps };
}
