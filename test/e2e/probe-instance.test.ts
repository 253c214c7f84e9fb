/**
 * Regression test (found by test/e2e/fabric.test.ts): `probeSocket` must
 * give a running BIRD one stable identity, or the agent takes it for a
 * restart and reloads it every few seconds.
 *
 * It used to include BIRD's "Last reboot" time, which BIRD 1.6 prints as
 * boot_time + (now_real - now), where `now` (CLOCK_MONOTONIC seconds) and
 * `now_real` (time(NULL)) are cached and refreshed together only at the
 * first wake-up after each monotonic second tick (sysdep/unix/io.c,
 * update_times_gettime): it flips by one second between probes. Same root
 * cause as the jittering "since" column in docs/bird-notes.md. The identity
 * is now the control socket file alone (inode, ctime), which BIRD re-creates
 * on every start.
 *
 * Reproduction: wake an otherwise idle BIRD once early and once late in a
 * monotonic second (process.hrtime is CLOCK_MONOTONIC, BIRD's clock too),
 * more than a second apart, and compare the probe identities.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeSocket } from '../../src/effects/bird-socket.js';
import { startBird, type BirdHandle } from '../support/bird.js';
import { createLab, type Lab } from '../support/netns.js';
import { killAllTracked, removeDir } from '../support/processes.js';

let lab: Lab | undefined;
let bird: BirdHandle | undefined;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sleep until the monotonic clock is `frac` (0..1) into a second, at least `minMs` from now. */
async function untilMonotonicFraction(frac: number, minMs: number): Promise<void> {
  const nowMs = Number(process.hrtime.bigint() / 1_000_000n);
  let target = Math.floor((nowMs + minMs) / 1000) * 1000 + frac * 1000;
  if (target < nowMs + minMs) target += 1000;
  await sleep(target - nowMs);
}

describe('probeSocket instance of a running BIRD', () => {
  beforeAll(async () => {
    lab = await createLab(`e2ep${process.pid}`);
    const host = await lab.addHost('b', '10.77.0.99/24');
    bird = await startBird({
      family: 'v4',
      netns: host.netns,
      // No timers that would wake BIRD on their own (device scan every 100 s).
      config: 'router id 10.77.0.99;\nlog stderr all;\nprotocol device { scan time 100; }\n',
    });
  }, 60_000);

  afterAll(async () => {
    await killAllTracked();
    await lab?.destroy();
    if (bird) await removeDir(bird.dir);
  });

  it('stays the same while BIRD keeps running, early and late in a second', async () => {
    const instances: string[] = [];
    for (const frac of [0.05, 0.95, 0.05, 0.95, 0.05, 0.95]) {
      await untilMonotonicFraction(frac, 1100);
      const p = await probeSocket(bird!.socket, 2000);
      expect(p.up).toBe(true);
      instances.push(p.instance ?? '');
    }
    expect(new Set(instances).size, instances.join('\n')).toBe(1);
  }, 60_000);
});
