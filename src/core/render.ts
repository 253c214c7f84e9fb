/**
 * Rendering: a validated plan to the bytes of bird.cfg / bird6.cfg. The
 * templates are compiled once (`createRenderer`, at wiring time); rendering
 * itself is a pure function of the plan.
 *
 * A config is handled as bytes from here to the disk (hash, compare, write):
 * never as one big string. Sessions are immutable and keep their identity
 * while unchanged (derivePlan): consecutive sessions are grouped into chunks
 * whose bytes are kept, and a new config is the list of its chunks, of which
 * a single change re-formats one (~64 sessions, well under a millisecond).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nunjucks from 'nunjucks';
import type { ConfigBytes } from './config-bytes.js';
import type { Family } from './events.js';
import type { FamilyPlan, Session } from './plan.js';

export const CONFIG_FILE: Record<Family, string> = { v4: 'bird.cfg', v6: 'bird6.cfg' };

export type Render = (plan: FamilyPlan) => ConfigBytes;

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

interface Chunk {
  readonly members: readonly Session[];
  readonly bytes: Buffer;
  /** Ends with a session that ends a chunk; otherwise it was the plan's tail. */
  readonly closed: boolean;
}

/** The chunk's members are sessions[at..], the same objects. */
function holds(chunk: Chunk, sessions: readonly Session[], at: number): boolean {
  const m = chunk.members;
  if (at + m.length > sessions.length) return false;
  for (let i = 0; i < m.length; i++) if (m[i] !== sessions[at + i]) return false;
  return chunk.closed || at + m.length === sessions.length;
}

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
  // A chunk is found by its first session and reused while it holds the same session objects.
  const chunks = new WeakMap<Session, Chunk>();
  const build = (sessions: readonly Session[], from: number): Chunk => {
    const members: Session[] = [];
    let text = '';
    let closed = false;
    for (let i = from; i < sessions.length && !closed; i++) {
      const s = sessions[i]!;
      if (i > from) chunks.delete(s); // no longer starts a chunk (a boundary before it went)
      members.push(s);
      text += sessionTemplate.render({ s });
      closed = endsChunk(s.name);
    }
    const chunk = { members, bytes: ascii(text), closed };
    chunks.set(members[0]!, chunk);
    return chunk;
  };

  return (plan) => {
    const frame = compiled[plan.family].render({ plan, sessions: SESSIONS });
    const at = frame.indexOf(SESSIONS);
    if (at < 0) return [ascii(frame)];
    const parts = [ascii(frame.slice(0, at))];
    const sessions = plan.sessions;
    for (let i = 0; i < sessions.length; ) {
      const known = chunks.get(sessions[i]!);
      const chunk = known !== undefined && holds(known, sessions, i) ? known : build(sessions, i);
      parts.push(chunk.bytes);
      i += chunk.members.length;
    }
    parts.push(ascii(frame.slice(at + SESSIONS.length)));
    return parts;
  };
}
