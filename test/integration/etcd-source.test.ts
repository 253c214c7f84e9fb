/**
 * The etcd source against a real etcd (no mocks): snapshot, changes, resume
 * after a network cut and after an etcd restart, compaction, etcd down at
 * start, unsubscribe. Disconnects are made with a TCP proxy between the
 * source's client and etcd (test/support/etcd.ts): the client sees a real
 * connection failure while the test keeps writing and compacting directly.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Subscription } from 'rxjs';
import { Etcd3 } from 'etcd3';
import { ConfigError } from '../../src/core/config.js';
import type { EtcdBatch, EtcdEvent } from '../../src/core/events.js';
import { createEtcdClient, describeEtcdError, etcdOptions, lazyEtcdClient } from '../../src/effects/etcd-client.js';
import type { EtcdStatus } from '../../src/core/events.js';
import { etcdSource, readPrefix } from '../../src/effects/etcd-source.js';
import {
  currentRevision,
  etcdctl,
  startEtcd,
  startTcpProxy,
  type EtcdProcess,
  type TcpProxy,
} from '../support/etcd.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, pred: () => boolean, ms = 25_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Subscribes to a source and records everything it says. */
class Recorder {
  readonly batches: EtcdBatch[] = [];
  readonly statuses: EtcdStatus[] = [];
  completed = false;
  error: unknown = undefined;
  private readonly sub: Subscription;
  readonly client: Etcd3;

  constructor(endpoint: string, readonly prefix: string) {
    this.client = createEtcdClient({ endpoints: [endpoint] });
    const source = etcdSource(() => this.client, { prefix, retry: { initialMs: 100, maxMs: 1_000 } });
    this.sub = source.status$.subscribe((s) => {
      if (process.env['SHOW_ETCD_STATUS']) console.log(prefix, JSON.stringify(s));
      this.statuses.push(s);
    });
    this.sub.add(source.batches$.subscribe({
      next: (b) => this.batches.push(b),
      error: (e: unknown) => (this.error = e),
      complete: () => (this.completed = true),
    }));
  }

  /** All put/delete events, in order. */
  changes(): Array<Exclude<EtcdEvent, { type: 'resync' }>> {
    return this.batches.flatMap((b) => b.events.filter((e) => e.type !== 'resync'));
  }

  resyncs(): Array<Extract<EtcdEvent, { type: 'resync' }>> {
    return this.batches.flatMap((b) => b.events.filter((e) => e.type === 'resync'));
  }

  lastRevision(): number {
    return this.batches.at(-1)?.revision ?? 0;
  }

  /** The keyspace as the fold downstream would see it. */
  fold(): Map<string, string> {
    const m = new Map<string, string>();
    for (const b of this.batches)
      for (const e of b.events) {
        if (e.type === 'resync') {
          m.clear();
          for (const kv of e.kvs) m.set(kv.key, kv.value);
        } else if (e.type === 'put') m.set(e.key, e.value);
        else m.delete(e.key);
      }
    return m;
  }

  async close(): Promise<void> {
    this.sub.unsubscribe();
    await sleep(50);
    this.client.close();
  }
}

/** Every batch revision strictly increases; every event revision is seen once, within its batch. */
function expectWellOrdered(rec: Recorder): void {
  let prev = 0;
  for (const b of rec.batches) {
    expect(b.revision).toBeGreaterThan(prev);
    for (const e of b.events) {
      expect(e.revision).toBeGreaterThan(prev);
      expect(e.revision).toBeLessThanOrEqual(b.revision);
    }
    prev = b.revision;
  }
}

async function etcdState(client: Etcd3, prefix: string): Promise<Map<string, string>> {
  const all = await client.getAll().prefix(`${prefix}/`).strings();
  return new Map(Object.entries(all));
}

