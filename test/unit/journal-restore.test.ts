/**
 * The journal as the restart path: its line format (a checksum per line,
 * torn and corrupt lines found), the pure restore (newest state that
 * reproduces the installed configs), and loadJournal's handling of a torn
 * tail, a corrupt line, a journal of another version or another RR, and
 * configs on disk that the journal never rendered.
 */
import { appendFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PREFIX } from '../../src/core/config.js';
import { FAMILIES } from '../../src/core/events.js';
import { encodeJournalLine, encodeJournalLinePieces, parseJournalLine, scanJournal } from '../../src/core/journal.js';
import { restoreFromJournal } from '../../src/core/restore.js';
import { loadJournal } from '../../src/effects/journal.js';
import { replayJournal } from '../../src/streams/replay.js';
import { removeDir, tempDir } from '../support/processes.js';
import { captureLog, del, firstRun, put, render, SELF, simRun } from '../support/journal-sim.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await removeDir(d);
});

function place(): { file: string; configDir: string } {
  const dir = tempDir('rr-journal-restore');
  dirs.push(dir);
  return { file: join(dir, 'journal', 'journal.jsonl'), configDir: join(dir, 'config') };
}

const load = (file: string, configDir: string, sink = captureLog()) => ({
  restored: loadJournal({ file, keep: 3, configDir, self: SELF, prefix: PREFIX, render, log: sink.log }),
  lines: sink.lines,
});

const addNode = (i: number) => [put(`/host/m${i}/ip_addr_v4`, `10.0.2.${i}`), put(`/host/m${i}/peer_v4/10.0.0.1`, { ip: '10.0.0.1', as_num: 64512 })];

