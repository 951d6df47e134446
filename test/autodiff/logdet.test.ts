/**
 * Stochastic Lanczos quadrature against dense float64 log-determinants (ml-matrix Cholesky), within the estimator's
 * own error bar at fixed seeds; the preconditioners' exact log det P and probe covariance against dense P.
 */
import { describe, expect, it } from 'vitest';
import { CholeskyDecomposition, Matrix, inverse } from 'ml-matrix';
import { logdet, inverseQuadLogdet } from '../../src/autodiff/slq.js';
import { gaussianKernel, laplacianKernel, maternKernel } from '../../src/operators/kernels.js';
import { kernelOperator } from '../../src/operators/kernels.js';
import { Vi, Vj } from '../../src/formula/index.js';
import { DenseOperator } from '../../src/operators/dense.js';
import { aslinearoperator } from '../../src/operators/aslinearoperator.js';
import { pivotedCholeskyPreconditioner } from '../../src/preconditioners/pivoted-cholesky.js';
import { nystromPreconditioner } from '../../src/preconditioners/nystrom.js';
import { jacobiPreconditioner } from '../../src/preconditioners/jacobi.js';
import type { Preconditioner } from '../../src/preconditioners/common.js';
import { mulberry32, seededPoints, seededVector } from '../random-data.js';

function denseLogdet(A: Matrix): number {
  const L = new CholeskyDecomposition(A).lowerTriangularMatrix;
  let s = 0;
  for (let i = 0; i < A.rows; i++) s += 2 * Math.log(L.get(i, i));
  return s;
}

async function shiftedDense(K: { toDense(): Promise<Matrix> }, alpha: number): Promise<Matrix> {
  return (await K.toDense()).add(Matrix.eye(300).mul(alpha));
}

const X = seededPoints(1, 300, 3);
const kernels = {
  gaussian: () => gaussianKernel(X, { sigma: 0.3 }),
  'matern 2.5': () => maternKernel(X, { sigma: 0.3, nu: 2.5 }),
  laplacian: () => laplacianKernel(X, { sigma: 0.5 }),
  'string formula': () => kernelOperator('exp(-sqnorm2(x - y) / (2 * s^2)) * c', { x: Vi(X), y: Vj(X), s: 0.25, c: 1.5 }),
};

