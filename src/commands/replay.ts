/**
 * `routereflector replay JOURNAL [--out DIR]`: fold a journal through the
 * pure core and check (and write) every config generation it reproduces.
 */
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FAMILIES } from '../core/events.js';
import { scanJournal, type JournalRecord } from '../core/journal.js';
import { DIALECTS, type Dialect } from '../core/dialect.js';
import { CONFIG_FILE, holdsPassword } from '../core/render.js';
import { CommandFailed, parse, table, UsageError, type Command } from './common.js';

const USAGE = `usage: routereflector replay JOURNAL [--out DIR] [--json] [--dialect bird1|bird2|bird3]

Rebuild the configs from an event journal (JOURNAL_FILE of the agent): fold its
etcd batches through the same pure core, rendering at the same points, and
compare every generation with the sha256 the agent journaled. Rotated files
(JOURNAL.N ... JOURNAL.1) are read first when present.

  --out DIR   write each generation as DIR/<run>/bird.cfg.<generation> (and
              bird6.cfg.<generation>), and the newest as DIR/bird.cfg, DIR/bird6.cfg
  --json      print the generations as JSON
  --dialect D the BIRD dialect the agent rendered for (bird1: BIRD 1.6;
              bird2: BIRD 2.x; bird3: BIRD 3.x, which has BIRD 2's syntax);
              default: the one whose configs match the journaled sha256s

exit codes: 0 every generation reproduced, 1 a difference or an unreadable journal, 2 bad usage`;

function readJournal(file: string): { records: JournalRecord[]; files: string[]; problems: string[] } {
  const files: string[] = [];
  for (let i = 100; i >= 1; i--) if (existsSync(`${file}.${i}`)) files.push(`${file}.${i}`);
  files.push(file);
  const records: JournalRecord[] = [];
  const problems: string[] = [];
  for (const f of files) {
    let buf: Buffer;
    try {
      buf = readFileSync(f);
    } catch (err) {
      throw new CommandFailed(`cannot read journal ${f}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    // Lines are verified by their checksum (journals of version 1 have none and are read as they are).
    const scan = scanJournal(buf, true);
    for (const r of scan.records) if (r !== undefined) records.push(r);
    for (const c of scan.corrupt) problems.push(`${f}:${c.line}: not an intact journal record (${c.reason}): skipped`);
    // A torn last line (agent killed mid-write) is expected in the newest file; anywhere else it is not.
    if (scan.tail !== undefined && f !== file) problems.push(`${f}:${scan.tail.fromLine}: ${scan.tail.lines} line(s) at the end are not intact (${scan.tail.reason})`);
  }
  return { records, files, problems };
}

export const replayCommand: Command = {
  name: 'replay',
  summary: 'replay JOURNAL [--out DIR]: rebuild the configs from an event journal',
  usage: USAGE,
  async run(args) {
    const { values, positionals } = parse(args, { out: { type: 'string' }, json: { type: 'boolean', default: false }, dialect: { type: 'string' } }, true);
    const given = values.dialect as Dialect | undefined;
    if (given !== undefined && !DIALECTS.includes(given)) throw new UsageError(`--dialect must be one of ${DIALECTS.join(', ')}, not ${JSON.stringify(given)}`);
    if (positionals.length !== 1) throw new UsageError(`replay: one journal file expected\n${USAGE}`);
    const file = positionals[0] ?? '';
    const { records, files, problems: read } = readJournal(file);
    // nunjucks and rxjs are loaded for a replay, not for `--help` (issue 16).
    const [{ loadRenderer }, { replayJournal }] = await Promise.all([import('../effects/templates.js'), import('../streams/replay.js')]);
    // Without --dialect: each template set in turn (BIRD 3 renders as BIRD 2), keeping the one that
    // reproduces the most journaled generations (ties: the first, BIRD 1.6).
    const tried = (given !== undefined ? [given] : (['bird1', 'bird2'] as const)).map((d) => {
      const r = replayJournal(records, loadRenderer({ v4: d, v6: d }));
      return { dialect: d, replayed: r, matches: r.configs.filter((c) => c.journaled === c.sha256).length };
    });
    const { dialect, replayed } = tried.reduce((a, b) => (b.matches > a.matches ? b : a));
    const result = { ...replayed, problems: [...read, ...replayed.problems] };
    if (values.out !== undefined) {
      const out = values.out;
      for (const c of result.configs) {
        await mkdir(join(out, c.run), { recursive: true });
        await writeReplayed(join(out, c.run, `${CONFIG_FILE[c.family]}.${c.generation}`), c.bytes);
      }
      const lastRun = result.runs[result.runs.length - 1];
      for (const f of FAMILIES) {
        const last = [...result.configs].reverse().find((c) => c.family === f && c.run === lastRun);
        if (last) await writeReplayed(join(out, CONFIG_FILE[f]), last.bytes);
      }
    }
    if (values.json) {
      process.stdout.write(
        JSON.stringify(
          { files, dialect, runs: result.runs, problems: result.problems, configs: result.configs.map(({ bytes: _b, ...c }) => ({ ...c, verified: c.journaled === c.sha256 })) },
          null,
          2,
        ) + '\n',
      );
    } else {
      process.stdout.write(`journal: ${files.join(', ')}: ${records.length} records, ${result.runs.length} run(s), rendered as ${dialect === 'bird1' ? 'BIRD 1.6' : 'BIRD 2/3'} (${dialect})\n`);
      process.stdout.write(
        table(
          ['RUN', 'FAMILY', 'GENERATION', 'REVISION', 'SHA256', 'MATCHES AGENT'],
          result.configs.map((c) => [c.run, c.family, String(c.generation), String(c.revision), c.sha256.slice(0, 16), c.journaled === undefined ? 'not journaled' : c.journaled === c.sha256 ? 'yes' : 'NO']),
        ),
      );
      if (values.out !== undefined) process.stdout.write(`written under ${values.out}\n`);
    }
    for (const p of result.problems) process.stderr.write(`routereflector: replay: ${p}\n`);
    if (result.configs.length === 0) {
      process.stderr.write('routereflector: replay: the journal holds no config generation\n');
      return 1;
    }
    return result.problems.length > 0 ? 1 : 0;
  },
};

/** A replayed config that holds a password is mode 0600, like the agent's own (effects/config-files.ts). */
async function writeReplayed(path: string, bytes: Buffer): Promise<void> {
  const mode = holdsPassword(bytes) ? 0o600 : 0o644;
  await writeFile(path, bytes, { mode });
  await chmod(path, mode);
}
