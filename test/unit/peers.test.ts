import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { configFromEnv, DEFAULT_IMPORT_LIMIT, PREFIX } from '../../src/core/config.js';
import { batchLines } from '../../src/core/log-lines.js';
import { classifyKey, parseEntry } from '../../src/core/keyspace.js';
import { derivePlan, createPlanMemo, kindOfSessionName, type Self } from '../../src/core/plan.js';
import { diffPlans } from '../../src/core/plan-diff.js';
import { holdsPassword } from '../../src/core/render.js';
import { Secret, REDACTED } from '../../src/core/secret.js';
import { foldBatch } from '../../src/core/state.js';
import { joinBytes } from '../../src/core/config-bytes.js';
import { createRenderer } from '../support/render.js';
import { kv, stateOf } from '../support/state.js';

const SECRET = 'Ab1-secret_$;#{}';
const parse = (suffix: string, raw: unknown) => {
  const cls = classifyKey(PREFIX, PREFIX + suffix);
  if (!cls) throw new Error(`not classified: ${suffix}`);
  return parseEntry(cls, typeof raw === 'string' ? raw : JSON.stringify(raw));
};
const reasonOf = (suffix: string, raw: unknown): string => {
  const p = parse(suffix, raw);
  if (p.ok) throw new Error('expected a rejection');
  return p.reason;
};

describe("Calico's full peer value", () => {
  const key = '/host/n1/peer_v4/10.0.0.1';
  it('reads the honoured fields, validated', () => {
    const p = parse(key, {
      ip: '10.0.0.1',
      as_num: '64512',
      password: SECRET,
      keepalive_time: '20s',
      restart_time: '2m',
      ttl_security: 2,
      passive_mode: true,
      local_as_num: '65001',
      num_allow_local_as: 1,
      next_hop_mode: 'Self',
    });
    expect(p.ok).toBe(true);
    if (!p.ok || p.value.kind !== 'hostPeer') return;
    const o = p.value.opts!;
    expect(o.password?.reveal()).toBe(SECRET);
    expect({ ...o, password: undefined }).toEqual({
      password: undefined,
      keepaliveTime: 20,
      restartTime: 120,
      ttlSecurity: 2,
      passive: true,
      localAs: 65001,
      allowLocalAs: 1,
      nextHopSelf: true,
    });
    expect(p.value.ignored).toBeUndefined();
  });

  it('a plain {"ip","as_num"} value has no options (nothing more to hold at 100,000 nodes)', () => {
    const p = parse(key, { ip: '10.0.0.1', as_num: 64512, password: null, keepalive_time: '', restart_time: '0', ttl_security: 0, port: 0 });
    expect(p).toEqual({ ok: true, value: { kind: 'hostPeer', family: 'v4', node: 'n1', ip: '10.0.0.1', as: 64512 } });
  });

  it('lists fields it does not use, sorted', () => {
    const p = parse(key, { ip: '10.0.0.1', as_num: 64512, source_addr: 'UseNodeIP', enable_bfd: true, zzz: 1 });
    expect(p.ok && p.value.kind === 'hostPeer' && p.value.ignored).toEqual(['enable_bfd', 'source_addr', 'zzz']);
  });

  it('takes the port from the key (<ip>-<port>) and the value, which must agree', () => {
    const p = parse('/host/n1/peer_v4/10.0.0.1-1790', { ip: '10.0.0.1', as_num: 64512, port: 1790 });
    expect(p.ok && p.value.kind === 'hostPeer' && p.value.opts).toEqual({ port: 1790 });
    expect(reasonOf('/host/n1/peer_v4/10.0.0.1-1790', { ip: '10.0.0.1', as_num: 64512, port: 1791 })).toBe(`"port" 1791 differs from the key's port 1790`);
    expect(reasonOf('/host/n1/peer_v4/10.0.0.1-0', { ip: '10.0.0.1', as_num: 64512 })).toBe('key port: 0 is out of range 1..65535');
    expect(parse('/host/n1/peer_v4/10.0.0.1-179', { ip: '10.0.0.1', as_num: 64512 })).toMatchObject({ ok: true, value: { ip: '10.0.0.1' } });
  });

  it.each<[Record<string, unknown>, string]>([
    [{ keepalive_time: 0.5 }, '"keepalive_time": "0.5" is not a whole number'],
    [{ keepalive_time: '30000' }, '"keepalive_time": 30000 is out of range 1..21845'],
    [{ restart_time: '4096' }, '"restart_time": 4096 is out of range 1..4095'],
    [{ restart_time: '1h30m' }, '"restart_time": 5400 s is out of range 1..4095'],
    [{ ttl_security: 255 }, '"ttl_security": 255 is out of range 1..254'],
    [{ passive_mode: 'yes' }, '"passive_mode": "yes" is not true or false'],
    [{ local_as_num: 'x' }, '"local_as_num": "x" is not an AS number'],
    [{ next_hop_mode: 'Other' }, '"next_hop_mode": "Other" is not one of Auto, Self, Keep'],
    [{ next_hop_mode: 'Self', keep_next_hop: true }, '"next_hop_mode" Self contradicts "keep_next_hop": true'],
    [{ num_allow_local_as: 256 }, '"num_allow_local_as": 256 is out of range 1..255'],
  ])('rejects %j', (extra, reason) => {
    expect(reasonOf(key, { ip: '10.0.0.1', as_num: 64512, ...extra })).toBe(reason);
  });

  it.each([['with"quote'], ['back\\slash'], ['new\nline'], ['tab\t'], ['é'], ['x'.repeat(81)], [42]])('rejects password %j without repeating it', (pw) => {
    const reason = reasonOf(key, { ip: '10.0.0.1', as_num: 64512, password: pw });
    expect(reason).toMatch(/^"password": /);
    if (typeof pw === 'string') expect(reason).not.toContain(pw);
  });

  it('never repeats a value that may hold a password, even when it is not JSON', () => {
    const raw = `{"ip":"10.0.0.1","as_num":64512,"password":"${SECRET}"`;
    const reason = reasonOf(key, raw);
    expect(reason).not.toContain(SECRET);
    expect(reason).toContain('not shown');
  });
});

