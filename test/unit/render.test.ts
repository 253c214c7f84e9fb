import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DIALECTS, type Dialect } from '../../src/core/dialect.js';
import type { Family } from '../../src/core/events.js';
import { derivePlan } from '../../src/core/plan.js';
import { createRenderer as rendererOf, type ConfigTemplates } from '../../src/core/render.js';
import { loadTemplates } from '../../src/effects/templates.js';
import { birdBins, requireDialect } from '../support/dialect.js';
import { createRenderer } from '../support/render.js';
import { seedNode6, seedRr, seedRr6, seedTopology } from '../support/seed.js';
import { kv, stateOf } from '../support/state.js';

const renderBytes = createRenderer();
const render = (plan: Parameters<typeof renderBytes>[0]): string => Buffer.concat(renderBytes(plan)).toString('latin1');
const dir = mkdtempSync(join(tmpdir(), 'rr-render-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** BIRD's own parser is the judge: `bird -p` exits 0 on a valid config. */
function birdAccepts(text: string, bin: string): string {
  const file = join(dir, `${bin.replace(/\W/g, '_')}-${Math.random().toString(36).slice(2)}.cfg`);
  writeFileSync(file, text);
  try {
    execFileSync(bin, ['-p', '-c', file], { stdio: 'pipe' });
    return 'ok';
  } catch (err) {
    return String((err as { stderr?: Buffer }).stderr ?? err);
  }
}

const seed = stateOf(seedTopology({ rr6Ip: seedRr6, node6Ip: seedNode6 }));

describe('rendered configs', () => {
  it('renders RR1 of the seed topology as BIRD accepts it', () => {
    const text = render(derivePlan(seed, 'v4', { ip: seedRr(1) }));
    expect(birdAccepts(text, 'bird')).toBe('ok');
    expect(text).toContain('router id 10.0.0.1;');
    expect(text).toContain('log stderr all;');
    expect(text).toContain('protocol device');
    for (const opt of ['multihop;', 'import all;', 'export all;', 'source address 10.0.0.1;', 'graceful restart;']) {
      expect(text).toContain(opt);
    }
    expect(text.match(/^protocol bgp Mesh_/gm)).toHaveLength(5);
    expect(text.match(/^protocol bgp Node_/gm)).toHaveLength(3);
    expect(text.match(/rr client;/g)).toHaveLength(3);
    expect(text.match(/rr cluster id 1\.0\.0\.1;/g)).toHaveLength(3);
    expect(text).toContain(
      'protocol bgp Node_10_0_1_1 from bgp_template {\n  local as 64512;\n  neighbor 10.0.1.1 as 64512;\n  rr client;\n  rr cluster id 1.0.0.1;\n}\n',
    );
  });

  it('renders IPv6 with an IPv4 router id, accepted by bird6', () => {
    const text = render(derivePlan(seed, 'v6', { ip: seedRr(3), ip6: seedRr6(3) }));
    expect(birdAccepts(text, 'bird6')).toBe('ok');
    expect(text).toContain('router id 10.0.0.3;');
    expect(text).toContain('source address fd00::3;');
    expect(text).toContain('protocol bgp Mesh_fd00__1 from bgp_template {\n  local as 64512;\n  neighbor fd00::1 as 64512;\n  connect delay time 2;\n  error wait time 5, 60;\n  passive on;\n}');
  });

  it('renders a valid minimal bird6.cfg without IP6', () => {
    const text = render(derivePlan(seed, 'v6', { ip: seedRr(3) }));
    expect(birdAccepts(text, 'bird6')).toBe('ok');
    expect(text).not.toContain('protocol bgp');
  });

  it('turns on BIRD protocol debugging with /global/loglevel debug', () => {
    const state = stateOf([kv('/global/loglevel', 'debug'), kv('/global/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 1 })]);
    const text = render(derivePlan(state, 'v4', { ip: '10.0.0.1' }));
    expect(text).toContain('debug all;');
    expect(birdAccepts(text, 'bird')).toBe('ok');
  });

  it('is byte-deterministic whatever the order of the keys', () => {
    const kvs = seedTopology();
    const a = render(derivePlan(stateOf(kvs), 'v4', { ip: seedRr(2) }));
    const b = render(derivePlan(stateOf([...kvs].reverse()), 'v4', { ip: seedRr(2) }));
    expect(b).toBe(a);
  });

  it('keeps injected text out of the file and the rest of the config in', () => {
    const evil = 'protocol kernel';
    const state = stateOf([
      kv('/global/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 64512 }),
      kv('/host/good/ip_addr_v4', '10.0.1.1'),
      kv('/host/evil1/ip_addr_v4', `10.0.1.2; ${evil} { }`),
      kv('/host/evil2/ip_addr_v4', `10.0.1.3\n${evil} {}\n`),
      kv('/host/evil3/peer_v4/10.0.0.1', { ip: `10.0.0.1"; ${evil} {`, as_num: 1 }),
      kv('/global/as_num', `64512; ${evil} { }`),
      kv('/rr_v4/10.0.0.1', { ip: '10.0.0.1', cluster_id: `1.0.0.1; ${evil} {}` }),
    ]);
    expect(state.invalid.size).toBe(5);
    const text = render(derivePlan(state, 'v4', { ip: '10.0.0.1' }));
    expect(text).not.toContain(evil);
    expect(text).toContain('neighbor 10.0.1.1 as 64512;');
    expect(birdAccepts(text, 'bird')).toBe('ok');
  });
});

describe('each dialect renders the seed topology as its own BIRD accepts it', () => {
  const rrs = [1, 2, 3].map((i) => ({ ip: seedRr(i), ip6: seedRr6(i) }));
  for (const dialect of DIALECTS) {
    it(`${dialect}: every RR, both families, accepted by its bird -p`, () => {
      requireDialect(dialect);
      const bins = { bird: birdBins(dialect) };
      const render = (plan: Parameters<typeof renderBytes>[0]): string => Buffer.concat(createRenderer(dialect)(plan)).toString('latin1');
      for (const self of rrs) {
        for (const family of ['v4', 'v6'] as const) {
          const text = render(derivePlan(seed, family, self));
          expect(birdAccepts(text, bins.bird[family]), `${dialect} ${family} RR ${self.ip}`).toBe('ok');
          expect(text.match(/^protocol bgp (Mesh|Node)_/gm)?.length).toBeGreaterThan(0);
        }
        expect(birdAccepts(render(derivePlan(seed, 'v6', { ip: self.ip })), bins.bird.v6)).toBe('ok');
      }
    });
  }

  it('formats the same sessions, options and order in every dialect: only the template bgp block differs', () => {
    const plan = derivePlan(seed, 'v4', rrs[0]!);
    const sessionsOf = (d: Dialect): string => {
      const text = Buffer.concat(createRenderer(d)(plan)).toString('latin1');
      return text.slice(text.indexOf('\nprotocol bgp '));
    };
    expect(sessionsOf('bird2')).toBe(sessionsOf('bird1'));
    expect(sessionsOf('bird3')).toBe(sessionsOf('bird1'));
  });

  it('BIRD 2/3: routes on the family\'s channel, next hops kept as received', () => {
    const v4 = Buffer.concat(createRenderer('bird2')(derivePlan(seed, 'v4', rrs[0]!))).toString('latin1');
    const v6 = Buffer.concat(createRenderer('bird3')(derivePlan(seed, 'v6', rrs[0]!))).toString('latin1');
    const channel = (family: string): string => `  ${family} {\n    import all;\n    export all;\n`;
    expect(v4).toContain(channel('ipv4'));
    expect(v4).not.toContain('ipv6 {');
    expect(v6).toContain(channel('ipv6'));
    for (const text of [v4, v6]) {
      expect(text).toContain('    next hop keep;\n  };\n}\n');
      expect(text).not.toMatch(/^  (import|export) all;$/m); // not on the protocol: BIRD 2 wants them on the channel
    }
  });
});

describe('the {{ sessions }} sentinel', () => {
  const withConfig = (config: string): Readonly<Record<Family, ConfigTemplates>> => {
    const real = loadTemplates('bird1');
    const t = { config: { render: (ctx: object) => config.replaceAll('SESSIONS', String((ctx as { sessions: string }).sessions)) }, session: real.session };
    return { v4: t, v6: real };
  };

  it('refuses at start-up a config template without it', () => {
    expect(() => rendererOf(withConfig('router id 1.2.3.4;\n'))).toThrow(/bird\.cfg template places \{\{ sessions \}\} 0 times/);
  });

  it('refuses one that places the sessions twice', () => {
    expect(() => rendererOf(withConfig('SESSIONS\nSESSIONS\n'))).toThrow(/2 times, not once/);
  });

  it('never drops the sessions of a plan silently', () => {
    // A template that places them only when debugging: accepted at start, loud when it would drop sessions.
    let calls = 0;
    const real = loadTemplates('bird1');
    const sly = { render: (ctx: object) => (calls++ === 0 ? real.config.render(ctx) : 'router id 1.2.3.4;\n') };
    const render = rendererOf({ v4: { config: sly, session: real.session }, v6: real });
    expect(() => render(derivePlan(seed, 'v4', { ip: seedRr(1) }))).toThrow(/left out \{\{ sessions \}\}: 8 sessions would be dropped/);
  });
});
