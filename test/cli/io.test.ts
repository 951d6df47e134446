import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readCsv } from '../../src/cli/io/csv.js';
import { readTable } from '../../src/cli/io/files.js';
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
