/**
 * bird-control against real BIRD 1.6 daemons running in network namespaces
 * (a bridged lab: 10.77.0.0/24, fd77::/64). Needs root and the bird package.
 */
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { birdCheck } from '../../src/effects/bird-check.js';
import { birdConfigure, probeSocket, showProtocols, showProtocolsAll } from '../../src/effects/bird-socket.js';
import { parseShowProtocols, parseShowProtocolsAll } from '../support/birdc.js';
import {
  BIRD_BIN,
  birdc,
  sessionResets,
  startBird,
  stateChanges,
  waitEstablished,
  type BirdHandle,
} from '../support/bird.js';
import { createLab, type Lab } from '../support/netns.js';
import { killAllTracked, removeDir, tempDir, waitFor } from '../support/processes.js';

const canRun = process.getuid?.() === 0 && existsSync(BIRD_BIN.v4) && existsSync(BIRD_BIN.v6);

interface Peer {
  name: string;
  addr: string;
  as?: number;
  extra?: string;
}

function config(o: { routerId: string; source: string; peers: Peer[]; broken?: boolean }): string {
  const lines = [
    `router id ${o.routerId};`,
    'log stderr all;',
    'protocol device { scan time 10; }',
    'template bgp bgp_template { debug { states }; description "routereflector"; multihop; import all; export all; ' +
      `source address ${o.source}; graceful restart; }`,
    ...o.peers.map(
      (p) =>
        `protocol bgp ${p.name} from bgp_template { local as ${p.as ?? 64511}; neighbor ${p.addr} as ${p.as ?? 64511}; ` +
        `connect delay time 1; ${p.extra ?? ''} }`,
    ),
  ];
  if (o.broken) lines.push('protocol bgp Broken from bgp_template { neighbor 10.77.0.99 as ; }');
  return lines.join('\n') + '\n';
}

const TEMPLATE_FROM_DESIGN = `router id 10.0.0.1;
log stderr all;
protocol device { scan time 10; }
template bgp bgp_template { debug { states }; description "routereflector"; multihop; import all; export all; source address 10.0.0.1; graceful restart; }
protocol bgp Mesh_10_0_0_2 from bgp_template { local as 64511; neighbor 10.0.0.2 as 64511; passive on; connect delay time 2; }
protocol bgp Node_10_0_0_5 from bgp_template { local as 64512; neighbor 10.0.0.5 as 64512; rr client; rr cluster id 1.0.0.1; }
`;

const ctl = (h: BirdHandle, timeoutMs = 5000) => ({ socket: h.socket, timeoutMs });

