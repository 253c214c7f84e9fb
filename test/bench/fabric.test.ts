/**
 * The fabric-shaped benchmark (bench/lib/fabric.mjs) at N = 1,000 hosts over
 * 100 RRs, so that it cannot rot: it must run end to end (real etcd, the built
 * agent, the bird -p run) and produce every figure of its table. No timing is
 * asserted; what is asserted is the shape (30 clients of this RR) and that
 * changes which do not concern this RR write no config.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM module without type declarations (bench/ runs with node)
import { runBench } from '../../bench/lib.mjs';

const resultsDir = mkdtempSync(join(tmpdir(), 'rr-bench-fabric-'));
afterAll(() => rmSync(resultsDir, { recursive: true, force: true }));

const isNum = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x);

describe('bench smoke: the fabric shape (N=1,000, 100 RRs)', () => {
  it('produces every number of the fabric table', { timeout: 300_000 }, async () => {
    const result = await runBench({
      sizes: [],
      fabric: { n: 1000, unrelated: 200, trials: 5, burstPuts: 300, checkTrials: 3 },
      idleMs: 500,
      settleMs: 300,
      burstTailMs: 1000,
      resultsDir,
      log: () => undefined,
    });
    const f = result.fabric;
    // as_num + 100 rr_v4 + 100 rr_v6, and 9 keys per host
    expect(f.keys).toBe(1 + 200 + 1000 * 9);
    const r = f.run;
    expect(r.clients).toBe(30);
    expect(r.unrelated.configWrites).toBe(0);
    for (const x of [r.start.ms, r.memory.afterStartMiB, r.memory.peakMiB, r.unrelated.cpuPerChangeMs, r.unrelated.writeSyscalls, r.put.p50, r.put.p99, r.burst.finalAfterLastAckMs]) {
      expect(isNum(x)).toBe(true);
    }
    expect(r.put.n).toBe(5);
    expect(r.burst.rewritesV4).toBeGreaterThanOrEqual(1);
    expect(r.burst.rewritesV6).toBeGreaterThanOrEqual(1);
    expect(isNum(f.checked.start.ms) && isNum(f.checked.put.p50) && isNum(f.checked.check.p50)).toBe(true);
    expect(result.table).toContain('unrelated: CPU ms per change');
    expect(result.table).not.toContain('put p50  put p99');
  });
});
