// A received message as the transport hands it to a handler.
import type { Header } from '../protocol/header.ts';
import { closeFds } from '../../ffi/index.ts';

export class Message {
  constructor(
    readonly header: Header,
    /** Valid only while the handler runs synchronously; copy what you keep. */
    readonly payload: Uint8Array,
    private fds: number[],
  ) {}

  get fdCount(): number {
    return this.fds.length;
  }

  /** Takes ownership of the descriptors that came with this message. */
  takeFds(): number[] {
    const fds = this.fds;
    this.fds = [];
    // An empty list may be the reassembler's shared one: never hand that out.
    return fds.length ? fds : [];
  }

  /** Closes descriptors nobody took (the transport calls this after the handler). */
  release(): void {
    if (this.fds.length) closeFds(this.takeFds());
  }
}