let etcd: EtcdProcess;
let writer: Etcd3;
const recorders: Recorder[] = [];
const proxies: TcpProxy[] = [];
let seq = 0;
const newPrefix = (): string => `/calico/bgp/v1-test${++seq}`;
const track = (r: Recorder): Recorder => (recorders.push(r), r);

beforeAll(async () => {
  etcd = await startEtcd();
  writer = new Etcd3({ hosts: [etcd.endpoint] });
}, 30_000);

afterEach(async () => {
  for (const r of recorders.splice(0)) await r.close();
  for (const p of proxies.splice(0)) await p.close();
});

afterAll(async () => {
  writer?.close();
  await etcd?.stop();
}, 30_000);

describe('readPrefix (the paged full read)', { timeout: 60_000 }, () => {
  it('reads every key under the prefix, page by page, all at the first page\'s revision', async () => {
    const prefix = newPrefix();
    for (let i = 0; i < 23; i++) await writer.put(`${prefix}/host/n${String(i).padStart(2, '0')}/ip_addr_v4`).value(`10.0.0.${i}`);
    await writer.put(`${prefix}x/not/mine`).value('sibling prefix');
    // Writes go on while the pages are read: none after the read revision may show up.
    let writing = true;
    let n = 0;
    const writes = (async () => {
      while (writing) await writer.put(`${prefix}/host/w${n++}/ip_addr_v4`).value('10.9.9.9');
    })();
    const { revision, kvs } = await readPrefix(writer, `${prefix}/`, 5);
    writing = false;
    await writes;
    const atRevision = await writer.getAll().prefix(`${prefix}/`).revision(revision).strings();
    expect(new Map(kvs.map((kv) => [kv.key, kv.value]))).toEqual(new Map(Object.entries(atRevision)));
    expect(kvs.length).toBeGreaterThanOrEqual(23);
    expect(kvs.map((kv) => kv.key)).toEqual([...kvs.map((kv) => kv.key)].sort()); // in key order, no page twice
    expect(n).toBeGreaterThan(0);
  });
});

