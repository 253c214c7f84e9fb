/**
 * BGP passwords from a mounted secret directory (BGP_PASSWORD_DIR): one file
 * per neighbour address, and `default` for every client and mesh session
 * that has no password of its own. A Kubernetes Secret or a Docker secret
 * mounted as a directory gives exactly this shape.
 *
 * - A file's name is the neighbour's address: `10.0.0.5`, `fd00::5`, or, as
 *   a Kubernetes Secret key cannot hold `:`, the IPv6 address with `-` for
 *   every `:` (`fd00--5`). Two names for one address are an error.
 * - `default`: the password of every client and mesh session without one
 *   (never of an own peer: a router outside the fabric gets a password only
 *   from its own file or its peer value).
 * - Names that begin with `.` are skipped: Kubernetes keeps its `..data`
 *   link and timestamped directories beside the files.
 * - A file's text, less one trailing newline, is the password, validated as
 *   a peer value's `password` is (core/secret.ts). A reason names the file,
 *   never its text.
 *
 * Precedence (core/bgp-rules.ts): the peer value's `password`, then the
 * file of the address, then `default`.
 */
import { parseIPv4, parseIPv6 } from './addresses.js';
import { parsePassword, type Secret } from './secret.js';

export interface PasswordFiles {
  /** The directory they were read from (for log lines and `explain`). */
  readonly dir: string;
  /** By canonical neighbour address (IPv6 in RFC 5952 form). */
  readonly byAddress: ReadonlyMap<string, Secret>;
  /** `default`: every client and mesh session without a password of its own. */
  readonly fallback?: Secret;
}

/** A file of the directory as the driver read it. */
export interface PasswordFileEntry {
  readonly name: string;
  readonly text: string;
}

export const DEFAULT_PASSWORD_FILE = 'default';

/** The neighbour address a file name stands for, or undefined when it names none. */
export function addressOfFileName(name: string): string | undefined {
  const v4 = parseIPv4(name);
  if (v4.ok) return v4.value;
  const v6 = parseIPv6(name.includes(':') ? name : name.replace(/-/g, ':'));
  return v6.ok ? v6.value : undefined;
}

export type PasswordFilesResult = { ok: true; value: PasswordFiles } | { ok: false; errors: readonly string[] };

/** The directory's files as passwords; every bad file is one error, none repeats a password. */
export function parsePasswordFiles(dir: string, entries: readonly PasswordFileEntry[]): PasswordFilesResult {
  const errors: string[] = [];
  const byAddress = new Map<string, Secret>();
  const nameOf = new Map<string, string>();
  let fallback: Secret | undefined;
  for (const { name, text } of [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (name.startsWith('.')) continue;
    const isDefault = name === DEFAULT_PASSWORD_FILE;
    const address = isDefault ? undefined : addressOfFileName(name);
    if (!isDefault && address === undefined) {
      errors.push(`${dir}/${name}: the name is neither an IP address nor "${DEFAULT_PASSWORD_FILE}"`);
      continue;
    }
    const pw = parsePassword(text.replace(/\r?\n$/, ''));
    if (!pw.ok) {
      errors.push(`${dir}/${name}: ${pw.reason.replace(/^"password": /, '')}`);
      continue;
    }
    if (pw.value === undefined) {
      errors.push(`${dir}/${name}: empty (remove the file for no password)`);
      continue;
    }
    if (isDefault) {
      fallback = pw.value;
      continue;
    }
    const a = address as string;
    const first = nameOf.get(a);
    if (first !== undefined) {
      errors.push(`${dir}/${name}: names ${a}, as ${first} does: keep one`);
      continue;
    }
    nameOf.set(a, name);
    byAddress.set(a, pw.value);
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, value: { dir, byAddress, ...(fallback !== undefined ? { fallback } : {}) } };
}

/** The password files' part of the journal's start record (the journal is a secret: mode 0600, like the configs). */
export interface PasswordFilesRecord {
  readonly dir: string;
  readonly addresses: Readonly<Record<string, string>>;
  readonly default?: string;
}

export function passwordFilesRecord(p: PasswordFiles): PasswordFilesRecord {
  const addresses: Record<string, string> = {};
  for (const [a, s] of [...p.byAddress].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) addresses[a] = s.reveal();
  return { dir: p.dir, addresses, ...(p.fallback !== undefined ? { default: p.fallback.reveal() } : {}) };
}

/** Back from a journal record (replay): validated as the files were. */
export function passwordFilesOfRecord(r: PasswordFilesRecord): PasswordFilesResult {
  const entries: PasswordFileEntry[] = Object.entries(r.addresses).map(([name, text]) => ({ name, text }));
  if (r.default !== undefined) entries.push({ name: DEFAULT_PASSWORD_FILE, text: r.default });
  return parsePasswordFiles(r.dir, entries);
}

/** What a log line may say of them: the directory, how many addresses, whether there is a default. */
export const passwordFilesSummary = (p: PasswordFiles): { dir: string; addresses: number; default: boolean } => ({
  dir: p.dir,
  addresses: p.byAddress.size,
  default: p.fallback !== undefined,
});
