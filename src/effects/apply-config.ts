/**
 * The apply effect of one family: stage, check with `bird -p`, install, and
 * reload that daemon alone. Each step reports an OutcomeEvent. A config the
 * check rejects is never installed; a daemon that is down keeps the
 * installed file and is reloaded when it comes up (see applyRequests). When
 * to apply, and what not to send again, is decided by the agent (applyRuns):
 * every request received is run.
 */
import { concatMap, from, type Observable } from 'rxjs';
import type { ApplyRequest, Family, OutcomeEvent, EffectStep } from '../core/events.js';
import { sameBytes, type ConfigBytes } from '../core/config-bytes.js';
import { birdCheck } from './bird-check.js';
import { birdConfigure } from './bird-socket.js';
import { discardStage, installStage, readInstalled, writeStage, configPath } from './config-files.js';

export interface ApplyOptions {
  readonly family: Family;
  readonly configDir: string;
  /** `bird` / `bird6` for the check; undefined skips the check. */
  readonly checkBin?: string;
  readonly socket: string;
  readonly timeoutMs: number;
}

function describe(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err) {
    const e = err as NodeJS.ErrnoException;
    return `${e.code ?? 'error'}: ${e.message}`;
  }
  return String(err);
}

/** Returns a function that applies one request and yields its outcomes. */
export function createApplier(o: ApplyOptions): (req: ApplyRequest) => AsyncGenerator<OutcomeEvent> {
  /** What the installed file holds: read once from disk, then the parts this applier installed. */
  let installed: Buffer | ConfigBytes | undefined;
  const outcome = (
    generation: number,
    step: EffectStep,
    ok: boolean,
    durationMs: number,
    message?: string,
    retryable = false,
  ): OutcomeEvent => ({
    type: 'outcome',
    family: o.family,
    generation,
    step,
    ok,
    durationMs: Math.round(durationMs),
    ...(message !== undefined ? { message } : {}),
    ...(retryable ? { retryable } : {}),
  });

  return async function* apply(req) {
    const { parts, generation } = req.config;
    installed ??= await readInstalled(o.configDir, o.family);
    if (installed === undefined || !sameBytes(installed, parts)) {
      let t0 = performance.now();
      let stage: string;
      try {
        stage = await writeStage(o.configDir, o.family, parts);
      } catch (err) {
        yield outcome(generation, 'write', false, performance.now() - t0, describe(err), true);
        return;
      }
      yield outcome(generation, 'write', true, performance.now() - t0, stage);
      if (o.checkBin !== undefined) {
        const check = await birdCheck({ bird: o.checkBin, file: stage, timeoutMs: o.timeoutMs });
        // A verdict on the config is final; a check that could not run (timeout) is retried.
        yield outcome(generation, 'check', check.ok, check.durationMs, check.message, !check.ok && check.timedOut === true);
        if (!check.ok) {
          await discardStage(o.configDir, o.family).catch(() => undefined);
          return;
        }
      }
      t0 = performance.now();
      try {
        await installStage(o.configDir, o.family);
      } catch (err) {
        yield outcome(generation, 'install', false, performance.now() - t0, describe(err), true);
        return;
      }
      installed = parts;
      yield outcome(generation, 'install', true, performance.now() - t0, configPath(o.configDir, o.family));
    }
    const r = await birdConfigure({ socket: o.socket, timeoutMs: o.timeoutMs });
    if (r.notRunning === true) {
      // Not running: it reads the installed file when it starts, and applyRequests reloads it when it comes up
      // (a new instance). Anything else (a timeout, a connection closed early, EACCES) may leave the same
      // instance running the old file, which would never "come up" again: retried below.
      const message = `daemon not running on ${o.socket} (${r.message}): config installed, applied when it comes up`;
      yield { ...outcome(generation, 'reload', false, r.durationMs, message), deferred: true };
      return;
    }
    yield outcome(generation, 'reload', r.ok, r.durationMs, r.message, !r.ok);
  };
}

/** The apply driver: runs each request of the agent's apply sink, in order, and emits the outcomes. */
export function applyDriver(o: ApplyOptions): (requests$: Observable<ApplyRequest>) => Observable<OutcomeEvent> {
  const apply = createApplier(o);
  return (requests$) => requests$.pipe(concatMap((req) => from(apply(req))));
}
