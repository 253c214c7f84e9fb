/**
 * What the image declares, read from its sources: image/capabilities (the
 * container's capability set, one a line, `#` comments).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './s6.js';

export function imageCapabilities(text = readFileSync(join(REPO, 'image', 'capabilities'), 'utf8')): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l !== '');
}
