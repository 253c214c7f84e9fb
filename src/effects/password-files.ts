/**
 * The start-up step that reads BGP_PASSWORD_DIR (core/password-files.ts says
 * what its files mean): every regular file of the directory, symbolic links
 * followed (a Kubernetes Secret's files are links into `..data`). Read once:
 * a changed file takes effect when the agent restarts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type AgentConfig } from '../core/config.js';
import { parsePasswordFiles, type PasswordFileEntry, type PasswordFiles } from '../core/password-files.js';

/** Files larger than this cannot hold a password (80 characters at most): not read. */
const MAX_FILE_BYTES = 4096;

function readEntries(dir: string): PasswordFileEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new ConfigError(`BGP_PASSWORD_DIR=${JSON.stringify(dir)}: cannot read the directory (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const entries: PasswordFileEntry[] = [];
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    let size: number;
    try {
      const st = statSync(path);
      if (!st.isFile()) continue;
      size = st.size;
    } catch {
      continue; // a dangling link: no file
    }
    if (size > MAX_FILE_BYTES) throw new ConfigError(`BGP_PASSWORD_DIR: ${path}: ${size} bytes, not a password (at most 80 characters)`);
    entries.push({ name, text: readFileSync(path, 'latin1') });
  }
  return entries;
}

/** Reads the directory's passwords; any bad file is a ConfigError (the CLI: message, exit 2). */
export function readPasswordFiles(dir: string): PasswordFiles {
  const r = parsePasswordFiles(dir, readEntries(dir));
  if (!r.ok) throw new ConfigError(`BGP_PASSWORD_DIR: ${r.errors.join('; ')}`);
  return r.value;
}

/** The config with BGP_PASSWORD_DIR's passwords, when it names a directory. */
export const withPasswordFiles = (cfg: AgentConfig): AgentConfig =>
  cfg.passwordDir === undefined ? cfg : { ...cfg, passwords: readPasswordFiles(cfg.passwordDir) };
