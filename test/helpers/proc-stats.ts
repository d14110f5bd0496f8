// What a process holds, read from /proc: open descriptors, resident memory,
// and mappings of memfds (DMA windows a server mapped from a client). Leak
// checks compare these at a baseline and at the end.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { poll } from './eventually.ts';

export interface ProcStats {
  fds: number;
  rssKb: number;
  /** Lines of /proc/PID/maps backed by a memfd (a DMA window still mapped). */
  memfdMaps: number;
}

export function procStats(pid: number): ProcStats {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(status);
  const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
  return {
    fds: readdirSync(`/proc/${pid}/fd`).length,
    rssKb: rss ? Number(rss[1]) : 0,
    memfdMaps: maps.split('\n').filter((l) => l.includes('/memfd:')).length,
  };
}

/** What each open descriptor is (socket:[..], anon_inode:[eventfd], /memfd:..), for failure messages. */
export function fdTargets(pid: number): string[] {
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.push(`${fd} -> ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`);
    } catch {
      // closed while we looked
    }
  }
  return out;
}

/** Polls until `stats` satisfy `ok` or `ms` pass; returns the last reading either way. */
export async function settle(pid: number, ok: (s: ProcStats) => boolean, ms = 3000, intervalMs = 20): Promise<ProcStats> {
  return (await poll(() => procStats(pid), ok, { timeoutMs: ms, intervalMs })).value;
}
