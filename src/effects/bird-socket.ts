/**
 * BIRD's control socket, spoken without a birdc process: `configure`, the
 * health probe's `show status`, `show protocols` (all). The replies are
 * parsed by core/bird-replies.ts. BIRD 1.6, 2.x and 3.x speak the same
 * protocol (docs/bird-notes.md).
 *
 * - `birdc` is a thin client of that socket: it connects, waits for the
 *   `0001` greeting, sends the command line and prints the reply. Speaking
 *   the socket directly gives the same replies without a fork and exec of
 *   birdc per reload (~25 ms of CPU at 10k sessions, see README Performance).
 */
import net from 'node:net';
import { stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import {
  classifyConfigureReplies,
  classifyStatusReplies,
  configureCommand,
  isErrorCode,
  parseSocketReplies,
  protocolDetails,
  protocolRows,
  type BirdReply,
  type ProtocolDetail,
  type ProtocolRow,
} from '../core/bird-replies.js';

function ms(t0: number): number {
  return Math.round(performance.now() - t0);
}

export interface BirdSocketOptions {
  /** The daemon's control socket (`BIRD_SOCKET`, `BIRD6_SOCKET`). */
  socket: string;
  timeoutMs: number;
}

export interface ConfigureOutcome {
  /** BIRD accepted and applied (or is applying) the configuration file. */
  ok: boolean;
  /** BIRD answered on its socket (its greeting was read). */
  reachable: boolean;
  /** BIRD's own text ("Reconfigured", "F:L:C error") or why the socket failed. */
  message: string;
  durationMs: number;
  /** No full reply within the timeout (BIRD hung or busy; its socket accepted the connection). */
  timedOut?: boolean;
  /** No daemon listens on the socket (missing, or connection refused): it reads the file when it starts. */
  notRunning?: boolean;
  /** BIRD parsed the file and refused its text (`8002 F:LINE:COL message`): it keeps running its config. */
  rejected?: true;
}

/**
 * `configure` on the control socket: BIRD reads the configuration file it
 * was started with (the caller has already written and checked it), or with
 * `file`, that file (`configure "FILE"`): BIRD parses it, and runs it or, on
 * an error in its text, keeps its config (`rejected`).
 * - no daemon (socket missing, connection refused): ok false, notRunning.
 * - no greeting or no full reply before the timeout: ok false, timedOut,
 *   reachable = whether BIRD greeted; BIRD may still apply the file later.
 * - anything else (closed before or after the greeting, an unexpected
 *   greeting, EACCES, ...): ok false, with why; the caller retries.
 */
export async function birdConfigure(o: BirdSocketOptions & { file?: string }): Promise<ConfigureOutcome> {
  const t0 = performance.now();
  let lines: string[];
  try {
    lines = await birdSocketCommand(o.socket, configureCommand(o.file), o.timeoutMs);
  } catch (e) {
    if (!(e instanceof BirdSocketError)) throw e;
    const durationMs = ms(t0);
    if (e.reason === 'timeout') {
      const what = e.greeted ? 'BIRD answered but did not finish' : `no greeting from BIRD on ${o.socket}`;
      return { ok: false, timedOut: true, reachable: e.greeted, message: `configure timed out after ${o.timeoutMs} ms (${what})`, durationMs };
    }
    const notRunning = !e.greeted && NOT_LISTENING.has(e.reason);
    return { ok: false, reachable: e.greeted, ...(notRunning ? { notRunning } : {}), message: e.message, durationMs };
  }
  return { ...classifyConfigureReplies(parseSocketReplies(lines)), reachable: true, durationMs: ms(t0) };
}

export interface ProbeResult {
  up: boolean;
  /** Changes whenever BIRD (re)starts: the control socket file's identity (inode, ctime). */
  instance?: string;
  /** When down: ENOENT, ECONNREFUSED, timeout, closed, shutting down, ... */
  reason?: string;
}

/** Why an exchange on a BIRD control socket failed. */
export class BirdSocketError extends Error {
  constructor(
    /** The connect error's code (ENOENT, ECONNREFUSED, ...), `timeout`, `closed`, or `unexpected greeting: LINE`. */
    readonly reason: string,
    message: string,
    /** BIRD had sent its greeting: the daemon runs and took the command. */
    readonly greeted = false,
  ) {
    super(message);
  }
}

/** Connect errors that mean no daemon listens on the socket (missing, or nobody accepts): nothing to wait for. */
export const NOT_LISTENING: ReadonlySet<string> = new Set(['ENOENT', 'ECONNREFUSED']);

/** How soon a connect that found BIRD's listen queue full is tried again. */
const CONNECT_RETRY_MS = 50;

/**
 * One command on a BIRD control socket without spawning birdc: connect, wait
 * for the greeting (`0001 `), send `command`, read to the final reply line (a
 * code followed by a space). Resolves with every line after the greeting as
 * BIRD sent it (codes and continuation lines kept, the final line last; see
 * parseSocketReplies); rejects with a BirdSocketError. The connection is
 * closed either way, all within `timeoutMs`.
 *
 * BIRD (1.6, 2.17 and 3.1 alike) listens with a queue of 8: while it hangs, connections that timed
 * out stay queued, and once the queue is full a non-blocking connect fails at
 * once with EAGAIN. birdc's blocking connect waits instead; so does this,
 * by trying again until the deadline (then `timeout`, not "not running").
 */
export function birdSocketCommand(socket: string, command: string, timeoutMs: number): Promise<string[]> {
  return new Promise<string[]>((resolve, reject) => {
    let done = false;
    let greeted = false;
    let buf = '';
    const lines: string[] = [];
    let conn: net.Socket | undefined;
    let retry: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => fail('timeout', `no reply to "${command}" in ${timeoutMs} ms`), timeoutMs);
    function finish(err?: BirdSocketError): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(retry);
      conn?.destroy();
      if (err) reject(err);
      else resolve(lines);
    }
    function fail(reason: string, detail = reason): void {
      finish(new BirdSocketError(reason, `${socket}: ${detail}`, greeted));
    }
    const onData = (chunk: string): void => {
      buf += chunk;
      let nl: number;
      while (!done && (nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const last = /^(\d{4}) /.exec(line); // a code and a space: the last line of a reply
        if (!greeted) {
          if (!last) continue;
          if (last[1] !== '0001') return fail(`unexpected greeting: ${line}`);
          greeted = true;
          conn?.write(`${command}\n`);
          continue;
        }
        lines.push(line);
        if (last) return finish();
      }
    };
    const connect = (): void => {
      let connected = false;
      const c = net.createConnection({ path: socket });
      conn = c;
      c.setEncoding('utf8');
      c.on('connect', () => (connected = true));
      c.on('data', onData);
      c.on('error', (e: NodeJS.ErrnoException) => {
        if (c !== conn) return;
        const code = e.code ?? e.message;
        if (!connected && code === 'EAGAIN') {
          conn = undefined; // this socket's close is not the end of the exchange
          c.destroy();
          retry = setTimeout(connect, CONNECT_RETRY_MS);
          return;
        }
        fail(code, connected ? e.message : `cannot connect (${code})`);
      });
      c.on('close', () => {
        if (c === conn) fail('closed', `connection closed before the reply to "${command}" ended`);
      });
    };
    connect();
  });
}

