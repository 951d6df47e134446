/**
 * Issue 16 items 11, 12 and 16 on the GPU (WGSL, the software adapter in CI): products over points of large
 * dimension d (pair reductions in KeOps' chunked mode, within llvmpipe's loop budget), a parameter vector longer
 * than the uniform binding allows, and rsqrt(0) = 0 as KeOps defines it. References are float64 plain-loop
 * computations. Kept small: every distinct dimension is a program of its own to compile on the software adapter.
 */
import { describe, expect, it } from 'vitest';
import { Pm, Vi, Vj } from '../../src/formula/builder.js';
import { collectVariables, rowCounts } from '../../src/formula/analyze.js';
import type { Node } from '../../src/formula/ast.js';
import { describeGpuPlan, gpuReduceKernel, type GpuKernelOptions } from '../../src/gpu/reduce.js';
import { shapeKey, type KernelShape } from '../../src/gpu/wgsl-emit.js';
import { hasGpu } from './gpu-env.js';
import { keopsRsqrt, largeCase, worstError } from '../large-dimension-cases.js';
import { seededPoints, seededVector } from '../random-data.js';

const TOL = 5e-6; // float32 sums over d terms, relative to Σ_j |K_ij b_j|

async function product(node: Node, cols: Float64Array[], options: GpuKernelOptions = {}): Promise<Float64Array[]> {
  const { n, m } = rowCounts(node);
  return gpuReduceKernel(node, collectVariables(node), n, m, cols, options);
}

describe.runIf(hasGpu)('GPU: large dimension d', () => {
  it('d = 1,024 against a float64 reference; the same program with more pairs than one split may loop over', async () => {
    const c = largeCase(1024, 9, 13);
    const [got] = await product(c.formula.node, [c.b]);
    expect(worstError(got!, c)).toBeLessThan(TOL);
    // 2,100 points × 128 chunks of 8 components: past llvmpipe's 65,535 loop iterations per invocation, so the
    // plan splits the j range (the same shape as above: one compilation)
    const s = largeCase(1024, 2, 2100, 5);
    const plan = await describeGpuPlan(s.formula.node, collectVariables(s.formula.node), 2, 2100, 1);
    expect(plan.splits).toBeGreaterThan(1);
    const [split] = await product(s.formula.node, [s.b]);
    expect(worstError(split!, s)).toBeLessThan(TOL);
  });

  // small tiles below: the software adapter compiles a chunked program's private partial arrays in time that
  // grows with the tile (d = 1,024: ≈ 0.8 s at 16 points, 1–4 s at the default 64)
  it('d = 4,096 against a float64 reference', async () => {
    const c = largeCase(4096, 9, 13);
    const [got] = await product(c.formula.node, [c.b], { tile: 16 });
    expect(worstError(got!, c)).toBeLessThan(TOL);
  });

  it('d = 10⁴ works', async () => {
    const c = largeCase(10_000, 3, 5, 3);
    const [got] = await product(c.formula.node, [c.b], { tile: 16 });
    expect(worstError(got!, c)).toBeLessThan(TOL);
  });

  it('chunk tails, two dimensions, j-only factors, a parameter vector and a pair scalar inside a reduction', async () => {
    // d = 45: five chunks of 8 and a tail of 5; d = 33: a tail of 1. The second term's sum holds a pair scalar
    // (x·y), so it loops per pair while the x·y inside it is chunked.
    const [n, m, d, e] = [5, 7, 45, 33];
    const [xs, ys] = [seededPoints(11, n, d, { lo: -1, float32: true }), seededPoints(12, m, d, { lo: -1, float32: true })];
    const [zs, us] = [seededPoints(13, n, e, { lo: -1, float32: true }), seededPoints(14, m, e, { lo: -1, float32: true })];
    const w = Array.from({ length: d }, (_, k) => Math.fround(0.5 + (k % 5) / 8));
    const [x, y, z, u] = [Vi(xs), Vj(ys), Vi(zs), Vj(us)];
    const f = x.sub(y.mul(y.sqnorm2().mul(0.01).add(1))).mul(Pm(w)).sqnorm2().mul(-1 / d).exp()
      .add(z.sub(u).mul(z.dot(u).mul(0.1)).sum().mul(0.01));
    const K = (i: number, j: number) => {
      const cy = 1 + 0.01 * ys[j]!.reduce((s, v) => s + v * v, 0);
      let r2 = 0;
      for (let k = 0; k < d; k++) r2 += ((xs[i]![k]! - ys[j]![k]! * cy) * w[k]!) ** 2;
      const dot = zs[i]!.reduce((s, v, k) => s + v * us[j]![k]!, 0);
      const sum = zs[i]!.reduce((s, v, k) => s + (v - us[j]![k]!) * dot * 0.1, 0);
      return Math.exp(-r2 / d) + 0.01 * sum;
    };
    const cols = [0, 1, 2].map((s) => seededVector(20 + s, m));
    const got = await product(f.node, cols, { tile: 8 });
    cols.forEach((b, c) => {
      for (let i = 0; i < n; i++) {
        let want = 0;
        let scale = 0;
        for (let j = 0; j < m; j++) { want += K(i, j) * b[j]!; scale += Math.abs(K(i, j) * b[j]!); }
        expect(Math.abs(got[c]![i]! - want) / scale, `column ${c}, row ${i}`).toBeLessThan(2e-5);
      }
    });
  });

  it('a parameter vector of 10⁵ values (beyond the 64 KiB uniform binding) is read from a storage buffer', async () => {
    const d = 100_000;
    const w = Array.from({ length: d }, (_, k) => Math.fround(1 + (k % 7) / 8));
    const xs = [Array.from({ length: d }, (_, k) => Math.fround(((k * 37) % 101) / 101))];
    const ys = [0, 1].map((s) => Array.from({ length: d }, (_, k) => Math.fround(((k * (53 + s)) % 103) / 103)));
    const f = Vi(xs).sub(Vj(ys)).mul(Pm(w)).sqnorm2();
    const plan = await describeGpuPlan(f.node, collectVariables(f.node), 1, 2, 2);
    expect(plan.shape.paramsInStorage).toBe(true);
    const got = await product(f.node, [Float64Array.from([1, 0]), Float64Array.from([0, 1])]);
    for (let j = 0; j < 2; j++) {
      let want = 0;
      for (let k = 0; k < d; k++) want += ((xs[0]![k]! - ys[j]![k]!) * w[k]!) ** 2;
      expect(Math.abs(got[j]![0]! - want) / want).toBeLessThan(1e-5);
    }
  });
});

