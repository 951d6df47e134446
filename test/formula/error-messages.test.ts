/**
 * Formula errors that named the wrong thing or hid the cause (tmp-probe-red/repro_errors.mjs, cases A–J): each must
 * name the variable, the argument and the value (a value of the wrong type quoted with its type), and the cure.
 */
import { describe, expect, it } from 'vitest';
import { Formula, Vi, Vj, kernelOperator, knn } from '../../src/index.js';
import { parseFormula } from '../../src/formula/parse.js';
import { toBoundData } from '../../src/formula/points.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { afterAll } from 'vitest';

afterAll(async () => {
  await shutdownCpuPool();
});

const X = [[0, 1], [2, 3]];
const Y = [[1, 1], [0, 0], [2, 2]];
const F = (): Formula => Vi(X).sub(Vj(Y)).sqnorm2();

describe('formula error messages', () => {
  it('A: a Vi in a string scope is named by its scope key where the user did not name it', () => {
    const scope = { x: Vi(X), y: Vj(Y), z: Vi([[1], [2], [3]]) };
    expect(() => kernelOperator('sqnorm2(x - y) + sum(z)', scope)).toThrow("Vi variables have different row counts: 'x' has 2 rows but 'z' has 3");
    // a name the user gave is kept
    expect(() => kernelOperator('sqnorm2(x - y) + sum(z)', { ...scope, z: Vi([[1], [2], [3]], 'weights') })).toThrow("'x' has 2 rows but 'weights' has 3");
    expect(() => parseFormula('sum(a) * sum(b) + sum(c)', { a: Vj(Y), b: Vi(X), c: Vj([[1]]) })).toThrow("Vj variables have different row counts: 'a' has 3 rows but 'c' has 1");
    // the scope's own Formula is in the formula (not a renamed copy): a gradient finds it
    const xi = Vi(X);
    const g = parseFormula('sqnorm2(a - b)', { a: xi, b: Vj(Y) }).grad(xi);
    expect(String(g)).toMatch(/x - y/);
  });

  it('B: raw points in a scope (Vi forgotten) say that points go in Vi(…) / Vj(…)', () => {
    expect(() => kernelOperator('sqnorm2(x - y)', { x: X as never, y: Vj(Y) })).toThrow(
      /scope value 'x' is an array of 2 rows \(points\?\): points go in Vi\(…\) \(one row per i\) or Vj\(…\) \(one per j\), e\.g\. \{ x: Vi\(points\) \}; a number\[\] is a parameter/,
    );
    expect(() => parseFormula('sum(x)', { x: new Float64Array([1, 2]) as never })).toThrow(/scope value 'x' must be a Formula, a number or a number\[\] \(got a Float64Array of length 2\)/);
    // a number[] is still a parameter
    expect(String(parseFormula('x * sum(y)', { x: [1, 2], y: Vj(Y) }))).toBe('x * sum(y)');
  });

  it("C: F.min / F.max with a number or string that is not an axis say the axis must be 0 or 1, quoting the value's type", async () => {
    await expect(F().min(2 as never)).rejects.toThrow('Formula.min: axis must be 0 (reduce over i, one result per j) or 1 (reduce over j, one result per i); got 2');
    await expect(F().max(-1 as never)).rejects.toThrow(/Formula\.max: axis must be 0 .* got -1; the element-wise maximum of F and -1 is the function max\(F, -1\)/);
    await expect(F().min('1' as never)).rejects.toThrow(/Formula\.min: axis must be 0 .* got a string "1"$/);
    // a formula is the ambiguous case: element-wise min(a, b) or a reduction
    await expect(F().min(F() as never)).rejects.toThrow(/Formula\.min\(formula\) is ambiguous/);
    await expect(F().argmin('1' as never)).rejects.toThrow(/Formula\.argmin: axis must be 0 .* got a string "1"$/);
  });

  it('D: kmin with k of the wrong type quotes it with its type', async () => {
    await expect(F().kmin('2' as never, 1)).rejects.toThrow('Formula.kmin: k must be a positive integer (got a string "2")');
    await expect(F().kmin(1.5, 1)).rejects.toThrow('Formula.kmin: k must be a positive integer (got 1.5)');
  });

  it('G: an empty formula says it is empty', () => {
    expect(() => kernelOperator('', { x: Vi(X), y: Vj(Y) })).toThrow(/the formula is empty/);
    expect(() => parseFormula('   ', { x: Vi(X), y: Vj(Y) })).toThrow(/the formula is empty/);
  });

  it('H: rows that are typed arrays are named, with the layouts accepted', async () => {
    const message = 'x: row 0 is a Float64Array; expected number[] rows (Array.from(row)) or { data, rows, cols }';
    expect(() => toBoundData([new Float64Array([0, 0])] as never, 'x')).toThrow(message);
    expect(() => toBoundData([[0, 0], new Float32Array([1, 1])] as never, 'x')).toThrow('x: row 1 is a Float32Array; expected number[] rows');
    await expect(knn([new Float64Array([0, 0])] as never, Y, 1)).rejects.toThrow(/row 0 is a Float64Array; expected number\[\] rows/);
    // a value of the wrong type in a row is quoted with its type
    expect(() => toBoundData([[0, '1']] as never, 'x')).toThrow('x: value at row 0, column 1 is not a number (got a string "1")');
  });

  it('J: options in the weight slot of logsumexp say that options go in the third argument', async () => {
    await expect(F().logsumexp(1, { backend: 'cpu' } as never)).rejects.toThrow(
      "logsumexp: expected a Formula or a number, got an object with keys [backend]; options go in the third argument: F.logsumexp(axis, undefined, { backend: … })",
    );
    await expect(F().sumSoftmaxWeight({ dtype: 'float32' } as never, 1)).rejects.toThrow(/sumSoftmaxWeight: expected a Formula or a number, got an object with keys \[dtype\]; options go in the third argument/);
    expect(() => F().add('1' as never)).toThrow('add: expected a Formula or a number, got a string "1"');
  });
});
