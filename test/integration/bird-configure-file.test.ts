/**
 * `configure "FILE"` against the real daemon of every dialect (BIRD 1.6, 2, 3;
 * no network: the configs have no BGP protocol, so BIRD binds nothing), and
 * the apply driver on it (issue 18: the running BIRD checks the staged file
 * it is about to load):
 * - BIRD reads FILE and runs it (`0003 Reconfigured`); an error in FILE's text
 *   is `8002 FILE:LINE:COL message` and the running config stays; a FILE it
 *   cannot open is `8002 FILE: No such file or directory` (no verdict);
 * - a later plain `configure` reads the `-c` file again, not the last FILE;
 * - `configure check "FILE"` parses only (`0020 Configuration OK`);
 * - the applier: write, check (checkedBy daemon), install, reload on one
 *   parse; a rejected text leaves bird.cfg and the running protocols as they
 *   were and is not installed; a stopped daemon gets `bird -p` and a deferred
 *   reload, a hung one `bird -p` and a timed-out reload.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ApplyRequest, OutcomeEvent } from '../../src/core/events.js';
import { createApplier } from '../../src/effects/apply-config.js';
import { birdConfigure, birdSocketCommand, showProtocols } from '../../src/effects/bird-socket.js';
import { startBird, type BirdHandle } from '../support/bird.js';
import { birdBins, DIALECTS, dialectName, requireDialect, type Dialect } from '../support/dialect.js';
import { killAllTracked, removeDir, tempDir, waitFor } from '../support/processes.js';

const dirs: string[] = [];
afterAll(async () => {
  await killAllTracked();
  for (const d of dirs) await removeDir(d);
});

/** A config with a device protocol and the given static protocols (a channel on BIRD 2/3). */
function config(d: Dialect, statics: readonly string[], broken = false): string {
  const channel = d === 'bird1' ? '' : 'ipv4; ';
  return [
    'router id 10.77.0.1;',
    'log stderr all;',
    'protocol device { }',
    ...statics.map((name, i) => `protocol static ${name} { ${channel}route 10.77.${200 + i}.0/24 blackhole; }`),
    ...(broken ? ['bogus statement;'] : []),
  ].join('\n') + '\n';
}

const names = async (b: BirdHandle): Promise<string[]> => (await showProtocols({ socket: b.socket, timeoutMs: 5000 })).map((r) => r.name).sort();

/** An ApplyRequest for the applier: only parts and generation are read. */
const request = (text: string, generation: number): ApplyRequest =>
  ({ reason: 'changed', config: { family: 'v4', generation, parts: [Buffer.from(text, 'latin1')] } }) as unknown as ApplyRequest;

async function run(apply: (r: ApplyRequest) => AsyncGenerator<OutcomeEvent>, req: ApplyRequest): Promise<OutcomeEvent[]> {
  const out: OutcomeEvent[] = [];
  for await (const o of apply(req)) out.push(o);
  return out;
}
const steps = (os: readonly OutcomeEvent[]): string[] => os.map((o) => `${o.step} ${o.ok ? 'ok' : 'failed'}${o.checkedBy ? ` (${o.checkedBy})` : ''}${o.deferred ? ' deferred' : ''}`);

