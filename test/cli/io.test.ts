import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readCsv } from '../../src/cli/io/csv.js';
import { csvText, readTable } from '../../src/cli/io/files.js';
import { encodeNpy, readNpy } from '../../src/cli/io/npy.js';
import { run, scratch } from './helpers.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const VALUES = JSON.parse(readFileSync(join(FIXTURES, 'values.json'), 'utf8')) as Record<string, number[][]>;
const rowsOf = (t: { rows: number; cols: number; data: ArrayLike<number> }) =>
  Array.from({ length: t.rows }, (_, i) => Array.from({ length: t.cols }, (_, j) => t.data[i * t.cols + j]!));

let cleanup: (() => void)[] = [];
afterEach(() => { cleanup.forEach((f) => f()); cleanup = []; });
function dir(files: Record<string, string | Uint8Array>) {
  const s = scratch(files);
  cleanup.push(s.remove);
  return s;
}

describe('CSV reading', () => {
  it.each([
    ['comma with header', 'x,y\n1,2\n3,4.5\n', ['x', 'y']],
    ['semicolon, no header', '1;2\n3;4.5\n', undefined],
    ['tab, header', 'a\tb\n1\t2\n3\t4.5\n', ['a', 'b']],
    ['blank-separated runs, CRLF', '  1   2\r\n3 4.5\r\n', undefined],
    ['quoted header, comments, blank lines, BOM', '\uFEFF# made by hand\n"x","y"\n\n1, 2\n3 ,4.5\n\n', ['x', 'y']],
    ['no final newline, exponents', '1e0,2.0E+00\n+3,45e-1', undefined],
  ])('%s', (_name, text, columns) => {
    const s = dir({ 'a.csv': text });
    const t = readCsv(s.path('a.csv'));
    expect(rowsOf(t)).toEqual([[1, 2], [3, 4.5]]);
    expect(t.columns).toEqual(columns);
  });

  it('a single column, and a file larger than one read chunk (lines cut across chunks)', () => {
    const n = 60_000;
    const lines = Array.from({ length: n }, (_, i) => `${i * 0.5},${-i},${(i % 7) / 3}`);
    const s = dir({ 'one.csv': 'v\n7\n8\n', 'big.csv': `${lines.join('\n')}\n` });
    expect(rowsOf(readCsv(s.path('one.csv')))).toEqual([[7], [8]]);
    const big = readCsv(s.path('big.csv'));
    expect([big.rows, big.cols]).toEqual([n, 3]);
    for (const i of [0, 1, 17_476, 34_952, n - 1]) expect(rowsOf(big)[i]).toEqual([i * 0.5, -i || 0, (i % 7) / 3]);
  });
});

describe('.npy reading against numpy-written files (fixtures/make_npy_fixtures.py)', () => {
  it.each(['f8_c', 'f4_c', 'i4_c', 'i8_c', 'u1_c', 'f8_fortran', 'f8_1d', 'f8_v2', 'f8_v3'])('%s', (name) => {
    expect(rowsOf(readNpy(join(FIXTURES, `${name}.npy`)))).toEqual(VALUES[name]);
  });

  it("what we write is byte for byte what numpy.save writes for the same float64 array (2-D and 1-D)", () => {
    for (const name of ['f8_c', 'f8_1d']) {
      const numpyBytes = readFileSync(join(FIXTURES, `${name}.npy`));
      const t = readNpy(join(FIXTURES, `${name}.npy`));
      expect(encodeNpy(t, name === 'f8_1d').equals(numpyBytes)).toBe(true);
    }
  });

  it('Int32 data is written as <i4 and reads back', () => {
    const s = dir({});
    const labels = Int32Array.from([3, -1, 7]);
    const bytes = encodeNpy({ rows: 3, cols: 1, data: labels });
    expect(bytes.toString('latin1', 10, 60)).toContain("'descr': '<i4'");
    expect(rowsOf(readNpy(s.path('x.npy'), bytes))).toEqual([[3], [-1], [7]]);
  });
});

