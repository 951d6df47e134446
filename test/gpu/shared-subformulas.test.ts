/**
 * A formula that reuses a subformula 24 times over (2²⁴ paths, 26 nodes) on the GPU: the WGSL program is built from
 * the distinct nodes and its products are 2²⁴ times the Gaussian kernel's (float32 rounding). Before, the pipeline's
 * key was written along every path ("Invalid string length"). The CPU side: test/formula/shared-subformulas.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Vi, Vj, kernelOperator } from '../../src/index.js';
import { gpuProgramFor } from '../../src/gpu/reduce.js';
import { collectVariables } from '../../src/formula/analyze.js';
import { gpu, hasGpu } from './gpu-env.js';
import { seededPoints } from '../random-data.js';

describe.runIf(hasGpu)('GPU products of a formula sharing subformulas', () => {
  it('2^24 copies of the Gaussian added by doubling: one small program, products 2^24 times the Gaussian\'s', async () => {
    const pts = seededPoints(4, 300, 3);
    const gauss = Vi(pts).sub(Vj(pts)).sqnorm2().mul(-4).exp();
    let t = gauss;
    for (let k = 0; k < 24; k++) t = t.add(t);
    const v = Float64Array.from({ length: pts.length }, (_, k) => Math.cos(k));
    const K = kernelOperator(t, { backend: 'gpu', dtype: 'float32' });
    const G = kernelOperator(gauss, { backend: 'gpu', dtype: 'float32' });
    const [a, b] = [await K.matvec(v), await G.matvec(v)];
    let err = 0;
    let scale = 0;
    for (let k = 0; k < a.length; k++) {
      err = Math.max(err, Math.abs(a[k]! - b[k]! * 2 ** 24));
      scale = Math.max(scale, Math.abs(b[k]! * 2 ** 24));
    }
    expect(err / scale).toBeLessThan(1e-5);
    const program = (f: typeof t) => gpuProgramFor(f.node, collectVariables(f.node), 300, 300, 1, gpu!.limits);
    expect(program(t).key.length).toBeLessThan(program(gauss).key.length + 24 * 12); // linear in the distinct nodes
    expect(program(t).code.length).toBeLessThan(3 * program(gauss).code.length); // 24 additions, not 2^24 copies
    K.dispose();
    G.dispose();
  });
});
