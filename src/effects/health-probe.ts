import { exhaustMap, from, timer, type Observable } from 'rxjs';
import type { Probe } from '../streams/health-transitions.js';
import { probeSocket } from './bird-socket.js';

/**
 * Probe a daemon's control socket now and every `intervalMs`. A probe may
 * take up to 2 s (at least the interval) before the daemon counts as down:
 * a busy BIRD or a loaded machine answers late, and that is not an outage.
 */
export function probeDaemon(socket: string, intervalMs: number): Observable<Probe> {
  const timeoutMs = Math.max(intervalMs, 2000);
  return timer(0, intervalMs).pipe(exhaustMap(() => from(probeSocket(socket, timeoutMs))));
}