describe('bad input files: file:line:column (or byte offset), exit 1, no output left behind', () => {
  const truncated = readFileSync(join(FIXTURES, 'f8_c.npy')).subarray(0, 150);
  const numpy = readFileSync(join(FIXTURES, 'f8_c.npy'));
  const header = "{'descr': '<f8', 'fortran_order': False, 'shape': (5000000000, 3000), }".padEnd(117, ' ') + '\n';
  const absurd = Buffer.concat([numpy.subarray(0, 8), Buffer.from([header.length, 0]), Buffer.from(header, 'latin1'), numpy.subarray(128)]);
  const garbage = Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) % 256);
  const cases: [string, string | Uint8Array, (f: string) => string][] = [
    ['ragged.csv', 'x,y\n1,2\n3\n', (f) => `${f}:3:2: 1 fields, expected 2 (','-separated) as on the first line`],
    ['ragged-long.csv', '1,2\n3,4,5\n', (f) => `${f}:2:5: 3 fields, expected 2 (','-separated) as on the first line`],
    ['nan.csv', 'x,y\n1,2\n3,NaN\n', (f) => `${f}:3:3: NaN cell 'NaN' (missing values are not allowed)`],
    ['empty-cell.csv', 'x,y\n1,2\n,4\n', (f) => `${f}:3:1: empty cell`],
    ['text.csv', 'x,y\n1,2\n3,abc\n', (f) => `${f}:3:3: non-numeric cell 'abc'`],
    ['inf.csv', '1,2\n3,1e400\n', (f) => `${f}:2:3: cell '1e400' is not a finite float64`],
    ['header-only.csv', 'x,y\n', (f) => `${f}: no data rows (only a header)`],
    ['empty.csv', '', (f) => `${f}: empty file`],
    ['garbage.bin', garbage, (f) => `${f}:1:5: binary content (invalid UTF-8), not a CSV/text file`],
    ['nul.csv', 'x,y\n1,2\u0000\n', (f) => `${f}:2:4: binary content (a NUL byte at byte offset 7), not a CSV/text file`],
    ['truncated.npy', truncated, (f) => `${f}: byte offset 150: truncated: shape (5, 3) of '<f8' needs 120 bytes of data, the file has 22 after the header`],
    ['absurd.npy', absurd, (f) => `${f}: byte offset 248: truncated: shape (5000000000, 3000) of '<f8' needs 120000000000000 bytes of data, the file has 120 after the header`],
  ];
  const fixtures: [string, (f: string) => string][] = [
    ['f8_big_endian.npy', (f) => `${f}: byte offset 8: big-endian dtype '>f8' is not supported; save with arr.astype('<f8')`],
    ['c16.npy', (f) => `${f}: byte offset 8: unsupported dtype '<c16' (float, int, uint and bool are read); save with arr.astype('<f8')`],
    ['f8_3d.npy', (f) => `${f}: byte offset 8: a 3-d array of shape (2, 2, 2); a 1-d or 2-d array is needed`],
    ['f8_nan.npy', (f) => `${f}: byte offset 144: NaN at element [1, 0]`],
  ];

  it.each(cases)('%s', async (name, content, message) => {
    const s = dir({ [name]: content });
    const r = await run('eigsh', s.path(name), '--sigma', '1', '--k', '1', '--output', s.path('out.csv'), '--plot', s.path('out.png'));
    expect(r.code).toBe(1);
    expect(r.err).toBe(`lazylinalg: ${message(s.path(name))}`);
    expect(s.list()).toEqual([name]);
  });

  it.each(fixtures)('%s (numpy-written)', async (name, message) => {
    const s = dir({});
    const r = await run('eigsh', join(FIXTURES, name), '--sigma', '1', '--k', '1', '--output', s.path('out.npy'));
    expect(r.code).toBe(1);
    expect(r.err).toBe(`lazylinalg: ${message(join(FIXTURES, name))}`);
    expect(s.list()).toEqual([]);
  });

  it('a missing file and a directory', async () => {
    const s = dir({});
    let r = await run('eigsh', s.path('nope.csv'), '--sigma', '1');
    expect([r.code, r.err]).toEqual([1, `lazylinalg: ${s.path('nope.csv')}: no such file`]);
    r = await run('eigsh', s.dir, '--sigma', '1');
    expect([r.code, r.err]).toEqual([1, `lazylinalg: ${s.dir}: is a directory, not a data file`]);
  });

  it('a file read by content: .npy bytes under a .csv name are read as .npy', () => {
    const s = dir({ 'looks.csv': readFileSync(join(FIXTURES, 'f8_c.npy')) });
    expect(rowsOf(readTable(s.path('looks.csv')))).toEqual(VALUES['f8_c']);
  });
});

