/**
 * The apply effect of one family: stage, check, install, and reload that
 * daemon alone. Each step reports an OutcomeEvent. A config no check
 * accepted is never installed; a daemon that is down keeps the installed
 * file and is reloaded when it comes up (see applyRequests). When to apply,
 * and what not to send again, is decided by the agent (applyRuns): every
 * request received is run.
 *
 * A changed config is checked once, by the daemon that will run it (issue 18):
 * the stage file is written and BIRD is asked to `configure "<stage>"`. BIRD
 * parses it and runs it (check ok, checkedBy daemon; then the stage file is
 * renamed over bird.cfg, so a restarted BIRD, or a later plain `configure`,
 * reads what it runs), or refuses its text with `8002 F:L:C message` and
 * keeps running its config (check failed, a verdict: bird.cfg untouched, not
 * retried). When BIRD gives no verdict (not running, hung, no full reply),
 * `bird -p` checks the stage file as before (checkedBy bird -p), it is
 * installed, and the reload outcome is what that configure got.
 */
import { resolve } from 'node:path';
import { concatMap, from, type Observable } from 'rxjs';
import type { ApplyRequest, Family, OutcomeEvent, EffectStep } from '../core/events.js';
import { sameBytes, type ConfigBytes } from '../core/config-bytes.js';
import { birdCheck } from './bird-check.js';
import { sayableFile } from '../core/bird-replies.js';
import { CONFIG_FILE } from '../core/render.js';
import { birdConfigure, type ConfigureOutcome } from './bird-socket.js';
import { discardStage, installStage, readInstalled, writeStage, configPath } from './config-files.js';

export interface ApplyOptions {
  readonly family: Family;
  readonly configDir: string;
  /** `bird` / `bird6` for the check while the daemon gives no verdict; undefined skips that check (CONFIG_CHECK=0). */
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

type Dir = { readonly dir: string; readonly family: Family };

/** Write the stage file: its path, or why not. */
async function writeStep(o: Dir, config: ConfigBytes): Promise<InstallStep> {
  const t0 = performance.now();
  try {
    const stage = await writeStage(o.dir, o.family, config);
    return { step: 'write', ok: true, durationMs: performance.now() - t0, message: stage, retryable: false };
  } catch (err) {
    return { step: 'write', ok: false, durationMs: performance.now() - t0, message: describe(err), retryable: true };
  }
}

/** `bird -p` on the stage file; a stage it rejects is discarded. */
async function checkStep(o: Dir & { readonly checkBin: string; readonly timeoutMs: number }, stage: string): Promise<InstallStep> {
  const check = await birdCheck({ bird: o.checkBin, file: stage, timeoutMs: o.timeoutMs });
  if (!check.ok) await discardStage(o.dir, o.family).catch(() => undefined);
  // A verdict on the config is final; a check that could not run (timeout, no binary) is retried.
  return { step: 'check', ok: check.ok, durationMs: check.durationMs, message: check.message, retryable: !check.ok && check.noVerdict === true };
}

/** Rename the stage file over the family's file (after `beforeInstall`, the journal's flush). */
async function installStep(o: Dir & { readonly beforeInstall?: () => void }): Promise<InstallStep> {
  const t0 = performance.now();
  try {
    o.beforeInstall?.();
    await installStage(o.dir, o.family);
    return { step: 'install', ok: true, durationMs: performance.now() - t0, message: configPath(o.dir, o.family), retryable: false };
  } catch (err) {
    return { step: 'install', ok: false, durationMs: performance.now() - t0, message: describe(err), retryable: true };
  }
}

/**
 * Stage a config next to the family's file, check it with `checkBin -p`
 * (when given), rename it over the file: each step as it ends, up to the
 * first that fails. A config the check rejects is discarded, never installed.
 */
export async function* installSteps(
  o: Dir & { readonly checkBin?: string; readonly timeoutMs: number; readonly beforeInstall?: () => void },
  config: ConfigBytes,
): AsyncGenerator<InstallStep> {
  const w = await writeStep(o, config);
  yield w;
  if (!w.ok) return;
  if (o.checkBin !== undefined) {
    const c = await checkStep({ ...o, checkBin: o.checkBin }, w.message);
    yield c;
    if (!c.ok) return;
  }
  yield await installStep(o);
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
    const step = (s: InstallStep): OutcomeEvent => outcome(generation, s.step, s.ok, s.durationMs, s.message, s.retryable);
    /** The reply to `configure "<stage>"` when it gave no verdict: the run's reload outcome unless BIRD answered fully. */
    let asked: ConfigureOutcome | undefined;
    if (installed === undefined || !sameBytes(installed, parts)) {
      const dir = { dir: o.configDir, family: o.family, ...(o.beforeInstall !== undefined ? { beforeInstall: o.beforeInstall } : {}) };
      const w = await writeStep(dir, parts);
      yield step(w);
      if (!w.ok) return;
      const file = resolve(w.message);
      if (sayableFile(file)) {
        // BIRD may run it from here on: the journal holds its config record first, as before an install.
        o.beforeInstall?.();
        asked = await birdConfigure({ socket: o.socket, timeoutMs: o.timeoutMs, file });
        if (asked.ok || asked.rejected === true) {
          const check = asked.ok ? `BIRD runs ${file}: ${asked.message}` : asked.message;
          // A verdict on the text, and BIRD keeps its config: nothing to install or retry (discarded before the
          // verdict is yielded, like checkStep's: a consumer may stop at a failed step).
          if (!asked.ok) await discardStage(o.configDir, o.family).catch(() => undefined);
          yield { ...outcome(generation, 'check', asked.ok, asked.durationMs, check), checkedBy: 'daemon' };
          if (!asked.ok) return;
          // BIRD runs it: bird.cfg becomes that file. Should the rename fail, the retry stages it again and
          // BIRD re-reads it (no change) before the rename.
          const i = await installStep(dir);
          yield step(i);
          if (!i.ok) return;
          installed = parts;
          yield outcome(generation, 'reload', true, asked.durationMs, `${asked.message} (configure "${file}", now ${CONFIG_FILE[o.family]})`);
          return;
        }
      }
      if (o.checkBin !== undefined) {
        const c = await checkStep({ ...dir, checkBin: o.checkBin, timeoutMs: o.timeoutMs }, w.message);
        yield { ...step(c), checkedBy: 'bird -p' };
        if (!c.ok) return;
      }
      const i = await installStep(dir);
      yield step(i);
      if (!i.ok) return;
      installed = parts;
    }
    // BIRD said nothing about the staged file, or was not asked: the installed file is its config now. A daemon
    // that is not running, or did not answer in time, is not asked twice in a run; one that answered (could not
    // open the file, shutting down) is asked to read the installed file.
    const r = asked !== undefined && (!asked.reachable || asked.timedOut === true) ? asked : await birdConfigure({ socket: o.socket, timeoutMs: o.timeoutMs });
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
