// Walking capability chains in a config space image (as a guest or lspci does).
import { PCI_CAPABILITY_LIST, PCI_STATUS, PCI_STATUS_CAP_LIST } from './regs.ts';

export interface FoundCap {
  id: number;
  at: number;
  version?: number;
}

export function walkConfigCaps(config: Uint8Array): FoundCap[] {
  const v = new DataView(config.buffer, config.byteOffset, config.byteLength);
  if (!(v.getUint16(PCI_STATUS, true) & PCI_STATUS_CAP_LIST)) return [];
  const out: FoundCap[] = [];
  const seen = new Set<number>();
  for (let at = config[PCI_CAPABILITY_LIST] & ~3; at; at = config[at + 1] & ~3) {
    if (at < 0x40 || at > 0xfc || seen.has(at)) throw new Error(`capability pointer 0x${at.toString(16)} is invalid or loops`);
    seen.add(at);
    out.push({ id: config[at], at });
  }
  return out;
}

export function walkConfigExtCaps(config: Uint8Array): FoundCap[] {
  if (config.length < 0x104) return [];
  const v = new DataView(config.buffer, config.byteOffset, config.byteLength);
  const out: FoundCap[] = [];
  const seen = new Set<number>();
  for (let at = 0x100; at; ) {
    const h = v.getUint32(at, true);
    if (h === 0 || h === 0xffffffff) break;
    if (seen.has(at) || at < 0x100 || at > config.length - 4) throw new Error(`extended capability at 0x${at.toString(16)} is invalid or loops`);
    seen.add(at);
    out.push({ id: h & 0xffff, version: (h >>> 16) & 0xf, at });
    at = (h >>> 20) & ~3;
  }
  return out;
}
