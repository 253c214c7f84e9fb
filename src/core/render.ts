/**
 * Rendering: a validated plan to the bytes of bird.cfg / bird6.cfg. The
 * templates are compiled once (`createRenderer`, at wiring time); rendering
 * itself is a pure function of the plan.
 *
 * A config is handled as bytes from here to the disk (hash, compare, write):
 * never as one big string. Sessions are immutable and keep their identity
 * while unchanged (derivePlan), so each is formatted once; consecutive
 * sessions are grouped into chunks whose bytes are kept, and a new config is
 * one copy of its chunks, of which a single change rebuilds one.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nunjucks from 'nunjucks';
import type { Family } from './events.js';
import type { FamilyPlan, Session } from './plan.js';

export const CONFIG_FILE: Record<Family, string> = { v4: 'bird.cfg', v6: 'bird6.cfg' };

export type Render = (plan: FamilyPlan) => Buffer;

/** Where the session blocks go in the file template's output. */
const SESSIONS = '\u0000sessions\u0000';

/** Sessions per chunk, on average (a power of two). */
const CHUNK_MASK = 63;

/**
 * Text as single-byte bytes. A config holds template text and validated
 * tokens only, all ASCII; anything else is a bug, not data to pass on.
 */
function ascii(text: string): Buffer {
  if (/[^\x00-\x7f]/.test(text)) throw new Error('rendered config text is not ASCII');
  return Buffer.from(text, 'latin1');
}

/**
 * Chunk boundaries depend on the session's name only (FNV-1a), not on its
 * position: inserting or removing a session changes one chunk, not all
 * those after it.
 */
function endsChunk(name: string): boolean {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return ((h >>> 0) & CHUNK_MASK) === 0;
}

/** The project's templates/ directory, from src/core or dist/src/core. */
export function defaultTemplateDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'templates');
    if (existsSync(join(candidate, 'bird.cfg.njk'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('templates/ not found next to the agent');
}

interface Block {
  bytes: Buffer;
  readonly last: boolean;
}

interface Chunk {
  readonly members: readonly Session[];
  readonly bytes: Buffer;
}

const sameMembers = (a: readonly Session[], b: readonly Session[]): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

export function createRenderer(templateDir: string = defaultTemplateDir()): Render {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(templateDir), {
    autoescape: false,
    throwOnUndefined: false,
    trimBlocks: true,
    lstripBlocks: true,
  });
  const compiled: Record<Family, nunjucks.Template> = {
    v4: env.getTemplate(`${CONFIG_FILE.v4}.njk`, true),
    v6: env.getTemplate(`${CONFIG_FILE.v6}.njk`, true),
  };
  const sessionTemplate = env.getTemplate('partials/session.njk', true);
  const blocks = new WeakMap<Session, Block>();
  const block = (s: Session): Block => {
    let b = blocks.get(s);
    if (b === undefined) {
      b = { bytes: ascii(sessionTemplate.render({ s })), last: endsChunk(s.name) };
      blocks.set(s, b);
    }
    return b;
  };
  // A chunk is found by its last session and reused when its members are the same objects.
  const chunks = new WeakMap<Session, Chunk>();
  const chunk = (members: Session[]): Buffer => {
    const last = members[members.length - 1]!;
    const known = chunks.get(last);
    if (known !== undefined && sameMembers(known.members, members)) return known.bytes;
    const bytes = Buffer.concat(members.map((s) => block(s).bytes));
    // The members' blocks become views of the chunk: one copy of the bytes stays in memory.
    let at = 0;
    for (const s of members) {
      const b = block(s);
      b.bytes = bytes.subarray(at, at + b.bytes.length);
      at += b.bytes.length;
    }
    chunks.set(last, { members, bytes });
    return bytes;
  };

  return (plan) => {
    const frame = compiled[plan.family].render({ plan, sessions: SESSIONS });
    const at = frame.indexOf(SESSIONS);
    if (at < 0) return ascii(frame);
    const parts = [ascii(frame.slice(0, at))];
    let members: Session[] = [];
    for (const s of plan.sessions) {
      members.push(s);
      if (block(s).last) {
        parts.push(chunk(members));
        members = [];
      }
    }
    if (members.length > 0) parts.push(chunk(members));
    parts.push(ascii(frame.slice(at + SESSIONS.length)));
    return Buffer.concat(parts);
  };
}
