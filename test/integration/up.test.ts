/**
 * The local run as a new user meets it (issue 17): `npm run up` in a
 * checkout, then the commands it prints, typed in a second shell of the same
 * checkout, with nothing exported there.
 *
 * The checkout is a copy of this one's sources (node_modules linked) in a
 * temp directory, so `up` builds it, writes `.state/` and starts its etcd
 * exactly as in a real checkout. `up` runs inside a network namespace (the
 * RR host of a lab; its etcd on 127.0.0.1 there); a node BIRD in a second
 * namespace peers with it. The "second shell" is a process in the RR's
 * namespace (same host) with a bare environment: PATH and HOME only.
 *
 * The printed commands are run verbatim, except that the example node address
 * they use (10.0.0.5) is the lab node's address: no BIRD is ever configured
 * towards an address outside the namespaces this test made.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBird, type BirdHandle } from '../support/bird.js';
import { createLab, type Lab, type LabHost } from '../support/netns.js';
import { spawnTracked, tempDir, waitFor, type TrackedProcess } from '../support/processes.js';
import { netnsPids, REPO, teardownLab } from '../support/s6.js';

const RR = '10.77.66.1';
const NODE = '10.77.66.2';
const EXAMPLE_NODE = '10.0.0.5';
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

let lab: Lab;
let rrHost: LabHost;
let node: BirdHandle | undefined;
let checkout: string;
let home: string;
let up: TrackedProcess | undefined;
let upLog: string;
const dirs: string[] = [];

const upOut = (): string => (existsSync(upLog) ? readFileSync(upLog, 'utf8') : '');

/** A second shell: in the RR host's namespace, in the checkout, with PATH and HOME only. */
async function secondShell(line: string, extraPath?: string) {
  const r = await execa('ip', ['netns', 'exec', rrHost.netns, 'env', '-i', `PATH=${extraPath ? `${extraPath}:` : ''}${SYSTEM_PATH}`, `HOME=${home}`, 'sh', '-c', line], {
    cwd: checkout,
    reject: false,
    stdin: 'ignore',
    timeout: 60_000,
    env: {},
    extendEnv: false,
  });
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** The command lines `up` printed under "in a second shell". */
function printedCommands(out: string): string[] {
  const lines = out.split('\n');
  const start = lines.findIndex((l) => l.includes('in a second shell'));
  if (start < 0) return [];
  const cmds: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (!l.startsWith('    ')) break;
    cmds.push(l.trim());
  }
  return cmds;
}

beforeAll(async () => {
  lab = await createLab(`rrup${process.pid % 100000}`);
  rrHost = await lab.addHost('rr', `${RR}/24`);
  const nodeHost = await lab.addHost('node', `${NODE}/24`);
  checkout = tempDir('rr-up');
  home = tempDir('rr-up-home');
  dirs.push(checkout, home);
  for (const entry of ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'templates', 's6', 'scripts']) {
    cpSync(join(REPO, entry), join(checkout, entry), { recursive: true, preserveTimestamps: true });
  }
  symlinkSync(join(REPO, 'node_modules'), join(checkout, 'node_modules'));
  // up's install step runs `npm ci` when package-lock.json is newer than node_modules: never into this
  // checkout's shared node_modules (other tests run from it); it is the one installed for these sources.
  utimesSync(join(checkout, 'package-lock.json'), 0, 0);
  mkdirSync(join(checkout, '.state'));
  upLog = join(checkout, '.state', 'up-terminal.log');
  // A node of the fabric, client of the RR (the AS `up` prints: the default 64511).
  node = await startBird({
    family: 'v4',
    netns: nodeHost.netns,
    config: `router id ${NODE};
log stderr all;
protocol device { scan time 10; }
protocol bgp to_rr {
  local as 64511;
  neighbor ${RR} as 64511;
  source address ${NODE};
  connect retry time 1;
  error wait time 1, 5;
  import all;
  export all;
}
`,
  });
}, 60_000);

afterAll(
  () =>
    teardownLab(lab, dirs, async () => {
      if (up && !up.hasExited()) {
        process.kill(-up.pid, 'SIGINT');
        await Promise.race([up.exited, new Promise((r) => setTimeout(r, 20_000))]);
      }
    }),
  60_000,
);

