// CRC-32 (IEEE 802.3: polynomial 0x04C11DB7, reflected 0xEDB88320), for a
// device checking what its DMA moved. Two conventions, both common:
//  - crc32(data, previous) is zlib's (and Ethernet's, and Node's zlib.crc32,
//    which needs Node 20.15 while the package supports all of Node 20):
//    seed ~0, result inverted, and a running value can be passed back in.
//  - crc32Le(seed, data) is the Linux kernel's crc32_le(): no inversion on
//    either side, the caller picks the seed. A driver checking
//    crc32_le(~0, buf, len), as pci_endpoint_test does, wants crc32Le(~0, buf),
//    which is ~crc32(buf).
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** The kernel's crc32_le(seed, data, len): a raw running CRC with no inversion. */
export function crc32Le(seed: number, data: Uint8Array): number {
  let c = seed >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return c >>> 0;
}

/** zlib's crc32: crc32(a + b) === crc32(b, crc32(a)). */
export function crc32(data: Uint8Array, previous = 0): number {
  return ~crc32Le(~previous >>> 0, data) >>> 0;
}
