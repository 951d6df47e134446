/**
 * CSV/TSV reading for untrusted numeric files. The file is read in 1 MiB chunks and each line is
 * cut at the delimiter in place (one short string per cell, none per file): memory is the n×d result
 * plus one chunk. The delimiter is sniffed among , ; tab and blanks from the first lines; a first
 * line with a non-numeric cell is a header. Lines starting with '#' and blank lines are skipped.
 * Every refusal names file:line:column.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { InputFileError } from '../errors.js';
import type { Table } from './table.js';

const CHUNK_BYTES = 1 << 20;
const SNIFF_LINES = 20;
/** ' ' stands for any run of blanks (spaces and tabs), as numpy.loadtxt's default. */
const DELIMITERS = [',', ';', '\t', ' '] as const;
type Delimiter = (typeof DELIMITERS)[number] | undefined;
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

interface Cell { text: string; column: number }

/** Cells of one line with their 1-based columns; quotes around a cell are dropped. */
function splitLine(line: string, delimiter: Delimiter): Cell[] {
  const cells: Cell[] = [];
  if (delimiter === ' ') {
    const re = /[^ \t]+/g;
    for (let m = re.exec(line); m; m = re.exec(line)) cells.push({ text: unquote(m[0]), column: m.index + 1 });
    return cells;
  }
  if (delimiter === undefined) return [trimmedCell(line, 0, line.length)];
  let start = 0;
  for (;;) {
    const end = line.indexOf(delimiter, start);
    cells.push(trimmedCell(line, start, end < 0 ? line.length : end));
    if (end < 0) return cells;
    start = end + 1;
  }
}

function trimmedCell(line: string, start: number, end: number): Cell {
  let s = start;
  let e = end;
  while (s < e && (line[s] === ' ' || line[s] === '\t')) s++;
  while (e > s && (line[e - 1] === ' ' || line[e - 1] === '\t')) e--;
  return { text: unquote(line.slice(s, e)), column: s + 1 };
}

function unquote(s: string): string {
  return s.length >= 2 && s[0] === '"' && s[s.length - 1] === '"' ? s.slice(1, -1).trim() : s;
}

const isNumber = (s: string) => NUMBER.test(s);
const NON_FINITE = /^[+-]?(?:nan|inf(?:inity)?)$/i;
/** A header cell: text that is neither a number nor a NaN/Inf token. */
const isName = (c: Cell) => c.text !== '' && !isNumber(c.text) && !NON_FINITE.test(c.text);

/**
 * The first of , ; tab blanks that splits every sampled data line into the same number (> 1) of numeric
 * cells; else the one whose split of the first line most other lines share (a ragged file then fails on
 * its bad line, not on the first); else one column.
 */
export function sniffDelimiter(sample: readonly string[]): Delimiter {
  const data = sample.length > 1 ? sample.slice(1) : sample; // the first line may be a header
  let best: Delimiter | null = null;
  let bestShared = -1;
  for (const d of DELIMITERS) {
    const counts = sample.map((l) => splitLine(l, d).length);
    if (counts[0]! < 2) continue;
    const shared = counts.filter((c) => c === counts[0]).length;
    if (shared === counts.length && data.every((l) => splitLine(l, d).every((c) => isNumber(c.text)))) return d;
    if (shared > bestShared) [best, bestShared] = [d, shared];
  }
  return best ?? undefined;
}

/** Streams the lines of a text file with their 1-based numbers; refuses binary content. */
function* lines(file: string): Generator<{ text: string; number: number }> {
  const fd = openSync(file, 'r');
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const buf = Buffer.allocUnsafe(CHUNK_BYTES);
  let carry = '';
  let number = 0;
  let offset = 0;
  try {
    for (;;) {
      const got = readSync(fd, buf, 0, CHUNK_BYTES, null);
      const bytes = buf.subarray(0, got);
      const nul = bytes.indexOf(0);
      if (nul >= 0) {
        throw new InputFileError(file, `binary content (a NUL byte at byte offset ${offset + nul}), not a CSV/text file`, lineAndColumn(carry, bytes.subarray(0, nul), number));
      }
      let text: string;
      try {
        text = carry + decoder.decode(bytes, { stream: got > 0 });
      } catch {
        const bad = new TextDecoder('utf-8').decode(bytes).indexOf('\uFFFD');
        throw new InputFileError(file, 'binary content (invalid UTF-8), not a CSV/text file', lineAndColumn(carry, bytes, number, bad));
      }
      offset += got;
      let start = 0;
      for (let end = text.indexOf('\n', start); end >= 0; end = text.indexOf('\n', start)) {
        yield { text: text.charCodeAt(end - 1) === 13 ? text.slice(start, end - 1) : text.slice(start, end), number: ++number };
        start = end + 1;
      }
      carry = text.slice(start);
      if (got === 0) break;
    }
    if (carry.length > 0) yield { text: carry.endsWith('\r') ? carry.slice(0, -1) : carry, number: ++number };
  } finally {
    closeSync(fd);
  }
}

