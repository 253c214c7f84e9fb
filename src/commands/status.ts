/**
 * `routereflector status`: each BGP session of BIRD and BIRD6, from
 * `birdc show protocols all`. Exit 1 when a daemon does not answer.
 */
import { birdFromEnv, integerFromEnv, parseHttpListen } from '../core/config.js';
import { DAEMONS } from '../core/daemons.js';
import type { Family } from '../core/events.js';
import type { ProtocolDetail } from '../core/bird-replies.js';
import { dialectOfVersion } from '../core/dialect.js';
import { showProtocolsAll, showVersion } from '../effects/bird-socket.js';
import { readAgentStatus } from '../effects/http-server.js';
import { parse, table, UsageError, type Command } from './common.js';

const USAGE = `usage: routereflector status [--json] [--family v4|v6]

Every BGP session of BIRD (v4) and BIRD6 (v6), read with \`show status\` and
\`show protocols all\` on their control sockets (BIRD_SOCKET, BIRD6_SOCKET): the
daemon's BIRD version, then per session name, neighbour, mesh or client, state,
since, last error. Last, the agent's own view from its /status (HTTP_LISTEN):
where the plan comes from (etcd, or the journal while etcd has not been
reached since a start: "stale") and whether BIRD runs it.

exit codes: 0 both daemons answered, 1 a daemon did not answer, 2 bad usage`;

export interface SessionStatus {
  family: Family;
  name: string;
  neighbor: string;
  kind: 'mesh' | 'client' | 'peer' | 'other';
  state: string;
  since: string;
  info: string;
  lastError: string;
}

export interface DaemonStatus {
  family: Family;
  socket: string;
  answered: boolean;
  /** The running daemon's version (`show status`) and the dialect it speaks. */
  version?: string;
  dialect?: string;
  error?: string;
  sessions: SessionStatus[];
}

const kindOf = (name: string): SessionStatus['kind'] =>
  name.startsWith('Mesh_') ? 'mesh' : name.startsWith('Node_') ? 'client' : name.startsWith('Peer_') ? 'peer' : 'other';

function session(family: Family, p: ProtocolDetail): SessionStatus {
  return {
    family,
    name: p.name,
    neighbor: p.neighbor ?? '',
    kind: kindOf(p.name),
    state: p.bgpState ?? (p.info.split(/\s+/)[0] || p.state),
    since: p.since,
    info: p.info,
    lastError: p.lastError ?? '',
  };
}

function agentLine(r: Awaited<ReturnType<typeof readAgentStatus>>): string {
  if (!r.ok) return `agent: not reachable on ${r.url} (${r.error})`;
  const s = r.status;
  const ready = s.ready ? 'ready' : `NOT READY: ${s.readyReason}`;
  if (s.stale) return `agent: stale: ${s.staleReason}${s.staleSeconds !== undefined ? `, ${s.staleSeconds} s old` : ''}; ${ready}`;
  if (s.source === 'none') return `agent: no plan yet (etcd ${s.etcdConnected ? 'connected' : 'not connected'}); ${ready}`;
  return `agent: plan of etcd revision ${s.revision} (etcd ${s.etcdConnected ? 'connected' : 'not connected'}); ${ready}`;
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'status [--json]: BGP sessions of BIRD and BIRD6',
  usage: USAGE,
  async run(args, env) {
    const { values } = parse(args, { json: { type: 'boolean', default: false }, family: { type: 'string' } });
    if (values.family !== undefined && values.family !== 'v4' && values.family !== 'v6') throw new UsageError(`--family must be v4 or v6, not ${JSON.stringify(values.family)}`);
    const bird = birdFromEnv(env);
    const timeoutMs = integerFromEnv(env, 'COMMAND_TIMEOUT_MS', 10_000);
    const families: Family[] = values.family !== undefined ? [values.family as Family] : ['v4', 'v6'];
    const daemons: DaemonStatus[] = await Promise.all(
      families.map(async (family): Promise<DaemonStatus> => {
        const socket = DAEMONS[family].socket(bird);
        try {
          const [version, rows] = await Promise.all([showVersion({ socket, timeoutMs }), showProtocolsAll({ socket, timeoutMs })]);
          const dialect = version === undefined ? undefined : dialectOfVersion(version);
          return {
            family,
            socket,
            answered: true,
            ...(version !== undefined ? { version } : {}),
            ...(dialect !== undefined ? { dialect } : {}),
            sessions: rows.filter((r) => r.proto === 'BGP').map((r) => session(family, r)),
          };
        } catch (err) {
          return { family, socket, answered: false, error: err instanceof Error ? err.message : String(err), sessions: [] };
        }
      }),
    );
    if (values.json) {
      process.stdout.write(JSON.stringify(daemons, null, 2) + '\n');
    } else {

      for (const d of daemons) {
        const name = DAEMONS[d.family].name;
        if (!d.answered) {
          process.stdout.write(`${name} (${d.family}): NOT ANSWERING on ${d.socket}: ${d.error ?? ''}\n\n`);
          continue;
        }
        const up = d.sessions.filter((s) => s.state === 'Established').length;
        const bird = d.version !== undefined ? `BIRD ${d.version}, ` : '';
        process.stdout.write(`${name} (${d.family}): ${bird}${d.sessions.length} BGP sessions, ${up} established\n`);
        if (d.sessions.length > 0) {
          process.stdout.write(
            table(
              ['NAME', 'NEIGHBOR', 'KIND', 'STATE', 'SINCE', 'LAST ERROR'],
              d.sessions.map((s) => [s.name, s.neighbor || '-', s.kind, s.state, s.since, s.lastError || '-']),
            ),
          );
        }
        process.stdout.write('\n');
      }
      const listen = parseHttpListen(env['HTTP_LISTEN']);
      if (listen !== undefined) process.stdout.write(`${agentLine(await readAgentStatus(listen, Math.min(timeoutMs, 3000)))}\n`);
    }
    const down = daemons.filter((d) => !d.answered);
    for (const d of down) process.stderr.write(`routereflector: ${DAEMONS[d.family].name} does not answer on ${d.socket}: ${d.error ?? ''}\n`);
    return down.length > 0 ? 1 : 0;
  },
};
