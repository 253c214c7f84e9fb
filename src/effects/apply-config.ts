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
  /** Runs right before a config is installed (the journal's flush: its config record precedes the file). */
  readonly beforeInstall?: () => void;
}

function describe(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err) {
    const e = err as NodeJS.ErrnoException;
    return `${e.code ?? 'error'}: ${e.message}`;
  }
  return String(err);
}

/** One step of installing a config file. */
export interface InstallStep {
  readonly step: 'write' | 'check' | 'install';
  readonly ok: boolean;
  readonly durationMs: number;
  /** The stage file or the installed file's path, the check's verdict, or why the step failed. */
  readonly message: string;
  /** A failure worth retrying (I/O, a check that could not run), not a verdict on the config. */
  readonly retryable: boolean;
}

/**
 * Stage a config next to the family's file, check it with `checkBin -p`
 * (when given), rename it over the file: each step as it ends, up to the
 * first that fails. A config the check rejects is discarded, never installed.
 */
export async function* installSteps(
  o: { readonly dir: string; readonly family: Family; readonly checkBin?: string; readonly timeoutMs: number; readonly beforeInstall?: () => void },
  config: ConfigBytes,
): AsyncGenerator<InstallStep> {
  let t0 = performance.now();
  let stage: string;
  try {
    stage = await writeStage(o.dir, o.family, config);
  } catch (err) {
    yield { step: 'write', ok: false, durationMs: performance.now() - t0, message: describe(err), retryable: true };
    return;
  }
  yield { step: 'write', ok: true, durationMs: performance.now() - t0, message: stage, retryable: false };
  if (o.checkBin !== undefined) {
    const check = await birdCheck({ bird: o.checkBin, file: stage, timeoutMs: o.timeoutMs });
    // Discarded before the verdict is yielded: a consumer that stops at a failed step never resumes this generator.
    if (!check.ok) await discardStage(o.dir, o.family).catch(() => undefined);
    // A verdict on the config is final; a check that could not run (timeout, no binary) is retried.
    yield { step: 'check', ok: check.ok, durationMs: check.durationMs, message: check.message, retryable: !check.ok && check.noVerdict === true };
    if (!check.ok) return;
  }
  t0 = performance.now();
  try {
    o.beforeInstall?.();
    await installStage(o.dir, o.family);
  } catch (err) {
    yield { step: 'install', ok: false, durationMs: performance.now() - t0, message: describe(err), retryable: true };
    return;
  }
  yield { step: 'install', ok: true, durationMs: performance.now() - t0, message: configPath(o.dir, o.family), retryable: false };
}

/** Returns a function that applies one request and yields its outcomes. */
function createApplier(o: ApplyOptions): (req: ApplyRequest) => AsyncGenerator<OutcomeEvent> {
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
      for await (const s of installSteps({ dir: o.configDir, family: o.family, timeoutMs: o.timeoutMs, ...(o.checkBin !== undefined ? { checkBin: o.checkBin } : {}), ...(o.beforeInstall !== undefined ? { beforeInstall: o.beforeInstall } : {}) }, parts)) {
        if (s.step === 'install' && s.ok) installed = parts;
        yield outcome(generation, s.step, s.ok, s.durationMs, s.message, s.retryable);
        if (!s.ok) return;
      }
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
