/**
 * deploy/kubernetes/ without a cluster (issue 17):
 *
 * 1. every manifest is valid against the Kubernetes API schema of a current
 *    release: kubernetes-models' validators (the OpenAPI schema of
 *    Kubernetes 1.34: types, required fields, formats) and, because an
 *    OpenAPI schema lets unknown fields through, the same package's types
 *    through the TypeScript compiler (an object literal with a field the API
 *    does not have, e.g. a misspelt `readOnlyRootFilesytem`, fails there);
 * 2. what the manifests say about the agent and the image is what the agent
 *    and the image do: env names read by src/core/config.ts, the values
 *    parsed by configFromEnv itself, the HTTP port and probe paths served by
 *    src/effects/http-server.ts, the capability set of image/capabilities,
 *    the writable volumes of the Dockerfile, the image tag of package.json.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parsePasswordFiles } from '../../src/core/password-files.js';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonSet, type IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { configFromEnv, parseHttpListen } from '../../src/core/config.js';
import { imageRuntime } from '../support/image.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIR = join(REPO, 'deploy', 'kubernetes');
const read = (path: string): string => readFileSync(join(REPO, path), 'utf8');

interface Validatable {
  validate(): void;
}
/** apiVersion + kind -> the model (runtime schema) and its type (for the compile-time check). */
const MODELS: Record<string, { model: new (data: never) => Validatable; module: string; type: string }> = {
  'apps/v1 DaemonSet': { model: DaemonSet, module: 'kubernetes-models/apps/v1/DaemonSet', type: 'IDaemonSet' },
  'policy/v1 PodDisruptionBudget': { model: PodDisruptionBudget, module: 'kubernetes-models/policy/v1/PodDisruptionBudget', type: 'IPodDisruptionBudget' },
  'v1 Namespace': { model: Namespace, module: 'kubernetes-models/v1/Namespace', type: 'INamespace' },
  'v1 Secret': { model: Secret, module: 'kubernetes-models/v1/Secret', type: 'ISecret' },
};

interface Doc {
  file: string;
  key: string;
  obj: Record<string, unknown>;
}

function parseDocs(file: string, text: string): Doc[] {
  return parseAllDocuments(text).map((d, i) => {
    if (d.errors.length > 0) throw new Error(`${file} document ${i}: ${d.errors.map((e) => e.message).join('; ')}`);
    const obj = d.toJS() as Record<string, unknown>;
    return { file, key: `${String(obj['apiVersion'])} ${String(obj['kind'])}`, obj };
  });
}

const manifestFiles = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
const docs: Doc[] = manifestFiles.flatMap((f) => parseDocs(f, readFileSync(join(DIR, f), 'utf8')));

/** Schema errors from the models (runtime) for one document, '' when valid. */
function modelErrors(d: Doc): string {
  const m = MODELS[d.key];
  if (!m) return `${d.file}: no model for ${d.key}`;
  try {
    new m.model(d.obj as never).validate();
    return '';
  } catch (e) {
    return `${d.file} (${d.key}): ${e instanceof Error ? e.message : String(e)}`;
  }
}

/**
 * Compile-time errors (unknown fields, wrong literal types) for documents:
 * each one an object literal typed with the model's interface, in a virtual
 * file next to the tests so kubernetes-models resolves from node_modules.
 */
function typeErrors(list: readonly Doc[]): string[] {
  const virtual = join(REPO, 'test', 'unit', '__kubernetes_manifests__.ts');
  const keys = [...new Set(list.map((d) => d.key))];
  const header = keys
    .map((k, i) => {
      const m = MODELS[k];
      if (!m) throw new Error(`no model for ${k}`);
      return `import type { ${m.type} as T${i} } from '${m.module}';`;
    })
    .join('\n');
  const body = list.map((d, i) => `export const doc${i}: T${keys.indexOf(d.key)} = ${JSON.stringify(d.obj, null, 1)};`);
  const source = `${header}\n${body.join('\n')}\n`;
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (name === virtual ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest));
  host.fileExists = (name) => name === virtual || fileExists(name);
  host.readFile = (name) => (name === virtual ? source : readFile(name));
  const program = ts.createProgram([virtual], options, host);
  const starts = body.map((_, i) => source.indexOf(`export const doc${i}:`));
  return ts.getPreEmitDiagnostics(program).map((diag) => {
    const at = diag.start ?? 0;
    const i = starts.filter((s) => s <= at).length - 1;
    const d = list[i];
    return `${d ? `${d.file} (${d.key})` : 'header'}: ${ts.flattenDiagnosticMessageText(diag.messageText, '\n')}`;
  });
}

