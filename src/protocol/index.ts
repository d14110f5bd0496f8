// The vfio-user wire protocol: pure functions over bytes, shared by server and client.
export * from './constants.ts';
export * from './errno.ts';
export * from './header.ts';
export * from './version.ts';
export * from './dma.ts';
export * from './device.ts';
export * from './region.ts';
export * from './feature.ts';
export { codecs, type Codec, type CommandCodecs } from './codecs.ts';
export { Reader, Writer } from './wire.ts';