describe('Secret', () => {
  it('shows (redacted) in JSON, strings and inspect', () => {
    const s = new Secret(SECRET);
    const holder = { s, list: [s] };
    expect(JSON.stringify(holder)).not.toContain(SECRET);
    expect(String(s)).toBe(REDACTED);
    expect(`${s}`).toBe(REDACTED);
    expect(inspect(holder, { depth: 5, showHidden: true })).not.toContain(SECRET);
    expect(s.reveal()).toBe(SECRET);
    expect(s.equals(new Secret(SECRET))).toBe(true);
    expect(s.equals(new Secret('other'))).toBe(false);
  });
});

const RR = '10.0.0.1';
const UP = '10.0.9.1';
const base = [
  kv('/global/as_num', '64512'),
  kv(`/rr_v4/${RR}`, { ip: RR, cluster_id: '1.0.0.1' }),
  kv('/rr_v4/10.0.0.2', { ip: '10.0.0.2', cluster_id: '1.0.0.1' }),
  kv('/host/n1/ip_addr_v4', '10.0.1.1'),
  kv(`/host/n1/peer_v4/${RR}`, { ip: RR, as_num: '64512', password: SECRET, keepalive_time: 10, restart_time: 300 }),
  kv('/host/n2/ip_addr_v4', '10.0.1.2'),
  kv(`/host/n2/peer_v4/${RR}`, { ip: RR, as_num: '64512' }),
];
const self: Self = { ip: RR, nodeName: 'rr1', importLimit: 500 };

