/**
 * A seeded mutation fuzz of the CLI's untrusted input files (issue 16): valid CSV and .npy files, then one mutation
 * each — benign (BOM, CRLF, blank and comment lines, padding, quotes, no final newline), a bad cell (NaN, Inf, text,
 * empty, 1e999, hex), a ragged row, a NUL or invalid UTF-8 byte, a truncation; for .npy a bad dtype, fortran_order,
 * shape (larger, smaller, 3-d, huge, negative), header length, version or magic, NaN/Inf data, 64-bit integers beyond
 * 2⁵³, trailing bytes, truncation. Every outcome is the right parse (checked against the table the file was made
 * from) or an InputFileError naming the file and — CSV — the line and column of the bad cell, or — .npy — the header
 * field. `IO_FUZZ_CASES=5000 npx vitest run test/cli/io-fuzz.test.ts` runs a longer fuzz.
 */
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readCsv } from '../../src/cli/io/csv.js';
import { readTable } from '../../src/cli/io/files.js';
import { InputFileError } from '../../src/cli/errors.js';
import { mulberry32 } from '../random-data.js';
import { scratch } from './helpers.js';

const CASES = Number(process.env['IO_FUZZ_CASES'] ?? 400);

interface Made { rows: number[][]; header: string[] | undefined }
type Outcome = { ok: true; rows: number[][]; columns: readonly string[] | undefined } | { ok: false; error: unknown };

function read(path: string): Outcome {
  try {
    const t = readTable(path);
    return { ok: true, rows: Array.from({ length: t.rows }, (_, i) => Array.from(t.data.subarray(i * t.cols, (i + 1) * t.cols))), columns: t.columns };
  } catch (error) {
    return { ok: false, error };
  }
}

/** The error must be an InputFileError for `file`, at `line` (and `column` where given). */
function expectError(o: Outcome, file: string, what: string, line?: number, column?: number): void {
  expect(o.ok, `${what}: expected an error, got a parse`).toBe(false);
  const e = (o as { error: unknown }).error;
  expect(e, `${what}: ${String(e)}`).toBeInstanceOf(InputFileError);
  const err = e as InputFileError;
  expect(err.file).toBe(file);
  expect(err.message.startsWith(file)).toBe(true);
  if (line !== undefined) expect(err.where.line, `${what}: ${err.message}`).toBe(line);
  if (column !== undefined) expect(err.where.column, `${what}: ${err.message}`).toBe(column);
}

function expectParse(o: Outcome, made: Made, what: string, header = made.header): void {
  expect(o.ok, `${what}: ${o.ok ? '' : String((o as { error: unknown }).error)}`).toBe(true);
  const p = o as Extract<Outcome, { ok: true }>;
  expect(p.rows, what).toEqual(made.rows);
  expect(p.columns, what).toEqual(header);
}

