/**
 * CSV/TSV reading for untrusted numeric files. The file is read in 1 MiB chunks and each line is
 * cut at the delimiter in place (one short string per cell, none per file): memory is the n×d result
 * plus one chunk. Lines end in LF, CRLF or CR alone (old Mac files), as Python's universal newlines read
 * them. The delimiter is sniffed among , ; tab and blanks from the first lines; a first line of names
 * is a header. A field may be double-quoted (RFC 4180: "" is a quote inside), so a name can hold the
 * delimiter; a quoted field does not span lines. Lines starting with '#' and blank lines are skipped.
 * Every refusal names file:line:column.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { InputFileError, quoted } from '../errors.js';
import type { Expectation, Table } from './table.js';

const CHUNK_BYTES = 1 << 20;
const SNIFF_LINES = 20;
/** ' ' stands for any run of blanks (spaces and tabs), as numpy.loadtxt's default. */
const DELIMITERS = [',', ';', '\t', ' '] as const;
type Delimiter = (typeof DELIMITERS)[number] | undefined;
// `\d+(?:\.\d*)?`, not `\d+\.?\d*`: the latter backtracks in O(n²) on a long run of digits that fails to match
// ('1' × 5,000,000 then 'x' did not finish)
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A cell's text (quotes dropped, blanks around trimmed) and 1-based column; `problem`: why it cannot be read at all. */
interface Cell { text: string; column: number; problem?: string }

const isBlank = (ch: string | undefined) => ch === ' ' || ch === '\t';

/** Cells of one line with their 1-based columns. */
function splitLine(line: string, delimiter: Delimiter): Cell[] {
  // quotes are rare in numeric files: lines without one are cut at the delimiter directly
  if (line.includes('"')) return splitQuoted(line, delimiter);
  const cells: Cell[] = [];
  if (delimiter === ' ') {
    const re = /[^ \t]+/g;
    for (let m = re.exec(line); m; m = re.exec(line)) cells.push({ text: m[0], column: m.index + 1 });
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
  while (s < e && isBlank(line[s])) s++;
  while (e > s && isBlank(line[e - 1])) e--;
  return { text: line.slice(s, e), column: s + 1 };
}

/**
 * RFC 4180 fields: one that starts (after blanks) with '"' runs to the next lone '"' ('""' inside is a quote), so the
 * delimiter may appear in it; blanks inside the quotes are trimmed as outside (a quoted number reads as the number).
 */
function splitQuoted(line: string, delimiter: Delimiter): Cell[] {
  const cells: Cell[] = [];
  const n = line.length;
  const isDelimiter = (ch: string | undefined) => (delimiter === ' ' ? isBlank(ch) : ch === delimiter);
  let i = 0;
  for (;;) {
    let s = i;
    while (s < n && isBlank(line[s]) && !(delimiter === '\t' && line[s] === '\t')) s++;
    if (delimiter === ' ' && s === n) return cells; // blanks at the end of a blank-separated line
    if (line[s] !== '"') {
      // an unquoted field: to the next delimiter (quotes inside it are text)
      let e = s;
      if (delimiter === ' ') while (e < n && !isBlank(line[e])) e++;
      else if (delimiter !== undefined) e = line.indexOf(delimiter, s) < 0 ? n : line.indexOf(delimiter, s);
      else e = n;
      cells.push(trimmedCell(line, s, e));
      if (e >= n) return cells;
      i = e + 1;
      continue;
    }
    let text = '';
    let j = s + 1;
    for (;;) {
      const q = line.indexOf('"', j);
      if (q < 0) {
        cells.push({ text: line.slice(s), column: s + 1, problem: 'unterminated quoted field (a quoted field must close on its line)' });
        return cells;
      }
      text += line.slice(j, q);
      j = q + 1;
      if (line[j] !== '"') break;
      text += '"';
      j++;
    }
    let e = j;
    while (e < n && isBlank(line[e]) && !isDelimiter(line[e])) e++;
    const cell: Cell = { text: text.trim(), column: s + 1 };
    if (e < n && !isDelimiter(line[e])) {
      // text after the closing quote: not RFC 4180; the field is reported as written
      const end = delimiter === undefined || delimiter === ' ' ? n : (line.indexOf(delimiter, e) < 0 ? n : line.indexOf(delimiter, e));
      cells.push({ text: line.slice(s, end), column: s + 1, problem: `text after the closing quote of ${quoted(line.slice(s, end))}` });
      return cells;
    }
    cells.push(cell);
    if (e >= n) return cells;
    i = e + 1;
  }
}

const isNumber = (s: string) => NUMBER.test(s);
const NON_FINITE = /^[+-]?(?:nan|inf(?:inity)?)$/i;
/** Text that is neither a number nor a NaN/Inf token. */
const isText = (c: Cell) => c.text !== '' && !isNumber(c.text) && !NON_FINITE.test(c.text);
/** Minus signs and dashes that text editors and spreadsheets put where '-' is meant. */
const MINUS_LIKE: Record<string, string> = {
  '\u2212': 'U+2212 MINUS SIGN', '\u2012': 'U+2012 FIGURE DASH', '\u2013': 'U+2013 EN DASH', '\u2014': 'U+2014 EM DASH',
  '\u2015': 'U+2015 HORIZONTAL BAR', '\ufe63': 'U+FE63 SMALL HYPHEN-MINUS', '\uff0d': 'U+FF0D FULLWIDTH HYPHEN-MINUS',
};
/** Signs, then a digit (or a point and a digit): text meant as a number, well-formed or not ('0x1', '1_000', '−1', '1e'). */
const LOOKS_NUMERIC = /^[+\-\u2212\u2012-\u2015\ufe63\uff0d]*\.?\d/;
/**
 * A header cell: text that does not even look like a number. A first line of malformed numbers ('−1,−2', '0x1') is a
 * bad data row, reported where it is: taken for a header it vanished from the data without a word.
 */
const isName = (c: Cell) => isText(c) && !LOOKS_NUMERIC.test(c.text);

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
      const lineBreak = new RegExp(LINE_BREAK.source, 'g'); // one per chunk: the generator pauses between lines
      let start = 0;
      for (let m = lineBreak.exec(text); m; m = lineBreak.exec(text)) {
        // a CR that ends the chunk may be the first half of a CRLF split across chunks: settled with the next one
        if (got > 0 && m[0] === '\r' && m.index === text.length - 1) break;
        yield { text: text.slice(start, m.index), number: ++number };
        start = m.index + m[0].length;
      }
      carry = text.slice(start);
      if (got === 0) break;
    }
    if (carry.length > 0) yield { text: carry, number: ++number };
  } finally {
    closeSync(fd);
  }
}