for (const d of DIALECTS) {
  describe(`configure "FILE" on ${dialectName(d)}`, { timeout: 60_000 }, () => {
    it('reads FILE; an error in it keeps the running config; a later plain configure reads the -c file', async () => {
      requireDialect(d);
      const dir = tempDir('rr-cfgfile');
      dirs.push(dir);
      const bird = await startBird({ family: 'v4', dir, config: config(d, []), bin: birdBins(d).v4 });
      try {
        const ctl = { socket: bird.socket, timeoutMs: 5000 };
        const good = join(dir, 'b.cfg');
        writeFileSync(good, config(d, ['s1']));
        expect(await birdConfigure({ ...ctl, file: good })).toMatchObject({ ok: true, reachable: true, message: 'Reconfigured' });
        expect(await names(bird)).toEqual(['device1', 's1']);

        const bad = join(dir, 'bad.cfg');
        writeFileSync(bad, config(d, ['s1', 's2'], true));
        const rejected = await birdConfigure({ ...ctl, file: bad });
        expect(rejected).toMatchObject({ ok: false, reachable: true, rejected: true });
        expect(rejected.message.startsWith(`${bad}:6:`)).toBe(true);
        expect(rejected.message).toMatch(/:6:\d+ syntax error/);
        expect(await names(bird)).toEqual(['device1', 's1']); // the running config stays

        const missing = await birdConfigure({ ...ctl, file: join(dir, 'none.cfg') });
        expect(missing).toMatchObject({ ok: false, reachable: true, message: `${join(dir, 'none.cfg')}: No such file or directory` });
        expect(missing.rejected).toBeUndefined(); // not a verdict on any text

        const check = await birdSocketCommand(bird.socket, `configure check "${good}"`, 5000);
        expect(check.at(-1)).toBe('0020 Configuration OK');

        // The -c file (bird.cfg) has no s1: a plain configure reads it, not the last file given.
        expect(readFileSync(bird.configPath, 'utf8')).not.toContain('s1');
        expect(await birdConfigure(ctl)).toMatchObject({ ok: true });
        // BIRD 3 answers `0004 Reconfiguration in progress` and lists s1 until it has shut down.
        await waitFor(async () => (await names(bird)).join() === 'device1', { what: 's1 removed by the -c file', timeoutMs: 10_000 });
      } finally {
        await bird.stop();
      }
    });

    it('the applier: one parse by BIRD per change; a rejected text installs nothing; bird -p only while BIRD does not answer', async () => {
      requireDialect(d);
      const dir = tempDir('rr-cfgfile-apply');
      dirs.push(dir);
      const bird = await startBird({ family: 'v4', dir, config: config(d, []), bin: birdBins(d).v4 });
      const cfg = join(dir, 'bird.cfg');
      const apply = createApplier({ family: 'v4', configDir: dir, checkBin: birdBins(d).v4, socket: bird.socket, timeoutMs: 1000 });
      try {
        const one = await run(apply, request(config(d, ['s1']), 2));
        expect(steps(one)).toEqual(['write ok', 'check ok (daemon)', 'install ok', 'reload ok']);
        expect(one[1]!.message).toBe(`BIRD runs ${join(dir, '.bird.cfg.stage')}: Reconfigured`);
        expect(readFileSync(cfg, 'utf8')).toBe(config(d, ['s1']));
        expect(await names(bird)).toEqual(['device1', 's1']);
        expect(existsSync(join(dir, '.bird.cfg.stage'))).toBe(false);

        const rejected = await run(apply, request(config(d, ['s1', 's2'], true), 3));
        expect(steps(rejected)).toEqual(['write ok', 'check failed (daemon)']);
        expect(rejected[1]!.retryable).toBeUndefined(); // a verdict: not retried
        expect(rejected[1]!.message).toMatch(/\.bird\.cfg\.stage:6:\d+ syntax error/);
        expect(readFileSync(cfg, 'utf8')).toBe(config(d, ['s1']));
        expect(await names(bird)).toEqual(['device1', 's1']);
        expect(existsSync(join(dir, '.bird.cfg.stage'))).toBe(false);

        // A plain configure (what a restarted BIRD also reads): bird.cfg is what BIRD runs.
        expect(await birdConfigure({ socket: bird.socket, timeoutMs: 5000 })).toMatchObject({ ok: true });
        expect(await names(bird)).toEqual(['device1', 's1']);

        // Hung: no verdict from BIRD, bird -p checks, the file is installed, the reload timed out (retried).
        process.kill(bird.pid, 'SIGSTOP');
        let hung: OutcomeEvent[];
        try {
          hung = await run(apply, request(config(d, ['s1', 's3']), 4));
        } finally {
          process.kill(bird.pid, 'SIGCONT');
        }
        expect(steps(hung)).toEqual(['write ok', 'check ok (bird -p)', 'install ok', 'reload failed']);
        expect(hung[3]).toMatchObject({ retryable: true, message: expect.stringMatching(/timed out/) });
        expect(readFileSync(cfg, 'utf8')).toBe(config(d, ['s1', 's3']));
        // The retry of that run: the file is installed, a plain configure.
        expect(steps(await run(apply, request(config(d, ['s1', 's3']), 4)))).toEqual(['reload ok']);
        expect(await names(bird)).toEqual(['device1', 's1', 's3']);

        // Not running: bird -p, installed, the reload deferred to when it comes up.
        await bird.stop();
        const down = await run(apply, request(config(d, ['s4']), 5));
        expect(steps(down)).toEqual(['write ok', 'check ok (bird -p)', 'install ok', 'reload failed deferred']);
        const downBad = await run(apply, request(config(d, ['s4', 's5'], true), 6));
        expect(steps(downBad)).toEqual(['write ok', 'check failed (bird -p)']);
        expect(readFileSync(cfg, 'utf8')).toBe(config(d, ['s4']));
      } finally {
        await bird.stop();
      }
    });
  });
}