describe('GPU program keys cover every shape field', () => {
  it('changing any one field of a kernel shape changes its key', () => {
    const base: Required<KernelShape> = {
      workgroupSize: 64, rowsPerThread: 4, tile: 64, width: 1, kahan: true, compensated: false, fusedTwoProduct: false,
      lightGuards: false, dimensionChunk: 0, paramsInStorage: false, norm2InRange: false,
    };
    const other: Required<KernelShape> = {
      workgroupSize: 128, rowsPerThread: 2, tile: 32, width: 4, kahan: false, compensated: true, fusedTwoProduct: true,
      lightGuards: true, dimensionChunk: 8, paramsInStorage: true, norm2InRange: true,
    };
    const keys = new Set([shapeKey(base)]);
    for (const field of Object.keys(base) as (keyof KernelShape)[]) keys.add(shapeKey({ ...base, [field]: other[field] }));
    expect(keys.size).toBe(Object.keys(base).length + 1);
  });
});

describe.runIf(hasGpu)('GPU: rsqrt(0) = 0 as KeOps defines it', () => {
  it('the Coulomb kernel rsqrt(|x − y|²) drops the self-interaction; other values as 1/√v', async () => {
    const pts = [[0, 0], [1, 0], [0, 2], [3, 4]];
    const f = Vi(pts).sub(Vj(pts)).sqnorm2().rsqrt();
    const cols = pts.map((_, j) => Float64Array.from(pts, (__, l) => (l === j ? 1 : 0)));
    const got = await product(f.node, cols);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        const r2 = (pts[i]![0]! - pts[j]![0]!) ** 2 + (pts[i]![1]! - pts[j]![1]!) ** 2;
        expect(got[j]![i]).toBeCloseTo(keopsRsqrt(r2), 6);
      }
    }
  });
});
