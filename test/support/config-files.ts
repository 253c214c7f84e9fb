/** Test helpers for config files. */
import type { ConfigBytes } from '../../src/core/config-bytes.js';
import type { Family } from '../../src/core/events.js';
import { configPath, installStage, writeStage } from '../../src/effects/config-files.js';

/** Stage and install a config without a check (what the agent's apply does when CONFIG_CHECK=0). */
export async function writeConfig(dir: string, family: Family, config: ConfigBytes | Buffer | string): Promise<string> {
  await writeStage(dir, family, config);
  await installStage(dir, family);
  return configPath(dir, family);
}
