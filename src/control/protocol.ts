// The live control channel: msgpack values on a UNIX stream socket, one
// request and one response per exchange, matched by id. Both ends frame the
// stream with msgpackr's own stream classes (msgpack is self-delimiting).
import { PackrStream, UnpackrStream } from 'msgpackr';
import type { Socket } from 'node:net';

export interface ControlRequest {
  id: number;
  op: string;
  args?: Record<string, unknown>;
}

export type ControlResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/** Largest value accepted; a longer one in progress drops the connection. */
export const MAX_CONTROL_MESSAGE = 1 << 20;

// Plain maps (no record extension) so other languages' msgpack readers can talk to it.
const options = { useRecords: false, mapsAsObjects: true } as const;

/** BigInts become strings (hex for addresses): msgpack int64 is not universal. */
export function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

export interface MsgpackChannel {
  /** Writes one value to the socket. */
  send(value: unknown): void;
}

/**
 * Wires a socket to msgpackr's stream classes: each whole value read goes to
 * onValue (msgpack nil arrives as null); a value that cannot be decoded, or
 * one still incomplete past MAX_CONTROL_MESSAGE bytes, goes to onBadInput.
 */
export function msgpackChannel(sock: Socket, onValue: (v: unknown) => void, onBadInput: (err: Error) => void): MsgpackChannel {
  const decoder = new UnpackrStream({ ...options, maxIncompleteBufferSize: MAX_CONTROL_MESSAGE });
  const encoder = new PackrStream({ ...options });
  decoder.on('data', (v: unknown) => onValue(v === Symbol.for('null') ? null : v));
  decoder.on('error', onBadInput);
  sock.pipe(decoder);
  encoder.pipe(sock);
  return { send: (value) => encoder.write(value) };
}
