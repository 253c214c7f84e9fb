/**
 * s6/.lib/log-filter, the logger of every service: all of them write to the
 * container's one stdout, so each line must leave in one write. mawk in
 * interactive mode wrote a line and its newline in two writes, and two
 * services that logged at once came out as one line ("bird6: ...bird: ...",
 * seen in a CI run of the s6 tree). Four filters at once, thousands of lines
 * each, into one file: every line must come out whole and tagged.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, tempDir } from '../support/processes.js';

const FILTER = join(import.meta.dirname, '..', '..', 's6', '.lib', 'log-filter');
const LINES = 3000;

describe('log-filter', () => {
  const dir = tempDir('rr-log-filter');
  afterAll(() => removeDir(dir));

  it('tags each line with its service and writes it whole, while other services write too', async () => {
    const out = join(dir, 'stdout.log');
    const services = ['bird', 'bird6', 'agent', 'other'];
    // One open file description shared by all of them, as s6-svscan's stdout is by every logger.
    const fd = openSync(out, 'a');
    try {
      await Promise.all(
        services.map((svc) => {
          const input = Array.from({ length: LINES }, (_, i) => (svc === 'agent' ? `{"msg":"line ${i} of ${svc}"}` : `line ${i} of ${svc}`)).join('\n') + '\n';
          const child = spawn('sh', [FILTER, svc], { stdio: ['pipe', fd, 'inherit'], env: { ...process.env, LOG_DIR: '' } });
          child.stdin?.end(input);
          return new Promise<void>((resolve, reject) => child.once('error', reject).once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`log-filter ${svc}: exit ${String(code)}`)))));
        }),
      );
    } finally {
      closeSync(fd);
    }
    const lines = readFileSync(out, 'utf8').split('\n').slice(0, -1);
    expect(lines).toHaveLength(services.length * LINES);
    const bad = lines.filter((l) => !/^(bird|bird6|other): line \d+ of (bird|bird6|other)$|^\{"service":"agent","msg":"line \d+ of agent"\}$/.test(l) || (!l.startsWith('{') && l.split(':')[0] !== l.split(' of ')[1]));
    expect(bad.slice(0, 5)).toEqual([]);
    for (const svc of services) expect(lines.filter((l) => l.endsWith(` of ${svc}`) || l.endsWith(` of ${svc}"}`))).toHaveLength(LINES);
  });
});
