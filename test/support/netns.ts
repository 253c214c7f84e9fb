/**
 * Network namespaces for integration tests (needs root).
 *
 * A lab is one netns holding a bridge (`br0`); every host is its own netns
 * with `lo` up and an `eth0` veth whose peer is a port of that bridge. The
 * veths are created directly inside the namespaces, so nothing is added to
 * the root namespace's links or routes. Use made-up addresses only
 * (10.77.0.0/24, fd77::/64). `destroy()` removes every namespace it made
 * (deleting a netns deletes its veth ends).
 */
import { execa } from 'execa';

async function ip(args: string[]): Promise<string> {
  const r = await execa('ip', args, { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) {
    throw new Error(`ip ${args.join(' ')} failed (${String(r.exitCode)}): ${String(r.stderr).trim()}`);
  }
  return String(r.stdout);
}

export async function listNetns(): Promise<string[]> {
  const out = await ip(['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

export async function createNetns(name: string): Promise<void> {
  if (name.length > 32 || !/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`bad netns name ${name}`);
  await ip(['netns', 'add', name]);
  await ip(['-n', name, 'link', 'set', 'lo', 'up']);
}

/** Delete a namespace; a missing one is not an error. */
export async function deleteNetns(name: string): Promise<void> {
  const r = await execa('ip', ['netns', 'delete', name], { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0 && !/No such file|not found|Invalid/i.test(String(r.stderr))) {
    throw new Error(`ip netns delete ${name}: ${String(r.stderr).trim()}`);
  }
}

/** Remove namespaces left over by an earlier crashed run (names starting with prefix). */
export async function deleteNetnsWithPrefix(prefix: string): Promise<void> {
  for (const n of await listNetns()) if (n.startsWith(prefix)) await deleteNetns(n);
}

/** Run a command inside a namespace; returns stdout, throws on non-zero exit. */
export async function nsExec(ns: string, cmd: string, args: string[]): Promise<string> {
  const r = await execa('ip', ['netns', 'exec', ns, cmd, ...args], { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) {
    throw new Error(`[${ns}] ${cmd} ${args.join(' ')} failed (${String(r.exitCode)}): ${String(r.stderr).trim()}`);
  }
  return String(r.stdout);
}

async function addAddr(ns: string, dev: string, cidr: string): Promise<void> {
  const v6 = cidr.includes(':');
  await ip(['-n', ns, ...(v6 ? ['-6'] : []), 'addr', 'add', cidr, 'dev', dev, ...(v6 ? ['nodad'] : [])]);
}

/** Two namespaces joined by one veth (`eth0` on both sides). Creates the namespaces if needed. */
export async function vethPair(nsA: string, ipA: string, nsB: string, ipB: string): Promise<void> {
  const existing = new Set(await listNetns());
  for (const ns of [nsA, nsB]) if (!existing.has(ns)) await createNetns(ns);
  await ip(['link', 'add', 'eth0', 'netns', nsA, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nsB]);
  await addAddr(nsA, 'eth0', ipA);
  await addAddr(nsB, 'eth0', ipB);
  await ip(['-n', nsA, 'link', 'set', 'eth0', 'up']);
  await ip(['-n', nsB, 'link', 'set', 'eth0', 'up']);
}

export interface LabHost {
  name: string;
  /** The host's network namespace. */
  netns: string;
  /** Address without prefix length, e.g. "10.77.0.2". */
  ipv4: string;
  ipv6?: string;
  /** Run a command in the host's namespace. */
  exec(cmd: string, args: string[]): Promise<string>;
  /** Add another address (e.g. a /32 on lo for a test prefix). */
  addAddress(cidr: string, dev?: string): Promise<void>;
}

export interface Lab {
  prefix: string;
  /** The namespace holding the bridge. */
  labNetns: string;
  hosts: Map<string, LabHost>;
  addHost(name: string, ipv4Cidr: string, ipv6Cidr?: string): Promise<LabHost>;
  destroy(): Promise<void>;
}

/**
 * A bridged lab. `prefix` should be short and unique per test file/process,
 * e.g. `rrbc${process.pid}`; namespaces are named `${prefix}-lab` and
 * `${prefix}-${host}`. Anything left with that prefix is removed first.
 */
export async function createLab(prefix: string): Promise<Lab> {
  await deleteNetnsWithPrefix(`${prefix}-`);
  const labNetns = `${prefix}-lab`;
  const made: string[] = [];
  const hosts = new Map<string, LabHost>();
  let port = 0;
  await createNetns(labNetns);
  made.push(labNetns);
  await ip(['-n', labNetns, 'link', 'add', 'br0', 'type', 'bridge']);
  await ip(['-n', labNetns, 'link', 'set', 'br0', 'up']);

  const lab: Lab = {
    prefix,
    labNetns,
    hosts,
    async addHost(name, ipv4Cidr, ipv6Cidr) {
      if (hosts.has(name)) throw new Error(`lab host ${name} exists`);
      const netns = `${prefix}-${name}`;
      await createNetns(netns);
      made.push(netns);
      const brPort = `p${++port}`;
      await ip(['link', 'add', 'eth0', 'netns', netns, 'type', 'veth', 'peer', 'name', brPort, 'netns', labNetns]);
      await ip(['-n', labNetns, 'link', 'set', brPort, 'master', 'br0']);
      await ip(['-n', labNetns, 'link', 'set', brPort, 'up']);
      await addAddr(netns, 'eth0', ipv4Cidr);
      if (ipv6Cidr !== undefined) await addAddr(netns, 'eth0', ipv6Cidr);
      await ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
      const ipv4 = ipv4Cidr.split('/')[0] ?? ipv4Cidr;
      const host: LabHost = {
        name,
        netns,
        ipv4,
        exec: (cmd, args) => nsExec(netns, cmd, args),
        addAddress: (cidr, dev = 'lo') => addAddr(netns, dev, cidr),
      };
      if (ipv6Cidr !== undefined) host.ipv6 = ipv6Cidr.split('/')[0] ?? ipv6Cidr;
      hosts.set(name, host);
      return host;
    },
    async destroy() {
      const errors: string[] = [];
      for (const ns of made.reverse()) {
        try {
          await deleteNetns(ns);
        } catch (e) {
          errors.push(e instanceof Error ? e.message : String(e));
        }
      }
      made.length = 0;
      hosts.clear();
      if (errors.length > 0) throw new Error(errors.join('; '));
    },
  };
  return lab;
}