describe.skipIf(!canRun)('bird-control against real BIRD', { timeout: 60_000 }, () => {
  let lab: Lab | undefined;
  let dir = '';
  let a: BirdHandle; // 10.77.0.1, connects
  let b: BirdHandle; // 10.77.0.2, passive towards the lower a
  const aPeers: Peer[] = [{ name: 'Mesh_10_77_0_2', addr: '10.77.0.2' }];
  const aConfig = (peers: Peer[] = aPeers, broken = false) =>
    config({ routerId: '10.77.0.1', source: '10.77.0.1', peers, broken });

  beforeAll(async () => {
    dir = tempDir('rr-bc');
    lab = await createLab(`rrbc${process.pid % 100000}`);
    const ha = await lab.addHost('a', '10.77.0.1/24', 'fd77::1/64');
    const hb = await lab.addHost('b', '10.77.0.2/24', 'fd77::2/64');
    [a, b] = await Promise.all([
      startBird({ family: 'v4', dir, name: 'a', netns: ha.netns, config: aConfig() }),
      startBird({
        family: 'v4',
        dir,
        name: 'b',
        netns: hb.netns,
        config: config({
          routerId: '10.77.0.2',
          source: '10.77.0.2',
          peers: [{ name: 'Mesh_10_77_0_1', addr: '10.77.0.1', extra: 'passive on;' }],
        }),
      }),
    ]);
    await waitEstablished(a.socket, 'Mesh_10_77_0_2');
    await waitEstablished(b.socket, 'Mesh_10_77_0_1');
  }, 60_000);

  afterAll(async () => {
    await killAllTracked();
    await lab?.destroy();
    if (dir) await removeDir(dir);
  }, 30_000);

  describe('birdCheck', () => {
    it('accepts the design template (bird) and its IPv6 form (bird6, IPv4 router id)', async () => {
      const f4 = join(dir, 'design.cfg');
      writeFileSync(f4, TEMPLATE_FROM_DESIGN);
      expect(await birdCheck({ bird: BIRD_BIN.v4, file: f4, timeoutMs: 5000 })).toMatchObject({
        ok: true,
        message: 'Configuration OK',
      });
      const f6 = join(dir, 'design6.cfg');
      writeFileSync(
        f6,
        TEMPLATE_FROM_DESIGN.replace('source address 10.0.0.1', 'source address fd77::1')
          .replaceAll('10_0_0_', 'fd77__')
          .replace('neighbor 10.0.0.2', 'neighbor fd77::2')
          .replace('neighbor 10.0.0.5', 'neighbor fd77::5'),
      );
      expect(await birdCheck({ bird: BIRD_BIN.v6, file: f6, timeoutMs: 5000 })).toMatchObject({ ok: true });
    });

    it('reports BIRD’s file:line:col message for a bad file', async () => {
      const f = join(dir, 'bad.cfg');
      writeFileSync(f, 'router id 10.0.0.1;\nprotocol device { scan tme 10; }\n');
      const r = await birdCheck({ bird: BIRD_BIN.v4, file: f, timeoutMs: 5000 });
      expect(r).toMatchObject({ ok: false, message: `${f}:2:24 syntax error` });
      expect(r.durationMs).toBeGreaterThanOrEqual(0);
    });

    it('reports a missing file and a missing binary', async () => {
      const r = await birdCheck({ bird: BIRD_BIN.v4, file: join(dir, 'nope.cfg'), timeoutMs: 5000 });
      expect(r.ok).toBe(false);
      expect(r.message).toMatch(/^Unable to open configuration file .*nope\.cfg: No such file or directory$/);
      const m = await birdCheck({ bird: '/nonexistent/bird', file: join(dir, 'bad.cfg'), timeoutMs: 5000 });
      expect(m).toMatchObject({ ok: false, message: 'cannot run /nonexistent/bird: ENOENT' });
    });

    it('kills a check that does not finish in time: no verdict', async () => {
      const hung = join(dir, 'hung-bird');
      writeFileSync(hung, '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
      const r = await birdCheck({ bird: hung, file: join(dir, 'bad.cfg'), timeoutMs: 300 });
      expect(r).toMatchObject({ ok: false, noVerdict: true, message: `${hung} -p timed out after 300 ms` });
    });

    it('bird6 insists on a configured router id', async () => {
      const f = join(dir, 'norid6.cfg');
      writeFileSync(f, 'protocol device { }\n');
      const r = await birdCheck({ bird: BIRD_BIN.v6, file: f, timeoutMs: 5000 });
      expect(r).toMatchObject({ ok: false, message: `${f}:1:0 Router ID must be configured manually on IPv6 routers` });
    });
  });

  describe('showProtocols', () => {
    it('parses the running protocols', async () => {
      const rows = await showProtocols(ctl(a));
      expect(rows.map((r) => r.name)).toEqual(['device1', 'Mesh_10_77_0_2']);
      expect(rows[1]).toMatchObject({ proto: 'BGP', table: 'master', state: 'up', info: 'Established' });
      expect(rows[1]?.since).toMatch(/^\d{2}:\d{2}:\d{2}$/);
    });

    it('reads over the socket what birdc -v prints (rows and details; since masked, BIRD\'s clock drifts)', async () => {
      const masked = <T extends { since: string }>(rows: T[]): T[] => rows.map((r) => ({ ...r, since: '-' }));
      expect(masked(await showProtocols(ctl(a)))).toEqual(masked(parseShowProtocols(await birdc(a.socket, 'show protocols', 'v4', true))));
      const all = await showProtocolsAll(ctl(a));
      expect(all.find((r) => r.name === 'Mesh_10_77_0_2')).toMatchObject({ neighbor: '10.77.0.2', bgpState: 'Established' });
      expect(masked(all)).toEqual(masked(parseShowProtocolsAll(await birdc(a.socket, 'show protocols all', 'v4', true))));
    });
  });

  describe('birdConfigure', () => {
    it('adding a protocol: 0003 Reconfigured, the established session is not touched', async () => {
      const markA = a.logMark();
      const markB = b.logMark();
      a.writeConfig(aConfig([...aPeers, { name: 'Node_10_77_0_9', addr: '10.77.0.9', extra: 'rr client; rr cluster id 1.0.0.1;' }]));
      const r = await birdConfigure(ctl(a));
      expect(r).toMatchObject({ ok: true, reachable: true, message: 'Reconfigured' });
      const rows = await showProtocols(ctl(a));
      expect(rows.map((x) => x.name)).toEqual(['device1', 'Mesh_10_77_0_2', 'Node_10_77_0_9']);
      expect(rows.find((x) => x.name === 'Node_10_77_0_9')?.state).toBe('start');
      await new Promise((res) => setTimeout(res, 1000));
      expect(stateChanges(a.logSince(markA), 'Mesh_10_77_0_2')).toEqual([]);
      expect(stateChanges(b.logSince(markB), 'Mesh_10_77_0_1')).toEqual([]);
      expect(a.logSince(markA)).toMatch(/<INFO> Adding protocol Node_10_77_0_9\n/);
      expect(a.logSince(markA)).toMatch(/<TRACE> Mesh_10_77_0_2: Reconfigured\n/);
    });

    it('a broken file: ok false with BIRD’s message, the running config stays', async () => {
      a.writeConfig(aConfig(aPeers, true));
      const r = await birdConfigure(ctl(a));
      expect(r.ok).toBe(false);
      expect(r.reachable).toBe(true);
      expect(r.message).toBe(`${a.configPath}:6:64 syntax error`);
      expect((await showProtocols(ctl(a))).map((x) => x.name)).toContain('Node_10_77_0_9');
      expect((await probeSocket(a.socket, 2000)).up).toBe(true);
    });

    it('removing a protocol answers 0004 Reconfiguration in progress', async () => {
      a.writeConfig(aConfig());
      const r = await birdConfigure(ctl(a));
      expect(r).toMatchObject({ ok: true, reachable: true, message: 'Reconfiguration in progress' });
      await waitFor(async () => !(await showProtocols(ctl(a))).some((x) => x.name === 'Node_10_77_0_9'), {
        timeoutMs: 5000,
        what: 'Node_10_77_0_9 removed',
      });
    });

    it('changing a session option (rr client) restarts that session', async () => {
      const markA = a.logMark();
      a.writeConfig(aConfig([{ name: 'Mesh_10_77_0_2', addr: '10.77.0.2', extra: 'rr client;' }]));
      const r = await birdConfigure(ctl(a));
      expect(r).toMatchObject({ ok: true, message: 'Reconfiguration in progress' });
      await waitEstablished(a.socket, 'Mesh_10_77_0_2');
      const log = a.logSince(markA);
      expect(log).toMatch(/<INFO> Restarting protocol Mesh_10_77_0_2\n/);
      expect(sessionResets(log, 'Mesh_10_77_0_2').map((s) => s.state)).toEqual(['stop', 'down']);
      expect(stateChanges(log, 'Mesh_10_77_0_2').map((s) => s.state)).toEqual(['stop', 'down', 'start', 'feed', 'up']);
    });

    it('a missing socket is unreachable', async () => {
      const none = join(dir, 'none.ctl');
      const r = await birdConfigure({ socket: none, timeoutMs: 5000 });
      expect(r).toMatchObject({ ok: false, reachable: false, notRunning: true, message: `${none}: cannot connect (ENOENT)` });
      expect(r.timedOut).toBeUndefined();
      await expect(showProtocols({ socket: none, timeoutMs: 5000 })).rejects.toThrow(`${none}: cannot connect (ENOENT)`);
    });
  });

  describe('probeSocket', () => {
    it('is up with an instance id; ENOENT for a missing socket', async () => {
      const p = await probeSocket(a.socket, 2000);
      expect(p.up).toBe(true);
      expect(p.instance).toMatch(/^ino=\d+,ctime=\d+$/);
      expect(await probeSocket(a.socket, 2000)).toEqual(p); // stable while BIRD runs (and across configure)
      expect(await probeSocket(join(dir, 'none.ctl'), 2000)).toEqual({ up: false, reason: 'ENOENT' });
    });

    it('times out on a frozen BIRD; birdConfigure times out too', async () => {
      process.kill(a.pid, 'SIGSTOP');
      try {
        expect(await probeSocket(a.socket, 300)).toEqual({ up: false, reason: 'timeout' });
        const r = await birdConfigure(ctl(a, 500));
        expect(r).toMatchObject({ ok: false, reachable: false });
        expect(r.message).toMatch(/timed out after 500 ms/);
        expect(r.durationMs).toBeLessThan(3000);
      } finally {
        process.kill(a.pid, 'SIGCONT');
      }
      expect((await probeSocket(a.socket, 2000)).up).toBe(true);
    });

    it('a frozen BIRD whose listen queue is full: a timeout (retried), not "not running"', async () => {
      process.kill(a.pid, 'SIGSTOP');
      const held: net.Socket[] = [];
      try {
        // BIRD listens with a queue of 8: connections it cannot accept while stopped fill it, and
        // then a non-blocking connect fails at once with EAGAIN (birdc's blocking one waits).
        for (let i = 0; i < 12; i++) held.push(net.createConnection({ path: a.socket }).on('error', () => undefined));
        await new Promise((res) => setTimeout(res, 200));
        const refused = await new Promise<string | undefined>((res) => {
          net.createConnection({ path: a.socket }).on('error', (e: NodeJS.ErrnoException) => res(e.code)).on('connect', function (this: net.Socket) {
            this.destroy();
            res(undefined);
          });
        });
        expect(refused).toBe('EAGAIN');
        const r = await birdConfigure(ctl(a, 500));
        expect(r).toMatchObject({ ok: false, timedOut: true, reachable: false });
        expect(r.notRunning).toBeUndefined();
        expect(r.message).toMatch(/^configure timed out after 500 ms \(no greeting/);
        expect(await probeSocket(a.socket, 300)).toEqual({ up: false, reason: 'timeout' });
      } finally {
        for (const c of held) c.destroy();
        process.kill(a.pid, 'SIGCONT');
      }
      expect((await probeSocket(a.socket, 2000)).up).toBe(true);
      expect(await birdConfigure(ctl(a))).toMatchObject({ ok: true });
    });

    it('ECONNREFUSED after BIRD is killed; a new instance after restart', async () => {
      const before = await probeSocket(a.socket, 2000);
      process.kill(a.pid, 'SIGKILL');
      await a.process.exited;
      expect(existsSync(a.socket)).toBe(true); // stale socket file
      expect(await probeSocket(a.socket, 2000)).toEqual({ up: false, reason: 'ECONNREFUSED' });
      const ns = a.netns;
      a = await startBird({ family: 'v4', dir: a.dir, name: 'a', config: aConfig(), ...(ns ? { netns: ns } : {}) });
      const after = await probeSocket(a.socket, 2000);
      expect(after.up).toBe(true);
      expect(after.instance).not.toEqual(before.instance);
    });
  });

  describe('bird6', () => {
    it('peers over IPv6 with an IPv4 router id', async () => {
      const v6 = (me: string, peer: string, rid: string, extra = '') =>
        config({ routerId: rid, source: `fd77::${me}`, peers: [{ name: `Mesh_fd77__${peer}`, addr: `fd77::${peer}`, extra }] });
      const ha = lab?.hosts.get('a');
      const hb = lab?.hosts.get('b');
      if (!ha || !hb) throw new Error('lab hosts missing');
      const [a6, b6] = await Promise.all([
        startBird({ family: 'v6', dir, name: 'a6', netns: ha.netns, config: v6('1', '2', '10.77.0.1') }),
        startBird({ family: 'v6', dir, name: 'b6', netns: hb.netns, config: v6('2', '1', '10.77.0.2', 'passive on;') }),
      ]);
      await waitEstablished(a6.socket, 'Mesh_fd77__2', 'v6');
      const rows = await showProtocols(ctl(a6));
      expect(rows.find((r) => r.name === 'Mesh_fd77__2')).toMatchObject({ proto: 'BGP', state: 'up', info: 'Established' });
      const mark = a6.logMark();
      a6.writeConfig(v6('1', '2', '10.77.0.1') + 'protocol bgp Node_fd77__5 from bgp_template { local as 64511; neighbor fd77::5 as 64511; rr client; rr cluster id 1.0.0.1; }\n');
      expect(await birdConfigure(ctl(a6))).toMatchObject({ ok: true, message: 'Reconfigured' });
      await new Promise((res) => setTimeout(res, 500));
      expect(sessionResets(a6.logSince(mark), 'Mesh_fd77__2')).toEqual([]);
      await Promise.all([a6.stop(), b6.stop()]);
    });
  });
});

/** A stand-in control socket that answers each connection with `script` (greeting included) and then does `after` ('drop': close at once). */
async function fakeBird(path: string, script: string, after: 'close' | 'hang' | 'drop'): Promise<net.Server> {
  const server = net.createServer((c) => {
    c.on('error', () => undefined);
    if (after === 'drop') return void c.destroy();
    if (script !== '') c.write(script);
    c.once('data', () => {
      if (after === 'close') c.destroy();
    });
  });
  await new Promise<void>((res) => server.listen(path, res));
  return server;
}

describe('birdConfigure: replies a healthy BIRD does not give (a stand-in socket)', () => {
  const cases: Array<{ what: string; script: string; after: 'close' | 'hang' | 'drop'; want: Record<string, unknown> }> = [
    { what: 'closed before the greeting (retried, not taken for a daemon that is not running)', script: '', after: 'drop',
      want: { ok: false, reachable: false, message: expect.stringMatching(/connection closed before the reply to "configure" ended/) } },
    { what: 'closed after the greeting (BIRD died reading the file)', script: '0001 BIRD 1.6.8 ready.\n', after: 'close',
      want: { ok: false, reachable: true, message: expect.stringMatching(/connection closed before the reply to "configure" ended/) } },
    { what: 'greeted, then silent', script: '0001 BIRD 1.6.8 ready.\n', after: 'hang',
      want: { ok: false, reachable: true, timedOut: true, message: 'configure timed out after 300 ms (BIRD answered but did not finish)' } },
    { what: 'accepted the connection, never greeted', script: '', after: 'hang',
      want: { ok: false, reachable: false, timedOut: true, message: expect.stringMatching(/^configure timed out after 300 ms \(no greeting from BIRD on /) } },
    { what: 'shutting down', script: '0001 BIRD 1.6.8 ready.\n0006 Reconfiguration ignored, shutting down\n', after: 'hang',
      want: { ok: false, reachable: true, message: 'unexpected reply from BIRD: 0006 Reconfiguration ignored, shutting down' } },
    { what: 'queued behind a running reconfiguration', script: '0001 BIRD 1.6.8 ready.\n0002-Reading configuration from /c/bird.cfg\n0005 Reconfiguration already in progress, queueing new config\n', after: 'hang',
      want: { ok: true, reachable: true, message: 'Reconfiguration already in progress, queueing new config' } },
  ];
  for (const c of cases) {
    it(c.what, async () => {
      const dir = tempDir('rr-fake-bird');
      const path = join(dir, 'bird.ctl');
      const server = await fakeBird(path, c.script, c.after);
      try {
        const r = await birdConfigure({ socket: path, timeoutMs: 300 });
        expect(r).toMatchObject(c.want);
        expect(r.notRunning).toBeUndefined(); // a daemon answered on this socket: retried, never deferred
      } finally {
        server.close();
        await removeDir(dir);
      }
    });
  }
});