describe('own peers (NODENAME)', () => {
  it('plans an eBGP peer for every /host/<NODENAME>/peer_vN/<ip>, our AS from /host/<NODENAME>/as_num', () => {
    const state = stateOf([...base, kv('/host/rr1/as_num', '64512'), kv(`/host/rr1/peer_v4/${UP}`, { ip: UP, as_num: '65000', password: SECRET })], 'rr1');
    const plan = derivePlan(state, 'v4', self);
    const peer = plan.sessions.find((s) => s.kind === 'peer')!;
    expect(peer).toMatchObject({ name: 'Peer_10_0_9_1', neighbor: UP, localAs: 64512, peerAs: 65000, rrClient: false, passive: false, ebgp: true, nextHop: 'keep' });
    expect(peer.password?.reveal()).toBe(SECRET);
    expect(peer.importLimit).toBeUndefined();
    expect(kindOfSessionName(peer.name)).toBe('peer');
    expect(plan.notes).toEqual([]);
  });

  it('is iBGP (not a client, no ebgp policy) when the AS is ours, and takes local_as_num and the mesh AS as fallbacks', () => {
    const ibgp = derivePlan(stateOf([...base, kv(`/host/rr1/peer_v4/${UP}`, { ip: UP, as_num: '64512' })], 'rr1'), 'v4', self);
    expect(ibgp.sessions.find((s) => s.kind === 'peer')).toMatchObject({ localAs: 64512, peerAs: 64512, rrClient: false });
    expect(ibgp.sessions.find((s) => s.kind === 'peer')?.ebgp).toBeUndefined();
    const local = derivePlan(stateOf([...base, kv(`/host/rr1/peer_v4/${UP}`, { ip: UP, as_num: '64512', local_as_num: '65010' })], 'rr1'), 'v4', self);
    expect(local.sessions.find((s) => s.kind === 'peer')).toMatchObject({ localAs: 65010, peerAs: 64512, ebgp: true });
  });

  it('without NODENAME, the same keys are a node that peers with an RR (as before)', () => {
    const state = stateOf([...base, kv(`/host/rr1/peer_v4/${UP}`, { ip: UP, as_num: '65000' })]);
    expect(derivePlan(state, 'v4', { ip: RR }).sessions.some((s) => s.kind === 'peer')).toBe(false);
  });

  it('one session per neighbour: mesh over own peer over client, each conflict noted', () => {
    const state = stateOf(
      [
        ...base,
        kv('/host/rr1/peer_v4/10.0.0.2', { ip: '10.0.0.2', as_num: '65000' }),
        kv('/host/rr1/peer_v4/10.0.1.2', { ip: '10.0.1.2', as_num: '65000' }),
        kv(`/host/rr1/peer_v4/${RR}`, { ip: RR, as_num: '65000' }),
      ],
      'rr1',
    );
    const plan = derivePlan(state, 'v4', self);
    expect(plan.sessions.map((s) => `${s.name} ${s.kind}`)).toEqual(['Mesh_10_0_0_2 mesh', 'Node_10_0_1_1 client', 'Peer_10_0_1_2 peer']);
    expect(plan.notes).toEqual([
      'node n2 (10.0.1.2) is also an own peer of this RR: peer session only',
      'own peer 10.0.0.1 is this RR\'s own address: no session with itself',
      'own peer 10.0.0.2 is also a mesh member: mesh session only',
    ]);
  });

  it('adding, changing and removing an own peer touches that session only (memo and fresh plans agree)', () => {
    const state = stateOf(base, 'rr1');
    const memo = createPlanMemo();
    const p0 = derivePlan(state, 'v4', self, memo);
    const step = (value: string | undefined) => {
      const key = `${PREFIX}/host/rr1/peer_v4/${UP}`;
      foldBatch(state, PREFIX, { revision: state.revision + 1, events: [value === undefined ? { type: 'delete', key, revision: state.revision + 1 } : { type: 'put', key, value, revision: state.revision + 1 }] });
      const p = derivePlan(state, 'v4', self, memo);
      expect(p).toEqual(derivePlan(state, 'v4', self));
      return p;
    };
    const p1 = step(JSON.stringify({ ip: UP, as_num: '65000' }));
    expect(diffPlans(p0, p1)).toMatchObject({ added: ['Peer_10_0_9_1'], removed: [], changed: [] });
    const p2 = step(JSON.stringify({ ip: UP, as_num: '65000', password: SECRET }));
    expect(diffPlans(p1, p2)).toMatchObject({ added: [], removed: [], changed: ['Peer_10_0_9_1'] });
    const p3 = step(undefined);
    expect(diffPlans(p2, p3)).toMatchObject({ added: [], removed: ['Peer_10_0_9_1'], changed: [] });
    for (const s of p0.sessions) expect(p3.sessions).toContain(s); // the other sessions kept their identity
  });

  it('a client port other than 179 gets no session (this RR listens on 179), with a note', () => {
    const state = stateOf([kv('/host/n3/ip_addr_v4', '10.0.1.3'), kv(`/host/n3/peer_v4/${RR}-1790`, { ip: RR, as_num: '64512' })]);
    const plan = derivePlan(state, 'v4', { ip: RR });
    expect(plan.sessions).toEqual([]);
    expect(plan.notes).toEqual(['node n3 (10.0.1.3) peers with this RR on port 1790: this RR listens on 179 only, no session']);
  });
});

