/**
 * The device landmark preconditioner at a tiny shift μ (the solve's α), against dense float64 references (ml-matrix).
 * Its core S = νI + BᵀB + jI carries a jitter j that lifts the float32 Gram's rounding, ≈ 2·10⁻⁸·max (BᵀB)_aa
 * whatever μ: with ν = μ ≪ j, P⁻¹ inverted νI + c·BBᵀ with c = ν/(ν + j) ≈ 10⁻³ — P's landmarks all but dropped,
 * silently (`String(P)` said ν = μ), and CG on float64 products stagnated (σ = 0.4, n = 800, m = 200, α = 10⁻⁸:
 * after 750 iterations, blaming "the products' accuracy"). Now ν is raised to the rounding floor
 * DEVICE_MIN_SHIFT_PER_JITTER·j, as the host landmarks raise theirs, and said: by `String(P)`, so by every message that
 * names P.
 */
import { describe, expect, it } from 'vitest';
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { gaussianKernel } from '../../src/index.js';
import { CgNoConvergence } from '../../src/krylov/cg.js';
import {
  deviceCoreShift, deviceLandmarkPreconditioner, DEVICE_MIN_SHIFT_PER_JITTER, GRAM_FLOOR_SAFETY, type DeviceLandmarkPreconditioner,
} from '../../src/preconditioners/device-landmarks.js';
import type { SolveResult } from '../../src/preconditioners/index.js';
import { STIFFEN_FACTOR } from '../../src/preconditioners/landmarks.js';
import { relativeResidual } from '../preconditioners/helpers.js';
import { seededPoints, seededVector } from '../random-data.js';
import { hasGpu } from './gpu-env.js';

const raised = (mu: number) => new RegExp(`ν=[\\d.e-]+ \\(raised from ${mu}: rounding floor\\)`);

describe('deviceCoreShift: ν raised only where μ is below DEVICE_MIN_SHIFT_PER_JITTER times the jitter it needs', () => {
  it('keeps ν where the bottom of νI + E is positive and the least jitter small (n = 2²⁰, μ = 10⁻³ on the H100: j = 0.06ν)', () => {
    expect(deviceCoreShift(1e-3, 0.87e-3, 5.9e-5)).toBe(1e-3);
  });

  it('raises a tiny ν to DEVICE_MIN_SHIFT_PER_JITTER·least, or GRAM_FLOOR_SAFETY·(−λ_min E) where that is larger', () => {
    /** The bottom of νI + E at ν, from the one measured at ν₀ (λ_min(E) = bottom − ν₀). */
    const bottomAt = (nu0: number, bottom: number, nu: number) => bottom + (nu - nu0);
    // λ_min(E) = −3.1·10⁻⁶, least jitter 1.3·10⁻⁶ (n = 800, m = 200, σ = 0.4 on llvmpipe)
    const nu = deviceCoreShift(1e-8, 1e-8 - 3.1e-6, 1.3e-6);
    expect(nu).toBeCloseTo(DEVICE_MIN_SHIFT_PER_JITTER * 1.3e-6, 18);
    expect(bottomAt(1e-8, 1e-8 - 3.1e-6, nu)).toBeGreaterThan(0); // so the jitter there is the least one
    const wide = deviceCoreShift(1e-8, 1e-8 - 1e-4, 1e-7);
    expect(wide).toBeCloseTo(GRAM_FLOOR_SAFETY * 1e-4, 15);
    expect(bottomAt(1e-8, 1e-8 - 1e-4, wide)).toBeCloseTo(1e-4, 15); // lifted by −λ_min(E): the jitter's margin
  });
});

