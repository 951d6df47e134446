import { describe, expect, test } from 'vitest';
import { Matrix } from 'ml-matrix';
import { FormulaError, toBoundData } from '../../src/formula/index.js';

describe('toBoundData', () => {
  test('number[][] copies into a row-major Float64Array', () => {
    const src = [[1, 2, 3], [4, 5, 6]];
    const b = toBoundData(src, 'x');
    expect(b.rows).toBe(2);
    expect(b.cols).toBe(3);
    expect(Array.from(b.data)).toEqual([1, 2, 3, 4, 5, 6]);
    src[0]![0] = 99; // later mutation of the caller's array does not leak in
    expect(b.data[0]).toBe(1);
  });

  test('ml-matrix Matrix and flat Float32Array blocks', () => {
    const m = new Matrix([[1, 2], [3, 4], [5, 6]]);
    expect(Array.from(toBoundData(m, 'x').data)).toEqual([1, 2, 3, 4, 5, 6]);
    const flat = toBoundData({ data: new Float32Array([0.5, 1.5, 2.5, 3.5]), rows: 2, cols: 2 }, 'y');
    expect(flat.data).toBeInstanceOf(Float64Array);
    expect(Array.from(flat.data)).toEqual([0.5, 1.5, 2.5, 3.5]);
  });

  test('a 1-D number[] is n points in one dimension', () => {
    const b = toBoundData([0.1, 0.2, 0.3], 'x');
    expect([b.rows, b.cols]).toEqual([3, 1]);
  });

  test('empty sets and zero columns', () => {
    expect(() => toBoundData([], 'x')).toThrow('x: empty point set (0 rows)');
    expect(() => toBoundData([[], []], 'x')).toThrow(/x: points have 0 columns/);
    expect(() => toBoundData({ data: new Float64Array(0), rows: 0, cols: 3 }, 'y')).toThrow('y: empty point set (0 rows)');
    expect(() => toBoundData(new Matrix(0, 2), 'x')).toThrow(/empty point set/);
  });

  test('ragged rows quote the row index and both lengths', () => {
    expect(() => toBoundData([[1, 2], [3, 4], [5]], 'x')).toThrow('x: ragged rows: row 2 has 1 values but row 0 has 2');
  });

  test('data length must be rows·cols', () => {
    expect(() => toBoundData({ data: new Float64Array(5), rows: 2, cols: 3 }, 'x')).toThrow(/length 5 .* 6/);
  });

  test('NaN and Infinity quote row, column and value', () => {
    expect(() => toBoundData([[1, 2], [3, NaN]], 'x')).toThrow('x: non-finite value NaN at row 1, column 1');
    expect(() => toBoundData({ data: new Float64Array([0, 0, Infinity, 0]), rows: 2, cols: 2 }, 'y'))
      .toThrow('y: non-finite value Infinity at row 1, column 0');
    expect(() => toBoundData([1, -Infinity], 'x')).toThrow('x: non-finite value -Infinity at row 1, column 0');
  });

  test('wrong element types are FormulaErrors, not crashes', () => {
    expect(() => toBoundData([[1, '2' as unknown as number]], 'x')).toThrow(/row 0, column 1 is not a number/);
    expect(() => toBoundData([1, [2] as unknown as number], 'x')).toThrow(/mixed input/);
    expect(() => toBoundData(null as unknown as number[][], 'x')).toThrow(FormulaError);
  });
});
