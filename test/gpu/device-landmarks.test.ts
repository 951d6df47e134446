/**
 * The device-resident kernel block (src/gpu/dense/tall.ts) and the landmark preconditioner built on it
 * (src/preconditioners/device-landmarks.ts), against float64 host references: K_mn entries, its Gram, both
 * products, and P⁻¹ against its dense formula; then CG with it converges to the dense solution.
 */
import { describe, expect, it } from 'vitest';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { gaussianKernel, laplacianKernel, type KernelOperator } from '../../src/index.js';
import { cg, type CgResult } from '../../src/krylov/index.js';
import { collectVariables } from '../../src/formula/analyze.js';
import { compileScalarJs } from '../../src/formula/emit-js.js';
import { DeviceKernelBlock } from '../../src/gpu/dense/tall.js';
import { kernelBlock, restrictRows } from '../../src/preconditioners/kernel-access.js';
import {
  defaultDeviceLandmarks, deviceLandmarkPreconditioner, DeviceLandmarkPreconditioner, coreBottom, STIFFEN_FACTOR,
  defaultWhiteningJitter, WHITENING_FLOAT32_JITTER, WHITENING_MIN_RELATIVE_JITTER, DEVICE_MIN_SHIFT_PER_JITTER, GRAM_FLOOR_SAFETY,
} from '../../src/preconditioners/device-landmarks.js';
import { landmarkPreconditioner } from '../../src/preconditioners/landmarks.js';
import { DenseOperator } from '../../src/operators/dense.js';
import {
  AUTO_MIN_N, AUTO_MIN_PLAIN_ITERATIONS_LANDMARKS, cgIterationBound, defaultPreconditionerChoice,
} from '../../src/preconditioners/auto.js';
import { onesRayleighEstimate } from '../../src/preconditioners/common.js';
import { choleskySolveInPlace, choleskyUpper } from '../../src/preconditioners/dense.js';
import { mulberry32, relativeError } from '../conformance.js';
import { gpu, hasGpu } from './gpu-env.js';

function cube(seed: number, n: number, d = 3): number[][] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => Array.from({ length: d }, () => Math.fround(r())));
}

function vector(seed: number, n: number): Float64Array {
  const r = mulberry32(seed);
  return Float64Array.from({ length: n }, () => r() - 0.5);
}

/**
 * CG to rtol 1e-8 on the float64 CPU operator K + αI with the device preconditioner P, with the float64 host landmark
 * preconditioner on the same landmarks, and with none; each converges. CPU products isolate the preconditioners'
 * quality from the GPU products' rounding.
 */
async function againstHost(
  Kc: KernelOperator, P: DeviceLandmarkPreconditioner, alpha: number, b: Float64Array, options: { rank: number; seed?: number },
): Promise<{ device: CgResult; host: CgResult; plain: CgResult }> {
  const A = Kc.shift(alpha);
  const device = await cg(A, b, { M: P, rtol: 1e-8, maxiter: 2000 });
  const H = await landmarkPreconditioner(Kc, { shift: alpha, ...options });
  try {
    expect(Array.from(P.landmarks)).toEqual(Array.from(H.landmarks)); // the same farthest-point landmarks
    const host = await cg(A, b, { M: H, rtol: 1e-8, maxiter: 2000 });
    const plain = await cg(A, b, { rtol: 1e-8, maxiter: 4000 });
    for (const r of [device, host, plain]) expect(r.info).toBe(0);
    return { device, host, plain };
  } finally {
    await H.dispose();
  }
}

