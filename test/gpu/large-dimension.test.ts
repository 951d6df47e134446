/**
 * Issue 16 items 11 and 16 on the GPU (WGSL, the software adapter in CI): products over points of large
 * dimension d (reductions emitted as loops over the components, within llvmpipe's loop budget), and
 * rsqrt(0) = 0 as KeOps defines it. References are float64 plain-loop computations.
 */
import { describe, expect, it } from 'vitest';
import { Vi, Vj } from '../../src/formula/builder.js';
import { collectVariables, rowCounts } from '../../src/formula/analyze.js';
import type { Node } from '../../src/formula/ast.js';
import { gpuReduceKernel } from '../../src/gpu/reduce.js';
import { hasGpu } from './gpu-env.js';
import { keopsRsqrt, largeCase, worstError } from '../large-dimension-cases.js';

const TOL = 5e-6; // float32 sums over d terms, relative to Σ_j |K_ij b_j|

async function product(node: Node, cols: Float64Array[]): Promise<Float64Array[]> {
  const { n, m } = rowCounts(node);
  return gpuReduceKernel(node, collectVariables(node), n, m, cols, {});
}

describe.runIf(hasGpu)('GPU: large dimension d', () => {
  for (const d of [1024, 4096]) {
    it(`d = ${d}: the product against a float64 reference`, async () => {
      const c = largeCase(d, 9, 13);
      const [got] = await product(c.formula.node, [c.b]);
      expect(worstError(got!, c)).toBeLessThan(TOL);
    });
  }

  it('d = 10⁴ works', async () => {
    const c = largeCase(10_000, 3, 5, 3);
    const [got] = await product(c.formula.node, [c.b]);
    expect(worstError(got!, c)).toBeLessThan(TOL);
  });

  it('d = 1,024 with more pairs per invocation than llvmpipe allows loop iterations in one split', async () => {
    // 300 columns × (1,024/32 + 1) iterations > 65,535 on the software adapter: the plan must split the j range
    const c = largeCase(1024, 2, 2100, 5);
    const [got] = await product(c.formula.node, [c.b]);
    expect(worstError(got!, c)).toBeLessThan(TOL);
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
