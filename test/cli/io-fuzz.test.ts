/**
 * A seeded mutation fuzz of the CLI's untrusted input files (issue 16): valid CSV and .npy files, then one mutation
 * each — benign (BOM, CRLF, CR alone, blank and comment lines, padding, quotes, no final newline), a bad cell (NaN, Inf, text,
 * empty, 1e999, hex), a ragged row, a NUL or invalid UTF-8 byte, a truncation; for .npy a bad dtype, fortran_order,
 * shape (larger, smaller, 3-d, huge, negative), header length, version or magic, NaN/Inf data, 64-bit integers beyond
 * 2⁵³, trailing bytes, truncation. Every outcome is the right parse (checked against the table the file was made
 * from) or an InputFileError naming the file and — CSV — the line and column of the bad cell, or — .npy — the header
 * field. `IO_FUZZ_CASES=5000 npx vitest run test/cli/io-fuzz.test.ts` runs a longer fuzz.
 */
import { closeSync, ftruncateSync, openSync, writeFileSync, writeSync } from 'node:fs';
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
        const mutation = pick(['none', 'bom', 'crlf', 'cr', 'no-final-newline', 'blank-and-comment', 'padding', 'quotes', 'bad-cell', 'ragged', 'nul', 'invalid-utf8', 'truncate']);
        const what = `case ${t}: ${mutation} of ${JSON.stringify(lines.join('\n'))}`;
        const file = s.path(`f${t}.csv`);
        const write = (content: string | Buffer) => writeFileSync(file, content);
        const text = () => `${lines.join('\n')}\n`;
        switch (mutation) {
          case 'none': write(text()); expectParse(read(file), made, what); break;
          case 'bom': write(`\uFEFF${text()}`); expectParse(read(file), made, what); break;
          case 'crlf': write(lines.map((l) => `${l}\r\n`).join('')); expectParse(read(file), made, what); break;
          case 'cr': write(lines.map((l) => `${l}\r`).join('')); expectParse(read(file), made, what); break; // classic Mac OS
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
            // text alone on a first line is a header; a malformed number ('0x1F', '1_000', '--1') is a bad data row
            if (!header && r === 0 && nCols === 1 && /^[a-z]+$/i.test(bad) && !/^[+-]?(nan|inf(inity)?)$/i.test(bad)) {
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

/** A .npy file: the header dict padded with spaces to a 64-byte boundary, ending in '\n' (numpy/lib/format.py). */
function npyBytes(version: number, dict: string, data: Buffer): Buffer {
  const lenBytes = version === 1 ? 2 : 4;
  const total = Math.ceil((8 + lenBytes + dict.length + 1) / 64) * 64;
  const header = `${dict.padEnd(total - 8 - lenBytes - 1, ' ')}\n`;
  const pre = Buffer.alloc(8 + lenBytes);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(pre);
  if (version === 1) pre.writeUInt16LE(header.length, 8); else pre.writeUInt32LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, version === 3 ? 'utf8' : 'latin1'), data]);
}

const NPY_KINDS: Record<string, { size: number; write: (b: Buffer, v: number, o: number) => void; value: (r: () => number) => number }> = {
  '<f8': { size: 8, write: (b, v, o) => b.writeDoubleLE(v, o), value: (r) => (r() - 0.5) * 1e3 },
  '<f4': { size: 4, write: (b, v, o) => b.writeFloatLE(v, o), value: (r) => Math.fround((r() - 0.5) * 1e3) },
  '<i8': { size: 8, write: (b, v, o) => b.writeBigInt64LE(BigInt(v), o), value: (r) => Math.floor((r() - 0.5) * 2 ** 40) },
  '<i4': { size: 4, write: (b, v, o) => b.writeInt32LE(v, o), value: (r) => Math.floor((r() - 0.5) * 2 ** 31) },
  '<u2': { size: 2, write: (b, v, o) => b.writeUInt16LE(v, o), value: (r) => Math.floor(r() * 65536) },
  '|u1': { size: 1, write: (b, v, o) => b.writeUInt8(v, o), value: (r) => Math.floor(r() * 256) },
  '|b1': { size: 1, write: (b, v, o) => b.writeUInt8(v, o), value: (r) => (r() < 0.5 ? 0 : 1) },
};

