/**
 * `routereflector rr add|remove|list`: route reflector registrations in the
 * etcd v3 keyspace (`/calico/bgp/v1/rr_v4/<ip>`, `rr_v6`), validated with the
 * same functions as the agent: nothing is written on bad input.
 */
import type { Etcd3 } from 'etcd3';
import { parseClusterId } from '../core/addresses.js';
import { etcdConfigFromEnv, nodeNameFromEnv, PREFIX } from '../core/config.js';
import type { Family } from '../core/events.js';
import { parseAnyAddress } from '../core/explain.js';
import { classifyKey, parseEntry } from '../core/keyspace.js';
import { keysFor, registration, rrPrefix } from '../core/registration.js';
import { CommandFailed, parse, table, UsageError, withEtcd, type Command } from './common.js';

const USAGE = `usage: routereflector rr add --ip ADDR [--cluster-id ID]
       routereflector rr remove --ip ADDR
       routereflector rr list [--json]

Register, unregister and list route reflectors in the etcd v3 keyspace
(${PREFIX}/rr_v4/<ip>, ${PREFIX}/rr_v6/<ip>). Registered route reflectors of
one family form a full iBGP mesh; the cluster id goes on their client sessions.

  --ip ADDR          IPv4 or IPv6 address of the route reflector (the family follows)
  --cluster-id ID    dotted quad (1.0.0.1) or uint32; omit for no cluster id
  --json             list as JSON

rr list also lists this RR's own peers (kind peer) when NODENAME is set:
${PREFIX}/host/<NODENAME>/peer_v4/<ip>, peer_v6 (passwords are never shown).

etcd: ETCD_ENDPOINTS | ETCD_AUTHORITY + ETCD_SCHEME, ETCD_CA_CERT_FILE, ETCD_CERT_FILE,
ETCD_KEY_FILE, ETCD_USERNAME, ETCD_PASSWORD.
exit codes: 0 done, 1 etcd failure or nothing to remove, 2 bad usage or input`;

interface ListRow {
  kind: 'rr' | 'peer';
  family: Family;
  key: string;
  ip: string;
  clusterId: string | null;
  /** peer: its AS, and whether a password is set (the password itself is never shown). */
  as?: number;
  password?: boolean;
  valid: boolean;
  reason?: string;
}

/** This RR's own peers: the keys under /host/<NODENAME>/peer_vN/, validated like the agent does. */
async function ownPeers(client: Etcd3, nodeName: string): Promise<ListRow[]> {
  const out: ListRow[] = [];
  for (const family of ['v4', 'v6'] as const) {
    const prefix = `${PREFIX}/host/${nodeName}/peer_${family}/`;
    const kvs = await client.getAll().prefix(prefix).strings();
    for (const key of Object.keys(kvs).sort()) {
      const cls = classifyKey(PREFIX, key);
      const p = cls ? parseEntry(cls, kvs[key] ?? '') : { ok: false as const, reason: 'not a peer key' };
      if (p.ok && p.value.kind === 'hostPeer') {
        out.push({ kind: 'peer', family, key, ip: p.value.ip, clusterId: null, as: p.value.as, password: p.value.opts?.password !== undefined, valid: true });
      } else out.push({ kind: 'peer', family, key, ip: key.slice(prefix.length), clusterId: null, valid: false, reason: p.ok ? 'unexpected entry' : p.reason });
    }
  }
  return out;
}

function address(raw: string | undefined): { family: Family; address: string } {
  if (raw === undefined) throw new UsageError('--ip is required');
  const a = parseAnyAddress(raw);
  if (!a) throw new UsageError(`--ip ${JSON.stringify(raw)} is not a usable IPv4 or IPv6 address`);
  return a;
}