describe('client options', () => {
  it('take password, timers and graceful-restart time from the peer value, and the import limit from CLIENT_IMPORT_LIMIT', () => {
    const plan = derivePlan(stateOf(base), 'v4', { ip: RR, importLimit: 500 });
    const n1 = plan.sessions.find((s) => s.neighbor === '10.0.1.1')!;
    expect({ ...n1, password: n1.password?.reveal() }).toMatchObject({ kind: 'client', password: SECRET, keepaliveTime: 10, holdTime: 30, restartTime: 300, importLimit: 500 });
    const n2 = plan.sessions.find((s) => s.neighbor === '10.0.1.2')!;
    expect(n2.password).toBeUndefined();
    expect(n2.keepaliveTime).toBeUndefined();
    expect(plan.sessions.find((s) => s.kind === 'mesh')?.importLimit).toBeUndefined();
  });

  it('a changed password changes that session only', () => {
    const state = stateOf(base);
    const memo = createPlanMemo();
    const p0 = derivePlan(state, 'v4', { ip: RR }, memo);
    foldBatch(state, PREFIX, { revision: 2, events: [{ type: 'put', key: `${PREFIX}/host/n1/peer_v4/${RR}`, value: JSON.stringify({ ip: RR, as_num: '64512', password: 'other' }), revision: 2 }] });
    const p1 = derivePlan(state, 'v4', { ip: RR }, memo);
    expect(diffPlans(p0, p1)).toMatchObject({ added: [], removed: [], changed: ['Node_10_0_1_1'] });
  });

  it('a global peer value with a password gives it to every client', () => {
    const plan = derivePlan(stateOf([kv('/host/n1/ip_addr_v4', '10.0.1.1'), kv('/host/n2/ip_addr_v4', '10.0.1.2'), kv(`/global/peer_v4/${RR}`, { ip: RR, as_num: 64512, password: SECRET })]), 'v4', { ip: RR });
    expect(plan.sessions.map((s) => s.password?.reveal())).toEqual([SECRET, SECRET]);
  });
});

