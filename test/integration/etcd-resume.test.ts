/**
 * The etcd source resuming from a state already held (the journal's
 * revision R and cluster id), against a real etcd: it watches from R+1 and
 * delivers only what changed since; it reads everything again only when it
 * must: R was compacted, etcd's revision is behind R, or another cluster
 * answers (or the cluster is not known).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Subscription } from 'rxjs';
import { Etcd3 } from 'etcd3';
import type { EtcdBatch, EtcdStatus } from '../../src/core/events.js';
import { createEtcdClient } from '../../src/effects/etcd-client.js';
import { etcdSource, readPrefix } from '../../src/effects/etcd-source.js';
import { currentRevision, etcdctl, startEtcd, type EtcdProcess } from '../support/etcd.js';
import { waitFor } from '../support/processes.js';

let etcd: EtcdProcess;
let writer: Etcd3;
let seq = 0;
const subs: Array<{ sub: Subscription; client: Etcd3 }> = [];

beforeAll(async () => {
  etcd = await startEtcd();
  writer = new Etcd3({ hosts: [etcd.endpoint] });
}, 30_000);
afterEach(() => {
  for (const { sub, client } of subs.splice(0)) {
    sub.unsubscribe();
    client.close();
  }
});
afterAll(async () => {
  writer?.close();
  await etcd?.stop();
}, 30_000);

function resume(prefix: string, from: { revision: number; clusterId?: string }) {
  const client = createEtcdClient({ endpoints: [etcd.endpoint] });
  const batches: EtcdBatch[] = [];
  const statuses: EtcdStatus[] = [];
  const source = etcdSource(() => client, { prefix, resume: from, retry: { initialMs: 100, maxMs: 1000 } });
  const sub = source.status$.subscribe((s) => statuses.push(s));
  sub.add(source.batches$.subscribe((b) => batches.push(b)));
  subs.push({ sub, client });
  return { batches, statuses };
}

/** A prefix with two keys, and the revision and cluster id a state read now would have. */
async function held(): Promise<{ prefix: string; revision: number; clusterId: string }> {
  const prefix = `/calico/bgp/v1-resume${++seq}`;
  await writer.put(`${prefix}/a`).value('1');
  await writer.put(`${prefix}/b`).value('1');
  const client = createEtcdClient({ endpoints: [etcd.endpoint] });
  try {
    const r = await readPrefix(client, `${prefix}/`, 1000);
    return { prefix, revision: r.revision, clusterId: r.clusterId };
  } finally {
    client.close();
  }
}

describe('etcdSource resuming from a held state', { timeout: 60_000 }, () => {
  it('watches from R+1: only the changes made since arrive, no full read', async () => {
    const h = await held();
    await writer.put(`${h.prefix}/a`).value('2');
    await writer.delete().key(`${h.prefix}/b`);
    const r = resume(h.prefix, { revision: h.revision, clusterId: h.clusterId });
    await waitFor(() => r.batches.flatMap((b) => b.events).length >= 2, { what: 'the two changes', timeoutMs: 15_000 });
    expect(r.batches.flatMap((b) => b.events)).toEqual([
      { type: 'put', key: `${h.prefix}/a`, value: '2', revision: h.revision + 1 },
      { type: 'delete', key: `${h.prefix}/b`, revision: h.revision + 2 },
    ]);
    expect(r.statuses).toContainEqual(expect.objectContaining({ kind: 'connected', resumeFrom: h.revision + 1, clusterId: h.clusterId }));
    expect(r.statuses.filter((s) => s.kind === 'resynced')).toEqual([]);
  });

  it('reads everything when R was compacted', async () => {
    const h = await held();
    await writer.put(`${h.prefix}/a`).value('2');
    await writer.put(`${h.prefix}/a`).value('3');
    // Revisions below the current one are gone, R+1 among them.
    await etcdctl(etcd.endpoint, 'compact', String(await currentRevision(etcd.endpoint)));
    const r = resume(h.prefix, { revision: h.revision, clusterId: h.clusterId });
    await waitFor(() => r.statuses.some((s) => s.kind === 'resynced'), { what: 'a full read', timeoutMs: 15_000 });
    expect(r.statuses.find((s) => s.kind === 'resynced')).toMatchObject({ cause: 'compacted', after: h.revision, keys: 2 });
    expect(r.batches[0]?.events[0]).toMatchObject({ type: 'resync', kvs: [{ key: `${h.prefix}/a`, value: '3' }, { key: `${h.prefix}/b`, value: '1' }] });
  });

  it('reads everything when another cluster answers, or the cluster is not known', async () => {
    const h = await held();
    const other = resume(h.prefix, { revision: h.revision, clusterId: '12345' });
    await waitFor(() => other.statuses.some((s) => s.kind === 'resynced'), { what: 'a full read', timeoutMs: 15_000 });
    expect(other.statuses.find((s) => s.kind === 'disconnected')).toMatchObject({ reason: expect.stringMatching(/cluster id \d+ is not the one the state was read from \(12345\)/) });
    expect(other.statuses.find((s) => s.kind === 'resynced')).toMatchObject({ cause: 'cluster', after: h.revision, clusterId: h.clusterId });
    const unknown = resume(h.prefix, { revision: h.revision });
    await waitFor(() => unknown.statuses.some((s) => s.kind === 'resynced'), { what: 'a full read', timeoutMs: 15_000 });
    expect(unknown.statuses.find((s) => s.kind === 'resynced')).toMatchObject({ cause: 'cluster' });
  });

  it('reads everything when etcd is behind R (its revision went backwards)', async () => {
    const h = await held();
    const ahead = (await currentRevision(etcd.endpoint)) + 1000;
    const r = resume(h.prefix, { revision: ahead, clusterId: h.clusterId });
    await waitFor(() => r.statuses.some((s) => s.kind === 'resynced'), { what: 'a full read', timeoutMs: 15_000 });
    expect(r.statuses.find((s) => s.kind === 'resynced')).toMatchObject({ cause: 'reset', after: ahead, keys: 2 });
  });
});
