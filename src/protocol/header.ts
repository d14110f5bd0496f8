// The 16-byte header in front of every vfio-user message.
import { HEADER_SIZE, MSG_TYPE_MASK, MsgType, FLAG_ERROR } from './constants.ts';

export interface Header {
  /** Message ID, chosen by the sender of a command and echoed in its reply. */
  id: number;
  command: number;
  /** Size of the whole message, header included. */
  size: number;
  flags: number;
  /** errno of an error reply; reserved (0) otherwise. */
  error: number;
}

export function readHeader(bytes: Uint8Array, at = 0): Header {
  return headerAt(new DataView(bytes.buffer, bytes.byteOffset + at, HEADER_SIZE), 0);
}

/** The header at byte `at` of a view the caller keeps (a receive buffer: no view made per message). */
export function headerAt(v: DataView, at: number): Header {
  return {
    id: v.getUint16(at, true),
    command: v.getUint16(at + 2, true),
    size: v.getUint32(at + 4, true),
    flags: v.getUint32(at + 8, true),
    error: v.getUint32(at + 12, true),
  };
}

/** Just the message size of the header at `at` (framing: where the next message starts). */
export function messageSizeAt(v: DataView, at: number): number {
  return v.getUint32(at + 4, true);
}

/** Just the command of the header at `at` (for saying which message was bad). */
export function commandAt(v: DataView, at: number): number {
  return v.getUint16(at + 2, true);
}

export function writeHeader(bytes: Uint8Array, at: number, h: Header): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset + at, HEADER_SIZE);
  v.setUint16(0, h.id, true);
  v.setUint16(2, h.command, true);
  v.setUint32(4, h.size, true);
  v.setUint32(8, h.flags, true);
  v.setUint32(12, h.error, true);
}

export const isCommand = (h: Header): boolean => (h.flags & MSG_TYPE_MASK) === MsgType.COMMAND;
export const isError = (h: Header): boolean => (h.flags & FLAG_ERROR) !== 0;

/** A whole message (header + payload) in one buffer, ready for the socket. */
export function frame(id: number, command: number, flags: number, payload: Uint8Array = EMPTY, error = 0): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  writeHeader(out, 0, { id, command, size: out.length, flags, error });
  out.set(payload, HEADER_SIZE);
  return out;
}

export function replyFrame(request: Header, payload: Uint8Array = EMPTY): Uint8Array {
  return frame(request.id, request.command, MsgType.REPLY, payload);
}

/** Error replies carry only the header (spec: "the reply message must only include the reply header"). */
export function errorFrame(request: Header, errno: number): Uint8Array {
  return frame(request.id, request.command, MsgType.REPLY | FLAG_ERROR, EMPTY, errno);
}

export const EMPTY = new Uint8Array(0);
