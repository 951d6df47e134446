/** Errors the command reports without a stack: the message is the whole story. */

/** A wrong command line (unknown command or flag, a bad flag value): exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * An input file that cannot be used. The message starts with `file:line:column:` for text files
 * (1-based) or `file: byte offset N:` for binary ones, as compilers do, so editors can jump there.
 */
export class InputFileError extends Error {
  override readonly name = 'InputFileError';
  constructor(
    readonly file: string,
    readonly detail: string,
    readonly where: { line?: number; column?: number; offset?: number } = {},
  ) {
    super(`${file}${locationText(where)}: ${detail}`);
  }
}

function locationText({ line, column, offset }: { line?: number; column?: number; offset?: number }): string {
  if (line !== undefined) return column !== undefined ? `:${line}:${column}` : `:${line}`;
  if (offset !== undefined) return `: byte offset ${offset}`;
  return '';
}

/** Exit status for an error: 2 for usage, 1 for everything else. */
export function exitStatus(error: unknown): number {
  return error instanceof UsageError ? 2 : 1;
}

/** Longest stretch of untrusted text an error message quotes (a 5-million-digit cell was quoted whole before). */
const QUOTED_MAX = 40;
/**
 * Characters never printed raw: C0/C1 controls and DEL (a CR in a message rewrote the terminal line), line and
 * paragraph separators, bidirectional overrides and isolates (they reorder what the terminal shows), and the BOM.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;
const NAMED: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * Untrusted text as an error message quotes it: in single quotes, cut to 40 characters (whole code points), control
 * characters escaped. `note` is the full length where it was cut, for the message to add.
 */
function quoteText(text: string): { quoted: string; note: string | undefined } {
  let cut = text;
  if (text.length > QUOTED_MAX) {
    const points = Array.from(text.slice(0, 2 * QUOTED_MAX));
    cut = points.length > QUOTED_MAX ? points.slice(0, QUOTED_MAX).join('') : text.slice(0, 2 * QUOTED_MAX);
  }
  const escaped = cut.replace(UNPRINTABLE, (c) => NAMED[c] ?? escapeCode(c.charCodeAt(0)));
  return cut.length < text.length
    ? { quoted: `'${escaped}…'`, note: `${text.length} characters` }
    : { quoted: `'${escaped}'`, note: undefined };
}

function escapeCode(code: number): string {
  return code <= 0xff ? `\\x${code.toString(16).toUpperCase().padStart(2, '0')}` : `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** `quoteText` with the notes (its length where cut, then `more`) in one parenthesis: "'abc…' (5000001 characters; …)". */
export function quoted(text: string, ...more: (string | undefined)[]): string {
  const { quoted: q, note } = quoteText(text);
  const notes = [note, ...more].filter((s): s is string => s !== undefined && s !== '');
  return notes.length > 0 ? `${q} (${notes.join('; ')})` : q;
}
