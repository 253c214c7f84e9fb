import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv, PREFIX } from '../../src/core/config.js';
import { explainAddress } from '../../src/core/explain.js';
import { identityOf, selfOfIdentity } from '../../src/core/journal.js';
import { addressOfFileName, parsePasswordFiles, passwordFilesSummary, type PasswordFiles } from '../../src/core/password-files.js';
import { createPlanMemo, derivePlan, type Self } from '../../src/core/plan.js';
import { readPasswordFiles } from '../../src/effects/password-files.js';
import { createRenderer } from '../support/render.js';
import { kv, stateOf } from '../support/state.js';
import { joinBytes } from '../../src/core/config-bytes.js';

const DIR = '/run/secrets/bgp';
const files = (entries: Record<string, string>): PasswordFiles => {
  const r = parsePasswordFiles(DIR, Object.entries(entries).map(([name, text]) => ({ name, text })));
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.value;
};
const errorsOf = (entries: Record<string, string>): readonly string[] => {
  const r = parsePasswordFiles(DIR, Object.entries(entries).map(([name, text]) => ({ name, text })));
  if (r.ok) throw new Error('expected errors');
  return r.errors;
};

describe('BGP_PASSWORD_DIR files', () => {
  it('names a file by the neighbour address, IPv6 also with - for : (a Kubernetes Secret key cannot hold :)', () => {
    expect(addressOfFileName('10.0.0.5')).toBe('10.0.0.5');
    expect(addressOfFileName('fd00::5')).toBe('fd00::5');
    expect(addressOfFileName('fd00--5')).toBe('fd00::5');
    expect(addressOfFileName('FD00-0-0-0-0-0-0-5')).toBe('fd00::5');
    expect(addressOfFileName('default')).toBeUndefined();
    expect(addressOfFileName('10.0.0')).toBeUndefined();
  });

  it('reads address files and default, one trailing newline dropped, dot names skipped (Kubernetes ..data)', () => {
    const p = files({ '10.0.0.5': 'pw-five\n', 'fd00--5': 'pw-six\r\n', default: 'pw-all', '..data': 'ignored', '.hidden': 'x"y' });
    expect([...p.byAddress].map(([a, s]) => [a, s.reveal()])).toEqual([['10.0.0.5', 'pw-five'], ['fd00::5', 'pw-six']]);
    expect(p.fallback?.reveal()).toBe('pw-all');
    expect(passwordFilesSummary(p)).toEqual({ dir: DIR, addresses: 2, default: true });
  });

  it('rejects every bad file with a reason that names the file and never repeats its text', () => {
    const errors = errorsOf({ 'not-an-address': 'a', '10.0.0.6': 'has"quote', '10.0.0.7': '', 'fd00::8': 'ok-1', 'fd00--8': 'ok-2', '10.0.0.9': 'x'.repeat(81) });
    expect(errors).toHaveLength(5);
    expect(errors.join('\n')).toMatch(/not-an-address: the name is neither an IP address nor "default"/);
    expect(errors.join('\n')).toMatch(/10\.0\.0\.6: only printable ASCII/);
    expect(errors.join('\n')).toMatch(/10\.0\.0\.7: empty/);
    expect(errors.join('\n')).toMatch(/names fd00::8, as fd00--8 does: keep one/);
    expect(errors.join('\n')).toMatch(/10\.0\.0\.9: 81 characters, at most 80/);
    expect(errors.join('\n')).not.toMatch(/has"quote|ok-1|ok-2|xxxx/);
  });
});

const RR = '10.0.0.1';
const UP = '10.0.9.1';
const state = () =>
  stateOf(
    [
      kv('/global/as_num', '64512'),
      kv(`/rr_v4/${RR}`, { ip: RR, cluster_id: '1.0.0.1' }),
      kv('/rr_v4/10.0.0.2', { ip: '10.0.0.2', cluster_id: '1.0.0.1' }),
      kv('/host/n1/ip_addr_v4', '10.0.1.1'),
      kv(`/host/n1/peer_v4/${RR}`, { ip: RR, as_num: '64512', password: 'from-value' }),
      kv('/host/n2/ip_addr_v4', '10.0.1.2'),
      kv(`/host/n2/peer_v4/${RR}`, { ip: RR, as_num: '64512' }),
      kv('/host/n3/ip_addr_v4', '10.0.1.3'),
      kv(`/host/n3/peer_v4/${RR}`, { ip: RR, as_num: '64512' }),
      kv(`/host/rr1/peer_v4/${UP}`, { ip: UP, as_num: '65000' }),
      kv('/host/rr1/peer_v4/10.0.9.2', { ip: '10.0.9.2', as_num: '65000' }),
    ],
    'rr1',
  );

describe('passwords in the plan: the peer value, then the address file, then default (clients and mesh only)', () => {
  const pw = files({ '10.0.1.1': 'file-n1', '10.0.1.2': 'file-n2', [UP]: 'file-up', default: 'file-default' });
  const self: Self = { ip: RR, nodeName: 'rr1', passwords: pw };
  const plan = derivePlan(state(), 'v4', self);
  const of = (addr: string) => plan.sessions.find((s) => s.neighbor === addr)!;

  it('gives each session the most specific password', () => {
    expect(of('10.0.1.1').password?.reveal()).toBe('from-value'); // the peer value wins over the file
    expect(of('10.0.1.2').password?.reveal()).toBe('file-n2');
    expect(of('10.0.1.3').password?.reveal()).toBe('file-default');
    expect(of('10.0.0.2').password?.reveal()).toBe('file-default'); // mesh
    expect(of(UP).password?.reveal()).toBe('file-up');
    expect(of('10.0.9.2').password).toBeUndefined(); // an own peer never gets the default
  });

  it('renders them into the config, per dialect', () => {
    for (const dialect of ['bird1', 'bird2'] as const) {
      const text = joinBytes(createRenderer(dialect)(plan)).toString('latin1');
      for (const p of ['from-value', 'file-n2', 'file-default', 'file-up']) expect(text).toContain(`password "${p}"`);
    }
  });

  it('no directory: the plan is what it was', () => {
    const plain = derivePlan(state(), 'v4', { ip: RR, nodeName: 'rr1' });
    expect(plain.sessions.filter((s) => s.password !== undefined).map((s) => s.neighbor)).toEqual(['10.0.1.1']);
  });

  it('keeps unchanged sessions (their identity) across plans with the same files', () => {
    const memo = createPlanMemo();
    const s = state();
    const a = derivePlan(s, 'v4', self, memo);
    const b = derivePlan(s, 'v4', { ...self }, memo);
    expect(b.sessions).toEqual(a.sessions);
    expect(b.sessions.every((x, i) => x === a.sessions[i])).toBe(true);
  });

  it('explain says where a password comes from, never what it is', () => {
    const e = (addr: string) => explainAddress(state(), PREFIX, self, 'v4', addr);
    expect(e('10.0.1.2').details).toContain(`password: from the file for 10.0.1.2 in BGP_PASSWORD_DIR ${DIR}`);
    expect(e('10.0.1.3').details).toContain(`password: from BGP_PASSWORD_DIR's default file (${DIR}/default)`);
    expect(e('10.0.1.1').details).toContain('password: from the peer value (its "password")');
    expect(JSON.stringify(e('10.0.1.2'))).not.toMatch(/file-n2/);
  });
});

describe('the journal records them, so replay plans with them', () => {
  it('round-trips the files through the run identity', () => {
    const pw = files({ '10.0.1.2': 'file-n2', default: 'file-default' });
    const id = identityOf({ ip: RR, nodeName: 'rr1', passwords: pw }, PREFIX);
    expect(id.passwords).toEqual({ dir: DIR, addresses: { '10.0.1.2': 'file-n2' }, default: 'file-default' });
    const back = selfOfIdentity(JSON.parse(JSON.stringify(id)) as typeof id);
    const a = derivePlan(state(), 'v4', { ip: RR, nodeName: 'rr1', passwords: pw });
    const b = derivePlan(state(), 'v4', back);
    const render = createRenderer('bird2');
    expect(joinBytes(render(b)).equals(joinBytes(render(a)))).toBe(true);
  });

  it('a run without files journals none', () => {
    expect(identityOf({ ip: RR }, PREFIX)).toEqual({ ip: RR, prefix: PREFIX });
  });
});

describe('readPasswordFiles (the start-up step) and BGP_PASSWORD_DIR', () => {
  const root = mkdtempSync(join(tmpdir(), 'rr-pwdir-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('reads a directory shaped like a mounted Kubernetes Secret (files are links into ..data)', () => {
    const dir = join(root, 'k8s');
    mkdirSync(join(dir, '..2026_12_02_08_00_00.1'), { recursive: true });
    writeFileSync(join(dir, '..2026_12_02_08_00_00.1', '10.0.1.2'), 'file-n2\n');
    writeFileSync(join(dir, '..2026_12_02_08_00_00.1', 'default'), 'file-default\n');
    symlinkSync('..2026_12_02_08_00_00.1', join(dir, '..data'));
    symlinkSync('..data/10.0.1.2', join(dir, '10.0.1.2'));
    symlinkSync('..data/default', join(dir, 'default'));
    const p = readPasswordFiles(dir);
    expect(p.byAddress.get('10.0.1.2')?.reveal()).toBe('file-n2');
    expect(p.fallback?.reveal()).toBe('file-default');
  });

  it('a bad file or a missing directory is a ConfigError (the CLI: message, exit 2) that does not show the text', () => {
    const dir = join(root, 'bad');
    mkdirSync(dir);
    writeFileSync(join(dir, '10.0.1.2'), 'bad"secret');
    expect(() => readPasswordFiles(dir)).toThrow(ConfigError);
    expect(() => readPasswordFiles(dir)).toThrow(/10\.0\.1\.2: only printable ASCII/);
    expect(() => readPasswordFiles(dir)).not.toThrow(/bad"secret/);
    expect(() => readPasswordFiles(join(root, 'absent'))).toThrow(/cannot read the directory \(ENOENT\)/);
  });

  it('BGP_PASSWORD_DIR must be an absolute path', () => {
    expect(configFromEnv({ IP: RR, BGP_PASSWORD_DIR: '/run/secrets/bgp' }).passwordDir).toBe('/run/secrets/bgp');
    expect(() => configFromEnv({ IP: RR, BGP_PASSWORD_DIR: 'secrets' })).toThrow(/invalid BGP_PASSWORD_DIR="secrets": expected an absolute directory path/);
    expect(configFromEnv({ IP: RR }).passwordDir).toBeUndefined();
  });
});
