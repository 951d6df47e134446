import { describe, expect, it } from 'vitest';
import { EigenvalueDecomposition, Matrix, QrDecomposition } from 'ml-matrix';
import { mulberry32 } from '../../src/krylov/random.js';
import { eigsh, EigshNoConvergence, type Which } from '../../src/krylov/eigsh.js';
import { aslinearoperator } from '../../src/operators/aslinearoperator.js';
import { countingOperator, kernelMatrix, loadFixture, matvecDense, norm2, randomSpd, randomSymmetric } from './helpers.js';

const fx = loadFixture('krylov_small.json');
const K = {
  gaussian: kernelMatrix(fx.gaussian.points, 2, 'gaussian', fx.gaussian.sigma),
  laplacian: kernelMatrix(fx.laplacian.points, 2, 'laplacian', fx.laplacian.sigma),
};

/** max_i ‖A v_i − λ_i v_i‖ and max |VᵀV − I|. */
function pairChecks(A: Matrix, values: Float64Array, V: Matrix): { residual: number; orth: number } {
  let residual = 0;
  let orth = 0;
  for (let i = 0; i < values.length; i++) {
    const v = V.getColumn(i);
    const Av = matvecDense(A, v);
    residual = Math.max(residual, norm2(Av.map((x, t) => x - values[i]! * v[t]!)));
    for (let j = 0; j < values.length; j++) {
      const vj = V.getColumn(j);
      orth = Math.max(orth, Math.abs(v.reduce((s, x, t) => s + x * vj[t]!, 0) - (i === j ? 1 : 0)));
    }
  }
  return { residual, orth };
}

describe('eigsh vs scipy (ARPACK) fixtures', () => {
  for (const kind of ['gaussian', 'laplacian'] as const) {
    for (const c of fx[kind].eigsh) {
      const label = `${kind} k=${c.k} which=${c.which}${c.sigma !== undefined ? ` sigma=${c.sigma.toPrecision(4)}` : ''}`;
      it(label, async () => {
        const A = countingOperator(K[kind]);
        const res = await eigsh(A, c.k, { v0: new Float64Array(A.shape[0]).fill(1), which: c.which as Which, ...(c.sigma !== undefined ? { sigma: c.sigma } : {}) });
        expect(res.method).toBe('lanczos');
        expect(res.eigenvalues.length).toBe(c.k);
        const scale = 79.3; // ≥ ‖K‖ of both fixtures' matrices
        for (let i = 0; i < c.k; i++) {
          expect(Math.abs(res.eigenvalues[i]! - c.eigenvalues[i]!)).toBeLessThanOrEqual(1e-10 * Math.max(Math.abs(c.eigenvalues[i]!), 1e-3 * scale));
          if (i > 0) expect(res.eigenvalues[i]!).toBeGreaterThanOrEqual(res.eigenvalues[i - 1]!);
        }
        const { residual, orth } = pairChecks(K[kind], res.eigenvalues, res.eigenvectors!);
        expect(residual).toBeLessThan((c.sigma !== undefined ? 1e-8 : 1e-10) * 140);
        expect(orth).toBeLessThan(1e-10);
        if (c.arpackMatvecs) {
          // Record of matvecs against ARPACK's (the same v0 = ones).
          console.log(`${label}: ${res.matvecs} matvecs (ARPACK ${c.arpackMatvecs}), ${res.iterations} restarts`);
        } else console.log(`${label}: ${res.matvecs} OP applications, ${res.innerMatvecs} inner matvecs`);
      });
    }
  }
});