describe.runIf(hasGpu)('DeviceKernelBlock: K_mn on the device', () => {
  const n = 1500;
  const X = cube(1, n);
  const idx = Int32Array.from({ length: 70 }, (_, k) => (k * 37) % n).sort();
  for (const [name, K] of [
    ['gaussian', gaussianKernel(X, { sigma: 0.2, backend: 'gpu' })],
    ['laplacian', laplacianKernel(X, { sigma: 0.5, backend: 'gpu' })],
  ] as const) {
    it(`${name}: Gram, K_mn r and K_nm c match float64 (several landmark blocks)`, async () => {
      const node = restrictRows(K.formula.node, { j: idx });
      const m = idx.length;
      // a small binding limit forces several landmark blocks (and mirrored off-diagonal Gram blocks)
      // (and reads of stored rows, 16 per mapped buffer)
      const ctx = { ...gpu!, limits: { ...gpu!.limits, maxStorageBufferBindingSize: 4 * n * 16, maxBufferSize: 4 * n * 16 } };
      const block = await DeviceKernelBlock.create(ctx, node, collectVariables(node), n, m);
      try {
        const all = Array.from({ length: n }, (_, i) => i);
        const Knm = kernelBlock(compileScalarJs(K.formula.node), all, idx); // n×m row-major, float64
        const G = await block.gram();
        const want = new Float64Array(m * m);
        for (let i = 0; i < n; i++) for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) want[a * m + b]! += Knm[i * m + a]! * Knm[i * m + b]!;
        expect(relativeError(G, want)).toBeLessThan(2e-6);
        for (let a = 0; a < m; a++) for (let b = 0; b < a; b++) expect(G[a * m + b]).toBe(G[b * m + a]);
        // the chunks of columns (here 320 by the binding limit) go on from each other's compensated state: other
        // chunk sizes give the same sums, bit for bit (one pass over i, 32 columns at a time)
        expect(await block.gram({ chunk: 64 })).toEqual(G);
        expect(await block.gram({ chunk: 32 * Math.ceil(n / 32) })).toEqual(G);
        await expect(block.gram({ chunk: 48 })).rejects.toThrow(/chunk must be a multiple of 32 columns/);
        const r = vector(2, n);
        const y = await block.applyT(r);
        const yWant = new Float64Array(m);
        for (let i = 0; i < n; i++) for (let a = 0; a < m; a++) yWant[a]! += Knm[i * m + a]! * r[i]!;
        expect(relativeError(y, yWant)).toBeLessThan(1e-6); // double-float sums: only the entries' float32 rounding
        // rows read back as stored: the float32 entries, within float32 rounding of the float64 kernel
        const picked = [0, 17, m - 1, ...Array.from({ length: 17 }, (_, k) => 3 * k + 1)]; // 20 rows: two reads
        const rows = await block.rows(picked);
        expect(rows.length).toBe(picked.length * n);
        picked.forEach((a, k) => {
          for (let i = k % 7; i < n; i += 97) expect(rows[k * n + i]).toBeCloseTo(Knm[i * m + a]!, 6);
        });
        await expect(block.rows([m])).rejects.toThrow(new RegExp(`landmark ${m} out of range for ${m} landmarks`));
        // the Gram's rounding E = G − K̃_mnK̃_nm against its dense value from every row of K̃ read back (float32 entries,
        // products exact in float64): Lanczos' bottom of E is its smallest eigenvalue, and the jitter lifts it
        const all64 = await block.rows(Array.from({ length: m }, (_, a) => a));
        const E = new Matrix(m, m);
        for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) {
          let g = 0;
          for (let i = 0; i < n; i++) g += all64[a * n + i]! * all64[b * n + i]!;
          E.set(a, b, G[a * m + b]! - g);
        }
        expect(Math.min(...new EigenvalueDecomposition(E, { assumeSymmetric: true }).realEigenvalues)).toBeLessThan(0); // rounding both ways
        const c = vector(3, m);
        const z = await block.apply(c);
        const zWant = new Float64Array(n);
        for (let i = 0; i < n; i++) for (let a = 0; a < m; a++) zWant[i]! += Knm[i * m + a]! * c[a]!;
        expect(relativeError(z, zWant)).toBeLessThan(1e-6);
      } finally {
        block.destroy();
      }
    });
  }
});

