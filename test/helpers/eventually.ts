// The one way tests wait: for a condition, with a deadline (never a fixed
// sleep and then a count). Shared with scenario scripts (src/lab/eventually.ts).
//
//   await eventually('the MSI-X eventfd', () => ev.total === 1);          // 2 s, polled every 5 ms
//   await eventually('the guest to count 5', async () => (await drv.queueCount(3)) === 5, { timeoutMs: 8000, intervalMs: 50 });
//   const { value, ok } = await poll(() => procStats(pid), (s) => s.fds === base.fds);   // the last reading, to report
export { eventually, poll, type PollOptions } from '../../src/lab/eventually.ts';
