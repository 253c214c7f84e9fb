/**
 * The journal effect and replay: a pipeline built from the agent's own pure
 * streams writes a journal (with rotation); replaying it reproduces every
 * generation byte for byte, also from rotated files that start at a checkpoint.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { map, share, Subject, tap } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import { PREFIX } from '../../src/core/config.js';
import { FAMILIES, type EtcdBatch, type EtcdEvent } from '../../src/core/events.js';
import { parseJournalLine, type JournalRecord } from '../../src/core/journal.js';
import { createRenderer } from '../support/render.js';
import type { FoldResult } from '../../src/core/state.js';
import { openJournal } from '../../src/effects/journal.js';
import { createLog } from '../../src/effects/logger.js';
import { familyConfig } from '../../src/streams/family-config.js';
import { foldState } from '../../src/streams/fold-state.js';
import { replayJournal, sha256 } from '../../src/streams/replay.js';
import { removeDir, tempDir } from '../support/processes.js';
import { kv } from '../support/state.js';

const self = { ip: '10.0.0.1', ip6: 'fd00::1' };
const render = createRenderer();
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await removeDir(d);
});

function simulate(file: string, maxBytes: number, keep: number): Map<string, string> {
  const log = createLog({ level: 'fatal', format: 'json', write: () => undefined });
  const j = openJournal({ file, maxBytes, keep, ...self, prefix: PREFIX, debounceMs: 100, maxWaitMs: 1000, log });
  const batches = new Subject<EtcdBatch>();
  const settle = new Subject<void>();
  let last: FoldResult | undefined;
  batches.pipe(tap(j.batch), foldState(PREFIX)).subscribe((r) => (last = r));
  const settled$ = settle.pipe(map(() => last!), tap(j.settled), share());
  const emitted = new Map<string, string>();
  for (const f of FAMILIES) {
    settled$.pipe(familyConfig(f, self, render)).subscribe((c) => {
      j.config(c);
      emitted.set(`${f} ${c.generation}`, c.text);
    });
  }
  let rev = 1;
  const batch = (...events: Array<Omit<EtcdEvent, 'revision'>>): void => {
    rev++;
    batches.next({ revision: rev, events: events.map((e) => ({ ...e, revision: rev }) as EtcdEvent) });
  };
  const put = (suffix: string, value: unknown) => ({ type: 'put' as const, ...kv(suffix, value) });
  batch({ type: 'resync', kvs: [kv('/global/as_num', '64512'), kv('/rr_v4/10.0.0.1', { ip: '10.0.0.1', cluster_id: '1.0.0.1' }), kv('/rr_v6/fd00::1', { ip: 'fd00::1', cluster_id: '' })] } as never);
  settle.next();
  for (let i = 1; i <= 40; i++) {
    batch(put(`/host/n${i}/ip_addr_v4`, `10.0.1.${i}`), put(`/host/n${i}/peer_v4/10.0.0.1`, { ip: '10.0.0.1', as_num: 64512 }));
    if (i % 3 === 0) batch(put(`/host/n${i}/ip_addr_v6`, `fd00::1:${i}`), put(`/host/n${i}/peer_v6/fd00::1`, { ip: 'fd00::1', as_num: 64512 }));
    if (i % 7 === 0) batch(put(`/host/n${i - 1}/peer_v4/10.0.0.1`, { ip: '10.0.0.1', as_num: 65000 })); // a changed session
    if (i % 5 === 0) batch(put('/host/bad/ip_addr_v4', `10.0.0.${300 + i}`)); // invalid
    if (i % 2 === 0) settle.next();
    j.health({ type: 'health', family: 'v4', up: i % 4 !== 0, instance: 'x' });
    j.outcome({ type: 'outcome', family: 'v4', generation: i, step: 'reload', ok: true, durationMs: 3 });
  }
  settle.next();
  j.close();
  return emitted;
}

const read = (files: string[]): JournalRecord[] =>
  files.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter((l) => l !== '').map((l) => parseJournalLine(l)));

describe('journal and replay', () => {
  it('replays every generation byte for byte across rotated files', () => {
    const dir = tempDir('rr-journal');
    dirs.push(dir);
    const file = join(dir, 'journal.jsonl');
    const emitted = simulate(file, 4096, 100);
    const files = readdirSync(dir).filter((f) => f.startsWith('journal.jsonl.')).sort((a, b) => Number(b.split('.').pop()) - Number(a.split('.').pop()));
    expect(files.length).toBeGreaterThan(3); // it rotated
    const all = read([...files.map((f) => join(dir, f)), file]);
    const result = replayJournal(all, render);
    expect(result.problems).toEqual([]);
    expect(result.configs.length).toBe(emitted.size);
    for (const c of result.configs) {
      expect(c.bytes.toString('latin1'), `${c.family} ${c.generation}`).toBe(emitted.get(`${c.family} ${c.generation}`));
      expect(c.journaled).toBe(sha256(c.bytes));
    }
    // Every rotated file but the first starts with a checkpoint.
    const firsts = files.map((f) => parseJournalLine(readFileSync(join(dir, f), 'utf8').split('\n')[0]!).type);
    expect(firsts[0]).toBe('start');
    expect(firsts.slice(1).every((t) => t === 'checkpoint')).toBe(true);
  });

  it('a checkpoint bigger than maxBytes is not rewritten on every record: a file rotates past twice its checkpoint', () => {
    const dir = tempDir('rr-journal');
    dirs.push(dir);
    const file = join(dir, 'journal.jsonl');
    const emitted = simulate(file, 256, 100); // every checkpoint of this run is larger than 256 bytes
    const rotated = readdirSync(dir).filter((f) => f.startsWith('journal.jsonl.')).sort((a, b) => Number(b.split('.').pop()) - Number(a.split('.').pop()));
    expect(rotated.length).toBeGreaterThan(1); // it rotated
    for (const f of rotated.slice(1)) {
      const text = readFileSync(join(dir, f), 'utf8');
      const first = text.split('\n')[0]!;
      expect(parseJournalLine(first).type).toBe('checkpoint');
      expect(Buffer.byteLength(text, 'utf8'), f).toBeGreaterThan(2 * Buffer.byteLength(first, 'utf8'));
    }
    const result = replayJournal(read([...rotated.map((f) => join(dir, f)), file]), render);
    expect(result.problems).toEqual([]);
    expect(result.configs.length).toBe(emitted.size);
  });

  it('replays from a checkpoint when the oldest files were rotated away', () => {
    const dir = tempDir('rr-journal');
    dirs.push(dir);
    const file = join(dir, 'journal.jsonl');
    const emitted = simulate(file, 4096, 1);
    expect(existsSync(`${file}.2`)).toBe(false);
    const records = read([`${file}.1`, file]);
    expect(records[0]!.type).toBe('checkpoint');
    const result = replayJournal(records, render);
    expect(result.problems).toEqual([]);
    expect(result.configs.length).toBeGreaterThan(0);
    for (const c of result.configs) expect(c.bytes.toString('latin1')).toBe(emitted.get(`${c.family} ${c.generation}`));
    // The newest generation of each family is among them.
    for (const f of FAMILIES) {
      const newest = Math.max(...[...emitted.keys()].filter((k) => k.startsWith(f)).map((k) => Number(k.split(' ')[1])));
      expect(result.configs.some((c) => c.family === f && c.generation === newest)).toBe(true);
    }
  });

  it('reports a generation whose bytes differ from the journal', () => {
    const dir = tempDir('rr-journal');
    dirs.push(dir);
    const file = join(dir, 'journal.jsonl');
    simulate(file, 1 << 30, 1);
    const records = read([file]).map((r) => (r.type === 'config' && r.family === 'v4' && r.generation === 2 ? { ...r, sha256: 'f'.repeat(64) } : r));
    const result = replayJournal(records, render);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatch(/v4 generation 2: replayed sha256 \w+ differs/);
  });
});