describe.runIf(hasGpu)('device landmarks at a tiny α (Gaussian σ = 1 on [0,1]³: K numerically rank-deficient)', () => {
  const n = 600;
  const m = 100;
  const sigma = 1;
  const x = seededPoints(1, n, 3, { float32: true });
  const b = seededVector(2, n);
  const Kg = gaussianKernel(x, { sigma, backend: 'gpu' });
  const Kc = gaussianKernel(x, { sigma, backend: 'cpu' });
  let dense: Matrix | undefined;
  /** K in float64 (the CPU operator's toDense), made once. */
  const Kd = async () => (dense ??= await Kc.toDense());

  /** P⁻¹ as applied, materialised column by column and symmetrised: whether it has a Cholesky factor. */
  async function positiveDefinite(P: DeviceLandmarkPreconditioner): Promise<boolean> {
    const inverse = await P.matmat(Matrix.eye(n));
    return new CholeskyDecomposition(inverse.add(inverse.transpose()).mul(0.5)).isPositiveDefinite();
  }

  /** vᵀP⁻¹v·(λ + μ) for K's top eigenpair (λ, v) by power steps on the dense K: 1 where P inverts K + μI there. */
  async function topDirectionRatio(P: DeviceLandmarkPreconditioner, mu: number): Promise<number> {
    const K = await Kd();
    let v = Matrix.ones(n, 1);
    let lambda = 0;
    for (let k = 0; k < 30; k++) {
      const w = K.mmul(v);
      lambda = w.norm() / v.norm();
      v = w.div(w.norm());
    }
    const column = Float64Array.from(v.getColumn(0));
    const Pv = await P.matvec(column);
    return Pv.reduce((acc, value, i) => acc + value * column[i]!, 0) * (lambda + mu);
  }

  it('μ = 10⁻⁸ and 10⁻¹⁰: ν is raised to the rounding floor and said so, never at μ = 10⁻³; P stays positive definite and inverts K + μI on K\'s top direction (it overshot 376-fold at 10⁻⁸, 37,500-fold at 10⁻¹⁰: 1/c)', async () => {
    for (const mu of [1e-8, 1e-10]) {
      const stages: string[] = [];
      const P = await deviceLandmarkPreconditioner(Kg, { shift: mu, rank: m, onProgress: (s) => { stages.push(s.stage); } });
      try {
        expect(P.mu).toBe(mu);
        expect(P.nu).toBeGreaterThan(mu);
        expect(P.nu).toBeLessThan(1e-4); // a floor, far below the shifts P is built for
        // the jitter no longer shrinks P's low-rank term (c = ν/(ν + j) ≥ 10/11; it was ν/j ≈ 10⁻³ and 10⁻⁵)
        expect(P.nu).toBeGreaterThanOrEqual(DEVICE_MIN_SHIFT_PER_JITTER * P.jitter);
        expect(String(P)).toMatch(raised(mu));
        expect(stages.find((s) => s.startsWith('bottom of νI + E'))).toMatch(/: ν raised to [\d.e-]+ \(rounding floor\): jitter /);
        expect(await positiveDefinite(P)).toBe(true);
        const ratio = await topDirectionRatio(P, mu);
        expect(ratio).toBeGreaterThan(0.8);
        expect(ratio).toBeLessThan(1.25);
      } finally {
        await P.dispose();
      }
    }
    const moderate = await deviceLandmarkPreconditioner(Kg, { shift: 1e-3, rank: m });
    try {
      expect(moderate.nu).toBe(1e-3);
      expect(String(moderate)).toMatch(/ν=0\.00100, jitter=/);
    } finally {
      await moderate.dispose();
    }
  });

  it('the core factored on the host (WASM) raises ν alike and applies the same P⁻¹', async () => {
    const build = (coreFactor: 'device' | 'host') => deviceLandmarkPreconditioner(Kg, { shift: 1e-8, rank: m, coreFactor });
    const [onDevice, onHost] = [await build('device'), await build('host')];
    try {
      expect(String(onHost)).toMatch(raised(1e-8));
      expect(onHost.nu).toBeCloseTo(onDevice.nu, 9);
      expect(onHost.jitter).toBeCloseTo(onDevice.jitter, 9);
      const r = seededVector(7, n);
      const [u, w] = [await onDevice.matvec(r), await onHost.matvec(r)];
      const diff = Math.hypot(...u.map((v, i) => v - w[i]!)) / Math.hypot(...u);
      expect(diff).toBeLessThan(1e-6);
      // stiffen keeps the raised ν and raises the jitter as on the host
      const before = onHost.jitter;
      await onHost.stiffen();
      expect(onHost.jitter).toBeCloseTo(STIFFEN_FACTOR * before, 12);
      expect(String(onHost)).toMatch(raised(1e-8));
    } finally {
      await onDevice.dispose();
      await onHost.dispose();
    }
  });

  it('solving on float64 products with it at α = 10⁻¹⁰ (below float64\'s floor for rtol 10⁻⁵): CgNoConvergence, whose message names α, P with its raised ν, and the factor', async () => {
    const alpha = 1e-10;
    const rtol = 1e-5;
    const P = await deviceLandmarkPreconditioner(Kg, { shift: alpha, rank: m });
    try {
      const err = await Kc.solve(b, alpha, { M: P, rtol, maxiter: 300 }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(CgNoConvergence);
      const { result } = err as CgNoConvergence;
      expect(result.info).toBeGreaterThan(0);
      expect(relativeResidual(await Kd(), alpha, result.x as Float64Array, b)).toBeGreaterThan(rtol); // flagged rightly
      expect(result.message).toContain(`CG ran on A + αI at α = ${alpha}, preconditioned by <${n}x${n} DeviceLandmarkPreconditioner(m=${m}, shift=${alpha}, `);
      expect(result.message).toMatch(raised(alpha));
      expect(result.message).toMatch(/method 'cholesky' factors A \+ αI instead$/);
    } finally {
      await P.dispose();
    }
  });

  it('at α = 10⁻⁸ the outcome is x within rtol of the dense solution\'s residual, or CgNoConvergence naming the raised ν (it stagnated after 450 iterations, P described with ν = μ)', async () => {
    const alpha = 1e-8;
    const rtol = 1e-5;
    const P = await deviceLandmarkPreconditioner(Kg, { shift: alpha, rank: m });
    try {
      const r = (await Kc.solve(b, alpha, { M: P, rtol, returnInfo: true })) as SolveResult<Float64Array>;
      expect(r.iterations).toBeLessThan(n);
      if (r.info === 0) {
        expect(relativeResidual(await Kd(), alpha, r.x, b)).toBeLessThanOrEqual(rtol);
      } else {
        expect(r.message).toMatch(raised(alpha));
      }
      expect(String(r.plan.M)).toMatch(raised(alpha));
    } finally {
      await P.dispose();
    }
  });

  it('K.solve on the GPU at α = 10⁻⁸ (K\'s float32 entries are indefinite there): a quick breakdown naming float32 and what to do; its plan\'s P says its raised ν', async () => {
    const alpha = 1e-8;
    const r = (await Kg.solve(b, alpha, {
      method: 'cg', preconditioner: 'device-landmarks', preconditionerOptions: { rank: m }, rtol: 1e-5, returnInfo: true,
    })) as SolveResult<Float64Array>;
    expect(r.info).toBeLessThan(0);
    expect(r.iterations).toBeLessThan(50);
    expect(r.message).toMatch(/A is float32: .* more than α = 1e-8 covers — use dtype 'float64' \(on the CPU\) or a larger α$/);
    expect(relativeResidual(await Kd(), alpha, r.x, b)).toBeGreaterThan(1e-5); // not a silent wrong answer: info < 0
    expect(String(r.plan.M)).toMatch(raised(alpha));
  });
});
