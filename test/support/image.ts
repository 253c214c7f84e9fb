/**
 * What the image declares, read from its sources so that the tests run the
 * image as it is built: image/capabilities (the container's capability set,
 * one a line, `#` comments) and the runtime stage of the Dockerfile (USER,
 * ENV, VOLUME, ENTRYPOINT, HEALTHCHECK).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './s6.js';

export function imageCapabilities(text = readFileSync(join(REPO, 'image', 'capabilities'), 'utf8')): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l !== '');
}

export interface ImageRuntime {
  /** USER, e.g. "65532:65532". */
  user: string;
  env: Record<string, string>;
  volumes: string[];
  entrypoint: string[];
  /** The HEALTHCHECK's CMD (exec form). */
  healthcheck: string[];
}

/** The Dockerfile's last stage. Only the forms this Dockerfile uses: exec-form JSON arrays, ENV name=value pairs. */
export function imageRuntime(text = readFileSync(join(REPO, 'Dockerfile'), 'utf8')): ImageRuntime {
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  const last = lines.reduce((at, l, i) => (/^FROM\s/i.test(l) ? i : at), 0);
  const r: ImageRuntime = { user: '0', env: {}, volumes: [], entrypoint: [], healthcheck: [] };
  for (const l of lines.slice(last)) {
    const m = /^(\w+)\s+(.*)$/.exec(l.trim());
    if (!m?.[1] || m[2] === undefined) continue;
    const [, op, rest] = m;
    const args = rest.trim();
    switch (op.toUpperCase()) {
      case 'USER':
        r.user = args;
        break;
      case 'ENV':
        for (const kv of args.split(/\s+/)) {
          const eq = kv.indexOf('=');
          if (eq <= 0) throw new Error(`Dockerfile ENV: expected name=value, got ${kv}`);
          r.env[kv.slice(0, eq)] = kv.slice(eq + 1);
        }
        break;
      case 'VOLUME':
        r.volumes.push(...(JSON.parse(args) as string[]));
        break;
      case 'ENTRYPOINT':
        r.entrypoint = JSON.parse(args) as string[];
        break;
      case 'HEALTHCHECK': {
        const cmd = /\bCMD\s+(\[.*\])\s*$/.exec(args);
        if (!cmd?.[1]) throw new Error('Dockerfile HEALTHCHECK: expected CMD [...]');
        r.healthcheck = JSON.parse(cmd[1]) as string[];
        break;
      }
      default:
    }
  }
  return r;
}