describe('CSV quoting, line endings, long and malformed cells', () => {
  it('csvText quotes a header name holding a delimiter, a quote, a blank, CR or LF (RFC 4180), and readCsv reads it back', () => {
    const columns = ['f(u,v)', 'say "hi"', 'a;b c', 'tab\there', '# id', 'plain'];
    const table = { rows: 2, cols: 6, data: Float64Array.from([1, 2, 3, 4, 5, 6, -0.5, 1e-300, 7, 8, 9, 10]), columns };
    const text = csvText(table);
    expect(text.split('\n')[0]).toBe('"f(u,v)","say ""hi""","a;b c","tab\there","# id",plain');
    const s = dir({ 'q.csv': text });
    const back = readCsv(s.path('q.csv'));
    expect(back.columns).toEqual(columns);
    expect(rowsOf(back)).toEqual([[1, 2, 3, 4, 5, 6], [-0.5, 1e-300, 7, 8, 9, 10]]);
    // a name with a line break is quoted too; one field may not span lines in this reader, which says so where it starts
    expect(csvText({ rows: 1, cols: 2, data: Float64Array.from([1, 2]), columns: ['a\r\nb', 'c'] }).split('\n')[0]).toBe('"a\r');
    const u = dir({ 'u.csv': 'x,"y\n1,2\n' });
    expect(() => readCsv(u.path('u.csv'))).toThrow(`${u.path('u.csv')}:1:3: unterminated quoted field (a quoted field must close on its line)`);
  });

  it('a cell too long to quote whole is cut at 40 characters, numeric-looking or not (a 5-million-digit number was quoted whole)', () => {
    const huge = '1'.repeat(5_000_000);
    const s = dir({ 'big.csv': `1,2\n3,${huge}\n`, 'bad.csv': `1,2\n3,${huge}x\n` });
    expect(() => readCsv(s.path('big.csv'))).toThrow(`${s.path('big.csv')}:2:3: cell '${'1'.repeat(40)}…' (5000000 characters) is not a finite float64`);
    expect(() => readCsv(s.path('bad.csv'))).toThrow(`${s.path('bad.csv')}:2:3: non-numeric cell '${'1'.repeat(40)}…' (5000001 characters; not a decimal number)`);
  });

  it('a long run of digits that fails to parse is refused at once (the number pattern backtracked in O(n²): seconds at 50,000 digits)', () => {
    const s = dir({ 'run.csv': `1,2\n3,${'7'.repeat(50_000)}x\n` });
    const t0 = performance.now();
    expect(() => readCsv(s.path('run.csv'))).toThrow(/:2:3: non-numeric cell '7{40}…' \(50001 characters; not a decimal number\)$/);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('CR-only line endings (old Mac files) are line breaks, as Python\'s universal newlines read them, also across read chunks', () => {
    const long = Array.from({ length: 70_000 }, (_, i) => `${i},${i % 7}`);
    const s = dir({ 'cr.csv': 'x,y\r1,2\r3,4.5\r', 'mixed.csv': '1,2\r\n3,4.5\r\r', 'big.csv': `${long.join('\r')}\r`, 'bad.csv': '1,2\r3,x\r' });
    expect(rowsOf(readCsv(s.path('cr.csv')))).toEqual([[1, 2], [3, 4.5]]);
    expect(readCsv(s.path('cr.csv')).columns).toEqual(['x', 'y']);
    expect(rowsOf(readCsv(s.path('mixed.csv')))).toEqual([[1, 2], [3, 4.5]]);
    const big = readCsv(s.path('big.csv'));
    expect([big.rows, rowsOf(big)[69_999]]).toEqual([70_000, [69_999, 69_999 % 7]]);
    expect(() => readCsv(s.path('bad.csv'))).toThrow(`${s.path('bad.csv')}:2:3: non-numeric cell 'x'`);
  });

  it('control characters in a cell are escaped, never printed raw', () => {
    const s = dir({ 'c.csv': '1,2\n3,4\u001b[31m\u000b\n' });
    let message = '';
    try { readCsv(s.path('c.csv')); } catch (e) { message = (e as Error).message; }
    expect(message).toBe(`${s.path('c.csv')}:2:3: non-numeric cell '4\\x1B[31m\\x0B' (not a decimal number)`);
    expect(message).not.toMatch(/[\u0000-\u001f\u007f]/);
  });

  it.each([
    ['−1,−2\n3,4\n', 1, 1, "non-numeric cell '−1' (U+2212 MINUS SIGN; write '-')"],
    ['0x1\n2\n3\n', 1, 1, "non-numeric cell '0x1' (hexadecimal; write decimal numbers)"],
    ['1_000\n2\n3\n', 1, 1, "non-numeric cell '1_000' (digit separator '_'; write digits only)"],
    ['1d0\n2\n3\n', 1, 1, "non-numeric cell '1d0' (Fortran exponent 'd'; write 'e')"],
    ['1e\n2\n3\n', 1, 1, "non-numeric cell '1e' (not a decimal number)"],
    ['1;2,5\n3;4\n', 1, 3, "non-numeric cell '2,5' (decimal comma; write '.')"],
    ['x,y\n1,2\n−3,4\n', 3, 1, "non-numeric cell '−3' (U+2212 MINUS SIGN; write '-')"],
  ])('a first line of malformed numbers is a bad data row, not a header: %j', (text, line, column, detail) => {
    const s = dir({ 'm.csv': text });
    expect(() => readCsv(s.path('m.csv'))).toThrow(`${s.path('m.csv')}:${line}:${column}: ${detail}`);
  });

  it('real headers still read as headers: names, names beside a digit-led name, one name alone', () => {
    const s = dir({ 'a.csv': 'x,y,f\n1,2,3\n', 'b.csv': 'id,2nd\n1,2\n', 'c.csv': 'label\n0\n1\n' });
    expect([readCsv(s.path('a.csv')).columns, readCsv(s.path('a.csv')).rows]).toEqual([['x', 'y', 'f'], 1]);
    expect(readCsv(s.path('b.csv')).columns).toEqual(['id', '2nd']);
    expect(rowsOf(readCsv(s.path('c.csv')))).toEqual([[0], [1]]);
  });
});