describe('npm run up, then the printed commands in a second shell', () => {
  it('up starts etcd and the s6 tree and prints the commands and the env file', async () => {
    // As typed in a terminal: its own process group, so Ctrl-C (SIGINT to the group) can be sent later.
    up = spawnTracked('ip', ['netns', 'exec', rrHost.netns, 'env', '-i', `PATH=${SYSTEM_PATH}`, `HOME=${home}`, `IP=${RR}`, 'npm', 'run', 'up'], {
      cwd: checkout,
      detached: true,
      logFile: upLog,
    });
    const u = up;
    await waitFor(
      () => {
        if (u.hasExited()) throw new Error(`npm run up exited:\n${upOut()}`);
        return upOut().includes('Ctrl-C stops everything.');
      },
      { timeoutMs: 90_000, intervalMs: 200, what: 'npm run up to print its commands' },
    );
    const env = readFileSync(join(checkout, '.state', 'up', 'env'), 'utf8');
    expect(env).toContain(`IP='${RR}'`);
    expect(env).toContain(`BIRD_SOCKET='${join(checkout, '.state', 'up', 'sockets', 'bird.ctl')}'`);
    expect(env).toContain(`ETCD_ENDPOINTS='http://127.0.0.1:2379'`);
    expect(printedCommands(upOut())).toEqual([
      `npm run rr -- rr add --ip ${RR} --cluster-id 1.0.0.1`,
      `ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:2379 put /calico/bgp/v1/host/node1/ip_addr_v4 ${EXAMPLE_NODE}`,
      `ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:2379 put /calico/bgp/v1/host/node1/peer_v4/${RR} '{"ip":"${RR}","as_num":"64511"}'`,
      'npm run rr -- rr list',
      'npm run rr -- status',
      `npm run rr -- explain ${EXAMPLE_NODE}`,
    ]);
  }, 120_000);

  it("the README's quick start shows the commands up prints", () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const quick = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('## Running it'));
    const shown = [...quick.matchAll(/^(npm run rr -- [^#\n]*?)\s*(#.*)?$/gm)].map((m) => m[1]!);
    const anyAddress = (c: string): string => c.replace(/\b\d+\.\d+\.\d+\.\d+\b/g, 'ADDR');
    expect(shown.length).toBeGreaterThanOrEqual(3);
    expect(shown.map(anyAddress).filter((c) => !printedCommands(upOut()).map(anyAddress).includes(c))).toEqual([]);
  });

  it('every printed command works as printed in a second shell; the node session comes up', async () => {
    const cmds = printedCommands(upOut()).map((c) => c.replaceAll(EXAMPLE_NODE, NODE));
    const results = new Map<string, Awaited<ReturnType<typeof secondShell>>>();
    for (const c of cmds) {
      // status: once the new client session is Established (BIRD needs a few seconds).
      const r = c.endsWith('rr -- status')
        ? await waitFor(
            async () => {
              const s = await secondShell(c);
              return s.code === 0 && /Node_10_77_66_2\s+10\.77\.66\.2\s+client\s+Established/.test(s.stdout) ? s : undefined;
            },
            { timeoutMs: 60_000, intervalMs: 1000, what: 'npm run rr -- status to show the node Established' },
          )
        : await secondShell(c);
      console.log(`[up] $ ${c}\n${r.stdout}${r.stderr}`);
      results.set(c, r);
      expect(r.code, `${c}: ${r.stderr}`).toBe(0);
    }
    const list = results.get('npm run rr -- rr list')!;
    expect(list.stdout).toMatch(new RegExp(`v4\\s+${RR.replaceAll('.', '\\.')}\\s+1\\.0\\.0\\.1`));
    const status = results.get('npm run rr -- status')!;
    expect(status.stdout).toMatch(/bird \(v4\): BIRD [0-9.]+, 1 BGP sessions, 1 established/);
    expect(status.stdout).toMatch(/bird6 \(v6\): BIRD [0-9.]+, 0 BGP sessions/);
    const explain = results.get(`npm run rr -- explain ${NODE}`)!;
    expect(explain.stdout).toContain(`${NODE} (v4) IS a neighbour of this RR (${RR})`);
  }, 120_000);

  it('routereflector on PATH (.state/up/bin) is the same command; the shell\'s own variables win', async () => {
    const bin = join(checkout, '.state', 'up', 'bin');
    const viaPath = await secondShell('routereflector status --json', bin);
    expect(viaPath.code, viaPath.stderr).toBe(0);
    const daemons = JSON.parse(viaPath.stdout) as Array<{ family: string; answered: boolean; socket: string }>;
    expect(daemons.map((d) => [d.family, d.answered, d.socket])).toEqual([
      ['v4', true, join(checkout, '.state', 'up', 'sockets', 'bird.ctl')],
      ['v6', true, join(checkout, '.state', 'up', 'sockets', 'bird6.ctl')],
    ]);
    const mine = await secondShell('BIRD_SOCKET=/nonexistent/bird.ctl npm run --silent rr -- status --family v4');
    expect(mine.code).toBe(1);
    expect(mine.stderr).toContain('bird does not answer on /nonexistent/bird.ctl');
  }, 60_000);

  it('Ctrl-C stops everything up started; the CLI then says the local BIRD does not answer', async () => {
    const u = up!;
    process.kill(-u.pid, 'SIGINT');
    const exit = await Promise.race([u.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    expect(exit).not.toBe('timeout');
    expect(upOut()).toContain('up: stopped');
    await waitFor(async () => (await netnsPids(rrHost.netns)).length === 0, { timeoutMs: 15_000, what: 'no process left in the RR namespace' });
    const after = await secondShell('npm run --silent rr -- status');
    expect(after.code).toBe(1);
    expect(after.stderr).toContain(`bird does not answer on ${join(checkout, '.state', 'up', 'sockets', 'bird.ctl')}`);
  }, 60_000);
});
