// Giving the CPU away for a moment: a server that polls its socket between
// messages yields after each empty try, so a client on the same CPU (or any
// other runnable task) runs at once instead of waiting for our time slice to
// end.
import { libc } from './libc.ts';

/** sched_yield(2): run whatever else is runnable on this CPU, then come back. */
export function yieldCpu(): void {
  libc.sched_yield();
}