describe.runIf(hasGpu)('DeviceKernelBlock.whiten: Bᵀ = L⁻¹K̃_mn in place, and its Gram', () => {
  const n = 1500;
  const X = cube(4, n);
  const K = gaussianKernel(X, { sigma: 0.25, backend: 'gpu' });
  // 150 landmarks: three 64-row panels (the last one short), several landmark blocks and column chunks
  const idx = Int32Array.from({ length: 150 }, (_, k) => (k * 10 + 3) % n).sort();
  it('matches float64 substitution on the same float32 entries; the products apply B; Lanczos finds the Gram\'s bottom', async () => {
    const node = restrictRows(K.formula.node, { j: idx });
    const m = idx.length;
    const ctx = { ...gpu!, limits: { ...gpu!.limits, maxStorageBufferBindingSize: 4 * n * 40, maxBufferSize: 4 * n * 40 } };
    const block = await DeviceKernelBlock.create(ctx, node, collectVariables(node), n, m);
    try {
      const Kt = await block.rows(Array.from({ length: m }, (_, a) => a)); // the float32 entries, m×n
      const Kmm = kernelBlock(compileScalarJs(K.formula.node), idx, idx);
      for (let a = 0; a < m; a++) Kmm[a * m + a]! += 1e-6;
      const R = choleskyUpper(Kmm, m)!; // K_mm + 10⁻⁶I = RᵀR: L = Rᵀ
      const L = new Float64Array(m * m);
      for (let a = 0; a < m; a++) for (let b = a; b < m; b++) L[b * m + a] = R[a * m + b]!;
      await expect(block.whiten(R.subarray(1))).rejects.toThrow(/R has 22499 entries, expected m·m = 22500/);
      const bad = Float64Array.from(R);
      bad[5 * m + 5] = 0;
      await expect(block.whiten(bad)).rejects.toThrow(/R\[5\]\[5\] = 0/);
      // float64 reference: forward substitution on the stored float32 rows
      const Bt = new Float64Array(m * n);
      for (let i = 0; i < n; i++) {
        for (let a = 0; a < m; a++) {
          let s = Kt[a * n + i]!;
          for (let b = 0; b < a; b++) s -= L[a * m + b]! * Bt[b * n + i]!;
          Bt[a * n + i] = s / L[a * m + a]!;
        }
      }
      const G = await block.whiten(R, { chunk: 320, keepGram: true }); // five chunks, the last one short
      const got = await block.rows(Array.from({ length: m }, (_, a) => a));
      // float32 substitution against float64: the error grows with L's condition (≈ 10³ here), not more
      expect(relativeError(Float64Array.from(got), Bt)).toBeLessThan(2e-4); // measured 2.2e-5
      const want = new Float64Array(m * m);
      for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) {
        let g = 0;
        for (let i = 0; i < n; i++) g += got[a * n + i]! * got[b * n + i]!;
        want[a * m + b] = g;
      }
      // the Gram is that of the whitened rows as stored (compensated sums), symmetric
      expect(relativeError(G, want)).toBeLessThan(1e-6);
      for (let a = 0; a < m; a++) for (let b = 0; b < a; b++) expect(G[a * m + b]).toBe(G[b * m + a]);
      // and BBᵀ ≈ K_nm (K_mm + δI)⁻¹ K_mn: B's rows are whitened (BᵀB's trace ≈ trace of the Nyström approximation ≤ n)
      let trace = 0;
      for (let a = 0; a < m; a++) trace += G[a * m + a]!;
      expect(trace).toBeLessThanOrEqual(n * 1.0001);
      expect(trace).toBeGreaterThan(0.9 * n);
      // the products now apply B (double-float sums on the stored entries)
      const r = vector(2, n);
      const y = await block.applyT(r);
      const yWant = new Float64Array(m);
      for (let a = 0; a < m; a++) for (let i = 0; i < n; i++) yWant[a]! += got[a * n + i]! * r[i]!;
      expect(relativeError(y, yWant)).toBeLessThan(1e-9);
      // P⁻¹ is positive definite iff νI + E + jI ≻ 0 (E = G − BᵀB's rounding): Lanczos' bottom against the dense one
      const nu = 1e-7;
      const E = new Matrix(m, m);
      for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) E.set(a, b, G[a * m + b]! - want[a * m + b]! + (a === b ? nu : 0));
      const lambdaMin = Math.min(...new EigenvalueDecomposition(E, { assumeSymmetric: true }).realEigenvalues);
      // Gw − Bᵀ(Bw) in one submission, G the kept Gram (double-float sums of its pairs): the host's G (float64) times
      // w, less the two block products made through the host, to double-float rounding
      const v = vector(3, m);
      const Gv = new Float64Array(m);
      for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) Gv[a]! += G[a * m + b]! * v[b]!;
      const BtBv = await block.applyT(await block.apply(v));
      const rounding = await block.gramRounding(v);
      let diff = 0;
      for (let a = 0; a < m; a++) diff = Math.max(diff, Math.abs(rounding[a]! - (Gv[a]! - BtBv[a]!)));
      expect(diff).toBeLessThan(1e-11 * Math.max(...Array.from(Gv, Math.abs)));
      expect(Math.max(...Array.from(rounding, Math.abs))).toBeGreaterThan(0); // the Gram's rounding is not nothing
      await expect(block.gramRounding(v.subarray(1))).rejects.toThrow(/w has 149 entries, expected m = 150/);
      const bottom = await coreBottom(block, nu, 60);
      expect(Math.abs(bottom - lambdaMin)).toBeLessThan(0.05 * Math.abs(lambdaMin));
      block.releaseGram();
      await expect(block.gramRounding(v)).rejects.toThrow(/no Gram kept/);
    } finally {
      block.destroy();
    }
  });
});

