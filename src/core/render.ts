/**
 * Rendering: a validated plan to the bytes of bird.cfg / bird6.cfg, in the
 * dialect of each family's BIRD (core/dialect.ts). The templates are loaded
 * and compiled at start-up (effects/templates.ts); rendering itself is a pure
 * function of the plan and those compiled templates.
 *
 * A config is handled as bytes from here to the disk (hash, compare, write):
 * never as one big string. Sessions are immutable and keep their identity
 * while unchanged (derivePlan): consecutive sessions are grouped into chunks
 * whose bytes are kept, and a new config is the list of its chunks, of which
 * a single change re-formats one (~64 sessions, well under a millisecond).
 */
import type { ConfigBytes } from './config-bytes.js';
import type { Family } from './events.js';
import type { FamilyPlan, Session } from './plan.js';

export const CONFIG_FILE: Record<Family, string> = { v4: 'bird.cfg', v6: 'bird6.cfg' };

export type Render = (plan: FamilyPlan) => ConfigBytes;

/** A compiled template (nunjucks' Template): a pure function of its context. */
export interface Template {
  render(context: object): string;
}

/**
 * One family's templates: `config` formats the whole file from `{ plan,
 * sessions }` and must output `{{ sessions }}` exactly once where the
 * session blocks go; `session` formats one block from `{ s, channel }`
 * (channel: `ipv4` or `ipv6`, the family's BIRD 2/3 channel; channels:
 * whether the dialect has them, from `ConfigTemplates.channels`).
 */
export interface ConfigTemplates {
  readonly config: Template;
  readonly session: Template;
  /** The dialect puts filters and next hop on channels (BIRD 2/3): passed to `session` as `channels`. */
  readonly channels?: boolean;
}

/** Where the session blocks go in the file template's output. */
const SESSIONS = '\u0000sessions\u0000';

/**
 * A config template that does not place the sessions exactly once would
 * emit a config without sessions (or with them twice): refuse it when the
 * renderer is made, at start-up, with a plan that has BGP in its family.
 */
function checkSentinel(family: Family, t: Template): void {
  const probe: FamilyPlan = {
    family,
    routerId: '192.0.2.1',
    source: family === 'v4' ? '192.0.2.1' : '2001:db8::1',
    debug: false,
    meshAs: 64512,
    asDefaulted: false,
    member: false,
    sessions: [],
    notes: [],
  };
  const n = t.render({ plan: probe, sessions: SESSIONS }).split(SESSIONS).length - 1;
  if (n !== 1) throw new Error(`the ${CONFIG_FILE[family]} template places {{ sessions }} ${n} times, not once: its configs would not hold the sessions`);
}

/** Sessions per chunk, on average (a power of two). */
const CHUNK_MASK = 63;

/**
 * Text as single-byte bytes. A config holds template text and validated
 * tokens only, all ASCII; anything else is a bug, not data to pass on.
 */
function ascii(text: string): Buffer {
  if (/[^\x00-\x7f]/.test(text)) throw new Error('rendered config text is not ASCII');
  const bytes = Buffer.from(text, 'latin1');
  PASSWORD_PARTS.set(bytes, text.includes(PASSWORD_TEXT));
  return bytes;
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

/** Throws when a config template does not place `{{ sessions }}` exactly once (see checkSentinel). */
export function createRenderer(templates: Readonly<Record<Family, ConfigTemplates>>): Render {
  for (const family of Object.keys(CONFIG_FILE) as Family[]) checkSentinel(family, templates[family].config);
  // Per family: a chunk is found by its first session and reused while it holds the same session objects.
  const renderers = { v4: familyRenderer(templates.v4, 'ipv4'), v6: familyRenderer(templates.v6, 'ipv6') };
  return (plan) => renderers[plan.family](plan);
}

/** A config holds a password (core/secret.ts): its file is written mode 0600 (effects/config-files.ts). */
export function holdsPassword(parts: ConfigBytes | Buffer): boolean {
  const list = Buffer.isBuffer(parts) ? [parts] : parts;
  return list.some((p) => PASSWORD_PARTS.get(p) ?? p.includes(PASSWORD_OPTION));
}
const PASSWORD_TEXT = '\n  password "';
const PASSWORD_OPTION = Buffer.from(PASSWORD_TEXT, 'latin1');
/**
 * Whether a part this module rendered holds a password, noted as its text is
 * made (a part is never written to after). The only module-level state here:
 * a fact about each Buffer, gone with it; without it every change searched
 * the whole 14 MB config of 100,000 sessions again (7.8 ms of its ~50 ms).
 * A Buffer from elsewhere (a file read by `replay`) is searched.
 */
const PASSWORD_PARTS = new WeakMap<Buffer, boolean>();

function familyRenderer(t: ConfigTemplates, channel: 'ipv4' | 'ipv6'): Render {
  const channels = t.channels === true;
  const chunks = new WeakMap<Session, Chunk>();
  const build = (sessions: readonly Session[], from: number): Chunk => {
    const members: Session[] = [];
    let text = '';
    let closed = false;
    for (let i = from; i < sessions.length && !closed; i++) {
      const s = sessions[i]!;
      if (i > from) chunks.delete(s); // no longer starts a chunk (a boundary before it went)
      members.push(s);
      text += t.session.render({ s, channel, channels });
      closed = endsChunk(s.name);
    }
    const chunk = { members, bytes: ascii(text), closed };
    chunks.set(members[0]!, chunk);
    return chunk;
  };

  return (plan) => {
    const frame = t.config.render({ plan, sessions: SESSIONS });
    const at = frame.indexOf(SESSIONS);
    if (at < 0) {
      if (plan.sessions.length > 0) throw new Error(`the ${CONFIG_FILE[plan.family]} template left out {{ sessions }}: ${plan.sessions.length} sessions would be dropped`);
      return [ascii(frame)];
    }
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
