import { describe, expect, it } from 'vitest';
import { evaluateKernelDense } from '../../src/cpu/reduce.js';
import { collectVariables, evaluateDenseJs, Pm, Vi, Vj } from '../../src/formula/index.js';
import { seededPoints } from '../random-data.js';

const points = (n: number, d: number, seed: number) => seededPoints(seed, n, d, { lo: -1 });

describe("evaluateKernelDense ('dense' program: K written instead of reduced)", () => {
  // m values around the lane·unroll step (16 for float64, 32 for float32) and across a tile
  for (const [n, m] of [[5, 1], [7, 17], [33, 31], [40, 1100], [600, 300]] as const) {
    for (const dtype of ['float64', 'float32'] as const) {
      it(`${dtype} ${n}x${m} equals the JS twin entry by entry`, async () => {
        const f = Vi(points(n, 3, 1)).sub(Vj(points(m, 3, 2))).sqnorm2().div(Pm(0.7, 's')).neg().exp().mul(Vi(points(n, 1, 3)).add(2));
        const want = evaluateDenseJs(f.node);
        const got = await evaluateKernelDense(f.node, collectVariables(f.node), n, m, { dtype });
        expect(got.length).toBe(n * m);
        // float32: inputs rounded to 2^-24 move an exp argument of up to ~17 by ~1e-6 relative
        const tol = dtype === 'float64' ? 1e-14 : 2e-6;
        for (let k = 0; k < n * m; k++) expect(Math.abs(got[k]! - want[k]!)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(want[k]!)));
      });
    }
  }
});