/**
 * Health probe without spawning a process: `show status` on the control
 * socket (birdSocketCommand), then the socket file's identity; all within
 * `timeoutMs`.
 */
export async function probeSocket(socket: string, timeoutMs: number): Promise<ProbeResult> {
  const t0 = performance.now();
  let lines: string[];
  try {
    lines = await birdSocketCommand(socket, 'show status', timeoutMs);
  } catch (e) {
    if (e instanceof BirdSocketError) return { up: false, reason: e.reason };
    throw e;
  }
  const status = classifyStatusReplies(lines);
  if (!status.up) return { up: false, ...(status.reason !== undefined ? { reason: status.reason } : {}) };
  const up = stat(socket, { bigint: true })
    .then(
      (st) => `ino=${st.ino.toString()},ctime=${st.ctimeNs.toString()}`,
      () => 'sock=?',
    )
    // Not "Last reboot": BIRD derives it from its monotonic clock and it drifts by a second
    // between calls. A restarted BIRD makes a new socket file: a new inode and ctime.
    .then((sock): ProbeResult => ({ up: true, instance: sock }));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<ProbeResult>((resolve) => {
    timer = setTimeout(() => resolve({ up: false, reason: 'timeout' }), Math.max(0, timeoutMs - (performance.now() - t0)));
  });
  try {
    return await Promise.race([up, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The replies to one command on the control socket. Throws when BIRD is
 * unreachable or does not finish in time, and when it answers with an error
 * code other than `8003` (no protocols match: an empty reply).
 */
async function socketReplies(o: BirdSocketOptions, command: string): Promise<BirdReply[]> {
  const replies = parseSocketReplies(await birdSocketCommand(o.socket, command, o.timeoutMs));
  const err = replies.find((x) => isErrorCode(x.code));
  if (err === undefined) return replies;
  if (err.code === '8003') return [];
  throw new Error(`BIRD: ${err.code} ${err.text}`);
}

/** `show protocols` on the control socket; throws like socketReplies. */
export async function showProtocols(o: BirdSocketOptions): Promise<ProtocolRow[]> {
  return protocolRows(await socketReplies(o, 'show protocols'));
}

/** `show protocols all` on the control socket; throws like socketReplies. */
export async function showProtocolsAll(o: BirdSocketOptions): Promise<ProtocolDetail[]> {
  return protocolDetails(await socketReplies(o, 'show protocols all'));
}

/** The running daemon's version from `show status` (`1000-BIRD 2.17.6`); throws like socketReplies. */
export async function showVersion(o: BirdSocketOptions): Promise<string | undefined> {
  return classifyStatusReplies(await birdSocketCommand(o.socket, 'show status', o.timeoutMs)).version;
}
