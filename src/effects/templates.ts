/**
 * Template loading, a start-up step: read and compile each family's dialect
 * templates from templates/ (nunjucks), so that core/render.ts receives
 * compiled templates and never touches the disk. A missing or broken
 * template fails here, before the agent does anything.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nunjucks from 'nunjucks';
import { TEMPLATE_FILES, type Dialect } from '../core/dialect.js';
import type { Family } from '../core/events.js';
import { createRenderer, type ConfigTemplates, type Render } from '../core/render.js';

/** The project's templates/ directory, from src/effects, dist/src/effects or the bundle in dist/app. */
export function defaultTemplateDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'templates');
    if (existsSync(join(candidate, TEMPLATE_FILES.bird1.config))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('templates/ not found next to the agent');
}

/** The compiled templates of one dialect (throws on a missing file or a template syntax error). */
export function loadTemplates(dialect: Dialect, dir: string = defaultTemplateDir()): ConfigTemplates {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(dir), {
    autoescape: false,
    throwOnUndefined: false,
    trimBlocks: true,
    lstripBlocks: true,
  });
  const files = TEMPLATE_FILES[dialect];
  return { config: env.getTemplate(files.config, true), session: env.getTemplate(files.session, true), channels: files.channels };
}

/** A renderer for each family's dialect; throws when a template cannot be loaded or misplaces the sessions. */
export function loadRenderer(dialects: Readonly<Record<Family, Dialect>>, dir: string = defaultTemplateDir()): Render {
  return createRenderer({ v4: loadTemplates(dialects.v4, dir), v6: loadTemplates(dialects.v6, dir) });
}
