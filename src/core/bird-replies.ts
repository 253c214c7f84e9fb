/**
 * BIRD's control-socket replies, parsed: pure functions, no I/O (the socket
 * itself is effects/bird-socket.ts). The same for BIRD 1.6, 2.x and 3.x
 * unless a comment says otherwise; docs/bird-notes.md has the captured
 * replies of each, and test/integration/bird-control*.test.ts re-checks them
 * against the real binaries.
 *
 * - Every reply line starts with a four-digit code followed by `-` (more
 *   lines follow) or ` ` (last line of the reply). A line that starts with a
 *   space continues the previous code (1 space on the socket; `birdc -v`
 *   indents continuations by 4 more and drops the `0000 ` terminator).
 * - Only the codes tell whether BIRD accepted a command (`birdc` exits 0
 *   either way). `configure`: `0002-Reading configuration from F`, then
 *   `0003 Reconfigured` or `0004 Reconfiguration in progress` (a protocol is
 *   restarting or shutting down) or `8002 F:LINE:COL message` (rejected, old
 *   config stays). `configure "F"` reads F instead of the `-c` file, with the
 *   same replies; a file it cannot open is `8002 F: No such file or
 *   directory` (no line and column: not a verdict on the text). A later
 *   plain `configure`, and a restart, read the `-c` file again.
 */

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
export function parseReplyLines(lines: Iterable<string>, indent: (line: string) => number): BirdReply[] {
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
 * The `configure` command for the control socket: plain (BIRD reads its `-c`
 * file), or `configure "FILE"` (BIRD parses FILE, runs it if it is valid and
 * keeps running its config if not). BIRD's CLI takes FILE as a string
 * literal on one line: a name with a `"`, a control character or a non-ASCII
 * byte cannot be said (config.ts refuses such a CONFIG_DIR at start-up).
 */
export function configureCommand(file?: string): string {
  if (file === undefined) return 'configure';
  if (!sayableFile(file)) throw new Error(`BIRD's configure cannot name ${JSON.stringify(file)}`);
  return `configure "${file}"`;
}

/** A file name `configure "FILE"` can carry: printable ASCII without `"`, at most 900 bytes (BIRD's CLI reads lines of 1 KiB). */
export const sayableFile = (file: string): boolean => file.length > 0 && file.length <= 900 && /^[\x20-\x7e]+$/.test(file) && !file.includes('"');

/** BIRD's verdict on a file's text: `8002 F:LINE:COL message` (a parse error at a place in it). */
const VERDICT = /^.+:\d+:\d+ \S/;

/**
 * Pure decision for a `configure` reply. An 8xxx/9xxx code is a failure
 * (message = BIRD's text, e.g. "/config/bird.cfg:6:10 syntax error"), and a
 * rejection of the file's text (`rejected`) when it is an `8002` that names a
 * line and column; `8002 F: No such file or directory` is not. An accepted
 * code is success; anything else (e.g. `0006 Reconfiguration ignored,
 * shutting down`) is a failure carrying BIRD's text.
 */
export function classifyConfigureReplies(replies: readonly BirdReply[]): { ok: boolean; message: string; rejected?: true } {
  const err = replies.find((r) => isErrorCode(r.code));
  if (err) return { ok: false, message: err.text, ...(err.code === '8002' && VERDICT.test(err.text) ? { rejected: true as const } : {}) };
  const okReply = replies.find((r) => CONFIGURE_OK_CODES.has(r.code));
  if (okReply) return { ok: true, message: okReply.text };
  const last = [...replies].reverse().find((r) => r.code !== '0001' && r.code !== '0002');
  return {
    ok: false,
    message: last ? `unexpected reply from BIRD: ${last.code ? last.code + ' ' : ''}${last.text}` : 'no reply from BIRD',
  };
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
 * `show protocols` replies to rows: the `1002` replies (header is `2002`).
 * Columns are space separated; `since` may be a date plus a time
 * (`timeformat protocol iso long`), and has milliseconds on BIRD 2/3
 * (`23:17:44.782`); `info` is the rest with runs of spaces collapsed
 * ("Established", "Passive", "Active Socket: Connection reset by peer").
 * BIRD 2/3 show `---` as the table of a BGP protocol (its tables are per channel).
 */
export function protocolRows(replies: readonly BirdReply[]): ProtocolRow[] {
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
 * BGP sessions BIRD shut down for crossing their import limit (`import limit
 * N action disable`): `show protocols` shows them `down` with `Automatic
 * shutdown: Route limit exceeded` (BIRD 1.6, 2 and 3 alike), so the cheap
 * poll finds them without `show protocols all`.
 */
export function limitedSessions(rows: readonly ProtocolRow[]): string[] {
  return rows.filter((r) => r.proto === 'BGP' && /route limit exceeded/i.test(r.info)).map((r) => r.name);
}

/** What one poll changed: the sessions shut down by their limit now, those newly so, and those no longer. */
export function limitTransitions(before: ReadonlySet<string>, rows: readonly ProtocolRow[]): { now: Set<string>; hit: string[]; cleared: string[] } {
  const now = new Set(limitedSessions(rows));
  return { now, hit: [...now].filter((n) => !before.has(n)), cleared: [...before].filter((n) => !now.has(n)) };
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
 * `show protocols all` replies: each `1002` row followed by its `1006`
 * detail lines (`BGP state:`, `Neighbor address:`, `Last error:`; BIRD 2/3
 * add channel sections, which are skipped).
 */
export function protocolDetails(replies: readonly BirdReply[]): ProtocolDetail[] {
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

/**
 * The `show status` reply as the health probe reads it: up unless the last
 * line is not `0013` or says the daemon is shutting down; `version` from the
 * `1000-BIRD 2.17.6` line (the running daemon's version).
 */
export function classifyStatusReplies(lines: readonly string[]): { up: boolean; reason?: string; version?: string } {
  const last = lines[lines.length - 1] ?? '';
  if (!last.startsWith('0013 ')) return { up: false, reason: `unexpected reply: ${last}` };
  const replies = parseSocketReplies(lines);
  if (/shutdown/i.test(replies[replies.length - 1]?.text ?? '')) return { up: false, reason: 'shutting down' };
  const version = /^BIRD (\S+)$/.exec(replies.find((r) => r.code === '1000')?.text ?? '')?.[1];
  return { up: true, ...(version !== undefined ? { version } : {}) };
}

/**
 * The message of a failed `bird -p`: its first non-empty line (stderr, else
 * stdout) without the prefix, `bird: ` and, from BIRD 3, a timestamp, a
 * thread number and a level (`bird: 2026-12-01 23:16:25.707 [0001] <FATAL> F:9:9 syntax error`).
 */
export function checkMessage(stderr: string, stdout = ''): string {
  const first = (s: string): string => s.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
  return (first(stderr) || first(stdout))
    .replace(/^bird6?:\s*/, '')
    .replace(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)? (\[\w+\] )?<[A-Z]+> /, '');
}
