#!/usr/bin/env node
/**
 * Summarise a V8 .cpuprofile (from `node --cpu-prof`), optionally only the
 * samples inside a time window: the bench records each phase (start, trials,
 * burst) as monotonic microseconds, the clock of the profile's timestamps.
 *
 *   node bench/profile-summary.mjs PROFILE [--results RESULT.json --size N --phase trials|start|burst|unrelated [--run run|checked]]
 *                                          [--from US --to US] [--top 25] [--per K]
 *
 * Prints self and inclusive time per function, and self time per module
 * (package or source file). --per K divides by K (e.g. the number of trials)
 * to give ms per change.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    results: { type: 'string' }, size: { type: 'string' }, phase: { type: 'string' }, run: { type: 'string', default: 'run' },
    from: { type: 'string' }, to: { type: 'string' }, top: { type: 'string', default: '25' }, per: { type: 'string' },
  },
});
const prof = JSON.parse(readFileSync(positionals[0], 'utf8'));
let from = values.from !== undefined ? Number(values.from) : -Infinity;
let to = values.to !== undefined ? Number(values.to) : Infinity;
let per = values.per !== undefined ? Number(values.per) : 1;
if (values.results) {
  const res = JSON.parse(readFileSync(values.results, 'utf8'));
  if (values.phase === 'unrelated') {
    // the fabric run's changes that do not concern the RR (bench/lib/fabric.mjs)
    const run = res.fabric[values.run];
    from = run.phases.unrelated.fromUs;
    to = run.phases.unrelated.toUs;
    if (values.per === undefined) per = run.unrelated.changes;
  } else {
    const size = res.sizes.find((s) => String(s.n) === values.size) ?? res.sizes[0];
    const run = size[values.run];
    const ph = run.phases[values.phase ?? 'trials'];
    from = ph.fromUs;
    to = ph.toUs;
    if (values.per === undefined && (values.phase ?? 'trials') === 'trials') per = run.cpu.trials;
  }
}

const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const label = (n) => {
  const f = n.callFrame;
  const url = f.url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, 'nm:').replace(/.*\/dist\//, 'dist/');
  return `${f.functionName || '(anonymous)'} ${url ? `${url}:${f.lineNumber + 1}` : ''}`.trim();
};
const moduleOf = (n) => {
  const url = n.callFrame.url;
  if (!url) return n.callFrame.functionName || '(native)';
  const nm = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (nm) return `nm:${nm[1]}`;
  const d = url.match(/\/dist\/(.*)$/);
  if (d) return d[1];
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  return url;
};

const self = new Map();
const total = new Map();
const mods = new Map();
let t = prof.startTime;
let windowUs = 0;
let busyUs = 0;
for (let i = 0; i < prof.samples.length; i++) {
  t += prof.timeDeltas[i];
  if (t < from || t > to) continue;
  const dt = prof.timeDeltas[i + 1] ?? 0; // the sample stands for the time until the next one
  const node = byId.get(prof.samples[i]);
  windowUs += dt;
  const name = label(node);
  if (name === '(idle)') continue;
  busyUs += dt;
  self.set(name, (self.get(name) ?? 0) + dt);
  mods.set(moduleOf(node), (mods.get(moduleOf(node)) ?? 0) + dt);
  const seen = new Set();
  for (let id = node.id; id !== undefined; id = parent.get(id)) {
    const l = label(byId.get(id));
    if (seen.has(l)) continue;
    seen.add(l);
    total.set(l, (total.get(l) ?? 0) + dt);
  }
}
const top = Number(values.top);
const ms = (us) => (us / 1000 / per).toFixed(per === 1 ? 0 : 2).padStart(9);
const print = (title, m) => {
  console.log(`\n${title}`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(v)}  ${k}`);
};
console.log(`window ${(windowUs / 1000).toFixed(0)} ms, busy (non-idle) ${(busyUs / 1000).toFixed(0)} ms${per !== 1 ? `; figures are ms per change (/${per})` : '; figures in ms'}`);
print('self time by module', mods);
print('self time by function', self);
print('inclusive time by function', total);
