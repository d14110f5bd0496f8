// The short form of a fault rule for the command line:
//
//   irq [KIND] [INDEX] ACTION [OPTION...]      e.g. irq ims 3 drop count=1
//   read REGION [OFFSET] all-ones|value=V        e.g. read 0 0x28 all-ones
//   write REGION [OFFSET] ignore|late|late=MS   (late: held until a read of the device)
//   command NAME error=ERRNO|delay=MS|close     e.g. command REGION_READ delay=6000
//   dma [read|write] drop|corrupt|delay=MS
//
// irq actions: drop, delay=MS, duplicate[=N] (gap=MS), ignore-mask,
// stuck-pending, misroute (vector=N, data=V, address=A).
// Options for any rule: count=N skip=N p=P seed=S from=MS to=MS id=NAME.
// JSON (a string starting with "{") is taken as it is.

import { isIrqKind } from '../irq/events.ts';

export function parseRuleWords(words: string[]): Record<string, unknown> {
  if (words.length === 1 && words[0].trim().startsWith('{')) return JSON.parse(words[0]);
  const [on, ...rest] = words;
  const rule: Record<string, unknown> = { on };
  const opts: Record<string, string> = {};
  const bare: string[] = [];
  for (const w of rest) {
    const eq = w.indexOf('=');
    if (eq > 0) opts[w.slice(0, eq)] = w.slice(eq + 1);
    else bare.push(w);
  }
  const take = (k: string) => {
    const v = opts[k];
    delete opts[k];
    return v;
  };
  const number = (v: string) => (/^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : NaN);
  switch (on) {
    case 'irq': {
      if (bare[0] && isIrqKind(bare[0])) rule.kind = bare.shift();
      if (bare[0] && !Number.isNaN(number(bare[0]))) rule.index = number(bare.shift()!);
      const action = bare.shift();
      if (action === 'drop' || action === 'ignore-mask' || action === 'stuck-pending') rule.action = action;
      else if (action === 'duplicate' || ('duplicate' in opts && !action)) {
        const n = take('duplicate');
        rule.action = { duplicate: n ? number(n) : 1, ...(opts.gap ? { gapMs: number(take('gap')!) } : {}) };
      } else if (action === 'misroute') {
        const m: Record<string, unknown> = {};
        for (const k of ['vector', 'data', 'address']) if (opts[k] !== undefined) m[k] = k === 'address' ? take(k) : number(take(k)!);
        rule.action = { misroute: m };
      } else if (!action && opts.delay) rule.action = { delay: number(take('delay')!) };
      else throw new Error(`irq action: drop, delay=MS, duplicate[=N], ignore-mask, stuck-pending or misroute; got ${action ?? 'nothing'}`);
      break;
    }
    case 'read':
    case 'write': {
      rule.region = number(bare.shift() ?? '');
      if (bare[0] && !Number.isNaN(number(bare[0]))) rule.offset = number(bare.shift()!);
      const action = bare.shift();
      if (action) rule.action = action;
      else if (opts.value !== undefined) rule.action = { value: number(take('value')!) };
      else if (opts.late !== undefined) rule.action = { late: number(take('late')!) };
      if (opts.length !== undefined) rule.length = number(take('length')!);
      break;
    }
    case 'command': {
      rule.command = bare.shift();
      if (bare[0] === 'close') rule.action = bare.shift();
      else if (opts.error !== undefined) rule.action = { error: take('error') };
      else if (opts.delay !== undefined) rule.action = { delay: number(take('delay')!) };
      break;
    }
    case 'dma': {
      if (bare[0] === 'read' || bare[0] === 'write') rule.direction = bare.shift();
      if (bare[0] === 'drop' || bare[0] === 'corrupt') rule.action = bare.shift();
      else if (opts.delay !== undefined) rule.action = { delay: number(take('delay')!) };
      break;
    }
    default:
      throw new Error(`a rule starts with irq, read, write, command or dma (or is JSON); got ${on ?? 'nothing'}`);
  }
  if (bare.length) throw new Error(`unexpected words: ${bare.join(' ')}`);
  const map: Record<string, string> = { count: 'count', skip: 'skip', p: 'probability', seed: 'seed', from: 'fromMs', to: 'toMs', id: 'id' };
  for (const [k, v] of Object.entries(opts)) {
    if (!map[k]) throw new Error(`unknown option ${k}=; options: count, skip, p, seed, from, to, id`);
    rule[map[k]] = k === 'id' ? v : Number(v);
  }
  return rule;
}