describe('etcdSource with a real etcd', { timeout: 60_000 }, () => {
  it('emits the whole prefix as one resync batch at the read revision, UTF-8, prefix + "/" only', async () => {
    const prefix = newPrefix();
    await writer.put(`${prefix}/global/as_num`).value('64512');
    await writer.put(`${prefix}/host/n1/ip_addr_v4`).value('10.0.0.1');
    await writer.put(`${prefix}/host/nü/description`).value('grüße 🚀');
    await writer.put(`${prefix}x/not/mine`).value('sibling prefix');
    await writer.put(prefix).value('the prefix itself');
    const R = await currentRevision(etcd.endpoint);

    const rec = track(new Recorder(etcd.endpoint, prefix));
    await until('snapshot', () => rec.batches.length >= 1);
    await sleep(200);

    expect(rec.batches).toHaveLength(1);
    expect(rec.batches[0]).toEqual({
      revision: R,
      clusterId: expect.stringMatching(/^\d+$/),
      events: [
        {
          type: 'resync',
          revision: R,
          kvs: [
            { key: `${prefix}/global/as_num`, value: '64512' },
            { key: `${prefix}/host/n1/ip_addr_v4`, value: '10.0.0.1' },
            { key: `${prefix}/host/nü/description`, value: 'grüße 🚀' },
          ],
        },
      ],
    });
    expect(rec.statuses).toContainEqual({ kind: 'resynced', revision: R, keys: 3, cause: 'start', clusterId: rec.batches[0]?.clusterId });
    await until('connected', () => rec.statuses.some((s) => s.kind === 'connected'));
    expect(rec.statuses.find((s) => s.kind === 'connected')).toMatchObject({ resumeFrom: R + 1 });
  });

  it('delivers puts, deletes and multi-key transactions once each, in revision order', async () => {
    const prefix = newPrefix();
    await writer.put(`${prefix}/a`).value('1');
    const rec = track(new Recorder(etcd.endpoint, prefix));
    await until('snapshot', () => rec.batches.length >= 1);
    const R = rec.lastRevision();
    await until('connected', () => rec.statuses.some((s) => s.kind === 'connected'));

    await writer.put(`${prefix}/b`).value('2');
    await writer.put(`${prefix}/a`).value('1b');
    await writer.delete().key(`${prefix}/b`);
    await writer.put('/elsewhere/x').value('not watched');
    const txn = await writer
      .if(`${prefix}/c`, 'Create', '==', 0)
      .then(writer.put(`${prefix}/c`).value('3'), writer.put(`${prefix}/d`).value('4'))
      .commit();
    expect(txn.succeeded).toBe(true);
    const txnRev = Number(txn.header.revision);

    await until('txn events', () => rec.lastRevision() >= txnRev);
    await sleep(200);
    const changes = rec.changes();
    expect(changes.map((e) => [e.type, e.key, e.type === 'put' ? e.value : null, e.revision])).toEqual([
      ['put', `${prefix}/b`, '2', R + 1],
      ['put', `${prefix}/a`, '1b', R + 2],
      ['delete', `${prefix}/b`, null, R + 3],
      ['put', `${prefix}/c`, '3', txnRev],
      ['put', `${prefix}/d`, '4', txnRev],
    ]);
    // one watch response per transaction: the two puts of the txn arrive together
    const txnBatch = rec.batches.find((b) => b.events.some((e) => e.revision === txnRev));
    expect(txnBatch?.events).toHaveLength(2);
    expect(txnBatch?.revision).toBe(txnRev);
    expectWellOrdered(rec);
    expect(rec.fold()).toEqual(await etcdState(writer, prefix));
  });

  it('loses nothing written while it starts: every revision after R appears exactly once', async () => {
    const prefix = newPrefix();
    let stop = false;
    let n = 0;
    // A writer that never pauses, so writes land before, between and after
    // the snapshot read and the watch creation.
    const writing = (async () => {
      while (!stop) await writer.put(`${prefix}/k${n++ % 7}`).value(String(n));
    })();
    await sleep(100);
    const rec = track(new Recorder(etcd.endpoint, prefix));
    await until('snapshot', () => rec.batches.length >= 1);
    await sleep(500);
    stop = true;
    await writing;
    const final = await currentRevision(etcd.endpoint);
    await until('catch up', () => rec.lastRevision() >= final);

    const R = rec.resyncs()[0]?.revision ?? 0;
    expect(R).toBeGreaterThan(0);
    expect(rec.resyncs()).toHaveLength(1);
    const revs = rec.changes().map((e) => e.revision);
    // only this test writes, one key per revision: the revisions are exactly R+1..final
    expect(revs).toEqual(Array.from({ length: final - R }, (_, i) => R + 1 + i));
    expect(revs.length).toBeGreaterThan(5);
    expectWellOrdered(rec);
    expect(rec.fold()).toEqual(await etcdState(writer, prefix));
  });

  it('resumes after a network cut from the last revision + 1: writes made meanwhile arrive, nothing twice', async () => {
    const prefix = newPrefix();
    const proxy = await startTcpProxy(etcd.endpoint);
    proxies.push(proxy);
    await writer.put(`${prefix}/a`).value('1');
    const rec = track(new Recorder(proxy.endpoint, prefix));
    await until('connected', () => rec.statuses.some((s) => s.kind === 'connected'));
    await writer.put(`${prefix}/b`).value('2');
    await until('b', () => rec.changes().length === 1);
    const seen = rec.lastRevision();

    proxy.cut();
    await until('disconnected', () => rec.statuses.some((s) => s.kind === 'disconnected'));
    const connectedBefore = rec.statuses.filter((s) => s.kind === 'connected').length;
    await writer.put(`${prefix}/c`).value('3');
    await writer.delete().key(`${prefix}/a`);
    await writer.put(`${prefix}/b`).value('2b');
    await sleep(300);
    expect(rec.lastRevision()).toBe(seen); // really cut off
    proxy.restore();

    const final = await currentRevision(etcd.endpoint);
    await until('catch up', () => rec.lastRevision() >= final);
    await writer.put(`${prefix}/d`).value('4'); // and live again afterwards
    await until('d', () => rec.lastRevision() >= final + 1);
    await sleep(200);

    expect(rec.resyncs()).toHaveLength(1); // no resync: resumed, not re-read
    expect(rec.changes().map((e) => [e.type, e.key, e.revision])).toEqual([
      ['put', `${prefix}/b`, seen],
      ['put', `${prefix}/c`, seen + 1],
      ['delete', `${prefix}/a`, seen + 2],
      ['put', `${prefix}/b`, seen + 3],
      ['put', `${prefix}/d`, seen + 4],
    ]);
    const reconnect = rec.statuses.filter((s) => s.kind === 'connected')[connectedBefore];
    expect(reconnect).toMatchObject({ kind: 'connected', resumeFrom: seen + 1 });
    expectWellOrdered(rec);
    expect(rec.fold()).toEqual(await etcdState(writer, prefix));
  });

  it('survives etcd being killed and restarted on the same data dir', async () => {
    // The source talks through a proxy only so that the test can hold its
    // reconnect back until the writes made after the restart are in; etcd
    // itself is really killed and restarted.
    const prefix = newPrefix();
    const proxy = await startTcpProxy(etcd.endpoint);
    proxies.push(proxy);
    await etcdctl(etcd.endpoint, 'put', `${prefix}/a`, '1');
    const rec = track(new Recorder(proxy.endpoint, prefix));
    await until('connected', () => rec.statuses.some((s) => s.kind === 'connected'));
    await etcdctl(etcd.endpoint, 'put', `${prefix}/b`, '2');
    await until('b', () => rec.changes().length === 1);
    const seen = rec.lastRevision();

    const oldPid = etcd.pid;
    await etcd.kill('SIGKILL');
    await until('disconnected', () => rec.statuses.some((s) => s.kind === 'disconnected'));
    proxy.cut();
    const connectedBefore = rec.statuses.filter((s) => s.kind === 'connected').length;
    await etcd.restart();
    expect(etcd.pid).not.toBe(oldPid);
    await etcdctl(etcd.endpoint, 'put', `${prefix}/c`, '3');
    await etcdctl(etcd.endpoint, 'del', `${prefix}/a`);
    expect(rec.statuses.filter((s) => s.kind === 'connected').length).toBe(connectedBefore);
    proxy.restore();

    await until('reconnected', () => rec.statuses.filter((s) => s.kind === 'connected').length > connectedBefore);
    await etcdctl(etcd.endpoint, 'put', `${prefix}/d`, '4');
    const final = await currentRevision(etcd.endpoint);
    await until('catch up', () => rec.lastRevision() >= final);
    await sleep(200);

    expect(rec.resyncs()).toHaveLength(1);
    expect(rec.changes().map((e) => [e.type, e.key, e.revision])).toEqual([
      ['put', `${prefix}/b`, seen],
      ['put', `${prefix}/c`, seen + 1],
      ['delete', `${prefix}/a`, seen + 2],
      ['put', `${prefix}/d`, seen + 3],
    ]);
    expect(rec.statuses.filter((s) => s.kind === 'connected')[connectedBefore]).toMatchObject({
      resumeFrom: seen + 1,
    });
    expectWellOrdered(rec);
    expect(rec.fold()).toEqual(await etcdState(writer, prefix));
  });

  it('catches up on more than 1000 revisions (etcd sends them in chunks) with revisions in order', async () => {
    const prefix = newPrefix();
    const proxy = await startTcpProxy(etcd.endpoint);
    proxies.push(proxy);
    const rec = track(new Recorder(proxy.endpoint, prefix));
    await until('connected', () => rec.statuses.some((s) => s.kind === 'connected'));
    const R = rec.lastRevision();
    proxy.cut();
    await until('disconnected', () => rec.statuses.some((s) => s.kind === 'disconnected'));
    for (let i = 0; i < 2500; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => writer.put(`${prefix}/k${(i + j) % 100}`).value(String(i + j))));
    }
    const final = await currentRevision(etcd.endpoint);
    proxy.restore();
    await until('catch up', () => rec.lastRevision() >= final);
    expect(rec.changes().map((e) => e.revision)).toEqual(Array.from({ length: final - R }, (_, i) => R + 1 + i));
    expect(rec.batches.length).toBeGreaterThan(2); // really chunked
    expectWellOrdered(rec);
    expect(rec.fold()).toEqual(await etcdState(writer, prefix));
  });

  it('after compaction past its resume revision, re-reads everything and emits a new resync', async () => {
    const prefix = newPrefix();
    const proxy = await startTcpProxy(etcd.endpoint);
    proxies.push(proxy);
    await writer.put(`${prefix}/keep`).value('1');
    await writer.put(`${prefix}/gone`).value('1');
    const rec = track(new Recorder(proxy.endpoint, prefix));
    await until('connected', () => rec.statuses.some((s) => s.kind === 'connected'));
    await writer.put(`${prefix}/keep`).value('2');
    await until('keep=2', () => rec.changes().length === 1);
    const seen = rec.lastRevision();

    proxy.cut();
    await until('disconnected', () => rec.statuses.some((s) => s.kind === 'disconnected'));
    await writer.put(`${prefix}/keep`).value('3');
    await writer.delete().key(`${prefix}/gone`);
    await writer.put(`${prefix}/new`).value('n');
    const compactAt = await currentRevision(etcd.endpoint);
    expect(compactAt).toBeGreaterThan(seen + 1);
    await etcdctl(etcd.endpoint, 'compact', String(compactAt)); // revisions < compactAt are gone
    proxy.restore();

    await until('resync', () => rec.resyncs().length === 2);
    const resync = rec.resyncs()[1];
    expect(resync?.revision).toBe(compactAt);
    expect(resync?.kvs).toEqual([
      { key: `${prefix}/keep`, value: '3' },
      { key: `${prefix}/new`, value: 'n' },
    ]);
    // the batch carries only the resync, at its revision
    expect(rec.batches.at(-1)).toEqual({ revision: compactAt, events: [resync], clusterId: rec.batches[0]?.clusterId });
    expect(rec.statuses).toContainEqual({ kind: 'resynced', revision: compactAt, keys: 2, cause: 'compacted', after: seen, clusterId: rec.batches[0]?.clusterId });
    // the compacted revisions were not delivered as events
    expect(rec.changes().map((e) => e.revision)).toEqual([seen]);

    // and it watches again from compactAt + 1
    await until('connected again', () =>
      rec.statuses.some((s) => s.kind === 'connected' && s.resumeFrom === compactAt + 1),
    );
    await writer.put(`${prefix}/after`).value('x');
    await until('after', () => rec.lastRevision() === compactAt + 1);
    expect(rec.changes().at(-1)).toEqual({ type: 'put', key: `${prefix}/after`, value: 'x', revision: compactAt + 1 });
    expectWellOrdered(rec);
    expect(rec.fold()).toEqual(await etcdState(writer, prefix));
  });

  it('re-reads everything when another cluster answers (rebuilt: a new cluster id and an older revision)', async () => {
    const prefix = newPrefix();
    const fresh = await startEtcd({ name: 'fresh' });
    try {
      const proxy = await startTcpProxy(etcd.endpoint);
      proxies.push(proxy);
      await writer.put(`${prefix}/old`).value('1');
      const rec = track(new Recorder(proxy.endpoint, prefix));
      await until('connected', () => rec.statuses.some((s) => s.kind === 'connected'));
      const seen = rec.lastRevision();
      await etcdctl(fresh.endpoint, 'put', `${prefix}/new`, 'n');
      const freshRev = await currentRevision(fresh.endpoint);
      expect(freshRev).toBeLessThan(seen);

      proxy.cut();
      await until('disconnected', () => rec.statuses.some((s) => s.kind === 'disconnected'));
      proxy.retarget(fresh.endpoint);
      proxy.restore();
      await until('resync', () => rec.resyncs().length === 2);
      expect(rec.resyncs()[1]).toEqual({ type: 'resync', revision: freshRev, kvs: [{ key: `${prefix}/new`, value: 'n' }] });
      // The cluster id in the response header is checked first (a revision behind ours is 'reset', see etcd-resume.test.ts).
      expect(rec.statuses).toContainEqual(expect.objectContaining({ kind: 'resynced', cause: 'cluster', after: seen }));
      await until('connected to fresh', () =>
        rec.statuses.some((s) => s.kind === 'connected' && s.resumeFrom === freshRev + 1),
      );
      await etcdctl(fresh.endpoint, 'put', `${prefix}/new2`, 'n2');
      await until('new2', () => rec.changes().some((e) => e.key === `${prefix}/new2`));
      expect(rec.changes().at(-1)).toMatchObject({ type: 'put', revision: freshRev + 1 });
    } finally {
      for (const r of recorders.splice(0)) await r.close();
      await fresh.stop();
    }
  });

  it('keeps retrying with backoff while etcd is unreachable at start, then starts normally', async () => {
    const prefix = newPrefix();
    await writer.put(`${prefix}/a`).value('1');
    const proxy = await startTcpProxy(etcd.endpoint);
    proxies.push(proxy);
    proxy.cut();
    const rec = track(new Recorder(proxy.endpoint, prefix));
    await until('3 failed reads', () => rec.statuses.filter((s) => s.kind === 'disconnected').length >= 3);
    expect(rec.batches).toHaveLength(0);
    expect(rec.completed).toBe(false);
    expect(rec.error).toBeUndefined();
    const downs = rec.statuses.filter((s): s is Extract<EtcdStatus, { kind: 'disconnected' }> => s.kind === 'disconnected');
    expect(downs.map((s) => s.retryInMs)).toEqual(expect.arrayContaining([100, 200, 400]));
    for (const d of downs) {
      expect(d.reason).toMatch(/^etcd /);
      expect(d.reason).not.toMatch(/\n|\s at /);
    }

    proxy.restore();
    await until('snapshot', () => rec.batches.length === 1, 15_000);
    expect(rec.resyncs()[0]?.kvs).toEqual([{ key: `${prefix}/a`, value: '1' }]);
    await until('connected', () => rec.statuses.some((s) => s.kind === 'connected'));
    await writer.put(`${prefix}/b`).value('2');
    await until('b', () => rec.changes().length === 1);
  });

  it('unsubscribing cancels the watch on the server', async () => {
    const prefix = newPrefix();
    const watchers = async (): Promise<number> => {
      const text = await (await fetch(`${etcd.endpoint}/metrics`)).text();
      const m = /^etcd_debugging_mvcc_watcher_total (\d+)/m.exec(text);
      if (!m?.[1]) throw new Error('no etcd_debugging_mvcc_watcher_total metric');
      return Number(m[1]);
    };
    const before = await watchers();
    const client = createEtcdClient({ endpoints: [etcd.endpoint] });
    const batches: EtcdBatch[] = [];
    let connected = false;
    const source = etcdSource(() => client, { prefix });
    const sub = source.status$.subscribe((s) => (connected ||= s.kind === 'connected'));
    sub.add(source.batches$.subscribe((b) => batches.push(b)));
    await until('connected', () => connected);
    expect(await watchers()).toBe(before + 1);

    sub.unsubscribe();
    const deadline = Date.now() + 5_000;
    while ((await watchers()) !== before && Date.now() < deadline) await sleep(50);
    expect(await watchers()).toBe(before);
    await writer.put(`${prefix}/late`).value('1');
    await sleep(300);
    expect(batches).toHaveLength(1); // the snapshot only
    client.close();
  });
});

