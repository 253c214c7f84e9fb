/**
 * Rendering: a validated plan to the bytes of bird.cfg / bird6.cfg. The
 * templates are compiled once (`createRenderer`, at wiring time); rendering
 * itself is a pure function of the plan.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nunjucks from 'nunjucks';
import type { Family } from './events.js';
import type { FamilyPlan, Session } from './plan.js';

export const CONFIG_FILE: Record<Family, string> = { v4: 'bird.cfg', v6: 'bird6.cfg' };

export type Render = (plan: FamilyPlan) => string;

/** Where the session blocks go in the file template's output. */
const SESSIONS = '\u0000sessions\u0000';

/**
 * Text as single-byte bytes. A config holds template text and validated
 * tokens only, all ASCII; anything else is a bug, not data to pass on.
 */
function ascii(text: string): Buffer {
  if (/[^\x00-\x7f]/.test(text)) throw new Error('rendered config text is not ASCII');
  return Buffer.from(text, 'latin1');
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
  // Sessions are immutable and reused by derivePlan while unchanged: each is formatted once,
  // kept as bytes. The file is one copy of its parts: no string ropes to walk, no re-encoding.
  const blocks = new WeakMap<Session, Buffer>();
  const block = (s: Session): Buffer => {
    let bytes = blocks.get(s);
    if (bytes === undefined) {
      bytes = ascii(sessionTemplate.render({ s }));
      blocks.set(s, bytes);
    }
    return bytes;
  };
  return (plan) => {
    const frame = compiled[plan.family].render({ plan, sessions: SESSIONS });
    const at = frame.indexOf(SESSIONS);
    if (at < 0) return frame;
    const parts = [ascii(frame.slice(0, at)), ...plan.sessions.map(block), ascii(frame.slice(at + SESSIONS.length))];
    return Buffer.concat(parts).toString('latin1');
  };
}
