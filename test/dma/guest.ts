// The example DMA engine (examples/dma-copy-device.ts) in a real guest with
// its driver (examples/drivers/dma_copy/): a testbed, the driver's debugfs
// interface parsed, and the DMA messages the server sent, counted.
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { Testbed } from '../../src/lab/testbed.ts';
import { labHome } from '../../src/vm/index.ts';
import { Command, decodeDmaRead, decodeDmaData } from '../../src/protocol/index.ts';
import { DmaCopyDevice } from '../../examples/dma-copy-device.ts';

export interface RunResult {
  op: string;
  bytes: number;
  rounds: number;
  done: number;
  bad_words: number;
  stale_rounds: number;
  errors: number;
  aborted: number;
  usecs: number;
  crc: number;
}

/** The driver's result line: "op fill bytes 4096 rounds 10 done 10 ... crc 0x..." */
export function parseResult(line: string): RunResult {
  const f = line.trim().split(/\s+/);
  const r: Record<string, string> = {};
  for (let i = 0; i + 1 < f.length; i += 2) r[f[i]] = f[i + 1];
  const keys = ['op', 'bytes', 'rounds', 'done', 'bad_words', 'stale_rounds', 'errors', 'aborted', 'usecs', 'crc'];
  const missing = keys.filter((k) => !(k in r));
  if (missing.length) throw new Error(`dma_copy result line lacks ${missing.join(', ')}: ${JSON.stringify(line)}`);
  return {
    op: r.op, bytes: Number(r.bytes), rounds: Number(r.rounds), done: Number(r.done), bad_words: Number(r.bad_words),
    stale_rounds: Number(r.stale_rounds), errors: Number(r.errors), aborted: Number(r.aborted), usecs: Number(r.usecs), crc: Number(r.crc),
  };
}

/** The DMA messages the device sent by message (not through shared memory). */
export interface DmaTally {
  reads: number;
  writes: number;
  bytes: number;
  largest: number;
}

export function dmaCopyModule(kernel: string): string {
  const p = join(labHome(), 'modules', kernel, 'dma_copy.ko');
  if (!existsSync(p)) throw new Error(`${p} is not built: run make setup`);
  return p;
}

export class DmaCopyBed {
  private dir = '';
  /** Every DMA access the device started, by message or to shared memory. */
  accesses = 0;

  private constructor(readonly bed: Testbed<DmaCopyDevice>, readonly tally: DmaTally) {}

  static async start(opts: { kernel: '6.12' | '7.3'; iommu: boolean; params?: string }): Promise<DmaCopyBed> {
    const tally: DmaTally = { reads: 0, writes: 0, bytes: 0, largest: 0 };
    const bed = await Testbed.start({
      kernel: opts.kernel, iommu: opts.iommu, cpus: 2, device: new DmaCopyDevice(),
      modules: [dmaCopyModule(opts.kernel)],
      server: {
        tap: (dir, header, payload) => {
          if (dir !== 'out' || (header.flags & 0xf) !== 0) return;
          const count = header.command === Command.DMA_READ ? decodeDmaRead(payload).count
            : header.command === Command.DMA_WRITE ? decodeDmaData(payload, 'DMA_WRITE').count : -1;
          if (count < 0) return;
          if (header.command === Command.DMA_READ) tally.reads++;
          else tally.writes++;
          tally.bytes += count;
          tally.largest = Math.max(tally.largest, count);
        },
      },
    });
    const self = new DmaCopyBed(bed, tally);
    bed.device.deviceDma.hooks.push({ dma: () => void self.accesses++ });
    try {
      await self.load(opts.params ?? '');
    } catch (err) {
      await bed.stop();
      throw err;
    }
    return self;
  }

  get device(): DmaCopyDevice {
    return this.bed.device;
  }

  /** The driver's debugfs folder. */
  get debugfs(): string {
    return this.dir;
  }

  async load(params = ''): Promise<void> {
    await this.bed.vm.insmod('dma_copy.ko', params);
    const bdf = (await this.bed.vm.run('ls /sys/kernel/debug/dma_copy/', { check: true })).stdout.trim();
    if (!/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(bdf)) throw new Error(`dma_copy bound to no single device: ${JSON.stringify(bdf)}`);
    this.dir = `/sys/kernel/debug/dma_copy/${bdf}`;
  }

  async reload(params: string): Promise<void> {
    await this.bed.vm.run('rmmod dma_copy', { check: true });
    await this.load(params);
  }

  get bdf(): string {
    return this.dir.split('/').at(-1)!;
  }

  /** One run in the guest ("fill", 4096, 10); resolves with what the driver found. */
  async run(op: string, bytes: number, rounds: number, timeoutMs = 240_000): Promise<RunResult> {
    await this.bed.vm.run(`echo ${op} ${bytes} ${rounds} > ${this.dir}/run`, { check: true, timeoutMs });
    return this.result();
  }

  async result(): Promise<RunResult> {
    return parseResult((await this.bed.vm.readFile(`${this.dir}/result`)).toString());
  }

  stop(): Promise<void> {
    return this.bed.stop();
  }
}
