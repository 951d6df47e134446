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
