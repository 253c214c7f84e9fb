/**
 * Config files on disk: staged next to the target, checked, then renamed
 * over it, so bird.cfg / bird6.cfg are always complete files that BIRD
 * accepted (an agent killed mid-write leaves at most a stale stage file).
 *
 * The stage file is itself written beside it (`.bird.cfg.stage.tmp`) and
 * renamed into place: BIRD may be told to read the stage file
 * (`configure "<stage>"`) and, when an earlier such command timed out, read
 * it late; it must then find a complete file, never one being written.
 */
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Family } from '../core/events.js';
import { byteLength, joinBytes, type ConfigBytes } from '../core/config-bytes.js';
import { CONFIG_FILE, holdsPassword } from '../core/render.js';

export const configPath = (dir: string, family: Family): string => join(dir, CONFIG_FILE[family]);
const stagePath = (dir: string, family: Family): string => join(dir, `.${CONFIG_FILE[family]}.stage`);
const stageTmpPath = (dir: string, family: Family): string => `${stagePath(dir, family)}.tmp`;

/** A config's bytes: text is ASCII (render refuses anything else), so single-byte encoding is a plain copy. */
const partsOf = (config: ConfigBytes | Buffer | string): ConfigBytes =>
  typeof config === 'string' ? [Buffer.from(config, 'latin1')] : Buffer.isBuffer(config) ? [config] : config;

/** At most this many parts per writev (the system's IOV_MAX is 1024). */
const PARTS_PER_WRITE = 512;

/** A config that holds a BGP password is readable by its owner only (BIRD runs as the agent's user). */
const modeOf = (parts: ConfigBytes): number => (holdsPassword(parts) ? 0o600 : 0o644);

async function writeSynced(path: string, config: ConfigBytes | Buffer | string): Promise<void> {
  const parts = partsOf(config);
  const mode = modeOf(parts);
  const fh = await open(path, 'w', 0o600);
  try {
    await fh.chmod(mode); // before any byte: a stage file left over with another mode
    for (let i = 0; i < parts.length; i += PARTS_PER_WRITE) {
      let batch = parts.slice(i, i + PARTS_PER_WRITE);
      let want = byteLength(batch);
      for (;;) {
        const { bytesWritten } = await fh.writev(batch);
        if (bytesWritten === want) break;
        if (bytesWritten <= 0) throw new Error(`short write to ${path}`);
        // A short write (rare on a regular file): go on from where it stopped.
        const rest = joinBytes(batch).subarray(bytesWritten);
        batch = [rest];
        want = rest.length;
      }
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Write the stage file for a family and return its path. */
export async function writeStage(dir: string, family: Family, config: ConfigBytes | Buffer | string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const tmp = stageTmpPath(dir, family);
  const path = stagePath(dir, family);
  try {
    await writeSynced(tmp, config);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    await rm(path, { force: true }).catch(() => undefined);
    throw err;
  }
  return path;
}

/** Atomically replace the family's config by its stage file. */
export async function installStage(dir: string, family: Family): Promise<void> {
  await rename(stagePath(dir, family), configPath(dir, family));
  await syncDir(dir);
}

export async function discardStage(dir: string, family: Family): Promise<void> {
  await rm(stagePath(dir, family), { force: true });
  await rm(stageTmpPath(dir, family), { force: true });
}

/** The installed config, or undefined when there is none yet. */
export async function readInstalled(dir: string, family: Family): Promise<Buffer | undefined> {
  try {
    return await readFile(configPath(dir, family));
  } catch {
    return undefined;
  }
}