describe('.npy mutation fuzz: the right parse or an error naming the file and the header field', () => {
  it(`${CASES} seeded mutations of valid files`, () => {
    const rand = mulberry32(1602);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
    const s = scratch();
    try {
      for (let t = 0; t < CASES; t++) {
        const descr = pick(Object.keys(NPY_KINDS));
        const kind = NPY_KINDS[descr]!;
        const rows = 1 + Math.floor(rand() * 6);
        const cols = 1 + Math.floor(rand() * 4);
        const oneD = cols === 1 && rand() < 0.5;
        const fortran = rand() < 0.4;
        const version = pick([1, 1, 2, 3]);
        const table = Array.from({ length: rows }, () => Array.from({ length: cols }, () => kind.value(rand)));
        const data = Buffer.alloc(rows * cols * kind.size);
        for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) kind.write(data, table[i]![j]!, (fortran ? j * rows + i : i * cols + j) * kind.size);
        let shape = oneD ? `(${rows},)` : `(${rows}, ${cols})`;
        let dtype = descr;
        let order = fortran ? 'True' : 'False';
        let body = data;
        const mutation = pick(['none', 'dtype', 'fortran', 'shape-larger', 'shape-smaller', 'shape-3d', 'shape-huge', 'shape-negative', 'header-length', 'version', 'magic', 'non-finite', 'int-beyond-2^53', 'trailing', 'truncate']);
        let expected: RegExp | 'parse' = 'parse';
        switch (mutation) {
          case 'dtype': dtype = pick(['>f8', '<f2', '<c16', '|O', '<U8', '<M8[s]', 'f8', '<f16']); expected = new RegExp(`'${dtype.replace(/[[\]|]/g, '\\$&')}'`); break;
          case 'fortran': order = pick(['true', 'None', '1', '']); expected = /malformed \.npy header/; break;
          case 'shape-larger': shape = `(${rows + 1}, ${cols})`; expected = /truncated: shape/; break;
          case 'shape-smaller': shape = rows > 1 ? `(${rows - 1}, ${cols})` : `(${rows}, ${cols})`; expected = rows > 1 ? /trailing bytes after the data of shape/ : 'parse'; break;
          case 'shape-3d': shape = `(${rows}, ${cols}, 1)`; expected = /3-d array of shape/; break;
          case 'shape-huge': shape = pick(['(4294967296, 4294967296)', '(9007199254740993, 2)', '(100000000000, 3)']); expected = /truncated: shape/; break;
          case 'shape-negative': shape = pick([`(-${rows}, ${cols})`, `(${rows}, x)`, `(${rows}.5,)`]); expected = /malformed shape/; break;
          case 'non-finite':
            if (descr === '<f8' || descr === '<f4') { kind.write(body, pick([NaN, Infinity, -Infinity]), Math.floor(rand() * rows * cols) * kind.size); expected = /(NaN|Infinity) at element \[\d+, \d+\]/; }
            break;
          case 'int-beyond-2^53':
            if (descr === '<i8') { body.writeBigInt64LE(2n ** 60n, 0); expected = /integer beyond 2\^53 at element \[0, 0\]/; }
            break;
          case 'trailing': body = Buffer.concat([body, Buffer.from([1, 2, 3])]); expected = /trailing bytes/; break;
        }
        const dict = `{'descr': '${dtype}', 'fortran_order': ${order}, 'shape': ${shape}, }`;
        let bytes = npyBytes(version, dict, body);
        if (mutation === 'header-length') {
          const delta = pick([-64, -3, -1, 1, 2, 64, 70000]);
          if (version === 1) bytes.writeUInt16LE(Math.max(0, Math.min(65535, bytes.readUInt16LE(8) + delta)), 8); else bytes.writeUInt32LE(Math.max(0, bytes.readUInt32LE(8) + delta), 8);
          expected = /truncated|trailing bytes|malformed/;
        } else if (mutation === 'version') {
          bytes[6] = pick([0, 4, 255, version === 1 ? 2 : 1]);
          expected = /format version|truncated|malformed|trailing bytes/;
        } else if (mutation === 'magic') {
          bytes[Math.floor(rand() * 6)] ^= 0x20;
          expected = /not a \.npy file|binary content|non-numeric|fields, expected/;
        } else if (mutation === 'truncate') {
          bytes = bytes.subarray(0, Math.floor(rand() * (bytes.length - 1)));
          expected = bytes.length === 0 ? /empty file/ : /truncated|malformed|not a \.npy file/;
        }
        const what = `case ${t}: ${mutation} of ${dict} (v${version}, ${bytes.length} bytes)`;
        const file = s.path(`f${t}.npy`);
        writeFileSync(file, bytes);
        const o = read(file);
        if (expected === 'parse') {
          expect(o.ok, `${what}: ${o.ok ? '' : String((o as { error: unknown }).error)}`).toBe(true);
          expect((o as { rows: number[][] }).rows, what).toEqual(table.map((r) => r.map((v) => (descr === '<f4' ? Math.fround(v) : v))));
          continue;
        }
        expect(o.ok, `${what}: expected an error matching ${expected}, got a parse`).toBe(false);
        const e = (o as { error: unknown }).error;
        expect(e, `${what}: ${String(e)}`).toBeInstanceOf(InputFileError);
        expect((e as Error).message.startsWith(file), what).toBe(true);
        expect((e as Error).message, what).toMatch(expected);
      }
    } finally {
      s.remove();
    }
  });
});