describe('logdet (stochastic Lanczos quadrature)', () => {
  for (const [name, make] of Object.entries(kernels)) {
    for (const preconditioner of ['none', 'pivoted-cholesky'] as const) {
      it(`${name}, preconditioner ${preconditioner}: within 4 standard errors of the dense log det`, async () => {
        const K = make();
        const alpha = 1e-2;
        const exact = denseLogdet(await shiftedDense(K, alpha));
        const r = await logdet(K.shift(alpha), { probes: 24, lanczosSteps: 60, seed: 3, preconditioner, preconditionerOptions: preconditioner === 'none' ? undefined : { rank: 40 } });
        expect(Math.abs(r.value - exact)).toBeLessThan(4 * r.stderr);
        expect(r.stderr).toBeLessThan(0.02 * Math.abs(exact));
        expect(r.estimates.length).toBe(24);
      });
    }
  }

  it('the preconditioned estimator has a smaller error bar than the plain one (same probes count)', async () => {
    const K = gaussianKernel(X, { sigma: 0.3 });
    const plain = await logdet(K.shift(1e-2), { probes: 16, preconditioner: 'none' });
    const pre = await logdet(K.shift(1e-2), { probes: 16, preconditioner: 'pivoted-cholesky', preconditionerOptions: { rank: 60 } });
    expect(pre.stderr).toBeLessThan(0.5 * plain.stderr);
    expect(Math.max(...pre.iterations)).toBeLessThan(Math.max(...plain.iterations));
  });

  it('is reproducible for a seed and differs across seeds', async () => {
    const A = gaussianKernel(X, { sigma: 0.3 }).shift(0.1);
    const a = await logdet(A, { seed: 5, probes: 4 });
    const b = await logdet(A, { seed: 5, probes: 4 });
    const c = await logdet(A, { seed: 6, probes: 4 });
    expect(a.value).toBe(b.value);
    expect(c.value).not.toBe(a.value);
    expect(a.unconvergedProbes).toBe(0);
    const capped = await logdet(A, { seed: 5, probes: 4, lanczosSteps: 2, preconditioner: 'none' });
    expect(capped.iterations).toEqual([2, 2, 2, 2]);
    expect(capped.unconvergedProbes).toBe(4);
  });

  it('refuses bad input by name', async () => {
    const K = gaussianKernel(X, { sigma: 0.3 });
    await expect(logdet(K.shift(1e-2), { probes: 0 })).rejects.toThrow(/probes/);
    await expect(logdet(K.shift(1e-2), { lanczos: 5 } as never)).rejects.toThrow(/lanczos/);
    await expect(logdet(K.shift(-0.5))).rejects.toThrow(/-0\.5/);
    await expect(logdet(gaussianKernel(X, { y: X.slice(0, 10) }))).rejects.toThrow(/square/);
    await expect(logdet(K.shift(1e-2), { preconditioner: 'landmarks' } as never)).rejects.toThrow(/preconditioner/);
    await expect(logdet(new DenseOperator(Matrix.diag([1, -1, 2]), undefined, { symmetric: true }), { probes: 2 })).rejects.toThrow(/positive definite/);
    // Lanczos quadrature of a non-symmetric A gave a number (before): refused as solve refuses it, dense or opaque
    await expect(logdet(new DenseOperator([[2, 1], [0, 2]]))).rejects.toThrow(/logdet: .* is not symmetric \(.*entry \(0, 1\) = 1 differs from \(1, 0\) = 0/);
    const d = Array.from({ length: 40 }, (_, i) => i + 1);
    const opaque = aslinearoperator({ shape: [40, 40], matvec: (x: Float64Array) => { const y = x.map((v, i) => v * d[i]!); y[0]! += 5 * x[1]!; return y; } });
    await expect(logdet(opaque, { seed: 1 })).rejects.toThrow(/logdet: .* is not symmetric \(.*the probe/);
    await expect(inverseQuadLogdet(opaque, new Float64Array(40).fill(1))).rejects.toThrow(/inverseQuadLogdet: .* is not symmetric/);
  });
});

describe('inverseQuadLogdet', () => {
  it('gives A⁻¹y, yᵀA⁻¹y, and trace/quadratic terms matching dense references', async () => {
    const K = gaussianKernel(X, { sigma: 0.3 });
    const alpha = 0.05;
    const A = await shiftedDense(K, alpha);
    const Ainv = inverse(A);
    const y = seededVector(2, 300);
    const D = new Matrix(300, 300);
    const rng = mulberry32(9);
    for (let i = 0; i < 300; i++) for (let j = 0; j <= i; j++) { const v = rng() - 0.5; D.set(i, j, v); D.set(j, i, v); }
    const r = await inverseQuadLogdet(K.shift(alpha), y, {
      derivatives: [new DenseOperator(D, undefined, { symmetric: true })], probes: 32, rtol: 1e-10, maxiter: 2000, lanczosSteps: 300,
      preconditioner: 'pivoted-cholesky', preconditionerOptions: { rank: 50 },
    });
    const u = Ainv.mmul(Matrix.columnVector([...y])).getColumn(0);
    for (let i = 0; i < 300; i += 37) expect(r.solve[i]).toBeCloseTo(u[i]!, 8);
    const quadY = u.reduce((s, v, i) => s + v * y[i]!, 0);
    expect(Math.abs(r.inverseQuad - quadY)).toBeLessThan(1e-9 * quadY);
    const Du = D.mmul(Matrix.columnVector(u)).getColumn(0);
    const quadD = u.reduce((s, v, i) => s + v * Du[i]!, 0);
    expect(Math.abs(r.quads[0]! - quadD)).toBeLessThan(1e-8 * Math.abs(quadD));
    const trace = Ainv.mmul(D).trace();
    expect(Math.abs(r.traces[0]! - trace)).toBeLessThan(4 * r.traceStderrs[0]!);
    expect(Math.abs(r.logdet.value - denseLogdet(A))).toBeLessThan(4 * r.logdet.stderr);
  });

  it('the control variate tr(P⁻¹D) shrinks the trace error bars, and the estimates stay within them', async () => {
    const K = gaussianKernel(X, { sigma: 0.3 });
    const alpha = 0.05;
    const Ainv = inverse(await shiftedDense(K, alpha));
    const Kd = await K.toDense();
    const D = new DenseOperator(Kd, undefined, { symmetric: true });
    const I = new DenseOperator(Matrix.eye(300), undefined, { symmetric: true });
    const run = (traceControlVariate: 'none' | 'all') => inverseQuadLogdet(K.shift(alpha), seededVector(2, 300), {
      derivatives: [D, I], probes: 16, seed: 2, preconditioner: 'pivoted-cholesky', preconditionerOptions: { rank: 60 }, traceControlVariate,
    });
    const [plain, cv] = [await run('none'), await run('all')];
    const exact = [Ainv.mmul(Kd).trace(), Ainv.trace()];
    for (let k = 0; k < 2; k++) {
      expect(cv.traceStderrs[k]!).toBeLessThan(0.9 * plain.traceStderrs[k]!);
      expect(Math.abs(cv.traces[k]! - exact[k]!)).toBeLessThan(4 * cv.traceStderrs[k]! + 1e-9 * exact[k]!);
      expect(Math.abs(plain.traces[k]! - exact[k]!)).toBeLessThan(4 * plain.traceStderrs[k]!);
    }
  });

  it('probes stop at probeRtol and the data column at rtol; the looser probes stay within the error bars of dense references', async () => {
    const K = gaussianKernel(X, { sigma: 0.3 });
    const alpha = 0.05;
    const A = await shiftedDense(K, alpha);
    const Ainv = inverse(A);
    const y = seededVector(4, 300);
    const I = new DenseOperator(Matrix.eye(300), undefined, { symmetric: true });
    const run = (probeRtol: number) => inverseQuadLogdet(K.shift(alpha), y, {
      derivatives: [I], probes: 24, seed: 4, rtol: 1e-10, probeRtol, preconditioner: 'pivoted-cholesky', preconditionerOptions: { rank: 40 },
    });
    const [loose, tight] = [await run(1e-2), await run(1e-10)];
    expect(Math.max(...loose.logdet.iterations)).toBeLessThan(Math.min(...tight.logdet.iterations));
    expect(loose.logdet.unconvergedProbes).toBe(0);
    const u = Ainv.mmul(Matrix.columnVector([...y])).getColumn(0);
    const quadY = u.reduce((s, v, i) => s + v * y[i]!, 0);
    for (const r of [loose, tight]) {
      expect(Math.abs(r.inverseQuad - quadY)).toBeLessThan(1e-9 * quadY); // the data column at rtol either way
      expect(Math.abs(r.traces[0]! - Ainv.trace())).toBeLessThan(4 * r.traceStderrs[0]!);
      expect(Math.abs(r.logdet.value - denseLogdet(A))).toBeLessThan(4 * r.logdet.stderr);
    }
    await expect(logdet(K.shift(alpha), { probeRtol: 0 })).rejects.toThrow(/probeRtol/);
  });

  it('refuses y of the wrong length, NaN in y, and a derivative of the wrong shape, naming them', async () => {
    const A = gaussianKernel(X, { sigma: 0.3 }).shift(0.1);
    await expect(inverseQuadLogdet(A, new Float64Array(299))).rejects.toThrow(/299|300/);
    const y = seededVector(1, 300);
    y[7] = NaN;
    await expect(inverseQuadLogdet(A, y)).rejects.toThrow(/entry 7 .*NaN/);
    const D = new DenseOperator(Matrix.eye(3), undefined, { symmetric: true });
    await expect(inverseQuadLogdet(A, seededVector(1, 300), { derivatives: [D] })).rejects.toThrow(/derivatives\[0\] has shape 3x3/);
  });
});

describe('preconditioner log det and probes', () => {
  const K = gaussianKernel(X.slice(0, 120), { sigma: 0.3 });
  async function check(P: Preconditioner): Promise<void> {
    const n = P.shape[0];
    const Pinv = await P.toDense();
    const Pd = inverse(Pinv);
    expect(P.logdet()).toBeCloseTo(denseLogdet(Pd.add(Pd.transpose()).mul(0.5)), 6);
    // E[z zᵀ] = P: the sample covariance of many probes approaches P
    const t = 4000;
    const Z = (await P.sampleProbes(t, mulberry32(4)))!;
    const C = new Matrix(n, n);
    for (let i = 0; i < n; i += 11) {
      for (let j = 0; j < n; j += 13) {
        let s = 0;
        for (let c = 0; c < t; c++) s += Z.data[i * t + c]! * Z.data[j * t + c]!;
        C.set(i, j, s / t);
      }
    }
    let err = 0;
    let scale = 0;
    for (let i = 0; i < n; i += 11) for (let j = 0; j < n; j += 13) { err = Math.max(err, Math.abs(C.get(i, j) - Pd.get(i, j))); scale = Math.max(scale, Math.abs(Pd.get(i, i))); }
    expect(err).toBeLessThan(0.1 * scale);
    // tr(P⁻¹) and tr(P⁻¹D), the control variates of trace estimates
    expect(await P.traceInverseProduct()).toBeCloseTo(Pinv.trace(), 6);
    const D = await K.toDense();
    const viaProducts = await P.traceInverseProduct(new DenseOperator(D, undefined, { symmetric: true }), true);
    if (viaProducts !== undefined) expect(viaProducts).toBeCloseTo(Pinv.mmul(D).trace(), 6);
  }
  it('pivoted Cholesky: log det(LLᵀ + μI) and E[zzᵀ] = P against dense', async () => check(await pivotedCholeskyPreconditioner(K, { rank: 20, shift: 0.05 })));
  it('randomized Nyström: log det and E[zzᵀ] = P against dense', async () => check((await nystromPreconditioner(K, { rank: 20, shift: 0.05, method: 'randomized' })) as Preconditioner));
  it('Jacobi: log det and E[zzᵀ] = P against dense', async () => check(await jacobiPreconditioner(K, 0.05)));
});