describe('journal line format', () => {
  it('every line carries a CRC of itself and stays one JSON object', () => {
    const line = encodeJournalLine({ t: 'x', run: 'r', type: 'settled', batches: 1, revision: 2 });
    expect(JSON.parse(line)).toMatchObject({ type: 'settled', crc: expect.stringMatching(/^[0-9a-f]{8}$/) });
    expect(parseJournalLine(line)).toMatchObject({ type: 'settled', batches: 1, revision: 2 });
    expect(() => parseJournalLine(line.replace('"revision":2', '"revision":3'))).toThrow(/checksum mismatch/);
    expect(() => parseJournalLine('{"t":"x","run":"r","type":"settled","batches":1,"revision":2}')).toThrow(/no checksum/);
    expect(parseJournalLine('{"t":"x","run":"r","type":"settled","batches":1,"revision":2}', true).type).toBe('settled');
  });

  it('encodes a full keyspace in pieces that join to exactly the whole line', () => {
    // 45,001 keys: three slices of 20,000 and one of 5,001; values with quotes, backslashes, non-ASCII and a NUL.
    const kvs = Array.from({ length: 45_001 }, (_, i) => ({ key: `${PREFIX}/host/n${i}/ip_addr_v4`, value: i % 1000 === 7 ? `"é\\\u0000${i}"` : `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}` }));
    const checkpoint = { t: 'x', run: 'r', type: 'checkpoint', version: 2, ip: '10.0.0.1', prefix: PREFIX, batches: 3, revision: 9, kvs, configs: {} };
    const batch = { t: 'x', run: 'r', type: 'batch', n: 1, revision: 9, events: [{ type: 'resync', revision: 9, kvs }] };
    for (const record of [checkpoint, batch]) {
      const pieces = [...encodeJournalLinePieces(record)];
      expect(pieces.length).toBe(5);
      const joined = Buffer.concat(pieces);
      expect(joined.toString('utf8')).toBe(`${encodeJournalLine(record)}\n`);
      expect(parseJournalLine(joined.subarray(0, joined.length - 1))).toMatchObject({ type: record.type, revision: 9 });
    }
    // Small records, and a keyspace below one slice, stay one piece.
    expect([...encodeJournalLinePieces({ t: 'x', run: 'r', type: 'settled', batches: 1, revision: 2 })]).toHaveLength(1);
    expect([...encodeJournalLinePieces({ ...checkpoint, kvs: kvs.slice(0, 10) })]).toHaveLength(1);
  });

  it('cuts off a line torn between its slices (killed while writing a full keyspace), keeping the lines before it', () => {
    const kvs = Array.from({ length: 45_001 }, (_, i) => ({ key: `${PREFIX}/host/n${i}/ip_addr_v4`, value: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}` }));
    const before = encodeJournalLine({ t: 'x', run: 'r', type: 'settled', batches: 1, revision: 2 });
    const pieces = [...encodeJournalLinePieces({ t: 'x', run: 'r', type: 'checkpoint', version: 2, ip: '10.0.0.1', prefix: PREFIX, batches: 1, revision: 2, kvs, configs: {} })];
    for (const written of [1, 2, pieces.length - 1]) {
      const scan = scanJournal(Buffer.concat([Buffer.from(`${before}\n`), ...pieces.slice(0, written)]));
      expect(scan.records).toEqual([expect.objectContaining({ type: 'settled', revision: 2 })]);
      expect(scan.goodBytes).toBe(before.length + 1);
      expect(scan.tail).toMatchObject({ fromLine: 2, lines: 1 });
    }
  });

  it('finds a torn tail and a corrupt line in the middle', () => {
    const a = encodeJournalLine({ t: 'x', run: 'r', type: 'settled', batches: 1, revision: 2 });
    const b = encodeJournalLine({ t: 'x', run: 'r', type: 'settled', batches: 2, revision: 3 });
    const torn = scanJournal(Buffer.from(`${a}\n${b}\n${b.slice(0, 20)}`));
    expect(torn.records).toHaveLength(2);
    expect(torn.goodBytes).toBe(a.length + b.length + 2);
    expect(torn.tail).toMatchObject({ fromLine: 3, lines: 1, bytes: 20 });
    expect(torn.corrupt).toEqual([]);
    const mid = scanJournal(Buffer.from(`${a}\n${a.replace('"r"', '"q"')}\n${b}\n`));
    expect(mid.records).toEqual([expect.objectContaining({ batches: 1 }), undefined, expect.objectContaining({ batches: 2 })]);
    expect(mid.corrupt).toEqual([{ line: 2, reason: expect.stringMatching(/checksum/) }]);
    expect(mid.tail).toBeUndefined();
  });
});

describe('restore from the journal', () => {
  it('rebuilds the last installed state; the next change continues its generations', () => {
    const { file, configDir } = place();
    const a = firstRun(file, configDir);
    a.batch(addNode(1));
    for (const c of a.settle()) a.install(c);
    const installedRev = a.revision();
    a.close();
    const { restored, lines } = load(file, configDir);
    expect(restored?.revision).toBe(installedRev);
    expect(restored?.clusterId).toBe('cluster-a');
    expect(restored?.configs.v4).toEqual({ generation: 2, sha256: a.latest.v4!.sha256 });
    expect(restored?.configs.v6.generation).toBe(1);
    expect(lines.filter((l) => l['msg'] === 'started from the journal: BIRD gets the last installed configs until etcd answers')).toHaveLength(1);
    // A second run from it: its checkpoint is its base; the next change is generation 3; a restart restores it.
    const b = simRun(file, configDir, { restored: restored! });
    expect(b.settle().map((c) => [c.family, c.generation, c.sha256])).toEqual([
      ['v4', 2, a.latest.v4!.sha256],
      ['v6', 1, a.latest.v6!.sha256],
    ]);
    b.batch([del('/host/n1/ip_addr_v4')]);
    const next = b.settle();
    expect(next.map((c) => [c.family, c.generation])).toEqual([['v4', 3]]);
    for (const c of next) b.install(c);
    b.close();
    const again = load(file, configDir).restored;
    expect(again?.revision).toBe(b.revision());
    expect(again?.configs.v4).toEqual({ generation: 3, sha256: next[0]!.sha256 });
    // And replay still rebuilds every generation of both runs, byte for byte.
    const records = scanJournal(readFileSync(file)).records.filter((r) => r !== undefined);
    const replayed = replayJournal(records, render);
    expect(replayed.problems).toEqual([]);
    expect(replayed.runs).toHaveLength(2);
    expect(replayed.configs.every((c) => c.journaled === c.sha256)).toBe(true);
  });

  it('an agent killed between journaling a config and installing it restarts from the state before', () => {
    const { file, configDir } = place();
    const a = firstRun(file, configDir);
    const before = a.revision();
    a.batch(addNode(2));
    const pending = a.settle(); // rendered and journaled, never installed
    expect(pending).toHaveLength(1);
    a.journal.flush(); // the record is on disk, as the apply effect's flush before install leaves it
    const { restored } = load(file, configDir);
    expect(restored?.revision).toBe(before);
    expect(restored?.configs.v4.generation).toBe(1);
  });

  it('refuses configs on disk that the journal never rendered, and a missing one', () => {
    const { file, configDir } = place();
    firstRun(file, configDir).close();
    writeFileSync(join(configDir, 'bird.cfg'), '# edited by hand\n');
    const r1 = load(file, configDir);
    expect(r1.restored).toBeUndefined();
    expect(r1.lines.find((l) => l['msg'] === 'journal not used: waiting for etcd')?.['reason']).toMatch(/not a config this journal rendered/);
    rmSync(join(configDir, 'bird.cfg'));
    expect(load(file, configDir).lines.find((l) => l['msg'] === 'journal not used: waiting for etcd')?.['reason']).toMatch(/no installed bird\.cfg/);
  });

  it('cuts a torn tail off at the last intact line, with one log line, and restores', () => {
    const { file, configDir } = place();
    const a = firstRun(file, configDir);
    a.close();
    const good = statSync(file).size;
    appendFileSync(file, '{"t":"2026-12-01T00:00:00.000Z","run":"x","type":"batch","n":2,"rev');
    const { restored, lines } = load(file, configDir);
    expect(restored).toBeDefined();
    expect(statSync(file).size).toBe(good);
    expect(lines.filter((l) => l['msg'] === 'journal tail cut off at the last intact line')).toEqual([expect.objectContaining({ lines: 1, reason: expect.stringMatching(/torn/) })]);
  });

  it('a corrupt line between the full state and the installed point: refused; before the full state: ignored', () => {
    const { file, configDir } = place();
    const a = firstRun(file, configDir);
    a.batch(addNode(3));
    for (const c of a.settle()) a.install(c);
    a.close();
    const text = readFileSync(file, 'utf8').split('\n');
    const at = text.findIndex((l) => l.includes('"type":"batch"') && l.includes('"n":2'));
    const broken = [...text];
    broken[at] = broken[at]!.replace('10.0.2.3', '10.0.2.9');
    writeFileSync(file, broken.join('\n'));
    const r = load(file, configDir);
    expect(r.restored).toBeUndefined();
    expect(r.lines.filter((l) => l['msg'] === 'journal lines corrupt: not folded across')).toHaveLength(1);
    expect(r.lines.find((l) => l['msg'] === 'journal not used: waiting for etcd')?.['reason']).toMatch(/corrupt journal line lies between/);

    // A later full read of etcd is a new base: the corrupt line before it no longer matters.
    const { file: f2, configDir: c2 } = place();
    const b = firstRun(f2, c2);
    b.batch(addNode(4));
    b.settle();
    b.batch([{ type: 'resync', kvs: [] } as never], 'cluster-a');
    for (const c of b.settle()) b.install(c);
    b.close();
    const t2 = readFileSync(f2, 'utf8').split('\n');
    const at2 = t2.findIndex((l) => l.includes('"type":"batch"') && l.includes('"n":2'));
    t2[at2] = t2[at2]!.slice(0, 40) + 'garbage' + t2[at2]!.slice(47);
    writeFileSync(f2, t2.join('\n'));
    const r2 = load(f2, c2);
    expect(r2.restored?.revision).toBe(b.revision());
    expect(r2.lines.filter((l) => l['msg'] === 'journal lines corrupt: not folded across')).toHaveLength(1);
  });

  it('a journal of format version 1 is moved aside; one of another route reflector is refused', () => {
    const { file, configDir } = place();
    firstRun(file, configDir).close();
    const v1 = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.stringify({ ...JSON.parse(l), crc: undefined, version: 1 })).join('\n') + '\n';
    writeFileSync(file, v1);
    const r = load(file, configDir);
    expect(r.restored).toBeUndefined();
    expect(r.lines.find((l) => l['msg'] === 'journal not used: waiting for etcd')?.['reason']).toMatch(/format version 1.*moved to/);
    expect(existsSync(`${file}.1`)).toBe(true);
    expect(existsSync(file)).toBe(false);

    const { file: f2, configDir: c2 } = place();
    firstRun(f2, c2).close();
    const sink = captureLog();
    const other = loadJournal({ file: f2, keep: 3, configDir: c2, self: { ip: '10.0.0.7', ip6: 'fd00::1' }, prefix: PREFIX, render, log: sink.log });
    expect(other).toBeUndefined();
    // The configs on disk were rendered for 10.0.0.1: they match the journal, the identity does not.
    expect(sink.lines.find((l) => l['msg'] === 'journal not used: waiting for etcd')?.['reason']).toMatch(/written for IP=10\.0\.0\.1/);
  });

  it('restores across a rotation, from the checkpoint that starts the file, with mode 0600', () => {
    const { file, configDir } = place();
    const a = firstRun(file, configDir, 5, { maxBytes: 4096 });
    for (let i = 1; i <= 30; i++) {
      a.batch(addNode(i));
      for (const c of a.settle()) a.install(c);
      a.journal.health({ type: 'health', family: 'v4', up: true, instance: 'x' });
    }
    a.close();
    expect(existsSync(`${file}.1`)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const first = parseJournalLine(readFileSync(file, 'utf8').split('\n')[0]!);
    expect(first.type).toBe('checkpoint');
    const { restored } = load(file, configDir);
    expect(restored?.revision).toBe(a.revision());
  });

  it('the pure restore asks for older records when the state starts before them', () => {
    const { file, configDir } = place();
    const a = firstRun(file, configDir);
    a.close();
    const records = scanJournal(readFileSync(file)).records;
    const installed = Object.fromEntries(FAMILIES.map((f) => [f, a.latest[f]!.sha256]));
    const tail = records.slice(2); // without the start and the full read
    expect(restoreFromJournal({ records: tail, complete: false, installed, families: FAMILIES, self: SELF, prefix: PREFIX, render }).kind).toBe('older');
    expect(restoreFromJournal({ records: tail, complete: true, installed, families: FAMILIES, self: SELF, prefix: PREFIX, render }).kind).toBe('refused');
    expect(restoreFromJournal({ records, complete: true, installed, families: FAMILIES, self: SELF, prefix: PREFIX, render }).kind).toBe('restored');
  });
});
