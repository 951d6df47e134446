/**
 * Issue 16 items 11, 12 and 16 on the CPU (WASM SIMD): products over points of large dimension d (reductions
 * emitted as loops over the components instead of unrolled), a parameter vector of 10⁵ values (read from memory,
 * not held in locals), and rsqrt(0) = 0 as KeOps defines it. References are float64 plain-loop computations.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Pm, Vi, Vj, type Formula } from '../../src/formula/builder.js';
import { collectVariables, rowCounts } from '../../src/formula/analyze.js';
import type { Node } from '../../src/formula/ast.js';
import { reduceKernel, reductionProgram } from '../../src/cpu/reduce.js';
import { WASM_UNROLL_MAX_DIM } from '../../src/cpu/wasm-emit.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { keopsRsqrt, largeCase, worstError } from '../large-dimension-cases.js';
import { seededPoints } from '../random-data.js';

afterAll(async () => {
  await shutdownCpuPool();
});

const TOL = { float64: 1e-13, float32: 2e-6 } as const;

async function product(node: Node, cols: Float64Array[], dtype: 'float64' | 'float32', symmetric = false): Promise<Float64Array[]> {
  const { n, m } = rowCounts(node);
  return reduceKernel(node, collectVariables(node), n, m, cols, { dtype, parallel: false, symmetric });
}

describe('large dimension d: loops over the components', () => {
  for (const d of [1024, 4096]) {
    for (const dtype of ['float64', 'float32'] as const) {
      it(`d = ${d} ${dtype}: the product against a float64 reference`, async () => {
        const c = largeCase(d, 9, 13);
        const [got] = await product(c.formula.node, [c.b], dtype);
        expect(worstError(got!, c)).toBeLessThan(TOL[dtype]);
      });
    }
  }

  it('d = 4,096, symmetric products (each pair once, mirrored) against the reference', async () => {
    const b = largeCase(16, 1, 11, 7).b;
    const x = Vi(seededPoints(7, 11, 4096, { float32: true }));
    const f = x.sub(Vj(seededPoints(7, 11, 4096, { float32: true }))).sqnorm2().mul(-1 / 4096).exp();
    const [sym] = await product(f.node, [b], 'float64', true);
    const [full] = await product(f.node, [b], 'float64', false);
    for (let i = 0; i < 11; i++) expect(Math.abs(sym![i]! - full![i]!)).toBeLessThan(1e-13 * 11);
    expect(x.dim).toBe(4096);
  });

  it('d = 10⁴ works on both dtypes', async () => {
    const c = largeCase(10_000, 3, 5, 3);
    for (const dtype of ['float64', 'float32'] as const) {
      const [got] = await product(c.formula.node, [c.b], dtype);
      expect(worstError(got!, c)).toBeLessThan(TOL[dtype]);
    }
  });

  it('a parameter vector of 10⁵ values is read from memory (no local per component)', async () => {
    const d = 100_000;
    const w = Array.from({ length: d }, (_, k) => Math.fround(1 + (k % 7) / 8));
    const xs = [Array.from({ length: d }, (_, k) => Math.fround(((k * 37) % 101) / 101))];
    const ys = [Array.from({ length: d }, (_, k) => Math.fround(((k * 53) % 97) / 97)), new Array<number>(d).fill(0)];
    const f = Vi(xs).sub(Vj(ys)).mul(Pm(w)).sqnorm2();
    const [e0, e1] = [Float64Array.from([1, 0]), Float64Array.from([0, 1])];
    const got = await product(f.node, [e0, e1], 'float64');
    for (let j = 0; j < 2; j++) {
      let want = 0;
      for (let k = 0; k < d; k++) want += ((xs[0]![k]! - ys[j]![k]!) * w[k]!) ** 2;
      expect(Math.abs(got[j]![0]! - want) / want).toBeLessThan(1e-13);
    }
  });
});

describe('moderate dimension: loops from d = WASM_UNROLL_MAX_DIM + 1 on', () => {
  // The unrolled form was up to 3x slower from d = 5 (wasm-emit.ts); the loop must give what the unrolled form gave:
  // every reduction kind (sum, sqnorm2, norm2 with its rescaling guard, dot) at the dimensions either side of the switch
  for (const d of [WASM_UNROLL_MAX_DIM, WASM_UNROLL_MAX_DIM + 1, 17, 32]) {
    it(`d = ${d}: sum, sqnorm2, norm2 and dot against plain float64 loops; loops exactly above the switch`, async () => {
      const n = 7;
      const m = 21; // one full lane group of 16 and a masked one
      const xs = seededPoints(3, n, d);
      const b = Float64Array.from({ length: m }, (_, j) => 1 + (j % 5) / 7);
      // one point far out, whose squares overflow the dtype: norm2's rescaling path
      for (const [dtype, big, tol] of [['float64', 1e200, 1e-13], ['float32', 1e30, 2e-6]] as const) {
        const ys = seededPoints(4, m, d).map((row, j) => (j === 5 ? row.map((v) => v * big) : row));
        const x = Vi(xs);
        const y = Vj(ys);
        const f = x.sub(y).norm2().mul(1 / big).add(x.sub(y).sqnorm2().mul(-0.5).exp()).add(x.mul(y).sum().mul(0.25 / big)).add(x.dot(y).mul(0.5 / big));
        const program = reductionProgram(f.node, collectVariables(f.node), dtype, 1);
        expect(/\(loop \$k\d/.test(program.wat)).toBe(d > WASM_UNROLL_MAX_DIM);
        const [got] = await product(f.node, [b], dtype);
        for (let i = 0; i < n; i++) {
          let want = 0;
          let scale = 0;
          for (let j = 0; j < m; j++) {
            let r2 = 0;
            let most = 0;
            let dot = 0;
            for (let k = 0; k < d; k++) {
              const u = xs[i]![k]!;
              const v = ys[j]![k]!;
              r2 += (u - v) * (u - v);
              most = Math.max(most, Math.abs(u - v));
              dot += u * v;
            }
            let s = 0;
            for (let k = 0; k < d; k++) s += ((xs[i]![k]! - ys[j]![k]!) / most) ** 2;
            const K = (most * Math.sqrt(s)) / big + Math.exp(-0.5 * r2) + (0.75 * dot) / big;
            want += K * b[j]!;
            scale += Math.abs(K * b[j]!);
          }
          expect(Math.abs(got![i]! - want)).toBeLessThan(tol * scale);
        }
      }
    });
  }
});

describe('rsqrt(0) = 0 as KeOps defines it', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    it(`${dtype}: the Coulomb kernel rsqrt(|x − y|²) drops the self-interaction; other values as 1/√v`, async () => {
      const pts = [[0, 0], [1, 0], [0, 2], [3, 4]];
      const f = Vi(pts).sub(Vj(pts)).sqnorm2().rsqrt();
      const cols = pts.map((_, j) => Float64Array.from(pts, (__, l) => (l === j ? 1 : 0)));
      const got = await product(f.node, cols, dtype);
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 4; j++) {
          const r2 = (pts[i]![0]! - pts[j]![0]!) ** 2 + (pts[i]![1]! - pts[j]![1]!) ** 2;
          expect(got[j]![i]).toBeCloseTo(keopsRsqrt(r2), dtype === 'float64' ? 14 : 6);
        }
      }
    });
  }

  it('rsqrt of −0, +∞ and a negative value: 0, 0 and NaN (float64)', async () => {
    // one entry per product (a NaN entry times a zero weight would spoil the others)
    const entry = async (f: Formula) => (await product(f.node, [Float64Array.from([1])], 'float64'))[0]![0];
    expect(await entry(Vi([[1]]).mul(Vj([[-0]])).rsqrt())).toBe(0);
    expect(await entry(Vi([[1]]).mul(Vj([[0]]).inv()).rsqrt())).toBe(0); // 1/0 = +∞
    expect(await entry(Vi([[1]]).mul(Vj([[-4]])).rsqrt())).toBeNaN();
  });
});