const daemonSets = docs.filter((d) => d.key === 'apps/v1 DaemonSet').map((d) => ({ file: d.file, ds: d.obj as unknown as IDaemonSet }));
const budgets = docs.filter((d) => d.key === 'policy/v1 PodDisruptionBudget').map((d) => ({ file: d.file, pdb: d.obj as unknown as IPodDisruptionBudget }));

function container(ds: IDaemonSet) {
  const c = ds.spec?.template.spec?.containers[0];
  if (!c) throw new Error(`${ds.metadata?.name}: no container`);
  return c;
}

/** The Dockerfile's last stage: ENV name=value pairs and VOLUME paths. */
function dockerfile(): { env: Record<string, string>; volumes: string[] } {
  const text = read('Dockerfile').replace(/\\\n/g, ' ');
  const lines = text.split('\n').map((l) => l.trim());
  const froms = lines.flatMap((l, i) => (/^FROM\s/i.test(l) ? [i] : []));
  const stage = lines.slice(froms[froms.length - 1] ?? 0);
  const env: Record<string, string> = {};
  const volumes: string[] = [];
  for (const l of stage) {
    const m = /^(ENV|VOLUME)\s+(.*)$/i.exec(l);
    if (!m) continue;
    const args = m[2] ?? '';
    if (m[1]?.toUpperCase() === 'ENV') {
      for (const [, k, v] of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) env[k!] = v!.replace(/^"|"$/g, '');
    } else {
      volumes.push(...(args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/)));
    }
  }
  return { env, volumes };
}

/** Env names the agent reads (src/core/config.ts: present/integer/flag/socketPath(env, 'NAME'), file('NAME'), env['NAME']). */
function agentEnvNames(): Set<string> {
  const src = read('src/core/config.ts');
  const names = new Set<string>();
  for (const m of src.matchAll(/\b(?:present|integer|flag|socketPath|integerFromEnv|file)\((?:env, )?'([A-Z0-9_]+)'|env\['([A-Z0-9_]+)'\]/g)) names.add((m[1] ?? m[2])!);
  return names;
}

/** The manifest's env with downward-API, secret and $(VAR) values resolved as the kubelet would, for a sample node. */
function resolvedEnv(ds: IDaemonSet, node: { hostIP: string; hostIPs: string }, secret: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of container(ds).env ?? []) {
    let v: string | undefined;
    if (e.value !== undefined) v = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, name: string) => out[name] ?? all);
    else if (e.valueFrom?.fieldRef) v = { 'status.hostIP': node.hostIP, 'status.hostIPs': node.hostIPs }[e.valueFrom.fieldRef.fieldPath];
    else if (e.valueFrom?.secretKeyRef) v = secret[e.valueFrom.secretKeyRef.key];
    if (v !== undefined) out[e.name] = v;
  }
  return out;
}

