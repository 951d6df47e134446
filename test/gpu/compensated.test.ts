/**
 * Double-float (compensated) GPU products: the float32 entries' matrix K̃ applied in ≈ float64.
 * Checked by what distinguishes them from plain float32 products — linearity to ≈ 1e-12 (a fixed
 * matrix, whatever the vector), agreement with a float64 product of the same points up to the
 * entries' own rounding, the split and column-block paths, and a CG solve below the float32 floor.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cg, gaussianKernel, type LinearOperator } from '../../src/index.js';
import { registerKrylovModule } from '../../src/operators/krylov-bridge.js';
import { REFINEMENT_MAX_FLOOR } from '../../src/operators/kernel-operator.js';
import type { SolveResult } from '../../src/preconditioners/solve.js';
import { fusedMultiplyAdd, gpuReduceKernel, lightGuardsHold, pipelineFor } from '../../src/gpu/reduce.js';
import { acquireGpu } from '../../src/gpu/device.js';
import { emitKernelProgram } from '../../src/gpu/wgsl-emit.js';
import { collectVariables } from '../../src/formula/index.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { checkOperatorAgainstDense, relativeError } from '../conformance.js';
import { seededPoints, seededVector } from '../random-data.js';
import { hasGpu } from './gpu-env.js';

afterAll(async () => {
  await shutdownCpuPool();
});
afterEach(() => registerKrylovModule(undefined));

describe.runIf(hasGpu)('compensated (double-float) GPU products', () => {
  const n = 700;
  const X = seededPoints(70, n, 3, { float32: true });
  const K64 = gaussianKernel(X, { sigma: 0.2, backend: 'cpu', dtype: 'float64', denseCache: 'never' });
  const node = K64.formula.node;
  const slots = collectVariables(node);
  // an oscillating vector of large entries: the case where float32 sums lose the most (|K||x| ≫ |Kx|)
  const x1 = Float64Array.from(seededVector(71, n), (v, i) => 1e3 * v * (i % 2 ? 1 : -1));
  const x2 = seededVector(72, n);
  const sum = x1.map((v, i) => v + x2[i]!);

  it('fusedMultiplyAdd measures the device; the fma form of the product compiles', async () => {
    const ctx = await acquireGpu();
    const fused = await fusedMultiplyAdd(ctx);
    expect(typeof fused).toBe('boolean');
    expect(await fusedMultiplyAdd(ctx)).toBe(fused); // measured once per device
    // the fma form is what a fused device runs; here it must at least compile (llvmpipe measures unfused)
    const program = emitKernelProgram(node, slots, { workgroupSize: 64, rowsPerThread: 1, tile: 64, width: 1, kahan: true, compensated: true, fusedTwoProduct: true }, ctx.limits);
    expect(program.code).toMatch(/fma\(kk, /);
    expect(program.key).toMatch(/fma/);
    await pipelineFor(ctx, program);
  });

  it('long sums stay linear: one split over 16,384 terms per thread (accumulators renormalised every 16 terms)', async () => {
    // without the renormalisation the low accumulator's own rounding grew as u²·T: 9.6e-14 of Σ|K||x| here
    // (measured on llvmpipe), against 5.0e-15 with it
    const N = 16384;
    const Y = seededPoints(75, N, 3, { float32: true });
    const big = gaussianKernel(Y, { sigma: 0.1, backend: 'cpu', dtype: 'float64', denseCache: 'never' }).formula.node;
    const u = Float64Array.from(seededVector(76, N), (v) => 1e3 * v);
    const v = Float64Array.from(seededVector(77, N), (w) => 1e3 * w);
    const uv = u.map((a, i) => a + v[i]!);
    const abs = u.map((a, i) => Math.abs(a) + Math.abs(v[i]!));
    const [yu, yv, yuv, scale] = await gpuReduceKernel(big, collectVariables(big), N, N, [u, v, uv, abs], { splits: 1, compensated: true });
    let e = 0;
    let a = 0;
    for (let i = 0; i < N; i++) {
      e += (yuv![i]! - yu![i]! - yv![i]!) ** 2;
      a += scale![i]! ** 2;
    }
    expect(Math.sqrt(e / a)).toBeLessThan(2e-14);
  });

  for (const shape of [
    { label: 'direct, one split', options: { splits: 1 } },
    { label: 'split j range (pair split sums)', options: { splits: 4 } },
    { label: 'column blocks (pairs added across blocks)', options: { splits: 2, maxBindingBytes: 4096 } },
  ]) {
    it(`is linear to ~1e-12 and matches float64 up to the entries' rounding: ${shape.label}`, async () => {
      const o = { ...shape.options, compensated: true };
      const [y1, y2, ys] = await gpuReduceKernel(node, slots, n, n, [x1, x2, sum], o);
      // plain float32 products for contrast
      const [p1, p2, ps] = await gpuReduceKernel(node, slots, n, n, [x1, x2, sum], { ...shape.options, expandedGaussian: false });
      const lin = (a: Float64Array, b: Float64Array, c: Float64Array) => relativeError(c, a.map((v, i) => v + b[i]!));
      const compensatedLinearity = lin(y1!, y2!, ys!);
      const plainLinearity = lin(p1!, p2!, ps!);
      expect(compensatedLinearity).toBeLessThan(1e-11);
      expect(plainLinearity).toBeGreaterThan(100 * compensatedLinearity); // what the compensation buys
      // against the float64 product: only the float32 entries' rounding is left (≈ 1e-7 of Σ|K_ij x_j|)
      const ref = await K64.matvec(x1);
      expect(relativeError(y1!, ref)).toBeLessThan(relativeError(p1!, ref) * 2 + 1e-6);
    });
  }

  it('runs the direct form even where the expanded Gaussian would run (its row factor rounds each result once more)', async () => {
    const [a, b, c] = await gpuReduceKernel(node, slots, n, n, [x1, x2, sum], { compensated: true, expandedGaussian: true });
    expect(relativeError(c!, a!.map((v, i) => v + b![i]!))).toBeLessThan(1e-11);
  });

  it('a GPU operator with compensated products passes the conformance suite (matvec, rmatvec, matmat, algebra)', async () => {
    const Z = seededPoints(75, 90, 3, { float32: true });
    const Kc = gaussianKernel(Z, { sigma: 0.3, backend: 'gpu', gpu: { compensated: true } });
    // the float32 entries' rounding is all that separates it from the float64 matrix
    await checkOperatorAgainstDense(Kc, await gaussianKernel(Z, { sigma: 0.3, backend: 'cpu' }).toDense(), { tol: 1e-6 });
  });

  it('rejects a pass of several columns', async () => {
    await expect(gpuReduceKernel(node, slots, n, n, [x1, x2], { compensated: true, columnsPerPass: 4 })).rejects.toThrow(/columnsPerPass must be 1, got 4/);
    await expect(gpuReduceKernel(node, slots, n, n, [x1], { compensated: 'yes' as never })).rejects.toThrow(/gpu.compensated must be true or false/);
  });

  it('CG on a GPU operator with compensated products converges below the float32 floor', async () => {
    // α small against λ_max: the floor ε₃₂·λ_max/α of plain float32 products is ≈ 1e-4 here
    const m = 1500;
    const Y = seededPoints(73, m, 3, { float32: true });
    const b = seededVector(74, m);
    const alpha = 1e-3;
    const Kc = gaussianKernel(Y, { sigma: 0.1, backend: 'gpu', gpu: { compensated: true } });
    const K64c = gaussianKernel(Y, { sigma: 0.1, backend: 'cpu', dtype: 'float64' });
    const res = await cg(Kc.shift(alpha), b, { rtol: 1e-8, maxiter: 3000 });
    expect(res.info).toBe(0);
    // the residual against the operator itself (float32 entries, compensated products)
    const own = relativeError(await Kc.shift(alpha).matvec(res.x), b);
    expect(own).toBeLessThan(2e-8);
    // and against float64 K: the entries' rounding bounds it, far below what plain float32 CG stalls at
    const plain = await cg(gaussianKernel(Y, { sigma: 0.1, backend: 'gpu' }).shift(alpha), b, { rtol: 1e-8, maxiter: 3000 });
    const exactC = relativeError(await K64c.shift(alpha).matvec(res.x), b);
    const exactP = relativeError(await K64c.shift(alpha).matvec(plain.x), b);
    expect(exactC).toBeLessThan(exactP);
  });

  it('K.solve with a compensated twin refines: inner PCG on float32 products, true residuals by the twin', async () => {
    const m = 1500;
    const Y = seededPoints(73, m, 3, { float32: true });
    const b = seededVector(74, m);
    const K = gaussianKernel(Y, { sigma: 0.1, backend: 'gpu' });
    const twin = gaussianKernel(Y, { sigma: 0.1, backend: 'gpu', gpu: { compensated: true } }).shift(1e-3);
    const exact = gaussianKernel(Y, { sigma: 0.1, backend: 'cpu', dtype: 'float64', denseCache: 'never' }).shift(1e-3);
    type Outer = { outer: number; residualNorm: number; contraction: number };
    const outer: Outer[] = [];
    // rtol 1e-8 is far under the float32 entries' floor ε₃₂·λ̂/α ≈ 1e-3: refinedCg meets it on the twin's products (the
    // float32 entries), then x is refined on the exact entries' residual by the same route (float32-refinement.test.ts;
    // before, info > 0 and x short against them), its steps numbered on
    const refined = (await K.solve(b, 1e-3, { rtol: 1e-8, preconditioner: 'none', maxiter: 5000, returnInfo: true, onOuter: (p: Outer) => outer.push(p) })) as SolveResult<Float64Array> & { outerIterations: number };
    expect(refined.info).toBe(0);
    const steps = refined.float32Entries!.refinementSteps!;
    expect(steps).toBeGreaterThan(0);
    const x = refined.x;
    expect(outer.map((o) => o.outer)).toEqual(Array.from({ length: refined.outerIterations + steps }, (_, k) => k + 1));
    const twinSteps = outer.slice(0, refined.outerIterations);
    expect(twinSteps.length).toBeGreaterThan(1);
    for (const o of twinSteps.slice(0, -1)) expect(o.contraction).toBeLessThan(0.1); // η = 0.05 where float32 products allow
    expect(outer.slice(refined.outerIterations).map((o) => o.residualNorm)).toEqual(refined.float32Entries!.exactResidualHistory!.slice(1).map((h) => h[0]));
    expect(relativeError(await exact.matvec(x), b)).toBeLessThanOrEqual(1e-8);
    // the twin's products apply the float32 entries: x differs from their solution by their rounding
    expect(relativeError(await twin.matvec(x), b)).toBeLessThan(1e-3);
    // CG on the twin throughout (refine: false), then the same refinement on the exact entries: as accurate
    const plainSteps: number[] = [];
    const plainResult = (await K.solve(b, 1e-3, { rtol: 1e-8, preconditioner: 'none', maxiter: 5000, refine: false, returnInfo: true, onOuter: (p: Outer) => plainSteps.push(p.outer) })) as SolveResult<Float64Array>;
    expect(plainResult.plan.method).toBe('cg');
    expect(plainSteps).toEqual(Array.from({ length: plainResult.float32Entries!.refinementSteps! }, (_, k) => k + 1));
    const plain = plainResult.x;
    expect(relativeError(await exact.matvec(plain), b)).toBeLessThanOrEqual(1e-8);
    expect(relativeError(x, plain)).toBeLessThan(1e-5);
    // where the float32 floor ε₃₂·λ̂/α passes REFINEMENT_MAX_FLOOR, float32 PCG could not reach η: CG on the twin
    const ones = await K.matvec(new Float64Array(m).fill(1));
    const lambda = Math.hypot(...ones) / Math.sqrt(m);
    expect(2 ** -24 * lambda / 1e-3).toBeLessThan(REFINEMENT_MAX_FLOOR);
    expect(2 ** -24 * lambda / 1e-5).toBeGreaterThan(REFINEMENT_MAX_FLOOR);
    await K.solve(b, 1e-5, { rtol: 1e-8, preconditioner: 'none', maxiter: 3, returnInfo: true, onOuter: () => { throw new Error('refined past the floor rule'); } });
  });

  it('K.solve switches a GPU operator to compensated products where the float32 floor ε₃₂·λ̂/α is above rtol/10', async () => {
    const m = 800;
    const Y = seededPoints(76, m, 3, { float32: true });
    const b = seededVector(77, m);
    const seen: string[] = [];
    registerKrylovModule({
      eigsh: () => { throw new Error('not used'); },
      cg: async (A: LinearOperator, rhs: unknown, o: unknown) => { seen.push(String(A)); return cg(A, rhs as Float64Array, o as never) as never; },
    });
    const K = gaussianKernel(Y, { sigma: 0.1, backend: 'gpu' });
    const ones = await K.matvec(new Float64Array(m).fill(1));
    const lambda = Math.hypot(...ones) / Math.sqrt(m);
    // α = 1e-3 at rtol 1e-8: floor ≈ 6e-8·λ̂/α far above rtol → compensated; α = 10 at rtol 1e-3: float32
    expect(2 ** -24 * lambda / 1e-3).toBeGreaterThan(1e-9);
    expect(2 ** -24 * lambda / 10).toBeLessThan(1e-4);
    // the floor is above rtol: x is refined on the exact entries' residual, its corrections on the same products
    // (float32-refinement.test.ts); each CG ran on the compensated twin
    const r = (await K.solve(b, 1e-3, { rtol: 1e-8, preconditioner: 'none', maxiter: 3000, returnInfo: true })) as SolveResult<Float64Array>;
    expect(r.info).toBe(0);
    expect(seen.length).toBe(1 + r.float32Entries!.refinementSteps!);
    for (const op of seen) expect(op).toMatch(/compensated products/);
    const exactResidual = relativeError(await gaussianKernel(Y, { sigma: 0.1, backend: 'cpu', dtype: 'float64', denseCache: 'never' }).shift(1e-3).matvec(r.x), b);
    expect(exactResidual).toBeLessThanOrEqual(1e-8);
    const before = seen.length;
    await K.solve(b, 10, { rtol: 1e-3, preconditioner: 'none' });
    expect(seen.slice(before)).toEqual([expect.not.stringMatching(/compensated/)]);
    // an explicit choice is kept
    const plain = gaussianKernel(Y, { sigma: 0.1, backend: 'gpu', gpu: { compensated: false } });
    await plain.solve(b, 1e-3, { rtol: 1e-3, preconditioner: 'none', maxiter: 50 }).catch(() => undefined);
    expect(seen[before + 1]).not.toMatch(/compensated/);
  });
});

describe.runIf(hasGpu)('light guards (half the opq of a compensated term)', () => {
  it('guard only p, s and bb per term; used only where the device fuses fma and the probe finds identical sums', async () => {
    const K = gaussianKernel([[0, 0, 0], [1, 1, 1]], { sigma: 0.3, backend: 'cpu' });
    const node = K.formula.node;
    const slots = collectVariables(node);
    const shape = { workgroupSize: 64, rowsPerThread: 1, tile: 64, width: 1 as const, kahan: true, compensated: true, fusedTwoProduct: true };
    const term = (code: string) => /\{ let kk = [^}]*\}/.exec(code)![0];
    const full = term(emitKernelProgram(node, slots, shape, { maxComputeWorkgroupStorageSize: 16384 }).code);
    const light = term(emitKernelProgram(node, slots, { ...shape, lightGuards: true }, { maxComputeWorkgroupStorageSize: 16384 }).code);
    expect(full.match(/opq\(/g)!.length).toBe(6);
    expect(light.match(/opq\(/g)!.length).toBe(3);
    for (const guarded of ['opq(kk * ', 'let s = opq(', 'let bb = opq(']) expect(light).toContain(guarded);
    const ctx = await acquireGpu();
    const holds = await lightGuardsHold(ctx);
    if (!(await fusedMultiplyAdd(ctx))) expect(holds).toBe(false); // Dekker's products keep every guard
    expect(await lightGuardsHold(ctx)).toBe(holds); // measured once
  });
});