describe('CSV mutation fuzz: the right parse or file:line:column', () => {
  it(`${CASES} seeded mutations of valid files`, () => {
    const rand = mulberry32(1601);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
    const s = scratch();
    try {
      for (let t = 0; t < CASES; t++) {
        const nRows = 2 + Math.floor(rand() * 8);
        const nCols = 1 + Math.floor(rand() * 4);
        const delimiter = pick([',', ';', '\t', ' ']);
        const header = rand() < 0.4 ? Array.from({ length: nCols }, (_, j) => `c${j}`) : undefined;
        const texts = Array.from({ length: nRows }, () => Array.from({ length: nCols }, () => pick([
          () => String(Math.floor(rand() * 200) - 100), () => (rand() * 10 - 5).toFixed(3), () => (rand() * 1e6).toExponential(4), () => `.${Math.floor(rand() * 99)}`,
        ])()));
        const made: Made = { rows: texts.map((r) => r.map(Number)), header };
        let lines = [...(header ? [header] : []), ...texts].map((cells) => cells.join(delimiter));
        const firstData = header ? 2 : 1;
        const mutation = pick(['none', 'bom', 'crlf', 'no-final-newline', 'blank-and-comment', 'padding', 'quotes', 'bad-cell', 'ragged', 'nul', 'invalid-utf8', 'truncate']);
        const what = `case ${t}: ${mutation} of ${JSON.stringify(lines.join('\n'))}`;
        const file = s.path(`f${t}.csv`);
        const write = (content: string | Buffer) => writeFileSync(file, content);
        const text = () => `${lines.join('\n')}\n`;
        switch (mutation) {
          case 'none': write(text()); expectParse(read(file), made, what); break;
          case 'bom': write(`\uFEFF${text()}`); expectParse(read(file), made, what); break;
          case 'crlf': write(lines.map((l) => `${l}\r\n`).join('')); expectParse(read(file), made, what); break;
          case 'no-final-newline': write(lines.join('\n')); expectParse(read(file), made, what); break;
          case 'blank-and-comment': {
            const at = Math.floor(rand() * (lines.length + 1));
            lines = [...lines.slice(0, at), pick(['', '   ', '# a comment, 1,2', '\t']), ...lines.slice(at)];
            write(text());
            expectParse(read(file), made, what);
            break;
          }
          case 'padding':
          case 'quotes': {
            const wrap = (c: string) => (mutation === 'quotes' ? `"${c}"` : delimiter === ' ' ? `  ${c}` : ` ${c} `);
            lines = [...(header ? [header] : []), ...texts].map((cells) => cells.map(wrap).join(delimiter));
            write(text());
            expectParse(read(file), made, what);
            break;
          }
          case 'bad-cell': {
            const r = Math.floor(rand() * nRows);
            const c = Math.floor(rand() * nCols);
            const bad = pick(['nan', 'NaN', '-inf', 'Infinity', 'abc', '1e999', '-1e400', '0x1F', '1.2.3', '1_000', '--1', '1' + '0'.repeat(400)]);
            const cells = texts[r]!.slice();
            cells[c] = bad;
            lines[r + firstData - 1] = cells.join(delimiter);
            const column = cells.slice(0, c).reduce((acc, x) => acc + x.length + delimiter.length, 0) + 1;
            write(text());
            if (!header && r === 0 && nCols === 1 && !/^[+-]?(nan|inf(inity)?)$/i.test(bad) && !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(bad)) {
              expectParse(read(file), { rows: made.rows.slice(1), header: [bad] }, `${what} (text alone on the first line: a header)`);
            } else expectError(read(file), file, `${what} (${bad} at row ${r}, column ${c})`, r + firstData, column);
            break;
          }
          case 'ragged': {
            const r = 1 + Math.floor(rand() * (nRows - 1)); // a row after the first (which sets the width)
            const cells = texts[r]!.slice();
            if (rand() < 0.5 && nCols > 1) cells.pop(); else cells.push('7');
            lines[r + firstData - 1] = cells.join(delimiter);
            write(text());
            expectError(read(file), file, what, r + firstData);
            break;
          }
          case 'nul':
          case 'invalid-utf8': {
            const body = Buffer.from(text());
            const at = Math.floor(rand() * body.length);
            write(Buffer.concat([body.subarray(0, at), Buffer.from([mutation === 'nul' ? 0 : 0xff]), body.subarray(at)]));
            const before = body.subarray(0, at).toString();
            const line = before.split('\n').length;
            expectError(read(file), file, what, line, before.length - before.lastIndexOf('\n'));
            break;
          }
          case 'truncate': {
            const body = text();
            const cut = 1 + Math.floor(rand() * (body.length - 1));
            write(body.slice(0, cut));
            const o = read(file);
            // complete lines parse as they were; the cut line is a shorter valid row, or an error on that line
            const kept = body.slice(0, cut).split('\n');
            const cutLine = kept.length;
            const complete = kept.length - 1 - (header ? 1 : 0);
            if (o.ok) {
              expect(o.rows.slice(0, Math.max(complete, 0)), what).toEqual(made.rows.slice(0, Math.max(complete, 0)));
              expect(o.rows.length - Math.max(complete, 0), what).toBeLessThanOrEqual(1);
              if (complete > 0 && o.rows.length > complete) expect(o.rows[complete]!.length, what).toBe(nCols);
            } else {
              const err = o.error as InputFileError;
              expect(err, what).toBeInstanceOf(InputFileError);
              // an error on the cut line, or no data at all (only a header or part of it)
              if (err.where.line !== undefined) expect(err.where.line, `${what}: ${err.message}`).toBe(cutLine);
              else expect(err.message, what).toMatch(/no data/);
            }
            break;
          }
        }
      }
    } finally {
      s.remove();
    }
  });

  it('a first line with a NaN or a number beside text is a bad data row, not a header (it vanished before)', () => {
    const s = scratch({ 'nan.csv': 'nan,1.5\n2,3\n', 'mixed.csv': 'x,1\n2,3\n', 'inf.csv': 'Inf;abc\n2;3\n', 'names.csv': 'x,y\n2,3\n' });
    try {
      expectError(read(s.path('nan.csv')), s.path('nan.csv'), 'NaN first row', 1, 1);
      expectError(read(s.path('mixed.csv')), s.path('mixed.csv'), 'text beside a number', 1, 1);
      expectError(read(s.path('inf.csv')), s.path('inf.csv'), 'Inf beside text', 1, 1);
      expectParse(read(s.path('names.csv')), { rows: [[2, 3]], header: ['x', 'y'] }, 'a header of names');
    } finally {
      s.remove();
    }
  });

  it('a NUL byte and invalid UTF-8 are placed by line and column, also past the first 1 MiB chunk', () => {
    const long = `${Array.from({ length: 70_000 }, (_, i) => `${i},${i % 7}`).join('\n')}\n`; // > 1 MiB
    const s = scratch({ 'nul.csv': `${long}5,\u00006\n`, 'utf8.csv': Buffer.concat([Buffer.from(`${long}5,6`), Buffer.from([0xc3, 0x28]), Buffer.from('\n')]) });
    try {
      expectError(read(s.path('nul.csv')), s.path('nul.csv'), 'NUL', 70_001, 3);
      expectError(read(s.path('utf8.csv')), s.path('utf8.csv'), 'invalid UTF-8', 70_001, 4);
      expect(() => readCsv(s.path('nul.csv'))).toThrow(/byte offset \d+/);
    } finally {
      s.remove();
    }
  });
});