describe('deploy/kubernetes: the Kubernetes API schema', () => {
  it('has the manifests the README names, each document of a kind the API validates', () => {
    expect(manifestFiles).toEqual(['bgp-passwords-secret.example.yaml', 'cluster-1.0.0.1.yaml', 'etcd-secret.example.yaml', 'namespace.yaml']);
    expect(docs.map((d) => `${d.file}: ${d.key}`)).toEqual([
      'bgp-passwords-secret.example.yaml: v1 Secret',
      'cluster-1.0.0.1.yaml: apps/v1 DaemonSet',
      'cluster-1.0.0.1.yaml: policy/v1 PodDisruptionBudget',
      'etcd-secret.example.yaml: v1 Secret',
      'namespace.yaml: v1 Namespace',
    ]);
  });

  it('every document passes the API schema (kubernetes-models validate)', () => {
    expect(docs.map(modelErrors).filter((e) => e !== '')).toEqual([]);
  });

  it('every document has only fields the API knows, of the right types (kubernetes-models types, tsc)', () => {
    expect(typeErrors(docs)).toEqual([]);
  }, 60_000);

  it('the checks are not vacuous: a misspelt field, a wrong type and a missing required field each fail', () => {
    const ds = daemonSets[0]!;
    const doc = (mutate: (o: Record<string, any>) => void): Doc => {
      const obj = structuredClone(ds.ds) as unknown as Record<string, any>;
      mutate(obj);
      return { file: ds.file, key: 'apps/v1 DaemonSet', obj };
    };
    const misspelt = doc((o) => {
      const sc = o['spec'].template.spec.containers[0].securityContext;
      sc.readOnlyRootFilesytem = sc.readOnlyRootFilesystem;
      delete sc.readOnlyRootFilesystem;
    });
    expect(typeErrors([misspelt]).join('\n')).toMatch(/readOnlyRootFilesytem/);
    expect(modelErrors(doc((o) => (o['spec'].template.spec.containers[0].ports[1].containerPort = '9099')))).toMatch(/containerPort must be integer/);
    expect(modelErrors(doc((o) => delete o['spec'].selector))).toMatch(/must have required property '?selector/);
  }, 60_000);

  it('kustomization.yaml applies every manifest but the example Secret', () => {
    const k = parseDocs('kustomization.yaml', readFileSync(join(DIR, 'kustomization.yaml'), 'utf8'))[0]!.obj;
    expect(k['apiVersion']).toBe('kustomize.config.k8s.io/v1beta1');
    expect(k['kind']).toBe('Kustomization');
    expect([...(k['resources'] as string[])].sort()).toEqual(manifestFiles.filter((f) => !f.endsWith('.example.yaml')));
  });
});

describe('deploy/kubernetes: what the agent and the image really use', () => {
  const { env: imageEnv, volumes: imageVolumes } = dockerfile();
  const sampleNode = { hostIP: '10.0.0.1', hostIPs: '10.0.0.1,fd00::1' };
  const sampleSecret = { endpoints: 'https://10.0.0.10:2379,https://10.0.0.11:2379' };

  it("capabilities: drop ALL, add exactly image/capabilities; no privilege, the image's user, read-only root", () => {
    const wanted = read('image/capabilities')
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter((l) => l !== '')
      .sort();
    expect(wanted.length).toBeGreaterThan(0);
    for (const { ds } of daemonSets) {
      const sc = container(ds).securityContext;
      expect(sc?.capabilities?.drop).toEqual(['ALL']);
      expect([...(sc?.capabilities?.add ?? [])].sort()).toEqual(wanted);
      expect(sc?.privileged ?? false).toBe(false);
      // The image's user; escalation stays allowed for BIRD's file capability only (README "Least privilege").
      expect(String(sc?.runAsUser)).toBe(imageRuntime().user.split(':')[0]);
      expect(sc?.runAsNonRoot).toBe(true);
      expect(sc?.allowPrivilegeEscalation).toBe(true);
      expect(sc?.readOnlyRootFilesystem).toBe(true);
      expect(ds.spec?.template.spec?.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
      expect(ds.spec?.template.spec?.hostNetwork).toBe(true);
    }
  });

  it('env: every name is one src/core/config.ts reads, and configFromEnv accepts the values a node gives', () => {
    const names = agentEnvNames();
    expect(names.has('IP') && names.has('HTTP_LISTEN')).toBe(true);
    for (const { ds } of daemonSets) {
      const c = container(ds);
      expect((c.env ?? []).map((e) => e.name).filter((n) => !names.has(n))).toEqual([]);
      const env = resolvedEnv(ds, sampleNode, sampleSecret);
      const cfg = configFromEnv({ ...imageEnv, ...env });
      expect(cfg.ip).toBe('10.0.0.1');
      expect(cfg.ip6).toBe('fd00::1');
      expect(cfg.etcd.endpoints).toEqual(['https://10.0.0.10:2379', 'https://10.0.0.11:2379']);
      expect(cfg.httpListen).toEqual({ host: '10.0.0.1', port: 9099 });
      // An IPv4-only node: no IP6, still valid.
      expect(configFromEnv({ ...imageEnv, ...resolvedEnv(ds, { hostIP: '10.0.0.2', hostIPs: '10.0.0.2' }, sampleSecret) }).ip6).toBeUndefined();
    }
  });

  it('TLS files: each ETCD_*_FILE is a key of the etcd Secret, mounted read-only where the env says', () => {
    for (const { ds } of daemonSets) {
      const c = container(ds);
      const volumes = ds.spec?.template.spec?.volumes ?? [];
      const cfg = configFromEnv({ ...imageEnv, ...resolvedEnv(ds, sampleNode, sampleSecret) });
      for (const file of [cfg.etcd.caCertFile, cfg.etcd.certFile, cfg.etcd.keyFile]) {
        expect(file).toBeDefined();
        const mount = (c.volumeMounts ?? []).find((m) => posix.dirname(file!) === m.mountPath);
        expect(mount?.readOnly).toBe(true);
        const vol = volumes.find((v) => v.name === mount?.name);
        expect(vol?.secret?.secretName).toBe('routereflector-etcd');
        expect(vol?.secret?.items?.map((i) => i.path)).toContain(posix.basename(file!));
      }
      for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) expect(e.valueFrom.secretKeyRef.name).toBe('routereflector-etcd');
    }
    const example = docs.find((d) => d.file === 'etcd-secret.example.yaml')!.obj as { metadata: { name: string }; stringData: Record<string, string> };
    expect(example.metadata.name).toBe('routereflector-etcd');
    const used = daemonSets.flatMap(({ ds }) => [
      ...(container(ds).env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef && !e.valueFrom.secretKeyRef.optional ? [e.valueFrom.secretKeyRef.key] : [])),
      ...(ds.spec?.template.spec?.volumes ?? []).flatMap((v) => v.secret?.items?.map((i) => i.key) ?? []),
    ]);
    expect(Object.keys(example.stringData).sort()).toEqual([...new Set(used)].sort());
  });

  it('BGP passwords: BGP_PASSWORD_DIR is an optional Secret mounted read-only there, and the example Secret is what the agent reads', () => {
    const example = docs.find((d) => d.file === 'bgp-passwords-secret.example.yaml')!.obj as { metadata: { name: string }; stringData: Record<string, string> };
    for (const { ds } of daemonSets) {
      const c = container(ds);
      const cfg = configFromEnv({ ...imageEnv, ...resolvedEnv(ds, sampleNode, sampleSecret) });
      expect(cfg.passwordDir).toBeDefined();
      const mount = (c.volumeMounts ?? []).find((m) => m.mountPath === cfg.passwordDir);
      expect(mount?.readOnly).toBe(true);
      const vol = (ds.spec?.template.spec?.volumes ?? []).find((v) => v.name === mount?.name);
      expect(vol?.secret?.secretName).toBe(example.metadata.name);
      expect(vol?.secret?.optional).toBe(true);
    }
    // Its keys are file names the agent takes (addresses, default): parsed as the mounted files would be.
    const parsed = parsePasswordFiles('/bgp-passwords', Object.entries(example.stringData).map(([name, text]) => ({ name, text })));
    expect(parsed.ok ? [...parsed.value.byAddress.keys(), parsed.value.fallback !== undefined] : parsed.errors).toEqual(['10.0.9.1', 'fd00:9::1', true]);
  });

  it('HTTP: the port of HTTP_LISTEN is the container port the probes and the scrape annotation use; the paths are served', () => {
    const server = read('src/effects/http-server.ts');
    for (const path of ['/livez', '/readyz', '/metrics']) expect(server).toContain(`case '${path}':`);
    for (const { ds } of daemonSets) {
      const c = container(ds);
      const listen = parseHttpListen(resolvedEnv(ds, sampleNode, sampleSecret)['HTTP_LISTEN']);
      const port = (c.ports ?? []).find((p) => p.containerPort === listen?.port);
      expect(port?.name).toBe('http');
      expect(c.startupProbe?.httpGet?.path).toBe('/livez');
      expect(c.livenessProbe?.httpGet?.path).toBe('/livez');
      expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
      for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) {
        expect([port?.name, port?.containerPort]).toContain(probe?.httpGet?.port);
        expect(probe?.httpGet?.host).toBeUndefined(); // the pod IP: the node's address the agent listens on
      }
      const ann = ds.spec?.template.metadata?.annotations ?? {};
      expect(ann).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(listen?.port), 'prometheus.io/path': '/metrics' });
      expect((c.ports ?? []).find((p) => p.name === 'bgp')?.containerPort).toBe(179);
    }
  });

  it('volumes: writable exactly where the image has its VOLUMEs, and the config and sockets live there', () => {
    expect(imageVolumes.length).toBeGreaterThan(0);
    for (const { ds } of daemonSets) {
      const c = container(ds);
      const volumes = ds.spec?.template.spec?.volumes ?? [];
      const writable = (c.volumeMounts ?? []).filter((m) => !m.readOnly && volumes.find((v) => v.name === m.name)?.emptyDir !== undefined).map((m) => m.mountPath);
      expect(writable.sort()).toEqual([...imageVolumes].sort());
      expect((c.volumeMounts ?? []).filter((m) => !m.readOnly).map((m) => m.mountPath).sort()).toEqual(writable);
      const cfg = configFromEnv({ ...imageEnv, ...resolvedEnv(ds, sampleNode, sampleSecret) });
      for (const dir of [cfg.configDir, posix.dirname(cfg.birdSocket), posix.dirname(cfg.bird6Socket)]) expect(writable).toContain(dir);
    }
  });

  it("the README's In Kubernetes section states the manifests' figures", () => {
    const readme = read('README.md');
    const section = readme.slice(readme.indexOf('### In Kubernetes'), readme.indexOf('### Without Docker')).replace(/\s+/g, ' ');
    for (const f of manifestFiles) expect(section).toContain(`\`${f}\``);
    for (const { ds } of daemonSets) {
      const c = container(ds);
      const mib = (q: unknown): string => String(q).replace(/Mi$/, ' MiB');
      expect(section).toContain(`memory request ${mib(c.resources?.requests?.['memory'])}`);
      expect(section).toContain(`limit ${mib(c.resources?.limits?.['memory'])}`);
      expect(section).toContain(`CPU request ${String(c.resources?.requests?.['cpu'])} and no CPU limit`);
      expect(c.resources?.limits?.['cpu']).toBeUndefined();
      expect(section).toContain(`\`minReadySeconds: ${ds.spec?.minReadySeconds}\``);
      const window = (p: typeof c.startupProbe): number => (p?.periodSeconds ?? 10) * (p?.failureThreshold ?? 3);
      expect(window(c.startupProbe)).toBe(600);
      expect(section).toContain('waits up to 10 minutes for `/livez`');
      expect(window(c.livenessProbe)).toBe(60);
      expect(section).toContain('after a minute without `/livez`');
    }
  });

  it('the image is the one this checkout builds (tag = package.json version)', () => {
    const version = (JSON.parse(read('package.json')) as { version: string }).version;
    for (const { ds } of daemonSets) expect(container(ds).image).toBe(`routereflector:${version}`);
  });
});

