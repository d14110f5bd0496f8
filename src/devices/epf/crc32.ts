// CRC-32 as the kernel's crc32_le() computes it: the IEEE polynomial,
// reflected (0xEDB88320), with the caller's seed and no final inversion.
// pci_endpoint_test checks crc32_le(~0, buf, len); that is the complement of
// the zlib/Ethernet CRC of the same bytes. Table-driven: zlib.crc32 needs Node
// 20.15, and the package promises Node 20.
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** crc32_le(seed, data): continue a CRC over more bytes (seed 0xffffffff to start). */
export function crc32Le(seed: number, data: Uint8Array): number {
  let c = seed >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return c >>> 0;
}

/** What pci_endpoint_test computes for a buffer: crc32_le(~0, data, len). */
export const CRC_SEED = 0xffffffff;
