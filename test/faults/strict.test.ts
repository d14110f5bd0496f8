// Fault rules are strict in every form they come in: a script's object
// (typed: a typo does not compile), JSON (over the control socket), and the
// command line's words. A mistake names the field, echoes the value as
// given and lists the valid choices; nothing is silently ignored.
import test from 'ava';
import { FaultEngine } from '../../src/faults/engine.ts';
import { ACTIONS, RULE_KINDS, parseRule, describeRule, RuleError, type FaultRule, type RuleOn } from '../../src/faults/rules.ts';
import { parseRuleWords } from '../../src/control/rule-syntax.ts';

const words = (line: string) => parseRule(parseRuleWords(line.split(' ')));

test('an unknown field is an error in JSON, the API and words, naming it and the valid fields', (t) => {
  const json = '{"on":"irq","kind":"msix","index":2,"action":"drop","cuont":1}';
  const message = /unknown field "cuont" in an irq rule \(did you mean "count"\?\); its fields are on, kind, index, action, count, skip, every, probability, seed, fromMs, toMs, id/;
  t.throws(() => parseRule(JSON.parse(json)), { instanceOf: RuleError, message });
  t.throws(() => words(json), { message });
  const engine = new FaultEngine();
  // @ts-expect-error -- a misspelt field does not compile in a script
  t.throws(() => engine.add({ on: 'irq', kind: 'msix', index: 2, action: 'drop', cuont: 1 }), { message });
  t.deepEqual(engine.list(), [], 'and no rule was added ("drop forever" was the old result)');
  t.throws(() => words('irq msix 2 drop cuont=1'), { message: /unknown option cuont= \(did you mean "count"\?\); an irq rule takes kind= index= count= skip= every=/ });
  t.throws(() => parseRule({ on: 'read', region: 0, ofset: 4, action: 'all-ones' }), { message: /unknown field "ofset" in a read rule \(did you mean "offset"\?\); its fields are on, region, offset, length, action/ });
});

test('fields inside an action are checked too', (t) => {
  t.throws(() => parseRule({ on: 'irq', action: { delay: 5, dealy: 3 } }), { message: /unknown field "dealy" in the delay action \(did you mean "delay"\?\); its fields are delay$/ });
  t.throws(() => parseRule({ on: 'irq', action: { duplicate: 2, gap: 3 } }), { message: /unknown field "gap" in the duplicate action \(did you mean "gapMs"\?\); its fields are duplicate, gapMs/ });
  t.throws(() => parseRule({ on: 'irq', action: { misroute: { vectr: 3 } } }), { message: /unknown field "vectr" in misroute \(did you mean "vector"\?\); its fields are address, data, vector/ });
  t.throws(() => parseRule({ on: 'irq', action: { drop: true, delay: 5 } }), { message: /names drop and delay: one action per rule/ });
  t.throws(() => parseRule({ on: 'irq', action: { drop: 1 } }), { message: /drop takes no value: write "drop"/ });
  t.throws(() => parseRule({ on: 'irq', action: 'delay' }), { message: /delay needs a value, \{delay: MS\}/ });
});

