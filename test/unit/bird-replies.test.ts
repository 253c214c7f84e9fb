import { describe, expect, it } from 'vitest';
import { classifyConfigureReplies, configureCommand, parseSocketReplies, sayableFile } from '../../src/core/bird-replies.js';
import { parseBirdcReplies, parseShowProtocols } from '../support/birdc.js';

// Captured from BIRD 1.6.8 / birdc -v on this machine (see docs/bird-notes.md).
const CONFIGURE_OK = '0001 BIRD 1.6.8 ready.\n0002-Reading configuration from h1.cfg\n0003 Reconfigured\n';
const CONFIGURE_PROGRESS =
  '0001 BIRD 1.6.8 ready.\n0002-Reading configuration from h1.cfg\n0004 Reconfiguration in progress\n';
const CONFIGURE_BAD =
  '0001 BIRD 1.6.8 ready.\n0002-Reading configuration from h1.cfg\n8002 h1.cfg:6:10 Kernel device protocol already defined\n';
const CONFIGURE_MISSING_FILE =
  '0001 BIRD 1.6.8 ready.\n0002-Reading configuration from /nonexist.cfg\n8002 /nonexist.cfg: No such file or directory\n';
const SHOW_STATUS =
  '0001 BIRD 1.6.8 ready.\n1000-BIRD 1.6.8\n1011-Router ID is 10.77.0.1\n' +
  '     Current server time is 2026-11-25 18:24:22\n     Last reboot on 2026-11-25 18:24:13\n' +
  '     Last reconfiguration on 2026-11-25 18:24:22\n0013 Daemon is up and running\n';
const SHOW_PROTOCOLS =
  '0001 BIRD 1.6.8 ready.\n2002-name     proto    table    state  since       info\n' +
  '1002-device1  Device   master   up     18:24:13    \n' +
  '     Mesh_10_77_0_2 BGP      master   up     18:24:15    Established   \n' +
  '     Mesh_127_0_0_2 BGP      master   start  18:30:37    Active        Socket: Connection reset by peer\n' +
  '     Node_127_0_0_5 BGP      master   start  18:30:37    Passive       \n';
// Raw control-socket text: continuation lines have one leading space, a 0000 terminator.
const RAW_SHOW_PROTOCOLS =
  '0001 BIRD 1.6.8 ready.\n2002-name     proto    table    state  since       info\n' +
  '1002-device1  Device   master   up     18:24:13    \n Mesh_10_77_0_2 BGP      master   up     18:26:14    Established   \n0000 \n';

describe('parseBirdcReplies', () => {
  it('parses a successful configure', () => {
    expect(parseBirdcReplies(CONFIGURE_OK)).toEqual([
      { code: '0001', text: 'BIRD 1.6.8 ready.' },
      { code: '0002', text: 'Reading configuration from h1.cfg' },
      { code: '0003', text: 'Reconfigured' },
    ]);
  });

  it('gives continuation lines the previous code and strips their indent', () => {
    const r = parseBirdcReplies(SHOW_STATUS);
    expect(r.map((x) => x.code)).toEqual(['0001', '1000', '1011', '1011', '1011', '1011', '0013']);
    expect(r[4]).toEqual({ code: '1011', text: 'Last reboot on 2026-11-25 18:24:13' });
  });

  it('handles raw socket text (one-space continuation, 0000 terminator)', () => {
    const r = parseBirdcReplies(RAW_SHOW_PROTOCOLS);
    expect(r[3]).toEqual({ code: '1002', text: 'Mesh_10_77_0_2 BGP      master   up     18:26:14    Established' });
    expect(r[r.length - 1]).toEqual({ code: '0000', text: '' });
  });

  it('keeps lines that carry no code (printed by birdc itself) with code ""', () => {
    expect(parseBirdcReplies("0001 BIRD 1.6.8 ready.\nNo such command. Press `?' for help.\n")).toEqual([
      { code: '0001', text: 'BIRD 1.6.8 ready.' },
      { code: '', text: "No such command. Press `?' for help." },
    ]);
  });

  it('returns nothing for empty output', () => {
    expect(parseBirdcReplies('')).toEqual([]);
    expect(parseBirdcReplies('\n\n')).toEqual([]);
  });
});