describe('createEtcdClient / etcdOptions', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rr-tls-'));
    writeFileSync(join(dir, 'ca.pem'), 'CA');
    writeFileSync(join(dir, 'cert.pem'), 'CERT');
    writeFileSync(join(dir, 'key.pem'), 'KEY');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lazyEtcdClient makes one client at the first get, and none after close', () => {
    const lazy = lazyEtcdClient(etcdOptions({ endpoints: ['http://127.0.0.1:1'] }));
    const a = lazy.get();
    expect(lazy.get()).toBe(a);
    lazy.close();
    expect(() => lazy.get()).toThrow('etcd client closed');
    const unused = lazyEtcdClient(etcdOptions({ endpoints: ['http://127.0.0.1:1'] }));
    unused.close(); // nothing was made: nothing to close
    expect(() => unused.get()).toThrow('etcd client closed');
  });

  it('names the variable of a TLS file it cannot read', () => {
    const cfg = { endpoints: ['https://127.0.0.1:2379'], caCertFile: '/nonexistent/ca.pem' };
    expect(() => createEtcdClient(cfg)).toThrow(ConfigError);
    expect(() => createEtcdClient(cfg)).toThrow('ETCD_CA_CERT_FILE=/nonexistent/ca.pem: cannot read (ENOENT)');
    expect(() =>
      createEtcdClient({ endpoints: ['http://x:2379'], certFile: join(dir, 'cert.pem'), keyFile: dir }),
    ).toThrow(`ETCD_KEY_FILE=${dir}: cannot read (EISDIR)`);
  });

  it('requires cert and key together and refuses mixed schemes', () => {
    expect(() => etcdOptions({ endpoints: ['https://a:2379'], certFile: join(dir, 'cert.pem') })).toThrow(
      /ETCD_CERT_FILE and ETCD_KEY_FILE/,
    );
    expect(() => etcdOptions({ endpoints: ['https://a:2379', 'http://b:2379'] })).toThrow(ConfigError);
  });

  it('builds hosts, credentials and auth', () => {
    const o = etcdOptions({
      endpoints: ['https://a:2379', 'https://b:2379'],
      caCertFile: join(dir, 'ca.pem'),
      certFile: join(dir, 'cert.pem'),
      keyFile: join(dir, 'key.pem'),
      username: 'rr',
      password: 'pw',
    });
    expect(o.hosts).toEqual(['https://a:2379', 'https://b:2379']);
    expect(o.credentials?.rootCertificate.toString()).toBe('CA');
    expect(o.credentials?.certChain?.toString()).toBe('CERT');
    expect(o.credentials?.privateKey?.toString()).toBe('KEY');
    expect(o.auth).toMatchObject({ username: 'rr', password: 'pw' });

    const plain = etcdOptions({ endpoints: ['http://127.0.0.1:2379'] });
    expect(plain.credentials).toBeUndefined();
    expect(plain.auth).toBeUndefined();
  });

  it('describes a refused connection in one line', async () => {
    const client = createEtcdClient({ endpoints: ['http://127.0.0.1:1'] });
    try {
      const err = await client.get('x').then(
        () => undefined,
        (e: unknown) => e,
      );
      const line = describeEtcdError(err);
      expect(line).toMatch(/^etcd unavailable: .*ECONNREFUSED 127\.0\.0\.1:1/);
      expect(line).not.toContain('\n');
    } finally {
      client.close();
    }
    expect(describeEtcdError(new ConfigError('ETCD_X=1: bad'))).toBe('ETCD_X=1: bad');
  });
});
