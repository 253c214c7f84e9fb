/**
 * The image's sources agree with each other and with the README, so that what
 * `npm run test:image` boots (from the Dockerfile's USER, ENV, VOLUME,
 * ENTRYPOINT and HEALTHCHECK and image/capabilities) is what the README tells
 * an operator to run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imageCapabilities, imageRuntime } from '../support/image.js';
import { REPO } from '../support/s6.js';

const read = (f: string): string => readFileSync(join(REPO, f), 'utf8');
const image = imageRuntime();
const install = read('image/install.sh');

/** The `docker run` of the README's "In a container", as one line of arguments. */
function readmeDockerRun(): string[] {
  const readme = read('README.md');
  const section = readme.slice(readme.indexOf('### In a container'), readme.indexOf('\n### ', readme.indexOf('### In a container') + 1));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const run = block
    .replace(/\\\n/g, ' ')
    .split('\n')
    .find((l) => l.startsWith('docker run'));
  return (run ?? '').split(/\s+/).filter(Boolean);
}

describe('the image: Dockerfile, image/install.sh, image/capabilities and the README agree', () => {
  it("the README's docker run drops every capability and adds exactly image/capabilities, read-only, no --privileged or --user", () => {
    const args = readmeDockerRun();
    expect(args.slice(0, 2)).toEqual(['docker', 'run']);
    const added = args.flatMap((a, i) => (a === '--cap-add' ? [args[i + 1]] : []));
    const dropped = args.flatMap((a, i) => (a === '--cap-drop' ? [args[i + 1]] : []));
    expect(dropped).toEqual(['ALL']);
    expect(added.sort()).toEqual([...imageCapabilities()].sort());
    expect(args).toContain('--read-only');
    expect(args.filter((a) => /^--(privileged|user|security-opt)\b/.test(a))).toEqual([]);
  });

  it("USER is install.sh's routereflector user", () => {
    const uid = /^RR_UID=(\d+)$/m.exec(install)?.[1];
    expect(uid).toBeDefined();
    expect(image.user).toBe(`${uid}:${uid}`);
  });

  it('VOLUME is exactly what install.sh creates for the user to write, and holds the configs, the sockets and the scan directory', () => {
    const dirs = /install -d -m \d+ -o "\$RR_UID" -g 0 (.+)$/m.exec(install)?.[1]?.split(/\s+/) ?? [];
    expect([...image.volumes].sort()).toEqual(dirs.sort());
    const parent = (p: string | undefined): string => (p ?? '').replace(/\/[^/]+$/, '');
    expect(image.volumes).toEqual(expect.arrayContaining([image.env['CONFIG_DIR'], parent(image.env['BIRD_SOCKET']), parent(image.env['BIRD6_SOCKET']), image.env['RR_RUN']]));
  });

  it('ENTRYPOINT is routereflector-boot, and the HEALTHCHECK reads the scan directory it lays out', () => {
    expect(image.entrypoint).toEqual(['/usr/local/bin/routereflector-boot']);
    expect(install).toMatch(/install -m 0755 "\$here\/boot" \/usr\/local\/bin\/routereflector-boot/);
    expect(image.healthcheck).toEqual(['/app/s6/.lib/healthcheck', `${image.env['RR_RUN']}/s6`]);
    expect(read('image/boot')).toMatch(/scan="\$\{RR_RUN:-\/run\/routereflector\}\/s6"/);
  });
});