describe('eigsh vs dense eigh', () => {
  it('random SPD and random indefinite matrices, every which', async () => {
    for (const [A, name] of [[randomSpd(120, 4, 10), 'spd'], [randomSymmetric(150, 5), 'indefinite']] as const) {
      const all = [...new EigenvalueDecomposition(A, { assumeSymmetric: true }).realEigenvalues].sort((a, b) => a - b);
      const n = A.rows;
      const byAbs = [...all].sort((a, b) => Math.abs(a) - Math.abs(b));
      const expected: Record<Which, number[]> = {
        LA: all.slice(n - 5),
        SA: all.slice(0, 5),
        LM: byAbs.slice(n - 5).sort((a, b) => a - b),
        SM: byAbs.slice(0, 5).sort((a, b) => a - b),
        BE: [...all.slice(0, 2), ...all.slice(n - 3)],
      };
      for (const which of ['LA', 'SA', 'LM', 'SM', 'BE'] as Which[]) {
        const res = await eigsh(aslinearoperator(A), 5, { which, ncv: 24, maxiter: 5000 });
        const scale = Math.max(...all.map(Math.abs));
        res.eigenvalues.forEach((v, i) => expect(Math.abs(v - expected[which][i]!), `${name} ${which} ${i}`).toBeLessThan(1e-10 * scale));
        const { residual, orth } = pairChecks(A, res.eigenvalues, res.eigenvectors!);
        expect(residual).toBeLessThan(1e-9 * scale);
        expect(orth).toBeLessThan(1e-10);
      }
    }
  });

  it('small n uses the dense path (documented rule n ≤ 2·ncv), same answers', async () => {
    const A = randomSymmetric(30, 9);
    const lan = await eigsh(A, 3, { which: 'LA', method: 'lanczos', ncv: 12 });
    const den = await eigsh(A, 3, { which: 'LA' });
    expect(den.method).toBe('dense');
    expect(lan.method).toBe('lanczos');
    den.eigenvalues.forEach((v, i) => expect(v).toBeCloseTo(lan.eigenvalues[i]!, 11));
    const shiftInv = await eigsh(A, 2, { sigma: 0.1 });
    const all = [...new EigenvalueDecomposition(A, { assumeSymmetric: true }).realEigenvalues];
    const nearest = all.sort((a, b) => Math.abs(a - 0.1) - Math.abs(b - 0.1)).slice(0, 2).sort((a, b) => a - b);
    shiftInv.eigenvalues.forEach((v, i) => expect(v).toBeCloseTo(nearest[i]!, 11));
  });

  it('returnEigenvectors false, seed and v0 reproducibility, progress', async () => {
    const A = countingOperator(K.gaussian);
    const seen: number[] = [];
    const r1 = await eigsh(A, 4, { returnEigenvectors: false, seed: 3, onProgress: (p) => seen.push(p.nconv) });
    expect(r1.eigenvectors).toBeUndefined();
    expect(seen.length).toBe(r1.iterations);
    expect(seen[seen.length - 1]).toBe(4);
    const r2 = await eigsh(A, 4, { returnEigenvectors: false, seed: 3 });
    expect([...r2.eigenvalues]).toEqual([...r1.eigenvalues]);
    expect(r2.matvecs).toBe(r1.matvecs);
  });

  it('float32 operators converge to float32 precision (tol 0 = eps of the dtype)', async () => {
    const A32 = countingOperator(K.gaussian, { dtype: 'float32' });
    const res = await eigsh(A32, 4, { which: 'LA' });
    const top = fx.gaussian.denseEigenvalues.top.slice(-4);
    res.eigenvalues.forEach((v, i) => expect(Math.abs(v - top[i]) / top[i]).toBeLessThan(1e-5));
  });

  it('throws EigshNoConvergence carrying the converged pairs', async () => {
    const A = countingOperator(K.laplacian);
    const err = await eigsh(A, 4, { which: 'SA', maxiter: 3 }).catch((e) => e);
    expect(err).toBeInstanceOf(EigshNoConvergence);
    expect(err.iterations).toBe(3);
    expect(err.eigenvalues.length).toBeLessThan(4);
    expect(err.matvecs).toBeGreaterThan(0);
    expect(err.message).toMatch(/converged/);
  });

  it('rejects bad input with clear messages', async () => {
    const A = randomSymmetric(50, 1);
    await expect(eigsh(A, 0)).rejects.toThrow(/0 < k < n = 50, got number 0/);
    await expect(eigsh(A, 50)).rejects.toThrow(/got number 50/);
    await expect(eigsh(A, 2.5)).rejects.toThrow(/got number 2.5/);
    await expect(eigsh(new Matrix(4, 5), 1)).rejects.toThrow(/square/);
    await expect(eigsh(A, 5, { ncv: 5 })).rejects.toThrow(/k < ncv <= n \(k = 5, n = 50\), got ncv = 5/);
    await expect(eigsh(A, 5, { ncv: 51 })).rejects.toThrow(/ncv = 51/);
    await expect(eigsh(A, 2, { v0: new Array(50).fill(NaN) })).rejects.toThrow(/v0\[0\] is NaN/);
    await expect(eigsh(A, 2, { v0: new Array(50).fill(0) })).rejects.toThrow(/zero vector/);
    await expect(eigsh(A, 2, { v0: [1, 2] })).rejects.toThrow(/v0 has length 2, expected 50/);
    await expect(eigsh(A, 2, { which: 'XX' as Which })).rejects.toThrow(/which must be one of/);
    await expect(eigsh(A, 2, { sigma: NaN })).rejects.toThrow(/sigma/);
  });
});

