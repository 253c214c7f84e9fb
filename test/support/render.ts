/** The agent's renderer for tests: the real templates of one dialect for both families (BIRD 1.6 by default). */
import type { Dialect } from '../../src/core/dialect.js';
import type { Render } from '../../src/core/render.js';
import { loadRenderer } from '../../src/effects/templates.js';

export function createRenderer(dialect: Dialect = 'bird1'): Render {
  return loadRenderer({ v4: dialect, v6: dialect });
}
