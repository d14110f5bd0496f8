// The short form of a fault rule for the command line:
//
//   irq [KIND] [INDEX] ACTION [OPTION...]      e.g. irq ims 3 drop count=1
//   read REGION [OFFSET] all-ones|value=V        e.g. read 0 0x28 all-ones
//   write REGION [OFFSET] ignore|late|late=MS   (late: held until a read of the device)
//   command NAME error=ERRNO|delay=MS|close     e.g. command REGION_READ delay=6000
//   dma [read|write] drop|corrupt|delay=MS
//
// An action is its bare name (drop, duplicate) or NAME=VALUE (delay=MS,
// duplicate=N); the fields of its value or beside it are options too
// (misroute vector=5, duplicate=2 gapMs=50). The actions and what they take
// come from the one table in faults/rules.ts (ACTIONS).
// Options for any rule: count=N skip=N every=N p=P seed=S from=MS to=MS id=NAME,
// and any field by its JSON name (length=4, probability=0.5).
// JSON (a string starting with "{") is taken as it is.
//
// Values stay the strings typed: parseRule checks them and echoes a bad one
// as given ("count must be an integer..., got "abc"").
import { IRQ_KINDS, isIrqKind } from '../irq/events.ts';
import { RULE_KINDS, actionsFor, ruleFields, RuleError, shown, aRule, type RuleOn } from '../faults/rules.ts';
import { closest, didYouMean } from '../text/suggest.ts';

/** Short names for options; any field name (fromMs, probability...) works as well. */
const ALIASES: Record<string, string> = { p: 'probability', from: 'fromMs', to: 'toMs', gap: 'gapMs' };

const isNumber = (w: string | undefined) => w !== undefined && /^(0x[0-9a-f]+|\d+)$/i.test(w);

export function parseRuleWords(words: string[]): Record<string, unknown> {
  if (words.length === 1 && words[0].trim().startsWith('{')) {
    try {
      return JSON.parse(words[0]);
    } catch (err) {
      throw new RuleError(`the rule is not valid JSON: ${(err as Error).message}`);
    }
  }
  const [on, ...rest] = words;
  if (!on || !(RULE_KINDS as readonly string[]).includes(on)) {
    throw new RuleError(`a rule starts with ${RULE_KINDS.join(', ')} (or is JSON); got ${on === undefined ? 'nothing' : shown(on)}${on ? didYouMean(on, RULE_KINDS) : ''}`);
  }
  const kind = on as RuleOn;
  const opts = new Map<string, string>();
  const bare: string[] = [];
  for (const w of rest) {
    const eq = w.indexOf('=');
    if (eq > 0) {
      const key = ALIASES[w.slice(0, eq)] ?? w.slice(0, eq);
      if (opts.has(key)) throw new RuleError(`${key}= is given twice`);
      opts.set(key, w.slice(eq + 1));
    } else bare.push(w);
  }
  const rule: Record<string, unknown> = { on: kind };
  const actions = actionsFor(kind);
  const actionNames = actions.map(([n]) => n as string);

  // Positional words before the action.
  switch (kind) {
    case 'irq': {
      // KIND and INDEX are optional, so a word that is neither must be the
      // action; unless more words follow it, which only a kind can have.
      if (bare.length && !isIrqKind(bare[0]) && !isNumber(bare[0]) && !actionNames.includes(bare[0])) {
        const w = bare[0];
        const kindLike = bare.length > 1 || (closest(w, IRQ_KINDS) !== undefined && closest(w, actionNames) === undefined);
        if (kindLike) throw new RuleError(`irq kind must be one of ${IRQ_KINDS.join(', ')}, got ${shown(w)}${didYouMean(w, IRQ_KINDS)}`);
      }
      if (isIrqKind(bare[0])) rule.kind = bare.shift();
      if (isNumber(bare[0])) rule.index = bare.shift();
      break;
    }
    case 'read':
    case 'write':
      if (!bare.length && !opts.has('region')) throw new RuleError(`${kind} REGION [OFFSET] ACTION: which region (0-5 a BAR, 6 the ROM, 7 config space)?`);
      if (bare.length) rule.region = bare.shift();
      if (isNumber(bare[0])) rule.offset = bare.shift();
      break;
    case 'command':
      if (bare.length && !actionNames.includes(bare[0])) rule.command = bare.shift();
      break;
    case 'dma':
      if (bare[0] === 'read' || bare[0] === 'write') rule.direction = bare.shift();
      break;
  }

  // The action: one bare name, or NAME=VALUE.
  const named = [...bare.filter((w) => actionNames.includes(w)), ...[...opts.keys()].filter((k) => actionNames.includes(k))];
  if (named.length > 1) throw new RuleError(`one action per rule, got ${named.join(' and ')}`);
  const leftover = bare.filter((w) => !actionNames.includes(w));
  if (leftover.length) {
    const w = leftover[0];
    throw new RuleError(`unexpected ${shown(w)}${didYouMean(w, actionNames)}: ${aRule(kind)}'s action is one of ${actions.map(([n, d]) => (d.value && d.bare === undefined ? `${n}=V` : n)).join(', ')}`);
  }
  if (named.length === 0) throw new RuleError(`which action? ${aRule(kind)}'s action is one of ${actions.map(([n, d]) => (d.value && d.bare === undefined ? `${n}=V` : n)).join(', ')}`);
  const name = named[0];
  const def = actions.find(([n]) => n === name)![1];
  const given = opts.get(name);
  opts.delete(name);
  let action: unknown = name;
  if (given !== undefined || def.valueFields || def.extra) {
    const value = def.valueFields ? takeFields(opts, def.valueFields) : given;
    if (def.valueFields && given !== undefined) throw new RuleError(`${name} takes ${def.valueFields.map((f) => `${f}=`).join(', ')}, not ${name}=${given}`);
    const obj: Record<string, unknown> = { [name]: value ?? (def.bare as Record<string, unknown> | undefined)?.[name] };
    Object.assign(obj, takeFields(opts, Object.keys(def.extra ?? {})));
    action = obj[name] === undefined && Object.keys(obj).length === 1 ? name : obj;
  }
  rule.action = action;

  // Everything else is a field of the rule by name.
  const fields = ruleFields(kind).filter((f) => f !== 'on' && f !== 'action');
  for (const [k, v] of opts) {
    if (!fields.includes(k)) {
      const valid = [...fields, ...Object.keys(ALIASES).filter((a) => fields.includes(ALIASES[a]))];
      throw new RuleError(`unknown option ${k}=${didYouMean(k, valid)}; ${aRule(kind)} takes ${fields.map((f) => `${f}=`).join(' ')} (p= probability, from=/to= fromMs/toMs)`);
    }
    if (rule[k] !== undefined) throw new RuleError(`${k} is given twice`);
    rule[k] = v;
  }
  return rule;
}

function takeFields(opts: Map<string, string>, fields: readonly string[]): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const f of fields) {
    const v = opts.get(f);
    if (v === undefined) continue;
    out[f] = v;
    opts.delete(f);
  }
  return Object.keys(out).length ? out : undefined;
}