describe.runIf(hasGpu)('DeviceKernelBlock.whiten with one short panel', () => {
  it('m = 37 < 64: only the diagonal solve runs, and matches float64', async () => {
    const n = 700;
    const K = gaussianKernel(cube(6, n), { sigma: 0.3, backend: 'gpu' });
    const idx = Int32Array.from({ length: 37 }, (_, k) => k * 17);
    const m = idx.length;
    const node = restrictRows(K.formula.node, { j: idx });
    const block = await DeviceKernelBlock.create(gpu!, node, collectVariables(node), n, m);
    try {
      const Kt = await block.rows(Array.from({ length: m }, (_, a) => a));
      const Kmm = kernelBlock(compileScalarJs(K.formula.node), idx, idx);
      for (let a = 0; a < m; a++) Kmm[a * m + a]! += 1e-4;
      const R = choleskyUpper(Kmm, m)!;
      const Bt = new Float64Array(m * n);
      for (let i = 0; i < n; i++) for (let a = 0; a < m; a++) {
        let v = Kt[a * n + i]!;
        for (let b = 0; b < a; b++) v -= R[b * m + a]! * Bt[b * n + i]!;
        Bt[a * n + i] = v / R[a * m + a]!;
      }
      const G = await block.whiten(R);
      const got = Float64Array.from(await block.rows(Array.from({ length: m }, (_, a) => a)));
      expect(relativeError(got, Bt)).toBeLessThan(1e-5);
      let trace = 0;
      for (let a = 0; a < m; a++) trace += G[a * m + a]!;
      let want = 0;
      for (const v of got) want += v * v;
      expect(Math.abs(trace - want) / want).toBeLessThan(1e-6);
    } finally {
      block.destroy();
    }
  });
});