export const rrCommand: Command = {
  name: 'rr',
  summary: 'rr add|remove|list: register route reflectors in etcd (v3)',
  usage: USAGE,
  async run(args, env) {
    const [sub, ...rest] = args;
    if (sub === undefined) throw new UsageError(`rr: add, remove or list expected\n${USAGE}`);
    switch (sub) {
      case 'add': {
        const { values } = parse(rest, { ip: { type: 'string' }, 'cluster-id': { type: 'string' } });
        const a = address(values.ip);
        let clusterId = '';
        if (values['cluster-id'] !== undefined) {
          const c = parseClusterId(values['cluster-id']);
          if (!c.ok) throw new UsageError(`--cluster-id: ${c.reason}`);
          clusterId = c.value;
        }
        // The agent's own gate, as a last check.
        const reg = registration(a.family, a.address, clusterId);
        if (!reg.ok) throw new UsageError(reg.reason);
        const { key, value } = reg.value;
        const cfg = etcdConfigFromEnv(env);
        await withEtcd(cfg, async (client) => {
          await client.put(key).value(value).exec();
        });
        process.stdout.write(`registered ${a.address} (${a.family}${clusterId ? `, cluster id ${clusterId}` : ', no cluster id'}): ${key} = ${value}\n`);
        return 0;
      }
      case 'remove': {
        const { values } = parse(rest, { ip: { type: 'string' } });
        const a = address(values.ip);
        const cfg = etcdConfigFromEnv(env);
        const removed = await withEtcd(cfg, async (client) => {
          // Also keys that spell the address differently (fd00:0::1 for fd00::1).
          const keys = keysFor(a.family, a.address, await client.getAll().prefix(rrPrefix(a.family)).keys());
          for (const k of keys) await client.delete().key(k).exec();
          return keys;
        });
        if (removed.length === 0) throw new CommandFailed(`${a.address} is not registered (no ${rrPrefix(a.family)}${a.address}): nothing removed`);
        process.stdout.write(`unregistered ${a.address}: deleted ${removed.join(', ')}\n`);
        return 0;
      }
      case 'list': {
        const { values } = parse(rest, { json: { type: 'boolean', default: false } });
        const cfg = etcdConfigFromEnv(env);
        const nodeName = nodeNameFromEnv(env);
        const rows = await withEtcd(cfg, async (client) => {
          const out: ListRow[] = [];
          for (const family of ['v4', 'v6'] as const) {
            const kvs = await client.getAll().prefix(rrPrefix(family)).strings();
            for (const key of Object.keys(kvs).sort()) {
              const value = kvs[key] ?? '';
              const cls = classifyKey(PREFIX, key);
              const p = cls ? parseEntry(cls, value) : { ok: false as const, reason: 'not a route reflector key' };
              const keyIp = key.slice(rrPrefix(family).length);
              if (p.ok && p.value.kind === 'rr') out.push({ kind: 'rr', family, key, ip: p.value.ip, clusterId: p.value.clusterId ?? null, valid: true });
              else out.push({ kind: 'rr', family, key, ip: keyIp, clusterId: null, valid: false, reason: p.ok ? 'unexpected entry' : p.reason });
            }
          }
          if (nodeName !== undefined) out.push(...(await ownPeers(client, nodeName)));
          return out;
        });
        if (values.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        else if (rows.length === 0) process.stdout.write(`no route reflector registered${nodeName !== undefined ? ` and no own peer of ${nodeName}` : ''}\n`);
        else
          process.stdout.write(
            table(
              // AS and PASSWORD only when own peers are listed (NODENAME set and peers found).
              rows.some((r) => r.kind === 'peer')
                ? ['KIND', 'FAMILY', 'IP', 'CLUSTER ID', 'AS', 'PASSWORD', 'STATUS']
                : ['KIND', 'FAMILY', 'IP', 'CLUSTER ID', 'STATUS'],
              rows.map((r) => [
                r.kind,
                r.family,
                r.ip,
                r.clusterId ?? '-',
                ...(rows.some((x) => x.kind === 'peer') ? [r.as !== undefined ? String(r.as) : '-', r.password === true ? 'set' : '-'] : []),
                r.valid ? 'ok' : `invalid: ${r.reason ?? ''}`,
              ]),
            ),
          );
        return 0;
      }
      default:
        throw new UsageError(`rr: unknown subcommand ${JSON.stringify(sub)} (add, remove or list)\n${USAGE}`);
    }
  },
};
