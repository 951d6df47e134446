/**
 * Reading an input file (CSV or .npy, by content) and writing a result (CSV, JSON or .npy, by the
 * output's extension), whole or not at all.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { unwritableReason, writeFileAtomic } from '../../plot/write.js';
import { InputFileError, UsageError } from '../errors.js';
import { readCsv } from './csv.js';
import { encodeNpy, isNpy, readNpy } from './npy.js';
import type { Expectation, Table } from './table.js';

/**
 * Reads an n×d numeric table; a missing file or a directory is an InputFileError. `expect`: what the command needs
 * of it beyond numbers, refused where the file breaks it (see Expectation).
 */
export function readTable(file: string, expect?: Expectation): Table {
  let size: number;
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw new InputFileError(file, 'is a directory, not a data file');
    size = st.size;
  } catch (error) {
    if (error instanceof InputFileError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputFileError(file, code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? (error as Error).message})`);
  }
  if (size === 0) throw new InputFileError(file, 'empty file');
  return startsAsNpy(file) ? readNpy(file, undefined, expect) : readCsv(file, expect);
}

function startsAsNpy(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(6);
    readSync(fd, head, 0, 6, 0);
    return isNpy(head) || extname(file).toLowerCase() === '.npy';
  } finally {
    closeSync(fd);
  }
}

export const OUTPUT_FORMATS = ['.csv', '.json', '.npy'] as const;

/** Refuses an output path whose extension names no format, before any work is done. */
export function checkOutputPath(file: string | undefined, flag = 'output'): void {
  if (file === undefined) return;
  const ext = extname(file).toLowerCase();
  if (!(OUTPUT_FORMATS as readonly string[]).includes(ext)) {
    throw new UsageError(`--${flag} ${file}: the extension must be one of ${OUTPUT_FORMATS.join(', ')} (the format follows it)`);
  }
  const why = unwritableReason(file);
  if (why) throw new UsageError(`--${flag} ${file}: cannot be written: ${why}`);
}

/** The bytes of `table` in the format `file`'s extension names; `json` replaces the JSON body. */
export function encodeTable(file: string, table: Table, json?: unknown): string | Buffer {
  switch (extname(file).toLowerCase()) {
    case '.npy':
      return encodeNpy(table);
    case '.json':
      return `${JSON.stringify(json ?? tableJson(table), null, 1)}\n`;
    default:
      return csvText(table);
  }
}

/** Writes the table atomically (see writeFileAtomic). */
export function writeTable(file: string, table: Table, json?: unknown): void {
  writeFileAtomic(file, encodeTable(file, table, json));
}

function tableJson(t: Table): unknown {
  const rows = Array.from({ length: t.rows }, (_, i) => Array.from(t.data.subarray(i * t.cols, (i + 1) * t.cols)));
  return { columns: t.columns ?? null, rows: t.cols === 1 ? rows.map((r) => r[0]) : rows };
}

/** CSV with a header line when the table names its columns; numbers in shortest round-trip form. */
export function csvText(t: Table): string {
  const parts: string[] = [];
  if (t.columns) parts.push(`${t.columns.map(csvField).join(',')}\n`);
  for (let i = 0; i < t.rows; i++) {
    let line = '';
    for (let j = 0; j < t.cols; j++) line += (j ? ',' : '') + String(t.data[i * t.cols + j]);
    parts.push(`${line}\n`);
  }
  return parts.join('');
}

/**
 * A header name as a CSV field: double-quoted, with its quotes doubled (RFC 4180), where it holds a quote, CR or LF, or
 * anything this CLI's reader would otherwise cut or drop — a comma, and the other delimiters it sniffs (semicolon,
 * tab, blank: `a;b` alone on a header line would read as two columns), or a leading '#' (a comment line).
 */
function csvField(name: string): string {
  return /[",;\t \r\n]|^#/.test(name) ? `"${name.replace(/"/g, '""')}"` : name;
}