test('the typed API: a wrong action for the kind of rule, or a misspelt kind, does not compile', (t) => {
  const engine = new FaultEngine();
  // @ts-expect-error -- reads have no "drop"
  t.throws(() => engine.add({ on: 'read', region: 0, action: 'drop' }), { message: /drop is not an action of read rules: a read rule's action is one of all-ones, \{value: V\}/ });
  // @ts-expect-error -- "msx" is no interrupt kind
  t.throws(() => engine.add({ on: 'irq', kind: 'msx', action: 'drop' }), { message: /kind must be one of intx, msi, msix, ims, err, req, got "msx" \(did you mean "msi" or "msix"\?\)/ });
  // @ts-expect-error -- a command rule needs the command
  t.throws(() => engine.add({ on: 'command', action: 'close' }), { message: /a command rule needs command/ });
  const ok: FaultRule = { on: 'command', command: 'REGION_READ', action: { error: 'EIO' }, count: 1 };
  t.regex(engine.add(ok), /^f\d+$/);
});

test('a bad value is echoed as it was given, with the valid range', (t) => {
  t.throws(() => words('irq ims 3 drop count=abc'), { message: /count must be a number in 1\.\.\d+, got "abc"/ });
  t.throws(() => words('irq ims 3 drop count=1.5'), { message: /count must be an integer in 1\.\.\d+, got "1.5"/ });
  t.throws(() => words('irq ims 3 delay=-5'), { message: /delay must be a number in 0\.\.3600000, got "-5"/ });
  t.throws(() => words('read 0 0x10 value=0x1ffffffff'), { message: /value must be a number in 0\.\.4294967295, got "0x1ffffffff"/ });
  t.throws(() => parseRule({ on: 'irq', action: 'drop', count: null }), { message: /count must be a number in 1\.\.\d+, got null/ });
  t.throws(() => words('irq ims 70000 drop'), { message: /index must be a number in 0\.\.65535, got "70000"/ });
  t.throws(() => parseRule({ on: 'irq', action: 'drop', fromMs: 50, toMs: 10 }), { message: /toMs \(10\) must be after fromMs \(50\)/ });
});

test('a misspelt kind on the command line is blamed on the kind, not the action', (t) => {
  t.throws(() => words('irq msx 1 drop'), { message: /^irq kind must be one of intx, msi, msix, ims, err, req, got "msx" \(did you mean "msi" or "msix"\?\)$/ });
  t.throws(() => words('irq msx drop'), { message: /irq kind must be one of .*got "msx"/ });
  t.throws(() => words('irq ims 1 dorp'), { message: /unexpected "dorp" \(did you mean "drop"\?\): an irq rule's action is one of drop/ });
  t.throws(() => words('irqq ims 1 drop'), { message: /a rule starts with irq, read, write, command, dma \(or is JSON\); got "irqq" \(did you mean "irq"\?\)/ });
  t.throws(() => words('command REGON_READ close'), { message: /unknown command "REGON_READ" \(did you mean "REGION_READ"\?\)/ });
});

test('every: N applies to every Nth matching event after the skipped ones, up to count', (t) => {
  const hits = (rule: FaultRule, n = 12) => {
    const e = new FaultEngine();
    e.add(rule);
    return Array.from({ length: n }, (_, i) => i + 1).filter(() => e.raise('msix', 0)?.drop);
  };
  t.deepEqual(hits({ on: 'irq', kind: 'msix', action: 'drop', every: 3 }), [3, 6, 9, 12]);
  t.deepEqual(hits({ on: 'irq', kind: 'msix', action: 'drop', every: 3, skip: 1 }), [4, 7, 10]);
  t.deepEqual(hits({ on: 'irq', kind: 'msix', action: 'drop', every: 3, skip: 1, count: 2 }), [4, 7]);
  t.deepEqual(hits({ on: 'irq', kind: 'msix', action: 'drop', every: 1 }), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  t.is(describeRule(parseRule({ on: 'irq', kind: 'msix', action: 'drop', every: 3, skip: 1, count: 2 })), 'irq msix: drop (skip 1, every 3, count 2)');
  t.throws(() => words('irq msix drop every=0'), { message: /every must be a number in 1\.\.\d+, got "0"/ });
});

test('rules are consulted in order: a rule only sees the events the rules before it let through', (t) => {
  const e = new FaultEngine();
  e.add({ on: 'irq', kind: 'msix', index: 0, action: 'drop', every: 2 });
  e.add({ on: 'irq', kind: 'msix', index: 0, action: 'drop', skip: 1, count: 1 });
  const dropped = [1, 2, 3, 4, 5, 6].filter(() => e.raise('msix', 0)?.drop);
  // The first takes 2, 4, 6; the second sees only 1, 3, 5: it lets 1 pass and takes 3.
  t.deepEqual(dropped, [2, 3, 4, 6]);
  const [first, second] = e.list();
  t.like(first, { order: 1, seen: 6, applied: 3 });
  t.like(second, { order: 2, seen: 2, applied: 1, expired: true });
});

test('fault list shows each rule readably: delays in ms, probabilities with their seeds, actions in words', (t) => {
  const d = (r: FaultRule) => describeRule(parseRule(r));
  t.is(d({ on: 'irq', kind: 'ims', index: 4, action: { delay: 2000 }, count: 1 }), 'irq ims 4: delay 2000 ms (count 1)');
  t.is(d({ on: 'irq', kind: 'msix', action: 'drop', probability: 0.25 }), 'irq msix: drop (p=0.25 seed 1)');
  t.is(d({ on: 'irq', action: 'drop', probability: 0.5, seed: 7 }), 'irq any: drop (p=0.5 seed 7)');
  t.is(d({ on: 'irq', kind: 'ims', index: 1, action: { duplicate: 1, gapMs: 50 } }), 'irq ims 1: duplicate 1, copies 50 ms apart');
  t.is(d({ on: 'irq', kind: 'msix', index: 4, action: { misroute: { vector: 5 } } }), 'irq msix 4: misroute to vector 5');
  t.is(d({ on: 'command', command: 'REGION_READ', action: { error: 'EIO' } }), 'command REGION_READ: error EIO');
  t.is(d({ on: 'command', command: 9, action: { delay: 6000 }, fromMs: 10, toMs: 20 }), 'command REGION_READ: delay 6000 ms (from 10 ms, to 20 ms)');
  t.is(d({ on: 'read', region: 0, offset: 0, length: 0x40, action: 'all-ones' }), 'read region 0+0x0..0x3f: all-ones');
  t.is(d({ on: 'read', region: 0, offset: 8, action: { value: 3 } }), 'read region 0+0x8: reads 0x3');
  t.is(d({ on: 'dma', direction: 'write', action: 'drop' }), 'dma write: drop');
});

test('every action is validated from the one table: accepted for its kinds of rule, refused for the others', (t) => {
  const sample: Record<string, unknown> = { delay: 5, duplicate: 2, misroute: { vector: 1 }, value: 7, error: 'EIO', late: 200 };
  const base: Record<RuleOn, Record<string, unknown>> = { irq: {}, read: { region: 0 }, write: { region: 0 }, command: { command: 'REGION_READ' }, dma: {} };
  for (const [name, def] of Object.entries(ACTIONS)) {
    const action = def.value ? { [name]: sample[name] } : name;
    for (const on of RULE_KINDS) {
      const rule = { on, ...base[on], action };
      if (def.on.includes(on)) t.notThrows(() => parseRule(rule), `${name} on ${on}`);
      else t.throws(() => parseRule(rule), { message: new RegExp(`${name} is not an action of ${on} rules`) }, `${name} on ${on}`);
    }
    // The same in words, from the same table.
    const on = def.on[0];
    const line = [on, ...Object.values(base[on]).map(String), def.value ? `${name}=${typeof sample[name] === 'object' ? '' : sample[name]}` : name].join(' ');
    if (!def.valueFields) t.notThrows(() => words(line), line);
  }
});