describe('classifyConfigureReplies', () => {
  it('0003 and 0004 are success', () => {
    expect(classifyConfigureReplies(parseBirdcReplies(CONFIGURE_OK))).toEqual({ ok: true, message: 'Reconfigured' });
    expect(classifyConfigureReplies(parseBirdcReplies(CONFIGURE_PROGRESS))).toEqual({
      ok: true,
      message: 'Reconfiguration in progress',
    });
  });

  it('8002 with a line and column is a rejection of the text, carrying BIRD’s file:line:col message', () => {
    expect(classifyConfigureReplies(parseBirdcReplies(CONFIGURE_BAD))).toEqual({
      ok: false,
      rejected: true,
      message: 'h1.cfg:6:10 Kernel device protocol already defined',
    });
    // BIRD 2/3 wording, a file named on the command (configure "F").
    expect(classifyConfigureReplies(parseSocketReplies(['0002-Reading configuration from /c/.bird.cfg.stage', '8002 /c/.bird.cfg.stage:2:19 syntax error, unexpected CF_SYM_UNDEFINED'])))
      .toEqual({ ok: false, rejected: true, message: '/c/.bird.cfg.stage:2:19 syntax error, unexpected CF_SYM_UNDEFINED' });
  });

  it('a file BIRD cannot open, and other errors, are failures but no verdict on the text', () => {
    expect(classifyConfigureReplies(parseBirdcReplies(CONFIGURE_MISSING_FILE))).toEqual({
      ok: false,
      message: '/nonexist.cfg: No such file or directory',
    });
    expect(classifyConfigureReplies(parseSocketReplies(['9001 syntax error, unexpected CF_SYM_UNDEFINED, expecting END or TIMEOUT']))).toEqual({
      ok: false,
      message: 'syntax error, unexpected CF_SYM_UNDEFINED, expecting END or TIMEOUT',
    });
    expect(classifyConfigureReplies(parseSocketReplies(['8007 Access denied']))).toEqual({ ok: false, message: 'Access denied' });
  });

  it('anything else is a failure', () => {
    expect(classifyConfigureReplies(parseBirdcReplies('0001 BIRD 1.6.8 ready.\n0006 Reconfiguration ignored, shutting down\n')))
      .toEqual({ ok: false, message: 'unexpected reply from BIRD: 0006 Reconfiguration ignored, shutting down' });
    expect(classifyConfigureReplies([])).toEqual({ ok: false, message: 'no reply from BIRD' });
  });
});

describe('configureCommand', () => {
  it('plain, or naming the file BIRD is to read', () => {
    expect(configureCommand()).toBe('configure');
    expect(configureCommand('/config/.bird.cfg.stage')).toBe('configure "/config/.bird.cfg.stage"');
  });

  it('refuses a name BIRD\'s CLI cannot take as one string on one line', () => {
    for (const bad of ['/a"b', '/a\nconfigure', '/a\tb', '/caf\u00e9', '', `/${'x'.repeat(900)}`]) {
      expect(sayableFile(bad), JSON.stringify(bad)).toBe(false);
      expect(() => configureCommand(bad)).toThrow(/cannot name/);
    }
    expect(sayableFile('/var/lib/rr config/x\\y.cfg')).toBe(true);
  });
});

describe('parseShowProtocols', () => {
  it('parses rows, skipping the header', () => {
    expect(parseShowProtocols(SHOW_PROTOCOLS)).toEqual([
      { name: 'device1', proto: 'Device', table: 'master', state: 'up', since: '18:24:13', info: '' },
      { name: 'Mesh_10_77_0_2', proto: 'BGP', table: 'master', state: 'up', since: '18:24:15', info: 'Established' },
      {
        name: 'Mesh_127_0_0_2',
        proto: 'BGP',
        table: 'master',
        state: 'start',
        since: '18:30:37',
        info: 'Active Socket: Connection reset by peer',
      },
      { name: 'Node_127_0_0_5', proto: 'BGP', table: 'master', state: 'start', since: '18:30:37', info: 'Passive' },
    ]);
  });

  it('joins a date and a time in the since column', () => {
    const out = '0001 BIRD 1.6.8 ready.\n1002-x1 BGP master up 2026-11-25 18:24:13 Established\n';
    expect(parseShowProtocols(out)[0]).toMatchObject({ since: '2026-11-25 18:24:13', info: 'Established' });
  });
});
