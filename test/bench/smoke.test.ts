/**
 * The benchmark at N = 200, so that it cannot rot: it must run end to end
 * (real etcd, the built agent, the bird -p run) and produce every figure.
 * No timing is asserted: this machine's speed is not the subject here.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM module without type declarations (bench/ runs with node)
import { runBench } from '../../bench/lib.mjs';

const resultsDir = mkdtempSync(join(tmpdir(), 'rr-bench-smoke-'));
afterAll(() => rmSync(resultsDir, { recursive: true, force: true }));

const isNum = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x);

describe('bench smoke (N=200)', () => {
  it('produces every number of the table and the JSON', { timeout: 240_000 }, async () => {
    const result = await runBench({
      sizes: [200],
      trials: 5,
      checkTrials: 3,
      birdTrials: 3,
      burstPuts: 1000,
      idleMs: 500,
      settleMs: 300,
      burstTailMs: 1000,
      resultsDir,
      log: () => undefined,
    });
    expect(result.sizes).toHaveLength(1);
    const [s] = result.sizes;
    expect(s.n).toBe(200);
    expect(s.keys).toBe(200 * 3 + 101);
    const r = s.run;
    for (const x of [r.start.ms, r.put.p50, r.put.p99, r.cpu.perChangeMs, r.burst.rewrites, r.burst.finalAfterLastAckMs, r.memory.afterLoadMiB, r.memory.peakMiB]) {
      expect(isNum(x)).toBe(true);
    }
    expect(r.put.n).toBe(5);
    expect(r.burst.rewrites).toBeGreaterThanOrEqual(1);
    expect(r.burst.installs).toBeGreaterThanOrEqual(1);
    // The restart path: started again with etcd down, from the journal; its cost on disk and per change.
    for (const x of [r.restart.readyMs, r.restart.journalMs, r.restart.loadedMs, r.journal.endBytes, r.journal.perChangeBytes]) expect(isNum(x)).toBe(true);
    expect(r.restart.runs.length).toBeGreaterThan(0);
    for (const run of r.restart.runs) expect(run.readyMs).toBeLessThanOrEqual(run.loadedMs);
    expect(r.journal.perChangeBytes).toBeGreaterThan(0);
    const c = s.checked;
    expect(isNum(c.start.ms) && isNum(c.put.p50) && isNum(c.steps.check.p50)).toBe(true);
    // Against a real BIRD 1.6: every change checked by the daemon itself, its reply timed per trial.
    const b = s.bird;
    for (const x of [b.put.p50, b.birdReply.p50, b.birdReply.p99, b.cpu.perChangeMinusIdleMs, b.steps.reload.p50, b.bird.cpuPerChangeMs, b.bird.rssMiB]) expect(isNum(x)).toBe(true);
    expect(b.birdReply.n).toBe(3);
    expect(b.bird.protocols).toBe(200 + 99 + 1); // the sessions and the device protocol
    expect(b.checkedBy).toEqual({ daemon: 3, birdP: 0 });
    expect(result.table).toContain('put p50');
    expect(result.table).toContain('put->BIRD reply p50');
    expect(result.file).toMatch(/\.json$/);
  });

  it('measures another tool in the same harness (TOOL_CMD: a polling etcdctl + awk renderer)', { timeout: 240_000 }, async () => {
    const result = await runBench({
      sizes: [200],
      trials: 3,
      burstPuts: 200,
      idleMs: 500,
      settleMs: 300,
      burstTailMs: 1000,
      toolCmd: `sh ${join(import.meta.dirname, '..', '..', 'bench', 'tools', 'poll-render.sh')}`,
      resultsDir,
      log: () => undefined,
    });
    const r = result.sizes[0].run;
    for (const x of [r.start.ms, r.put.p50, r.cpu.perChangeMs, r.cpu.childrenPerChangeMs, r.burst.rewrites, r.memory.afterLoadMiB]) {
      expect(isNum(x)).toBe(true);
    }
    // The tool's work is done by its children (etcdctl, awk): they are counted.
    expect(r.cpu.childrenPerChangeMs).toBeGreaterThan(0);
    expect(result.sizes[0].checked).toBeUndefined();
    expect(result.tool).toMatch(/poll-render\.sh$/);
  });
});