describe('eigsh on a float32 kernel operator: the float32-sums view', () => {
  it('lanczosOperator gives the float32-sums view only at float32 tolerance, and eigsh matches float64 eigh', async () => {
    const { gaussianKernel } = await import('../../src/operators/kernels.js');
    const { seededPoints } = await import('../random-data.js');
    const n = 700;
    const X = seededPoints(81, n, 3, { float32: true });
    const K = gaussianKernel(X, { sigma: 0.15, dtype: 'float32', backend: 'cpu' });
    const K64 = gaussianKernel(X, { sigma: 0.15, dtype: 'float64', backend: 'cpu' });
    const view = K.lanczosOperator(2 ** -23);
    expect(view).not.toBe(K);
    expect(K.lanczosOperator(2 ** -23)).toBe(view); // made once
    expect(view.symmetric).toBe(true);
    expect(view.T).toBe(view);
    expect(String(view)).toMatch(/with float32 sums/);
    expect(K.lanczosOperator(1e-10)).toBe(K); // below float32's resolution: exact sums
    expect(K64.lanczosOperator(1e-3)).toBe(K64);
    // the view's products are K's within float32 rounding, on the stored K
    K.expectRepeatedProducts();
    const v = Float64Array.from({ length: n }, (_, i) => Math.cos(i));
    const exact = await K.matvec(v);
    const fast = await view.matvec(v);
    const scale = await K.matvec(v.map(Math.abs));
    for (let i = 0; i < n; i++) expect(Math.abs(fast[i]! - exact[i]!)).toBeLessThanOrEqual(4e-7 * scale[i]!);
    const { checkOperatorAgainstDense } = await import('../conformance.js');
    await checkOperatorAgainstDense(view, await K64.toDense(), { tol: 1e-6 });
    // eigsh runs on the view: float32-accurate eigenpairs of the float64 matrix
    const res = await eigsh(K, 5, { method: 'lanczos' });
    const dense = new EigenvalueDecomposition(await K64.toDense(), { assumeSymmetric: true }).realEigenvalues.sort((a, b) => a - b).slice(-5);
    res.eigenvalues.forEach((l, q) => expect(Math.abs(l - dense[q]!) / dense[4]!).toBeLessThan(1e-6));
  });
});

describe("eigsh 'LM' on an indefinite spectrum with little spare room (ncv = k + 3)", () => {
  /** Q·diag(λ)·Qᵀ, λ uniform in [−5, 5], Q from the QR of a seeded random matrix: the 5 largest |λ| lie at both ends. */
  function indefinite(seed: number, n: number) {
    const rand = mulberry32(seed);
    const lam = Array.from({ length: n }, () => rand() * 10 - 5);
    const Q = new QrDecomposition(Matrix.rand(n, n, { random: rand })).orthogonalMatrix;
    const M = Q.mmul(Matrix.diag(lam)).mmul(Q.transpose());
    return M.add(M.transpose()).div(2);
  }

  // Keeping a fixed half of the spare room at every restart placed the discarded Ritz values among the wanted ones'
  // magnitudes: these three returned the 6th–8th largest |λ| as converged in place of a wanted one (scipy's ARPACK,
  // whose rule is now used here, finds them)
  it.each([1, 8, 14])('seed %i: the 5 largest |λ|, as the dense eigenvalues', async (seed) => {
    const S = indefinite(seed, 77);
    const dense = new EigenvalueDecomposition(S).realEigenvalues;
    const want = dense.sort((a, b) => Math.abs(b) - Math.abs(a)).slice(0, 5).sort((a, b) => a - b);
    const r = await eigsh(aslinearoperator(S.to2DArray()), 5, { which: 'LM', ncv: 8, maxiter: 3000, method: 'lanczos' });
    Array.from(r.eigenvalues).forEach((l, i) => expect(l).toBeCloseTo(want[i]!, 10));
  });
});
