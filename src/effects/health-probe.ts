import { exhaustMap, from, timer, type Observable } from 'rxjs';
import type { Probe } from '../streams/health-transitions.js';
import { probeSocket } from './bird-control.js';

/** Probe a daemon's control socket now and every `intervalMs`. */
export function probeDaemon(socket: string, intervalMs: number): Observable<Probe> {
  return timer(0, intervalMs).pipe(exhaustMap(() => from(probeSocket(socket, Math.min(intervalMs, 2000)))));
}
