import { merge, type Observable } from 'rxjs';
import type { Probe } from '../core/events.js';
import { every } from '../streams/poll.js';
import { probeSocket } from './bird-socket.js';
import { s6Probes } from './s6-health.js';

/**
 * Probe a daemon's control socket now and every `intervalMs`. A probe may
 * take up to 2 s (at least the interval) before the daemon counts as down:
 * a busy BIRD or a loaded machine answers late, and that is not an outage.
 */
function probeDaemon(socket: string, intervalMs: number): Observable<Probe> {
  const timeoutMs = Math.max(intervalMs, 2000);
  return every(intervalMs, () => probeSocket(socket, timeoutMs));
}

/** The health driver of one daemon: the periodic probe, and s6's events for its service when supervised. */
export function daemonProbes(o: { socket: string; intervalMs: number; s6ScanDir: string | undefined; service: string }): Observable<Probe> {
  return merge(probeDaemon(o.socket, o.intervalMs), s6Probes(o.s6ScanDir, o.service, o.socket));
}