describe('deploy/kubernetes: one DaemonSet and one budget per cluster id', () => {
  const clusterLabel = 'routereflector/cluster-id';

  function check(file: string, text: string, id: string): void {
    const list = parseDocs(file, text);
    const ds = list.find((d) => d.key === 'apps/v1 DaemonSet')!.obj as unknown as IDaemonSet;
    const pdb = list.find((d) => d.key === 'policy/v1 PodDisruptionBudget')!.obj as unknown as IPodDisruptionBudget;
    expect(ds.metadata?.name).toBe(`routereflector-${id}`);
    expect(pdb.metadata?.name).toBe(`routereflector-${id}`);
    expect(ds.spec?.template.spec?.nodeSelector).toEqual({ [clusterLabel]: id });
    const podLabels = ds.spec?.template.metadata?.labels ?? {};
    expect(podLabels[clusterLabel]).toBe(id);
    expect(ds.spec?.selector.matchLabels).toEqual(podLabels);
    expect(pdb.spec?.selector?.matchLabels).toEqual(podLabels);
    expect(pdb.spec?.maxUnavailable).toBe(1);
    expect(ds.spec?.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
    expect(container(ds).env?.find((e) => e.name === 'RR_CLUSTER_ID')?.value).toBe(id);
    expect(configFromEnv({ IP: '10.0.0.1', RR_CLUSTER_ID: id }).rrClusterId).toBe(id);
    expect(list.map(modelErrors).filter((e) => e !== '')).toEqual([]);
  }

  it('cluster-1.0.0.1.yaml: names, pod labels, node selector, RR_CLUSTER_ID and budget agree; at most one RR of it down', () => {
    check('cluster-1.0.0.1.yaml', readFileSync(join(DIR, 'cluster-1.0.0.1.yaml'), 'utf8'), '1.0.0.1');
  });

  it("the README's recipe for another cluster id (sed 's/1\\.0\\.0\\.1/1.0.0.2/g') gives a valid, consistent manifest", () => {
    expect(read('README.md')).toContain("sed 's/1\\.0\\.0\\.1/1.0.0.2/g' deploy/kubernetes/cluster-1.0.0.1.yaml > deploy/kubernetes/cluster-1.0.0.2.yaml");
    const text = readFileSync(join(DIR, 'cluster-1.0.0.1.yaml'), 'utf8').replace(/1\.0\.0\.1/g, '1.0.0.2');
    check('cluster-1.0.0.2.yaml', text, '1.0.0.2');
  });
});
