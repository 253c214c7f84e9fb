/** The tool under test (the agent as installed, or TOOL_CMD) and the stand-in BIRD control sockets it reloads. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { terminate, track } from './processes.mjs';
import { AGENT_MAIN, RR_IP, RR_IP6, now } from './setup.mjs';

// ---------------------------------------------------------------- the tool

/** The node flags on the agent bin's `#!/usr/bin/env -S node ...` line. */
export function shebangFlags() {
  const first = readFileSync(AGENT_MAIN, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!.*\bnode((?:\s+-\S+)*)\s*$/.exec(first);
  return m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
}

/**
 * Start the agent (or TOOL_CMD under `sh -c`), with its stdout parsed as JSON
 * log lines stamped with the time they arrived.
 */
export function startTool({ endpoint, configDir, check, toolCmd, nodeArgs = [], env = {}, notify = false }) {
  const toolEnv = {
    PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin`,
    HOME: process.env.HOME ?? '/root',
    IP: RR_IP,
    IP6: RR_IP6,
    ETCD_ENDPOINTS: endpoint,
    CONFIG_DIR: configDir,
    BIRD_SOCKET: join(configDir, 'bird.ctl'),
    BIRD6_SOCKET: join(configDir, 'bird6.ctl'),
    CONFIG_CHECK: check ? '1' : '0',
    LOG_LEVEL: 'info',
    // notify: s6's readiness pipe on fd 3, as s6-supervise gives it (readyAt: when the agent wrote its newline)
    ...(notify ? { NOTIFY_FD: '3' } : {}),
    ...env,
  };
  const stdio = ['ignore', 'pipe', 'pipe', ...(notify ? ['pipe'] : [])];
  const child = toolCmd
    ? spawn('/bin/sh', ['-c', toolCmd], { env: toolEnv, stdio })
    : // As installed: with the node flags of the bin's #! line, then any extra ones (e.g. --cpu-prof).
      spawn(process.execPath, [...shebangFlags(), ...nodeArgs, AGENT_MAIN, 'run'], { env: toolEnv, stdio });
  track(child);
  const lines = [];
  let partial = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    const t = now();
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) {
      if (!p.trim()) continue;
      try {
        lines.push({ t, ...JSON.parse(p) });
      } catch {
        lines.push({ t, msg: p, unparsed: true });
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr = (stderr + d).slice(-8000)));
  const out = { child, pid: child.pid, lines, readyAt: undefined, stderr: () => stderr, stop: () => terminate(child) };
  if (notify) child.stdio[3].on('data', () => (out.readyAt ??= now())).on('error', () => undefined);
  return out;
}

// ---------------------------------------------------------------- a stand-in BIRD

/**
 * A control socket that answers like a running BIRD 1.6 (greeting, `configure`
 * -> `0003 Reconfigured`, `show status`, `show protocols`) without being one:
 * BIRD is not the subject here, but every reload of the tool is a real
 * exchange on a socket (and `birdc`, for a TOOL_CMD that runs it, works too).
 * Served by this process, so none of its CPU is counted against the tool.
 */
export async function standInBird(path, configFile) {
  const replies = {
    configure: `0002-Reading configuration from ${configFile}\n0003 Reconfigured\n`,
    'show status': '1000-BIRD 1.6.8\n1011-Router ID is 172.16.0.1\n0013 Daemon is up and running\n',
    'show protocols': '2002-name     proto    table    state  since       info\n1002-device1  Device   master   up     00:00:00\n0000 \n',
  };
  const conns = new Set();
  const server = createServer((c) => {
    conns.add(c);
    c.on('close', () => conns.delete(c)).on('error', () => undefined);
    let buf = '';
    c.setEncoding('utf8').on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const cmd = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (cmd === 'quit') return void c.end();
        c.write(replies[cmd] ?? '9001 syntax error\n');
      }
    });
    c.write('0001 BIRD 1.6.8 ready.\n');
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(path, resolve));
  return {
    close: () =>
      new Promise((resolve) => {
        for (const c of conns) c.destroy();
        server.close(() => resolve());
      }),
  };
}
