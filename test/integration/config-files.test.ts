import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { installSteps } from '../../src/effects/apply-config.js';
import { writeConfig } from '../support/config-files.js';

const dir = mkdtempSync(join(tmpdir(), 'rr-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('config files', () => {
  it('writes a config of thousands of parts (more than one writev) byte for byte, 0644', async () => {
    const parts = Array.from({ length: 3000 }, (_, i) => Buffer.from(`protocol bgp Node_${i} from bgp_template {}\n`.repeat((i % 3) + 1)));
    const path = await writeConfig(dir, 'v4', parts);
    expect(readFileSync(path).equals(Buffer.concat(parts))).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o644);
  });

  it('writes text and single buffers too (the render command, tests)', async () => {
    const path = await writeConfig(dir, 'v6', 'router id 1.2.3.4;\n');
    expect(readFileSync(path, 'latin1')).toBe('router id 1.2.3.4;\n');
  });

  it("a config BIRD's check rejects: its stage file is gone by the time the verdict is handed over (a consumer stops at the failed step)", async () => {
    const d = mkdtempSync(join(dir, 'chk-'));
    const steps: string[] = [];
    for await (const s of installSteps({ dir: d, family: 'v4', checkBin: '/usr/sbin/bird', timeoutMs: 10_000 }, [Buffer.from('protocol bogus { }\n')])) {
      steps.push(`${s.step} ${s.ok}`);
      if (!s.ok) {
        expect(existsSync(join(d, '.bird.cfg.stage'))).toBe(false);
        break;
      }
    }
    expect(steps).toEqual(['write true', 'check false']);
    expect(existsSync(join(d, 'bird.cfg'))).toBe(false);
  });
});