/** A line break: LF, CRLF, or CR alone (classic Mac OS), as Python's universal newlines (numpy.loadtxt, pandas). */
const LINE_BREAK = /\r\n?|\n/;

/**
 * The 1-based line and column of a bad byte: `before` (the text carried from earlier chunks, lines so far `number`)
 * then `bytes` up to it (or its first `upTo` characters, decoded).
 */
function lineAndColumn(carry: string, bytes: Uint8Array, number: number, upTo = -1): { line: number; column: number } {
  let prefix = carry + new TextDecoder('utf-8').decode(bytes);
  if (upTo >= 0) prefix = prefix.slice(0, carry.length + upTo);
  let line = number + 1;
  let start = 0;
  const lineBreak = new RegExp(LINE_BREAK.source, 'g');
  for (let m = lineBreak.exec(prefix); m; m = lineBreak.exec(prefix)) {
    line++;
    start = m.index + m[0].length;
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
type Line = { text: string; number: number };

/**
 * Reads a numeric CSV (see the module comment). `expect`: a shape and a check of each value, refused where the file
 * breaks them (the first line of another width, the row past the count, the end of a short file, the cell).
 */
export function readCsv(file: string, expect?: Expectation): Table {
  const pending: Line[] = [];
  const values = new Values();
  let layout: Layout | undefined;
  let rows = 0;
  let last: Line | undefined; // the last data row, where a short file ends
  const take = (line: Line, at: Layout) => {
    if (line.number === at.firstLine) return;
    if (expect?.rows !== undefined && rows === expect.rows) {
      throw new InputFileError(file, `a ${ordinal(rows + 1)} row; ${expect.need}`, { line: line.number, column: splitLine(line.text, at.delimiter)[0]?.column ?? 1 });
    }
    parseRow(file, line, at, values, expect);
    rows++;
    last = line;
  };
  for (const line of lines(file)) {
    if (line.text.trim() === '' || line.text.trimStart().startsWith('#')) continue;
    if (layout === undefined) {
      pending.push(line);
      if (pending.length < SNIFF_LINES) continue;
      layout = settleLayout(file, pending, expect);
      for (const p of pending) take(p, layout);
      continue;
    }
    take(line, layout);
  }
  if (layout === undefined) {
    if (pending.length === 0) throw new InputFileError(file, 'no data (the file is empty or has only blank/comment lines)');
    layout = settleLayout(file, pending, expect);
    for (const p of pending) take(p, layout);
  }
  if (rows === 0 || last === undefined) throw new InputFileError(file, 'no data rows (only a header)');
  if (expect?.rows !== undefined && rows < expect.rows) {
    throw new InputFileError(file, `the file ends after ${rows} row${rows === 1 ? '' : 's'}; ${expect.need}`, { line: last.number, column: last.text.trimEnd().length + 1 });
  }
  const data = values.data.length === values.length ? values.data : values.data.slice(0, values.length);
  return { rows, cols: layout.cols, data, ...(layout.header ? { columns: layout.header } : {}) };
}

function ordinal(k: number): string {
  const tens = k % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : ['th', 'st', 'nd', 'rd'][k % 10] ?? 'th';
  return `${k}${suffix}`;
}

function settleLayout(file: string, sample: readonly Line[], expect: Expectation | undefined): Layout {
  const delimiter = sniffDelimiter(sample.map((l) => l.text));
  const first = splitLine(sample[0]!.text, delimiter);
  const at = sample[0]!.number;
  const broken = first.find((c) => c.problem !== undefined);
  if (broken) throw new InputFileError(file, broken.problem!, { line: at, column: broken.column });
  // A header is a first line of text cells with at least one name (an empty one is refused below). A first line with a
  // number or a NaN/Inf cell beside text, or of malformed numbers only ('−1,−2', '0x1'), is a data row with a bad
  // cell, reported as such: taken for a header it would vanish from the data without a word. The second line need not
  // be clean: its bad cell is then reported where it is, not as line 1.
  const header = first.some(isName) && first.every((c) => c.text === '' || isText(c));
  if (header) {
    const empty = first.find((c) => c.text === '');
    if (empty) throw new InputFileError(file, 'empty column name in the header', { line: at, column: empty.column });
  }
  if (expect?.cols !== undefined && first.length !== expect.cols) {
    const column = first[expect.cols]?.column ?? sample[0]!.text.trimEnd().length + 1;
    throw new InputFileError(file, `${first.length} column${first.length === 1 ? '' : 's'}; ${expect.need}`, { line: at, column });
  }
  return { delimiter, header: header ? first.map((c) => c.text) : undefined, cols: first.length, firstLine: header ? at : -1 };
}

/** Appends one data row's values. */
function parseRow(file: string, line: Line, layout: Layout, out: Values, expect: Expectation | undefined): void {
  const cells = splitLine(line.text, layout.delimiter);
  const broken = cells.find((c) => c.problem !== undefined);
  if (broken) throw new InputFileError(file, broken.problem!, { line: line.number, column: broken.column });
  if (cells.length !== layout.cols) {
    const at = cells[Math.min(cells.length, layout.cols)] ?? { column: line.text.length + 1 };
    const delim = layout.delimiter === undefined ? '' : layout.delimiter === ' ' ? ' (blank-separated)' : ` ('${layout.delimiter === '\t' ? '\\t' : layout.delimiter}'-separated)`;
    throw new InputFileError(file, `${cells.length} fields, expected ${layout.cols}${delim} as on the first line`, { line: line.number, column: at.column });
  }
  for (const c of cells) {
    const v = isNumber(c.text) ? Number(c.text) : NaN;
    if (!Number.isFinite(v)) throw new InputFileError(file, cellProblem(c.text), { line: line.number, column: c.column });
    const why = expect?.value?.(v, c.text);
    if (why !== undefined) throw new InputFileError(file, why, { line: line.number, column: c.column });
    out.push(v);
  }
}

/** Why a cell is not a finite number; the cell quoted as every message quotes untrusted text (cut, escaped). */
function cellProblem(text: string): string {
  if (text === '') return 'empty cell';
  if (/^[+-]?nan$/i.test(text)) return `NaN cell ${quoted(text, 'missing values are not allowed')}`;
  if (/^[+-]?inf(inity)?$/i.test(text) || NUMBER.test(text)) return `cell ${quoted(text)} is not a finite float64`;
  return `non-numeric cell ${quoted(text, malformedNumber(text))}`;
}

/** What is wrong with text meant as a number, for the common slips; undefined for text that is not one. */
function malformedNumber(text: string): string | undefined {
  const minus = Array.from(text).find((ch) => MINUS_LIKE[ch] !== undefined);
  if (minus !== undefined) return `${MINUS_LIKE[minus]!}; write '-'`;
  if (!LOOKS_NUMERIC.test(text)) return undefined;
  const base = /^[+-]?0([xbo])/i.exec(text)?.[1]?.toLowerCase();
  if (base !== undefined) return `${{ x: 'hexadecimal', b: 'binary', o: 'octal' }[base]!}; write decimal numbers`;
  if (text.includes('_')) return "digit separator '_'; write digits only";
  if (/^[+-]?(?:\d+(?:\.\d*)?|\.\d+)[dD][+-]?\d+$/.test(text)) return "Fortran exponent 'd'; write 'e'";
  if (/^[+-]?\d*,\d+$/.test(text)) return "decimal comma; write '.'";
  return 'not a decimal number';
}
