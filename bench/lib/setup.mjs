/** What every phase of the bench shares: where the agent is, the fabric it is measured in, clocks. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const AGENT_MAIN = join(ROOT, 'dist', 'src', 'main.js');
export const PREFIX = '/calico/bgp/v1';
export const RR_IP = '172.16.0.1';
export const RR_IP6 = 'fd00:ffff::1';
export const MESH_MEMBERS = 100;
export const AS = '64512';
export const CLK_TCK = 100; // getconf CLK_TCK on Linux
export const MiB = 1024 * 1024;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const now = () => performance.now();
export const hrUs = () => Number(process.hrtime.bigint() / 1000n);