describe.runIf(hasGpu)('deviceLandmarkPreconditioner', () => {
  const n = 1200;
  const X = cube(5, n);
  const K = gaussianKernel(X, { sigma: 0.15, backend: 'gpu' });
  const alpha = 1e-3;

  it('applies its dense formula (1/ν)(I − B S⁻¹ Bᵀ), B = K_nm L⁻ᵀ, LLᵀ = K_mm + δI, S = νI + BᵀB + jI', async () => {
    const P = await deviceLandmarkPreconditioner(K, { shift: alpha, rank: 150, seed: 3 });
    try {
      expect(P.rank).toBe(150);
      expect(P.nu).toBeGreaterThanOrEqual(alpha);
      // δ = min(3·10⁻⁵, 4·ν·m/(n·max K_aa) = 5·10⁻⁴) (max K_aa = 1 for the Gaussian)
      expect(P.whiteningJitter).toBe(WHITENING_FLOAT32_JITTER);
      expect(P.whiteningJitter).toBe(defaultWhiteningJitter(alpha, 150, n, 1));
      expect(String(P)).toMatch(/DeviceLandmarkPreconditioner\(m=150, .*δ=3\.0e-5\)/);
      const m = P.rank;
      const all = Array.from({ length: n }, (_, i) => i);
      const kernel = compileScalarJs(K.formula.node);
      const Kmn = kernelBlock(kernel, P.landmarks, all); // m×n
      const Kmm = kernelBlock(kernel, P.landmarks, P.landmarks);
      let maxK = 0;
      for (let a = 0; a < m; a++) maxK = Math.max(maxK, Kmm[a * m + a]!);
      for (let a = 0; a < m; a++) Kmm[a * m + a]! += P.whiteningJitter * maxK;
      const U = choleskyUpper(Kmm, m)!; // K_mm + δI = UᵀU: Bᵀ = U⁻ᵀK_mn by forward substitution
      const Bt = new Float64Array(m * n);
      for (let i = 0; i < n; i++) for (let a = 0; a < m; a++) {
        let v = Kmn[a * n + i]!;
        for (let b = 0; b < a; b++) v -= U[b * m + a]! * Bt[b * n + i]!;
        Bt[a * n + i] = v / U[a * m + a]!;
      }
      const Knm = new Float64Array(n * m); // B, n×m, for the formula below
      for (let a = 0; a < m; a++) for (let i = 0; i < n; i++) Knm[i * m + a] = Bt[a * n + i]!;
      const S = new Float64Array(m * m);
      for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) {
        let g = 0;
        for (let i = 0; i < n; i++) g += Knm[i * m + a]! * Knm[i * m + b]!;
        S[a * m + b] = g + (a === b ? P.nu + P.jitter : 0);
      }
      const R = choleskyUpper(S, m)!;
      const r = vector(7, n);
      const y = new Float64Array(m);
      for (let i = 0; i < n; i++) for (let a = 0; a < m; a++) y[a]! += Knm[i * m + a]! * r[i]!;
      choleskySolveInPlace(R, m, y, 1);
      const want = Float64Array.from(r, (v, i) => {
        let z = 0;
        for (let a = 0; a < m; a++) z += Knm[i * m + a]! * y[a]!;
        return (v - z) / P.nu;
      });
      const got = await P.matvec(r);
      expect(relativeError(got, want)).toBeLessThan(1e-3);
      // symmetric positive definite in the float32 sense: ⟨Px, x⟩ > 0, ⟨Px, y⟩ ≈ ⟨x, Py⟩
      const s = vector(8, n);
      const Ps = await P.matvec(s);
      const dot = (a: Float64Array, b: Float64Array) => a.reduce((acc, v, i) => acc + v * b[i]!, 0);
      expect(dot(got, r)).toBeGreaterThan(0);
      expect(Math.abs(dot(got, s) - dot(Ps, r)) / Math.sqrt(dot(got, got) * dot(s, s))).toBeLessThan(1e-4);
    } finally {
      P.dispose();
    }
  });

  it('stiffen() raises the core jitter STIFFEN_FACTOR-fold and keeps the dense formula; solve stiffens an indefinite M and goes on', async () => {
    const P = await deviceLandmarkPreconditioner(K, { shift: alpha, rank: 100, seed: 2 });
    try {
      const before = P.jitter;
      const r = vector(11, n);
      const y0 = await P.matvec(r);
      await P.stiffen();
      expect(P.jitter).toBeCloseTo(before * STIFFEN_FACTOR, 10);
      expect(String(P)).toContain(`jitter=${P.jitter.toPrecision(2)}`);
      const y1 = await P.matvec(r);
      // a stiffer core only nudges P⁻¹ (its jitter is tiny against νK_mm + G), and it stays positive definite
      expect(relativeError(y1, y0)).toBeLessThan(1e-2);
      expect(y1.reduce((acc, v, i) => acc + v * r[i]!, 0)).toBeGreaterThan(0);
    } finally {
      await P.dispose();
    }
    // the solve's retry: an M that CG finds indefinite, and that stiffen() repairs
    const Kc = gaussianKernel(cube(31, 300), { sigma: 0.2, backend: 'cpu' });
    const b = vector(32, 300);
    let stiffened = 0;
    class Flaky extends DenseOperator {
      async stiffen(): Promise<void> { stiffened++; this.sign = 1; }
      sign = -1;
      protected override async _matvec(x: Float64Array): Promise<Float64Array> { return x.map((v) => this.sign * v); }
    }
    const M = new Flaky(Matrix.eye(300), undefined, { symmetric: true });
    const x = await Kc.solve(b, 1e-2, { M, rtol: 1e-8 });
    expect(stiffened).toBe(1);
    expect(relativeError(await Kc.shift(1e-2).matvec(x), b)).toBeLessThan(1e-8);
  });

  it('at ν = μ = 1e-3 P⁻¹ stays positive definite and preconditions like the float64 landmark preconditioner', async () => {
    // the double-float products and the whitened core keep P⁻¹ SPD without raising ν (module comment)
    const nn = 3000;
    const Xs = cube(21, nn);
    const Kg = gaussianKernel(Xs, { sigma: 0.1, backend: 'gpu' });
    const Kc = gaussianKernel(Xs, { sigma: 0.1, backend: 'cpu' });
    const b = vector(22, nn);
    const P = await deviceLandmarkPreconditioner(Kg, { shift: 1e-3, rank: 600, seed: 1 });
    try {
      expect(P.nu).toBe(1e-3);
      expect(P.jitter).toBeGreaterThan(0);
      const { device, host, plain } = await againstHost(Kc, P, 1e-3, b, { rank: 600, seed: 1 });
      expect(device.iterations).toBeLessThan(1.15 * host.iterations);
      expect(device.iterations * 4).toBeLessThan(plain.iterations); // measured 238 / 238 / 1735 (δ = 3·10⁻⁵)
    } finally {
      P.dispose();
    }
  });

  it('preconditioned CG converges in far fewer iterations than plain CG', async () => {
    // α = 1e-2 and rtol 1e-3: float32 products cannot reach much below that at α = 1e-3 (their floor)
    const b = vector(9, n);
    const P = await deviceLandmarkPreconditioner(K, { shift: 1e-2, rank: 300 });
    try {
      const A = K.shift(1e-2);
      const pre = await cg(A, b, { M: P, rtol: 1e-3, maxiter: 400 });
      const plain = await cg(A, b, { rtol: 1e-3, maxiter: 2000 });
      expect(pre.info).toBe(0);
      expect(pre.iterations * 3).toBeLessThan(plain.iterations);
    } finally {
      P.dispose();
    }
  });

  it('whitens other kernels too: a Laplacian (max K_aa = 1, slower spectral decay) preconditions CG', async () => {
    const nn = 2000;
    const Xs = cube(41, nn);
    const Kg = laplacianKernel(Xs, { sigma: 0.3, backend: 'gpu' });
    const Kc = laplacianKernel(Xs, { sigma: 0.3, backend: 'cpu' });
    const b = vector(42, nn);
    const P = await deviceLandmarkPreconditioner(Kg, { shift: 1e-2, rank: 400 });
    try {
      expect(P.whiteningJitter).toBe(WHITENING_FLOAT32_JITTER); // 4νm/n = 8·10⁻³ would cost iterations here (70 against 58)
      const { device, host, plain } = await againstHost(Kc, P, 1e-2, b, { rank: 400 });
      expect(relativeError(await Kc.shift(1e-2).matvec(device.x as Float64Array), b)).toBeLessThan(1e-8);
      // measured 58 / 52 / 328: the device's float32 entries against CG's float64 operator cost a few
      expect(device.iterations).toBeLessThan(1.25 * host.iterations);
      expect(device.iterations * 4).toBeLessThan(plain.iterations);
    } finally {
      await P.dispose();
    }
  });

  it("is K.solve's default for GPU kernel operators from AUTO_MIN_N points (gated by the plain-CG bound), and a named choice", async () => {
    const big = cube(11, AUTO_MIN_N);
    expect(defaultPreconditionerChoice(gaussianKernel(big, { sigma: 0.1, backend: 'gpu' }), 1e-3)).toBe('device-landmarks');
    expect(defaultPreconditionerChoice(gaussianKernel(big, { sigma: 0.1, backend: 'cpu' }), 1e-3)).toBe('landmarks');
    expect(defaultPreconditionerChoice(gaussianKernel(big.slice(1), { sigma: 0.1, backend: 'gpu' }), 1e-3)).toBe('none');
    // built by 'auto' where the plain-CG bound from λ̂ reaches AUTO_MIN_PLAIN_ITERATIONS_LANDMARKS, skipped where it does not
    const Kbig = gaussianKernel(big, { sigma: 0.1, backend: 'gpu' });
    const auto = await Kbig.preconditioner(1e-3);
    expect(String(auto)).toMatch(/DeviceLandmarkPreconditioner\(m=512, shift=0.001/); // √(64·4096) = 512
    expect(auto).toBeInstanceOf(DeviceLandmarkPreconditioner);
    (auto as DeviceLandmarkPreconditioner).dispose();
    const lambda = await onesRayleighEstimate(Kbig);
    const bigAlpha = 2 * lambda; // κ̂ = 1.5: a bound of a few iterations
    expect(cgIterationBound(lambda / bigAlpha + 1)).toBeLessThan(AUTO_MIN_PLAIN_ITERATIONS_LANDMARKS);
    expect(await Kbig.preconditioner(bigAlpha)).toBeUndefined();
    const b = vector(12, n);
    const x = await K.solve(b, 1e-2, { preconditioner: 'device-landmarks', preconditionerOptions: { rank: 200 }, rtol: 1e-3 });
    const r = await K.shift(1e-2).matvec(x);
    expect(relativeError(r, b)).toBeLessThan(2e-3);
    const M = await K.preconditioner(1e-2, 'device-landmarks', { rank: 200 });
    expect(String(M)).toMatch(/DeviceLandmarkPreconditioner\(m=200, shift=0.01/);
    // a landmark selection device landmarks do not have is refused by name, not ignored
    await expect(K.preconditioner(1e-2, 'device-landmarks', { rank: 200, landmarks: 'pivoted-cholesky' }))
      .rejects.toThrow('deviceLandmarkPreconditioner: landmarks must be one of "farthest-point", "uniform", got a string "pivoted-cholesky"');
  });

  it('default δ: the float32 need 3·10⁻⁵, at most 4·ν·m/(n·max K_aa), at least 10⁻⁶; an explicit whiteningJitter is used as given', async () => {
    expect(defaultWhiteningJitter(1e-3, 8192, 2 ** 20, 1)).toBe(3e-5); // 4νm/n = 3.125·10⁻⁵
    expect(defaultWhiteningJitter(1e-3, 8192, 2 ** 20, 2)).toBeCloseTo(1.5625e-5, 15);
    expect(defaultWhiteningJitter(1e-9, 8192, 2 ** 20, 1)).toBe(WHITENING_MIN_RELATIVE_JITTER);
    expect(defaultWhiteningJitter(10, 8192, 2 ** 20, 1)).toBe(WHITENING_FLOAT32_JITTER);
    const P = await deviceLandmarkPreconditioner(K, { shift: alpha, rank: 100, whiteningJitter: 2e-6 });
    try {
      expect(P.whiteningJitter).toBe(2e-6);
      expect(String(P)).toContain('δ=2.0e-6');
    } finally {
      await P.dispose();
    }
  });

  it('the landmark order and the whitening factor each run on the device or the host; either way CG converges alike', async () => {
    const Kc = gaussianKernel(X, { sigma: 0.15, backend: 'cpu' });
    const b = vector(31, n);
    const runs: { landmarks: number[]; iterations: number }[] = [];
    for (const [landmarkOrder, whiteningFactor] of [['host', 'host'], ['device', 'host'], ['host', 'device'], ['device', 'device']] as const) {
      const stages: string[] = [];
      const P = await deviceLandmarkPreconditioner(K, {
        shift: alpha, rank: 150, landmarkOrder, whiteningFactor, onProgress: (p) => stages.push(p.stage),
      });
      try {
        expect(stages[0]).toBe(`150 farthest-point landmarks (${landmarkOrder})`);
        expect(stages).toContain(`Cholesky of K_mm + 3.0e-5·max K_aa (${whiteningFactor === 'device' ? 'device, float32' : 'host, WASM'})`);
        const r = await cg(Kc.shift(alpha), b, { M: P, rtol: 1e-8, maxiter: 2000 });
        expect(r.info).toBe(0);
        runs.push({ landmarks: Array.from(P.landmarks), iterations: r.iterations });
      } finally {
        await P.dispose();
      }
    }
    // the same first point; float32 distances may break near-ties differently, so most (not all) landmarks agree
    const [host, device] = [runs[0]!.landmarks, runs[1]!.landmarks];
    expect(device[0]).toBe(host[0]);
    expect(new Set(device).size).toBe(150);
    expect(device.filter((a) => host.includes(a)).length).toBeGreaterThan(0.8 * 150);
    expect(runs[3]!.landmarks).toEqual(device);
    // the float32 factor preconditions as the float64 one does (same landmarks: within 10% of the iterations)
    for (const [f32, f64] of [[2, 0], [3, 1]] as const) expect(runs[f32]!.iterations).toBeLessThanOrEqual(Math.ceil(1.1 * runs[f64]!.iterations));
    for (const r of runs) expect(r.iterations).toBeLessThanOrEqual(Math.ceil(1.15 * runs[0]!.iterations));
    await expect(deviceLandmarkPreconditioner(K, { shift: alpha, rank: 100, landmarkOrder: 'gpu' as 'device' }))
      .rejects.toThrow('landmarkOrder must be one of "device", "host", got a string "gpu"');
    await expect(deviceLandmarkPreconditioner(K, { shift: alpha, rank: 100, whiteningFactor: 'cpu' as 'host' }))
      .rejects.toThrow('whiteningFactor must be one of "device", "host", got a string "cpu"');
  });

  it('the core factored on the device (double-float) applies the same P⁻¹ as the host\'s float64 factor', async () => {
    const build = (coreFactor: 'device' | 'host') => deviceLandmarkPreconditioner(K, { shift: alpha, rank: 150, jitter: 1e-8, coreFactor });
    const [D, H] = [await build('device'), await build('host')];
    try {
      expect(D.jitter).toBe(H.jitter);
      for (let seed = 50; seed < 53; seed++) {
        const r = vector(seed, n);
        const [zd, zh] = [await D.matvec(r), await H.matvec(r)];
        // the same B and BᵀB; the factors differ by double-float against float64 rounding of a core of condition ≈ 10⁶
        expect(relativeError(zd, zh)).toBeLessThan(1e-7);
      }
      // stiffen refactors each where it was factored
      await D.stiffen();
      expect(D.jitter).toBeCloseTo(H.jitter * STIFFEN_FACTOR, 15);
    } finally {
      await D.dispose();
      await H.dispose();
    }
    await expect(deviceLandmarkPreconditioner(K, { shift: alpha, rank: 100, coreFactor: 'gpu' as 'device' }))
      .rejects.toThrow('coreFactor must be one of "device", "host", got a string "gpu"');
  });

  it.each(['device', 'host'] as const)('a negative bottom of νI + E at ν = μ raises ν to the rounding floor, where the bottom is lifted and the jitter the least (core on the %s; the host\'s, factored at μ alongside the Lanczos, is refactored)', async (coreFactor) => {
    const stages: string[] = [];
    const P = await deviceLandmarkPreconditioner(K, { shift: 1e-8, rank: 150, coreFactor, onProgress: (p) => stages.push(p.stage) });
    try {
      const line = stages.find((t) => t.startsWith('bottom of νI + E measured on the device'))!;
      const [, bottom, nu, jitter] = /\(([^)]+)\): ν raised to (\S+) \(rounding floor\): jitter (\S+)/.exec(line)!;
      expect(Number(bottom)).toBeLessThan(0); // ν = 10⁻⁸ sits below the Gram's rounding here
      // printed to 3 digits
      expect(Math.abs(P.nu / Number(nu) - 1)).toBeLessThan(5e-3);
      expect(Math.abs(P.jitter / Number(jitter) - 1)).toBeLessThan(5e-3);
      // ν lifts the bottom with the jitter's margin (GRAM_FLOOR_SAFETY·(−λ_min E), λ_min E = bottom − μ), and the jitter
      // no longer shrinks P's low-rank term: ν ≥ DEVICE_MIN_SHIFT_PER_JITTER·j
      expect(P.nu).toBeGreaterThanOrEqual(GRAM_FLOOR_SAFETY * (1e-8 - Number(bottom)) * (1 - 5e-3));
      expect(P.nu).toBeGreaterThanOrEqual(DEVICE_MIN_SHIFT_PER_JITTER * P.jitter);
      expect(String(P)).toMatch(/ν=[\d.e-]+ \(raised from 1e-8: rounding floor\)/);
      // P⁻¹ is positive definite with it: rᵀP⁻¹r > 0 for random r
      for (let seed = 40; seed < 44; seed++) {
        const r = vector(seed, n);
        const z = await P.matvec(r);
        expect(r.reduce((acc, v, i) => acc + v * z[i]!, 0)).toBeGreaterThan(0);
      }
    } finally {
      await P.dispose();
    }
  });

  it('default m: the power of two nearest √(64n), at most 8192 and n − 1', () => {
    expect(defaultDeviceLandmarks(2 ** 20)).toBe(8192);
    expect(defaultDeviceLandmarks(2 ** 24)).toBe(8192);
    expect(defaultDeviceLandmarks(2 ** 18)).toBe(4096);
    expect(defaultDeviceLandmarks(2 ** 17)).toBe(4096); // √(2²³) = 2896: log₂ 11.5 rounds up
    expect(defaultDeviceLandmarks(10_000)).toBe(1024);
    expect(defaultDeviceLandmarks(20)).toBe(19);
  });

  it('rejects non-kernel operators and bad options, naming the value', async () => {
    await expect(deviceLandmarkPreconditioner(gaussianKernel(X, { sigma: 0.15, backend: 'cpu' }), { shift: 1e-3 }))
      .rejects.toThrow(/needs a KernelOperator on the GPU backend/);
    await expect(deviceLandmarkPreconditioner(K, { shift: 0 })).rejects.toThrow(/shift/);
    await expect(deviceLandmarkPreconditioner(K, { shift: 1e-3, rank: n })).rejects.toThrow(new RegExp(String(n)));
    await expect(deviceLandmarkPreconditioner(K, { shift: 1e-3, tau: -1 })).rejects.toThrow('tau must be a finite number ≥ 0, got number -1');
    await expect(deviceLandmarkPreconditioner(K, { shift: 1e-3, jitter: NaN })).rejects.toThrow('jitter must be a finite number ≥ 0, got number NaN');
    await expect(deviceLandmarkPreconditioner(K, { shift: 1e-3, whiteningJitter: 0 })).rejects.toThrow('whiteningJitter must be a finite number > 0 and < 1, got number 0');
    await expect(deviceLandmarkPreconditioner(K, { shift: 1e-3, whiteningJitter: NaN })).rejects.toThrow('got number NaN');
    await expect(deviceLandmarkPreconditioner(K, { shift: 1e-3, tau: '0.1' } as never)).rejects.toThrow('tau must be a finite number ≥ 0, got a string "0.1"');
    await expect(deviceLandmarkPreconditioner(K, { shift: 1e-3, maxRank: 100 } as never)).rejects.toThrow(
      "deviceLandmarkPreconditioner: unknown option 'maxRank' in options; known options: rank, shift, landmarks, seed, tau, jitter");
  });
});
