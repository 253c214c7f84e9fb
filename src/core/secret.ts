/**
 * A BGP password, held so that it cannot reach a log line, a metric, /status,
 * `explain` or an error message by accident: JSON, string conversion and
 * node's inspect all show `(redacted)`; only `reveal()` gives the text, and
 * only templates call it (the config file that holds it is mode 0600).
 */
export const REDACTED = '(redacted)';

export class Secret {
  readonly #text: string;
  constructor(text: string) {
    this.#text = text;
  }
  /** The password itself: for the config template only. */
  reveal(): string {
    return this.#text;
  }
  equals(other: Secret | undefined): boolean {
    return other !== undefined && other.#text === this.#text;
  }
  toJSON(): string {
    return REDACTED;
  }
  toString(): string {
    return REDACTED;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return REDACTED;
  }
}

export const sameSecret = (a: Secret | undefined, b: Secret | undefined): boolean => (a === undefined ? b === undefined : a.equals(b));

/** TCP MD5 keys are at most 80 bytes (TCP_MD5SIG_MAXKEYLEN). */
export const PASSWORD_MAX = 80;

/**
 * A password BIRD can hold in a quoted string: printable ASCII, no `"`
 * (it ends BIRD's string: nothing after it may become config text) and no
 * `\` (no escape sequences, whatever the BIRD version). The reason never
 * repeats the text.
 */
export function parsePassword(raw: unknown): { ok: true; value: Secret | undefined } | { ok: false; reason: string } {
  if (raw === undefined || raw === null || raw === '') return { ok: true, value: undefined };
  if (typeof raw !== 'string') return { ok: false, reason: `"password": expected a string, got a ${Array.isArray(raw) ? 'list' : typeof raw}` };
  if (raw.length > PASSWORD_MAX) return { ok: false, reason: `"password": ${raw.length} characters, at most ${PASSWORD_MAX} (TCP MD5)` };
  if (!/^[\x20-\x7e]*$/.test(raw) || /["\\]/.test(raw)) {
    return { ok: false, reason: '"password": only printable ASCII without " and \\ can be given to BIRD (value not shown)' };
  }
  return { ok: true, value: new Secret(raw) };
}