describe('rendering options per dialect', () => {
  const state = stateOf([...base, kv(`/host/rr1/peer_v4/${UP}-1790`, { ip: UP, as_num: '65000', ttl_security: 1, num_allow_local_as: 2, passive_mode: true })], 'rr1');
  const plan = derivePlan(state, 'v4', self);
  const block = (text: string, name: string): string => text.slice(text.indexOf(`protocol bgp ${name} `), text.indexOf('}\n', text.indexOf(`protocol bgp ${name} `)) + 2);

  it('BIRD 1.6: protocol options', () => {
    const text = joinBytes(createRenderer('bird1')(plan)).toString('latin1');
    expect(block(text, 'Node_10_0_1_1')).toBe(
      `protocol bgp Node_10_0_1_1 from client_template {\n  local as 64512;\n  neighbor 10.0.1.1 as 64512;\n  rr client;\n  rr cluster id 1.0.0.1;\n  password "${SECRET}";\n  hold time 30;\n  keepalive time 10;\n  graceful restart time 300;\n}\n`,
    );
    // The limit is stated once, in the clients' template.
    expect(text).toContain('template bgp client_template from bgp_template {\n  import limit 500 action disable;\n}\n');
    expect(block(text, 'Peer_10_0_9_1')).toBe(
      'protocol bgp Peer_10_0_9_1 from bgp_template {\n  local as 64512;\n  neighbor 10.0.9.1 port 1790 as 65000;\n  passive on;\n  ttl security on;\n  multihop 1;\n  allow local as 2;\n  next hop keep;\n  export where bgp_path.len = 1;\n}\n',
    );
    expect(block(text, 'Mesh_10_0_0_2')).toMatch(/^protocol bgp Mesh_10_0_0_2 from bgp_template \{/);
  });

  it.each(['bird2', 'bird3'] as const)('%s: channel options', (d) => {
    const text = joinBytes(createRenderer(d)(plan)).toString('latin1');
    expect(block(text, 'Node_10_0_1_1')).not.toContain('ipv4 {');
    expect(block(text, 'Node_10_0_1_1')).toMatch(/^protocol bgp Node_10_0_1_1 from client_template \{/);
    expect(text).toContain('template bgp client_template from bgp_template {\n  ipv4 {\n    import limit 500 action disable;\n  };\n}\n');
    expect(block(text, 'Peer_10_0_9_1')).toContain('  ipv4 {\n    import all;\n    export where bgp_path.len = 0;\n    next hop keep;\n  };\n');
    expect(block(text, 'Mesh_10_0_0_2')).not.toContain('ipv4 {');
  });

  it.each(['bird1', 'bird2', 'bird3'] as const)('%s: every line fits the config grammar the fault tests check', async (d) => {
    const { grammarViolations } = await import('../support/reliability.js');
    expect(grammarViolations(joinBytes(createRenderer(d)(plan)).toString('latin1'), 'v4')).toEqual([]);
  });

  it('a config that holds a password is recognised (mode 0600), one without is not', () => {
    expect(holdsPassword(createRenderer()(plan))).toBe(true);
    expect(holdsPassword(createRenderer()(derivePlan(stateOf(base.slice(0, 4)), 'v4', { ip: RR })))).toBe(false);
  });

  it('the same answer for the same bytes read back from a file (replay: parts the renderer did not make)', () => {
    const withPw = joinBytes(createRenderer()(plan));
    const without = joinBytes(createRenderer()(derivePlan(stateOf(base.slice(0, 4)), 'v4', { ip: RR })));
    expect(holdsPassword(Buffer.from(withPw))).toBe(true);
    expect(holdsPassword(Buffer.from(without))).toBe(false);
    // The renderer's own parts keep their answer when rendered again (reused chunks).
    const render = createRenderer();
    render(plan);
    expect(holdsPassword(render(plan))).toBe(true);
  });
});

describe('log lines and config', () => {
  it('one debug line per peer value with fields this agent does not use', () => {
    const state = stateOf([]);
    const r = foldBatch(state, PREFIX, { revision: 2, events: [{ type: 'put', key: `${PREFIX}/host/n1/peer_v4/${RR}`, value: JSON.stringify({ ip: RR, as_num: 1, enable_bfd: true, password: SECRET }), revision: 2 }] });
    const lines = batchLines(r);
    expect(lines.filter((l) => l.level === 'debug')).toEqual([{ level: 'debug', msg: 'peer value fields ignored', fields: { key: `${PREFIX}/host/n1/peer_v4/${RR}`, fields: ['enable_bfd'], revision: 2 } }]);
    expect(JSON.stringify(lines)).not.toContain(SECRET);
  });

  it('NODENAME and CLIENT_IMPORT_LIMIT from the environment', () => {
    expect(configFromEnv({ IP: RR })).toMatchObject({ importLimit: DEFAULT_IMPORT_LIMIT });
    expect(configFromEnv({ IP: RR }).nodeName).toBeUndefined();
    expect(configFromEnv({ IP: RR, NODENAME: 'rr-1.example', CLIENT_IMPORT_LIMIT: '0' })).toMatchObject({ nodeName: 'rr-1.example', importLimit: 0 });
    expect(() => configFromEnv({ IP: RR, NODENAME: 'a/b' })).toThrow(/invalid NODENAME="a\/b"/);
    expect(() => configFromEnv({ IP: RR, CLIENT_IMPORT_LIMIT: '-1' })).toThrow(/CLIENT_IMPORT_LIMIT/);
  });
});

describe('explain', () => {
  it('names the key behind an own peer and never shows a password', async () => {
    const { explainAddress } = await import('../../src/core/explain.js');
    const state = stateOf([...base, kv(`/host/rr1/peer_v4/${UP}`, { ip: UP, as_num: '65000', password: SECRET })], 'rr1');
    const e = explainAddress(state, PREFIX, self, 'v4', UP);
    expect(e.inPlan).toBe(true);
    expect(e.rule).toBe(`own peer: ${PREFIX}/host/rr1/peer_v4/${UP} (NODENAME rr1) names ${UP}: Peer_10_0_9_1, eBGP, AS 64512 to 65000, password set`);
    expect(e.keys).toEqual([
      { key: `${PREFIX}/host/rr1/peer_v4/${UP}`, value: `{"ip":"${UP}","as_num":"65000","password":"(redacted)"}`, role: `this RR's own peer ${UP} (NODENAME rr1)`, valid: true },
    ]);
    const client = explainAddress(state, PREFIX, self, 'v4', '10.0.1.1');
    expect(client.rule).toContain('password set, import limit 500');
    for (const x of [e, client]) {
      expect(JSON.stringify(x)).not.toContain(SECRET);
      expect(inspect(x, { depth: 10 })).not.toContain(SECRET);
    }
  });

  it('withholds a value that mentions a password but is not a JSON object', async () => {
    const { redactValue } = await import('../../src/core/keyspace.js');
    expect(redactValue(`{"password":"${SECRET}"`)).toBe(`(${SECRET.length + 14} characters, not shown: it may hold a password)`);
    expect(redactValue(`{"a":{"password":"${SECRET}"}}`)).not.toContain(SECRET);
    expect(redactValue('{"ip":"10.0.0.1"}')).toBe('{"ip":"10.0.0.1"}');
  });
});

describe('nothing from etcd injects config text', () => {
  it('any password value is either rejected or rendered as one quoted line of the grammar', async () => {
    const fc = (await import('fast-check')).default;
    const { grammarViolations } = await import('../support/reliability.js');
    const render = createRenderer('bird2');
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 90 }), fc.string({ unit: 'binary', maxLength: 20 }), fc.constantFrom('a";\n}\nprotocol bgp X {', 'x\\"', 'ok-pw')), (pw) => {
        const state = stateOf([kv('/host/n1/ip_addr_v4', '10.0.1.1'), kv(`/host/n1/peer_v4/${RR}`, { ip: RR, as_num: 64512, password: pw })]);
        const text = joinBytes(render(derivePlan(state, 'v4', { ip: RR }))).toString('latin1');
        expect(grammarViolations(text, 'v4')).toEqual([]);
        const rejected = state.invalid.size === 1;
        expect(rejected || pw === '' || text.includes(`  password "${pw}";\n`)).toBe(true);
        if (rejected) expect([...state.invalid.values()][0]).not.toContain(pw.length > 2 ? pw : '\u0000');
      }),
      { numRuns: 300 },
    );
  });
});