describe('.npy files read in chunks', () => {
  it('a file beyond 2 GiB (sparse) is read, not refused by readFileSync: its NaN at [0, 0] is named', () => {
    const s = scratch();
    const file = s.path('big.npy');
    const rows = 2 ** 28 + 8; // 2 GiB + 64 bytes of float64 data, all holes but the first element
    const data = Buffer.alloc(8);
    data.writeDoubleLE(NaN, 0);
    const head = npyBytes(1, `{'descr': '<f8', 'fortran_order': False, 'shape': (${rows},), }`, data);
    const fd = openSync(file, 'w');
    try {
      writeSync(fd, head);
      ftruncateSync(fd, head.length - 8 + rows * 8);
    } finally {
      closeSync(fd);
    }
    try {
      const o = read(file);
      expect(o.ok).toBe(false);
      expect(String((o as { error: unknown }).error)).toBe(`InputFileError: ${file}: byte offset 128: NaN at element [0, 0]`);
    } finally {
      s.remove();
    }
  });

  it('values across the chunk boundary, and a bad value in a later chunk named by element and offset', () => {
    const rows = (1 << 20) + 3;
    const data = Buffer.alloc(rows * 2 * 4);
    for (let k = 0; k < rows * 2; k++) data.writeFloatLE(k % 1000, k * 4);
    const good = npyBytes(2, `{'descr': '<f4', 'fortran_order': True, 'shape': (${rows}, 2), }`, data);
    const bad = Buffer.from(good);
    bad.writeFloatLE(Infinity, 128 + ((1 << 20) + 1) * 4);
    const s = scratch({ 'good.npy': good, 'bad.npy': bad });
    try {
      const t = readTable(s.path('good.npy'));
      for (const i of [0, (1 << 20) - 1, 1 << 20, rows - 1]) {
        // Fortran order: column 0 is elements 0 … rows−1, column 1 the next rows
        expect([t.data[2 * i], t.data[2 * i + 1]]).toEqual([i % 1000, (rows + i) % 1000]);
      }
      expect(() => readTable(s.path('bad.npy'))).toThrow(`${s.path('bad.npy')}: byte offset ${128 + ((1 << 20) + 1) * 4}: Infinity at element [${(1 << 20) + 1}, 0]`);
    } finally {
      s.remove();
    }
  });
});
