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
  // Sessions are immutable and reused by derivePlan while unchanged: each is formatted once.
  const blocks = new WeakMap<Session, string>();
  const block = (s: Session): string => {
    let text = blocks.get(s);
    if (text === undefined) {
      text = sessionTemplate.render({ s });
      blocks.set(s, text);
    }
    return text;
  };
  return (plan) => compiled[plan.family].render({ plan, sessions: plan.sessions.map(block).join('') });
}
