/** What every phase of the bench shares: where the agent is, the fabric it is measured in, clocks. */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/**
 * The agent the bench runs: the bundle (dist/app, what `routereflector` is); BENCH_AGENT_MAIN=dist/src/main.js
 * runs tsc's modules instead, for a `--cpu-prof` whose functions keep their own files.
 */
export const AGENT_MAIN = resolve(ROOT, process.env['BENCH_AGENT_MAIN'] ?? join('dist', 'app', 'main.js'));
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
