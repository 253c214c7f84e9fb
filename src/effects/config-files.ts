/**
 * Config files on disk: staged next to the target, checked, then renamed
 * over it, so bird.cfg / bird6.cfg are always complete files that BIRD
 * accepted (an agent killed mid-write leaves at most a stale stage file).
 */
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Family } from '../core/events.js';
import { CONFIG_FILE } from '../core/render.js';

export const configPath = (dir: string, family: Family): string => join(dir, CONFIG_FILE[family]);
export const stagePath = (dir: string, family: Family): string => join(dir, `.${CONFIG_FILE[family]}.stage`);

/** A config's bytes; text is ASCII (render refuses anything else), so single-byte encoding is a plain copy. */
const bytesOf = (config: Buffer | string): Buffer => (typeof config === 'string' ? Buffer.from(config, 'latin1') : config);

async function writeSynced(path: string, config: Buffer | string): Promise<void> {
  const fh = await open(path, 'w', 0o644);
  try {
    await fh.writeFile(bytesOf(config));
    await fh.chmod(0o644);
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
export async function writeStage(dir: string, family: Family, config: Buffer | string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = stagePath(dir, family);
  try {
    await writeSynced(path, config);
  } catch (err) {
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
}

/** The installed config, or undefined when there is none yet. */
export async function readInstalled(dir: string, family: Family): Promise<Buffer | undefined> {
  try {
    return await readFile(configPath(dir, family));
  } catch {
    return undefined;
  }
}

/** Write a config directly (the one-shot `render` command, after its own check). */
export async function writeConfig(dir: string, family: Family, config: Buffer | string): Promise<string> {
  await writeStage(dir, family, config);
  await installStage(dir, family);
  return configPath(dir, family);
}
