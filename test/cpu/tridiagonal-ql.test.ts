import { describe, expect, it } from 'vitest';
import { householderInWasm, qlCounts, qlInWasm, unrotateInWasm } from '../../src/cpu/tridiagonal-ql.js';
import { arrowToTridiagonal, householderLoops, qlLoops, sortAscending, symmetricEigen, tridiagonalEigen, TridiagonalNoConvergence, unrotateLoops } from '../../src/krylov/tridiagonal.js';
import { aslinearoperator, DenseOperator, gaussianKernel } from '../../src/index.js';
import { seededVector } from '../random-data.js';

const bits = (a: Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

/** The program and the loops on copies of (d, e, z): the same return, and the same bits in every array. */
function both(d: Float64Array, e: Float64Array, zRows: number | 'all' | 'none', maxIter = 60, reduced = false, sorted = false) {
  const k = d.length;
  const rows = zRows === 'all' ? k : zRows === 'none' ? 0 : zRows;
  const z = zRows === 'none' ? null : new Float64Array(rows * k);
  // rows of the identity, the last `rows` of them (as Lanczos asks for its last row)
  for (let r = 0; z && r < rows; r++) z[r * k + (k - rows + r)] = 1;
  const run = (f: typeof qlLoops) => {
    const dd = d.slice();
    const ee = e.slice();
    const zz = z ? z.slice() : null;
    const result = f(dd, ee, zz, rows, maxIter, reduced);
    return { result, d: bits(dd), e: bits(ee), z: zz ? bits(zz) : '' };
  };
  const calls = qlCounts.calls;
  const wasm = run((...a) => qlInWasm(...a, sorted)!);
  expect(qlCounts.calls).toBe(calls + 1);
  const loops = run((dd, ee, zz, r, m, red) => {
    const result = qlLoops(dd, ee, zz, r, m, red);
    if (sorted && result >= 0) sortAscending(dd, zz, r);
    return result;
  });
  return { wasm, loops };
}

/** Tridiagonals of the kinds the solvers meet. */
function cases(): { name: string; d: Float64Array; e: Float64Array }[] {
  const out: { name: string; d: Float64Array; e: Float64Array }[] = [];
  for (const k of [1, 2, 3, 7, 12, 20, 61, 200]) {
    out.push({ name: `random k = ${k}`, d: seededVector(k, k), e: seededVector(k + 1000, Math.max(k, 1)) });
  }
  // graded: a Lanczos T of (A − σI)⁻¹, eigenvalues from 1e-12 to 1e4
  const k = 30;
  out.push({
    name: 'graded',
    d: Float64Array.from({ length: k }, (_, i) => 10 ** (4 - (16 * i) / k)),
    e: Float64Array.from({ length: k }, (_, i) => 10 ** (3 - (16 * i) / k) * (i % 2 ? 1 : -1)),
  });
  // a cluster at 0 beside one large value, couplings at the rounding of the whole (a Gaussian kernel's small end): the
  // relative test alone does not end these sweeps, the matrix test after RESCUE_AFTER does
  out.push({
    name: 'cluster at rounding',
    d: Float64Array.from({ length: 24 }, (_, i) => (i === 0 ? 34 : 1e-14 * Math.sin(i))),
    e: Float64Array.from({ length: 24 }, (_, i) => 3e-15 * Math.cos(i + 1)),
  });
  // ties and signed zeros, decoupled blocks, huge and tiny scales
  out.push({ name: 'ties and zeros', d: Float64Array.from([1, 1, 1, -0, 0, 2, 2]), e: Float64Array.from([1, 0, 1, 0, -0, 1, 0]) });
  out.push({ name: 'huge', d: seededVector(5, 16).map((v) => v * 1e150), e: seededVector(6, 16).map((v) => v * 1e150) });
  out.push({ name: 'tiny', d: seededVector(7, 16).map((v) => v * 1e-150), e: seededVector(8, 16).map((v) => v * 1e-150) });
  return out;
}

describe('tridiagonal QL: the program against its loops, bit for bit', () => {
  for (const { name, d, e } of cases()) {
    it(`${name}: eigenvalues, couplings and eigenvector rows alike (relative and matrix tests)`, () => {
      for (const rows of ['none', 1, 'all'] as const) {
        for (const reduced of [false, true]) {
          for (const sorted of [false, true]) {
            const { wasm, loops } = both(d, e, rows, 60, reduced, sorted);
            expect(wasm).toEqual(loops);
          }
        }
      }
    });
  }

  it('the sort: a diagonal (no sweep) of ties, signed zeros and tiny gaps in shuffled order moves as the stable sort does', () => {
    const d = Float64Array.from([3, -0, 1e-300, 2, 0, -1, 2, 5e-324, -0, 3, -1e300, 2]);
    const e = new Float64Array(d.length);
    for (const rows of ['none', 2, 'all'] as const) {
      const { wasm, loops } = both(d, e, rows, 60, false, true);
      expect(wasm).toEqual(loops);
    }
    const sortedOnly = tridiagonalEigen(d, e.subarray(0, d.length - 1), { eigenvectors: true });
    expect(Array.from(sortedOnly.eigenvalues)).toEqual([...d].sort((a, b) => a - b));
  });

  it('a sweep budget run out: the same eigenvalue named, through tridiagonalEigen too', () => {
    const d = seededVector(3, 10);
    const e = seededVector(4, 10);
    for (const maxIter of [0, 1, 2]) {
      const { wasm, loops } = both(d, e, 'all', maxIter);
      expect(loops.result).toBeLessThan(0); // the loops return −1 − l as the program does (see `both`: qlLoops throws)
      expect(wasm).toEqual(loops);
    }
    const err = (() => {
      try {
        tridiagonalEigen(d, e.subarray(0, 9), { maxIterationsPerValue: 1 });
      } catch (error) {
        return error;
      }
    })();
    expect(err).toBeInstanceOf(TridiagonalNoConvergence);
    expect((err as TridiagonalNoConvergence).iterations).toBe(1);
  });

  it('the Householder reduction: symmetric matrices of several sizes and scales, with all or some rows of Q, bit for bit', () => {
    for (const [m, scale, zeros] of [[1, 1, false], [2, 1, false], [3, 1, false], [7, 1e-150, false], [13, 1, true], [21, 1e150, false], [40, 1, false]] as const) {
      const a = seededVector(m * 7 + 1, m * m).map((x) => x * scale);
      // symmetric, and with zero columns below the subdiagonal where asked (the reflection skipped: tail = 0)
      for (let i = 0; i < m; i++) for (let j = 0; j < i; j++) a[j * m + i] = a[i * m + j] = zeros && (i + j) % 3 === 0 ? 0 : a[i * m + j]!;
      for (const qCount of [m, Math.min(m, 2)]) {
        const Q0 = seededVector(m + 50, qCount * m);
        const [A1, Q1, A2, Q2] = [a.slice(), Q0.slice(), a.slice(), Q0.slice()];
        const calls = qlCounts.calls;
        expect(householderInWasm(A1, m, Q1, qCount)).toBe(true);
        expect(qlCounts.calls).toBe(calls + 1);
        householderLoops(A2, m, Q2, qCount);
        expect(bits(A1), `m = ${m}`).toBe(bits(A2));
        expect(bits(Q1), `m = ${m}`).toBe(bits(Q2));
      }
    }
    // through arrowToTridiagonal (a thick restart's arrow) against the loops' reduction of the same bordered matrix
    const theta = seededVector(3, 9);
    const sv = seededVector(4, 9);
    const { d, e, Q } = arrowToTridiagonal(theta, sv);
    expect(d.length).toBe(9);
    expect(Q.length).toBe(81);
    expect(e.every(Number.isFinite)).toBe(true);
  });

  it("the thick restart's rotation of the Ritz vectors (unrotate) bit for bit", () => {
    for (const [size, keep] of [[1, 1], [5, 2], [20, 12], [33, 16]] as const) {
      const Y0 = seededVector(size, size * size);
      const Q = seededVector(keep + 9, keep * keep);
      const [Y1, Y2] = [Y0.slice(), Y0.slice()];
      expect(unrotateInWasm(Y1, size, Q, keep)).toBe(true);
      unrotateLoops(Y2, size, Q, keep);
      expect(bits(Y1)).toBe(bits(Y2));
    }
  });

  it('a budget the program cannot hold as the loops read it runs the loops', () => {
    const d = seededVector(9, 5);
    const e = seededVector(10, 5);
    for (const maxIter of [2.5, -1, Infinity, NaN, 2 ** 31]) expect(qlInWasm(d.slice(), e.slice(), null, 0, maxIter, false)).toBeUndefined();
  });

  it('tridiagonalEigen, symmetricEigen and eigsh run it (the count fails if they bypass it)', async () => {
    const c0 = qlCounts.calls;
    tridiagonalEigen(seededVector(1, 8), seededVector(2, 7), { eigenvectors: [7] });
    expect(qlCounts.calls).toBe(c0 + 1);
    const a = seededVector(3, 36);
    symmetricEigen(a, 6); // the Householder reduction, then the sweeps
    expect(qlCounts.calls).toBe(c0 + 3);
    const x = Array.from({ length: 300 }, (_, i) => [Math.sin(i), Math.cos(3 * i)]);
    const K = aslinearoperator(gaussianKernel(x, { sigma: 0.5 }));
    const r = await K.eigsh(3);
    expect(qlCounts.calls).toBeGreaterThan(c0 + 3);
    // and the eigenvalues are right: against the dense matrix's
    const dense = await new DenseOperator(await K.toDense()).eigsh(3, { method: 'dense' });
    for (let i = 0; i < 3; i++) expect(Math.abs(r.eigenvalues[i]! - dense.eigenvalues[i]!)).toBeLessThan(1e-10 * dense.eigenvalues[2]!);
  });
});
