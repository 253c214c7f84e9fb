/**
 * The only code that talks to BIRD (1.6.x): `bird -p` (a process), and on
 * the control socket, without a process: `configure`, the health probe's
 * `show status`, `show protocols`.
 *
 * Facts this relies on (verified with BIRD 1.6.8, see docs/bird-notes.md):
 * - The control socket protocol is line based. Every reply line starts with a
 *   four-digit code followed by `-` (more lines follow) or ` ` (last line of
 *   the reply). A line that starts with a space continues the previous code.
 *   `birdc -v` prints those lines (continuations indented by 4 more spaces)
 *   and drops the `0000 ` terminator.
 * - Only the codes tell whether BIRD accepted a command (`birdc` exits 0
 *   either way). `configure`: `0002-Reading configuration from F`, then
 *   `0003 Reconfigured` or `0004 Reconfiguration in progress` (a protocol is
 *   restarting or shutting down) or `8002 F:LINE:COL message` (rejected, old
 *   config stays).
 * - `birdc` is a thin client of that socket: it connects, waits for the
 *   `0001` greeting, sends the command line and prints the reply. Speaking
 *   the socket directly gives the same replies without a fork and exec of
 *   birdc per reload (~25 ms of CPU at 10k sessions, see README Performance).
 * - `bird -p -c F` prints nothing and exits 0 on success; on error it prints
 *   `bird: F:LINE:COL message` on stderr and exits 1 (bird6 also says `bird:`).
 */
import net from 'node:net';
import { stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';

export interface BirdReply {
  code: string;
  text: string;
}

const REPLY_LINE = /^(\d{4})([ -])(.*)$/;

/**
 * Reply lines to replies. Continuation lines (leading space) get the code of
 * the line before them and lose `indent(line)` characters of indent. Lines
 * that carry no code and are not continuations (messages printed by birdc
 * itself, e.g. "No such command. Press `?' for help.") get code "". Empty
 * lines are dropped.
 */
function parseReplyLines(lines: Iterable<string>, indent: (line: string) => number): BirdReply[] {
  const out: BirdReply[] = [];
  let last = '';
  for (const raw of lines) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') continue;
    const m = REPLY_LINE.exec(line);
    if (m) {
      last = m[1] ?? '';
      out.push({ code: last, text: (m[3] ?? '').trimEnd() });
    } else if (line.startsWith(' ') && last !== '') {
      out.push({ code: last, text: line.slice(indent(line)).trimEnd() });
    } else {
      out.push({ code: '', text: line.trim() });
    }
  }
  return out;
}

/** `birdc -v` output: it indents continuation lines by 5 spaces (the socket's 1, plus 4). */
export function parseBirdcReplies(stdout: string): BirdReply[] {
  return parseReplyLines(stdout.split('\n'), (line) => (line.startsWith('     ') ? 5 : 1));
}

/** Lines as read from the control socket (birdSocketCommand): continuations start with exactly 1 space. */
export function parseSocketReplies(lines: readonly string[]): BirdReply[] {
  return parseReplyLines(lines, () => 1);
}

/** Reply codes that mean "the new configuration was accepted". */
export const CONFIGURE_OK_CODES: ReadonlySet<string> = new Set([
  '0003', // Reconfigured
  '0004', // Reconfiguration in progress (protocols restarting / shutting down)
  '0005', // Reconfiguration already in progress, queueing new config
  '0018', // Reconfiguration confirmed (configure confirm)
  '0019', // Nothing to do (configure confirm/undo)
]);

export function isErrorCode(code: string): boolean {
  return /^[89]\d{3}$/.test(code);
}

/**
 * Pure decision for a `configure` reply. An 8xxx/9xxx code is a rejection
 * (message = BIRD's text, e.g. "/config/bird.cfg:6:10 syntax error"); an
 * accepted code is success; anything else (e.g. `0006 Reconfiguration
 * ignored, shutting down`) is a failure carrying BIRD's text.
 */
export function classifyConfigureReplies(replies: readonly BirdReply[]): { ok: boolean; message: string } {
  const err = replies.find((r) => isErrorCode(r.code));
  if (err) return { ok: false, message: err.text };
  const okReply = replies.find((r) => CONFIGURE_OK_CODES.has(r.code));
  if (okReply) return { ok: true, message: okReply.text };
  const last = [...replies].reverse().find((r) => r.code !== '0001' && r.code !== '0002');
  return {
    ok: false,
    message: last ? `unexpected reply from BIRD: ${last.code ? last.code + ' ' : ''}${last.text}` : 'no reply from BIRD',
  };
}

function oneLine(s: string): string {
  const line = s
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '');
  return line ?? '';
}

function ms(t0: number): number {
  return Math.round(performance.now() - t0);
}

interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
  timedOut: boolean;
  spawnError: string | undefined;
}

async function run(cmd: string, args: string[], timeoutMs: number): Promise<RunResult> {
  const r = await execa(cmd, args, {
    reject: false,
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    stdin: 'ignore',
    stripFinalNewline: false,
    env: { LC_ALL: 'C' },
  });
  const stdout = typeof r.stdout === 'string' ? r.stdout : '';
  const stderr = typeof r.stderr === 'string' ? r.stderr : '';
  // A spawn failure (binary missing, EACCES) has no exit code and no signal.
  const spawnError =
    r.failed && r.exitCode === undefined && !r.timedOut && r.signal === undefined
      ? (r.code ?? r.shortMessage ?? 'spawn failed')
      : undefined;
  return { stdout, stderr, exitCode: r.exitCode, timedOut: r.timedOut, spawnError };
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
}

