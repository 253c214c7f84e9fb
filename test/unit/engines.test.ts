/**
 * package.json `engines` says which Node.js the project supports, and it is
 * true: the Node running this test is one of them (CI runs the unit tests on
 * the hosts' Node and again on the image's), the image's Node
 * (image/node.env) is one of them, and every production dependency (what
 * the agent runs with) declares support for the lowest release of each
 * supported line and for the image's Node.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { REPO } from '../support/s6.js';

interface LockEntry {
  dev?: boolean;
  engines?: { node?: string };
}
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
const imageNode = /^NODE_VERSION=(\S+)$/m.exec(readFileSync(join(REPO, 'image', 'node.env'), 'utf8'))?.[1] ?? '';
const supported = pkg.engines.node;

/** The lowest release of each line the range admits (`^20.19.0 || >=22.12.0` -> 20.19.0, 22.12.0). */
const lowest = (range: string): string[] => range.split('||').map((r) => semver.minVersion(r.trim())?.version ?? `unparsable ${r}`);

describe('engines', () => {
  it('is a valid range', () => {
    expect(semver.validRange(supported)).not.toBeNull();
  });

  it(`admits the Node running this test (${process.version})`, () => {
    expect(semver.satisfies(process.version, supported), `${process.version} vs ${supported}`).toBe(true);
  });

  it(`admits the image's Node (${imageNode}), which is within Node 24 LTS`, () => {
    expect(semver.valid(imageNode)).not.toBeNull();
    expect(semver.satisfies(imageNode, supported)).toBe(true);
    expect(semver.major(imageNode)).toBe(24);
  });

  it('every production dependency supports every supported line and the image Node', () => {
    const versions = [...lowest(supported), imageNode];
    const bad: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      const range = entry.engines?.node;
      if (path === '' || entry.dev === true || range === undefined) continue;
      for (const v of versions) if (!semver.satisfies(v, range)) bad.push(`${path.replace(/^.*node_modules\//, '')} wants ${range}: not ${v}`);
    }
    expect(bad).toEqual([]);
  });
});
