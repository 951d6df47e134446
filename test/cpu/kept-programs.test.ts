/**
 * The compiled programs kept in memory are bounded (least recently used dropped): every distinct formula — its
 * constants are in its text — compiled another module, and a loop over string formulas grew without bound. A dropped
 * program is compiled again when asked for, with the same products.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Vi, Vj } from '../../src/formula/builder.js';
import { kernelOperator } from '../../src/operators/kernels.js';
import { fixedPrograms, keptModuleCount, MAX_FORMULA_MODULES } from '../../src/cpu/programs.js';
import { gpuPipelineCount, MAX_PIPELINES, setPipelineLimit } from '../../src/gpu/reduce.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { hasGpu } from '../gpu/gpu-env.js';

afterAll(() => shutdownCpuPool());

const x = [[0.1, 0.2], [0.3, -0.5], [1, 0.25]];
const y = [[0.5, 0.5], [-0.2, 0.1]];
const formula = (c: number) => `exp(-${c} * sqnorm2(a - b))`;
/** Σ_j exp(−c|x_i − y_j|²)·1 in plain float64. */
const expected = (c: number) => x.map((xi) => y.reduce((s, yj) => s + Math.exp(-c * ((xi[0]! - yj[0]!) ** 2 + (xi[1]! - yj[1]!) ** 2)), 0));

async function product(c: number, backend: 'cpu' | 'gpu'): Promise<Float64Array> {
  return kernelOperator(formula(c), { a: Vi(x), b: Vj(y) }, { backend, denseCache: 'never', ...(backend === 'gpu' ? { dtype: 'float32' as const } : {}) }).matvec(new Float64Array(2).fill(1));
}

describe('programs kept in memory', () => {
  it(`CPU: at most ${MAX_FORMULA_MODULES} formula modules beside the fixed ones; a dropped one compiles again, right`, async () => {
    const count = MAX_FORMULA_MODULES + 40;
    for (let k = 1; k <= count; k++) {
      const got = await product(1 + k / 1000, 'cpu');
      if (k % 60 === 0) expected(1 + k / 1000).forEach((e, i) => expect(got[i]).toBeCloseTo(e, 13));
    }
    expect(keptModuleCount()).toBeLessThanOrEqual(MAX_FORMULA_MODULES + fixedPrograms().size);
    // the first formulas' modules were dropped: asked for again, compiled again, the same products
    const again = await product(1.001, 'cpu');
    expected(1.001).forEach((e, i) => expect(again[i]).toBeCloseTo(e, 13));
  }, 120_000);

  it.runIf(hasGpu)(`GPU: at most the bound's pipelines a device (${MAX_PIPELINES} by default; 6 here); a dropped one is made again, right`, async () => {
    const before = setPipelineLimit(6);
    try {
      for (let k = 1; k <= 12; k++) await product(1 + k / 1000, 'gpu');
      expect(gpuPipelineCount()).toBeLessThanOrEqual(6);
      const again = await product(1.001, 'gpu');
      expected(1.001).forEach((e, i) => expect(again[i]).toBeCloseTo(e, 5));
    } finally {
      setPipelineLimit(before);
    }
  }, 120_000);
});
