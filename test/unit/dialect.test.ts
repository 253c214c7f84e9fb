import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkMessage, classifyStatusReplies } from '../../src/core/bird-replies.js';
import { defaultBird6Bin, dialectOfVersion, DIALECTS, parseBirdVersion } from '../../src/core/dialect.js';
import { detectBirds } from '../../src/effects/bird-check.js';
import { birdBins, requireDialect } from '../support/dialect.js';

describe('parseBirdVersion', () => {
  it('reads the dialect from each supported BIRD (their --version output, stderr)', () => {
    expect(parseBirdVersion('BIRD version 1.6.8\n')).toEqual({ ok: true, version: '1.6.8', dialect: 'bird1' });
    expect(parseBirdVersion('BIRD version 2.17.6\n')).toEqual({ ok: true, version: '2.17.6', dialect: 'bird2' });
    expect(parseBirdVersion('BIRD version 2.0.12\n')).toEqual({ ok: true, version: '2.0.12', dialect: 'bird2' });
    expect(parseBirdVersion('BIRD version 3.1.8\n')).toEqual({ ok: true, version: '3.1.8', dialect: 'bird3' });
    expect(parseBirdVersion('\nBIRD version 3.2.0-rc1\n')).toEqual({ ok: true, version: '3.2.0-rc1', dialect: 'bird3' });
  });

  it('refuses what it cannot render for, saying why', () => {
    expect(parseBirdVersion('BIRD version 1.5.0\n')).toEqual({ ok: false, reason: 'BIRD 1.5.0 is not supported (supported: 1.6, 2.x, 3.x)' });
    expect(parseBirdVersion('BIRD version 4.0.0\n')).toMatchObject({ ok: false, reason: expect.stringMatching(/^BIRD 4\.0\.0 is not supported/) });
    expect(parseBirdVersion('true (GNU coreutils) 9.1\n')).toEqual({ ok: false, reason: 'not a BIRD version line: "true (GNU coreutils) 9.1"' });
    expect(parseBirdVersion('')).toEqual({ ok: false, reason: 'no "BIRD version" line in its --version output' });
  });
});

describe('dialectOfVersion (show status)', () => {
  it('maps running versions to dialects', () => {
    expect(['1.6.8', '2.17.6', '3.1.8', '1.5.0', '4.0', 'x'].map(dialectOfVersion)).toEqual(['bird1', 'bird2', 'bird3', undefined, undefined, undefined]);
  });
});

describe('defaultBird6Bin', () => {
  it('is bird6 beside BIRD 1.6 and BIRD_BIN itself beside BIRD 2/3', () => {
    expect(defaultBird6Bin({ bin: 'bird', version: '1.6.8', dialect: 'bird1' })).toBe('bird6');
    expect(defaultBird6Bin({ bin: '/usr/sbin/bird', version: '2.17.6', dialect: 'bird2' })).toBe('/usr/sbin/bird');
    expect(defaultBird6Bin({ bin: 'bird', version: '3.1.8', dialect: 'bird3' })).toBe('bird');
  });
});

describe('checkMessage (bird -p stderr)', () => {
  it('strips the prefix of each dialect', () => {
    expect(checkMessage('bird: bad.cfg:2:24 syntax error\n')).toBe('bad.cfg:2:24 syntax error');
    expect(checkMessage('bird: bad.cfg:9:9 syntax error, unexpected CF_SYM_UNDEFINED, expecting OFF or \'{\' or ALL\n')).toBe(
      'bad.cfg:9:9 syntax error, unexpected CF_SYM_UNDEFINED, expecting OFF or \'{\' or ALL',
    );
    expect(checkMessage('bird: 2026-12-01 23:16:25.707 [0001] <FATAL> bad.cfg:9:9 syntax error\n')).toBe('bad.cfg:9:9 syntax error');
    expect(checkMessage('', '\nbird: Unable to open configuration file x.cfg: No such file or directory\n')).toBe(
      'Unable to open configuration file x.cfg: No such file or directory',
    );
  });
});

describe('classifyStatusReplies (show status on the socket)', () => {
  it('is up with the running version (BIRD 1.6 and 3.1 replies)', () => {
    const v1 = ['1000-BIRD 1.6.8', '1011-Router ID is 10.77.0.1', ' Current server time is 2026-11-25 18:24:22', '0013 Daemon is up and running'];
    expect(classifyStatusReplies(v1)).toEqual({ up: true, version: '1.6.8' });
    const v3 = ['1000-BIRD 3.1.8', '1011-Router ID is 10.0.0.1', ' Hostname is vm', ' Current server time is 2026-12-01 23:23:31.301', '0013 Daemon is up and running'];
    expect(classifyStatusReplies(v3)).toEqual({ up: true, version: '3.1.8' });
  });

  it('is down while shutting down or on anything else', () => {
    expect(classifyStatusReplies(['1000-BIRD 2.17.6', '0013 Shutdown in progress'])).toEqual({ up: false, reason: 'shutting down' });
    expect(classifyStatusReplies(['9001 Nope'])).toEqual({ up: false, reason: 'unexpected reply: 9001 Nope' });
  });
});

describe('s6/.lib/bird-bin: the binary s6 starts is the one the agent checks with', () => {
  const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 's6', '.lib', 'bird-bin');
  const shell = (family: 'v4' | 'v6', env: Record<string, string>): string =>
    execFileSync('sh', [script, family], { env: { PATH: `${process.env['PATH'] ?? ''}:/usr/sbin`, ...env }, encoding: 'utf8' }).trim();

  for (const dialect of DIALECTS) {
    it(`${dialect}: BIRD6_BIN unset, and set`, async () => {
      requireDialect(dialect);
      const env = { BIRD_BIN: birdBins(dialect).v4 };
      const agent = await detectBirds({ birdBin: env.BIRD_BIN });
      expect(shell('v4', env)).toBe(agent.v4.bin);
      expect(shell('v6', env)).toBe(agent.v6.bin);
      expect(agent.v6.bin).toBe(dialect === 'bird1' ? 'bird6' : env.BIRD_BIN);
      expect(shell('v6', { ...env, BIRD6_BIN: '/opt/bird6' })).toBe('/opt/bird6');
    });
  }

  it('defaults to bird, and bird6 beside the host\'s BIRD 1.6', () => {
    expect(shell('v4', {})).toBe('bird');
    expect(shell('v6', {})).toBe('bird6');
  });
});