/**
 * `configure` on the control socket: BIRD reads the configuration file it
 * was started with (the caller has already written and checked it).
 * - no daemon (socket missing, connection refused): ok false, notRunning.
 * - no greeting or no full reply before the timeout: ok false, timedOut,
 *   reachable = whether BIRD greeted; BIRD may still apply the file later.
 * - anything else (closed before or after the greeting, an unexpected
 *   greeting, EACCES, ...): ok false, with why; the caller retries.
 */
export async function birdConfigure(o: BirdSocketOptions): Promise<ConfigureOutcome> {
  const t0 = performance.now();
  let lines: string[];
  try {
    lines = await birdSocketCommand(o.socket, 'configure', o.timeoutMs);
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
  const { ok, message } = classifyConfigureReplies(parseSocketReplies(lines));
  return { ok, reachable: true, message, durationMs: ms(t0) };
}

export interface CheckOutcome {
  ok: boolean;
  /** "Configuration OK", or BIRD's error on one line ("F:LINE:COL syntax error"). */
  message: string;
  durationMs: number;
  /** The check could not run or did not finish: no verdict on the config. */
  timedOut?: boolean;
}

/** `bird -p -c FILE` (or bird6): parse only, binds nothing, needs no daemon. */
export async function birdCheck(o: { bird: string; file: string; timeoutMs: number }): Promise<CheckOutcome> {
  const t0 = performance.now();
  const r = await run(o.bird, ['-p', '-c', o.file], o.timeoutMs);
  const durationMs = ms(t0);
  if (r.spawnError !== undefined) {
    return { ok: false, message: `cannot run ${o.bird}: ${r.spawnError}`, durationMs, timedOut: true };
  }
  if (r.timedOut) {
    return { ok: false, message: `${o.bird} -p timed out after ${o.timeoutMs} ms`, durationMs, timedOut: true };
  }
  if (r.exitCode === 0) return { ok: true, message: 'Configuration OK', durationMs };
  const text = (oneLine(r.stderr) || oneLine(r.stdout)).replace(/^bird6?:\s*/, '');
  return { ok: false, message: text || `${o.bird} -p exited with code ${String(r.exitCode)}`, durationMs };
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
 * BIRD 1.6 listens with a queue of 8: while it hangs, connections that timed
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
  const last = lines[lines.length - 1] ?? '';
  if (!last.startsWith('0013 ')) return { up: false, reason: `unexpected reply: ${last}` };
  if (/shutdown/i.test(parseStatusLines(lines).final)) return { up: false, reason: 'shutting down' };
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

function parseStatusLines(lines: string[]): { final: string } {
  const replies = parseSocketReplies(lines);
  return { final: replies[replies.length - 1]?.text ?? '' };
}

export interface ProtocolRow {
  name: string;
  proto: string;
  table: string;
  state: string;
  since: string;
  info: string;
}

/**
 * Pure parser for `birdc -v show protocols` output: rows are the `1002`
 * replies (header is `2002`). Columns are space separated; `since` may be a
 * date plus a time (`timeformat protocol iso long`), `info` is the rest
 * with runs of spaces collapsed ("Established", "Passive",
 * "Active Socket: Connection reset by peer").
 */
export function parseShowProtocols(stdout: string): ProtocolRow[] {
  return protocolRows(parseBirdcReplies(stdout));
}

function protocolRows(replies: readonly BirdReply[]): ProtocolRow[] {
  const rows: ProtocolRow[] = [];
  for (const r of replies) {
    if (r.code !== '1002') continue;
    const tokens = r.text.trim().split(/\s+/);
    const [name, proto, table, state] = tokens;
    if (name === undefined || proto === undefined || table === undefined || state === undefined) continue;
    let rest = tokens.slice(4);
    let since = rest[0] ?? '';
    rest = rest.slice(1);
    const next = rest[0];
    if (/^\d{4}-\d{2}-\d{2}$/.test(since) && next !== undefined && /^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(next)) {
      since = `${since} ${next}`;
      rest = rest.slice(1);
    }
    rows.push({ name, proto, table, state, since, info: rest.join(' ') });
  }
  return rows;
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

export interface ProtocolDetail extends ProtocolRow {
  /** `Neighbor address:` of a BGP protocol. */
  neighbor?: string;
  /** `BGP state:` of a BGP protocol. */
  bgpState?: string;
  /** `Last error:` of a BGP protocol. */
  lastError?: string;
}

/**
 * Pure parser for `birdc -v show protocols all`: each `1002` row followed
 * by its `1006` detail lines (`BGP state:`, `Neighbor address:`, `Last error:`).
 */
export function parseShowProtocolsAll(stdout: string): ProtocolDetail[] {
  return protocolDetails(parseBirdcReplies(stdout));
}

function protocolDetails(replies: readonly BirdReply[]): ProtocolDetail[] {
  const rows: ProtocolDetail[] = [];
  let cur: ProtocolDetail | undefined;
  for (const r of replies) {
    if (r.code === '1002') {
      const [row] = protocolRows([r]);
      cur = row ? { ...row } : undefined;
      if (cur) rows.push(cur);
      continue;
    }
    if (r.code !== '1006' || !cur) continue;
    const m = /^\s*(BGP state|Neighbor address|Last error):\s*(.*)$/.exec(r.text);
    if (!m) continue;
    const value = (m[2] ?? '').trim();
    if (m[1] === 'BGP state') cur.bgpState = value;
    else if (m[1] === 'Neighbor address') cur.neighbor = value;
    else cur.lastError = value;
  }
  return rows;
}

/** `show protocols all` on the control socket; throws like socketReplies. */
export async function showProtocolsAll(o: BirdSocketOptions): Promise<ProtocolDetail[]> {
  return protocolDetails(await socketReplies(o, 'show protocols all'));
}