/**
 * The 1-based line and column of a bad byte: `before` (the text carried from earlier chunks, lines so far `number`)
 * then `bytes` up to it (or its first `upTo` characters, decoded).
 */
function lineAndColumn(carry: string, bytes: Uint8Array, number: number, upTo = -1): { line: number; column: number } {
  let prefix = carry + new TextDecoder('utf-8').decode(bytes);
  if (upTo >= 0) prefix = prefix.slice(0, carry.length + upTo);
  let line = number + 1;
  let start = 0;
  for (let nl = prefix.indexOf('\n'); nl >= 0; nl = prefix.indexOf('\n', start)) {
    line++;
    start = nl + 1;
  }
  return { line, column: prefix.length - start + 1 };
}

/** Growable Float64Array. */
class Values {
  data = new Float64Array(1 << 12);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
}

interface Layout { delimiter: Delimiter; header: string[] | undefined; cols: number; firstLine: number }

/** Reads a numeric CSV (see the module comment). */
export function readCsv(file: string): Table {
  const pending: { text: string; number: number }[] = [];
  const values = new Values();
  let layout: Layout | undefined;
  let rows = 0;
  for (const line of lines(file)) {
    if (line.text.trim() === '' || line.text.trimStart().startsWith('#')) continue;
    if (layout === undefined) {
      pending.push(line);
      if (pending.length < SNIFF_LINES) continue;
      layout = settleLayout(file, pending);
      for (const p of pending) rows += parseRow(file, p, layout, values);
      continue;
    }
    rows += parseRow(file, line, layout, values);
  }
  if (layout === undefined) {
    if (pending.length === 0) throw new InputFileError(file, 'no data (the file is empty or has only blank/comment lines)');
    layout = settleLayout(file, pending);
    for (const p of pending) rows += parseRow(file, p, layout, values);
  }
  if (rows === 0) throw new InputFileError(file, 'no data rows (only a header)');
  const data = values.data.length === values.length ? values.data : values.data.slice(0, values.length);
  return { rows, cols: layout.cols, data, ...(layout.header ? { columns: layout.header } : {}) };
}

function settleLayout(file: string, sample: readonly { text: string; number: number }[]): Layout {
  const delimiter = sniffDelimiter(sample.map((l) => l.text));
  const first = splitLine(sample[0]!.text, delimiter);
  // A header is a first line of names only (an empty one is refused below). A first line with a number or a NaN/Inf
  // cell beside text is a data row with a bad cell, reported as such: taken for a header it would vanish from the data
  // without a word. The second line need not be clean: its bad cell is then reported where it is, not as line 1.
  const header = first.some(isName) && first.every((c) => c.text === '' || isName(c));
  if (header) {
    const empty = first.find((c) => c.text === '');
    if (empty) throw new InputFileError(file, 'empty column name in the header', { line: sample[0]!.number, column: empty.column });
  }
  return { delimiter, header: header ? first.map((c) => c.text) : undefined, cols: first.length, firstLine: header ? sample[0]!.number : -1 };
}

/** Appends one line's values; returns 1 for a data row, 0 for the header. */
function parseRow(file: string, line: { text: string; number: number }, layout: Layout, out: Values): number {
  if (line.number === layout.firstLine) return 0;
  const cells = splitLine(line.text, layout.delimiter);
  if (cells.length !== layout.cols) {
    const at = cells[Math.min(cells.length, layout.cols)] ?? { column: line.text.length + 1 };
    const delim = layout.delimiter === undefined ? '' : layout.delimiter === ' ' ? ' (blank-separated)' : ` ('${layout.delimiter === '\t' ? '\\t' : layout.delimiter}'-separated)`;
    throw new InputFileError(file, `${cells.length} fields, expected ${layout.cols}${delim} as on the first line`, { line: line.number, column: at.column });
  }
  for (const c of cells) {
    const v = isNumber(c.text) ? Number(c.text) : NaN;
    if (!Number.isFinite(v)) throw new InputFileError(file, cellProblem(c.text), { line: line.number, column: c.column });
    out.push(v);
  }
  return 1;
}

function cellProblem(text: string): string {
  if (text === '') return 'empty cell';
  if (/^[+-]?nan$/i.test(text)) return `NaN cell '${text}' (missing values are not allowed)`;
  if (/^[+-]?inf(inity)?$/i.test(text) || NUMBER.test(text)) return `cell '${text}' is not a finite float64`;
  return `non-numeric cell '${text.length > 40 ? `${text.slice(0, 40)}…` : text}'`;
}
