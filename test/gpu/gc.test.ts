/**
 * The Dawn pitfall (shared/device/README.md): if V8 collects the object `create()` returned while
 * a device from it lives, Dawn later locks a freed mutex and the process aborts at random. The
 * backend holds every `create()` result for the life of the process; here garbage collections are
 * forced between products (vitest runs with --expose-gc, see vitest.config.ts), including after a
 * second Dawn instance was created and all references to the first device were dropped.
 */
import { describe, expect, it } from 'vitest';
import { gaussianKernel } from '../../src/index.js';
import { forgetGpuForTesting } from '../../src/gpu/device.js';
import { relativeError } from '../conformance.js';
import { hasGpu } from './gpu-env.js';

const gc = (globalThis as { gc?: () => void }).gc;

/** The GPU backend's accuracy contract (float32 products, relative to float64). */
const TOL = 1e-5;

async function collect(): Promise<void> {
  for (let k = 0; k < 3; k++) {
    gc!();
    const junk = Array.from({ length: 2000 }, (_, i) => ({ i, a: new Float64Array(64) })); // churn the heap
    expect(junk.length).toBe(2000);
    await new Promise((r) => setTimeout(r, 10)); // let Dawn process events in between
  }
}

describe.runIf(hasGpu)('forced garbage collection mid-use', () => {
  it('runs with --expose-gc', () => {
    expect(typeof gc, 'vitest.config.ts must pass --expose-gc to the test workers').toBe('function');
  });

  it('products before and after gc() keep working, across a re-acquired device', async () => {
    const X = Array.from({ length: 400 }, (_, i) => [Math.sin(i), Math.cos(0.7 * i), (i % 11) / 11]);
    const b = Float64Array.from({ length: 400 }, (_, i) => Math.cos(i));
    const want = await gaussianKernel(X, { backend: 'cpu', sigma: 0.4 }).matvec(b);
    let K = gaussianKernel(X, { backend: 'gpu', sigma: 0.4 });
    expect(relativeError(await K.matvec(b), want)).toBeLessThan(TOL);
    await collect();
    expect(relativeError(await K.matvec(b), want)).toBeLessThan(TOL);
    for (let round = 0; round < 3; round++) {
      forgetGpuForTesting(); // the next product creates a new Dawn instance and device; the old ones become garbage
      K = gaussianKernel(X, { backend: 'gpu', sigma: 0.4 });
      expect(relativeError(await K.matvec(b), want)).toBeLessThan(TOL);
      await collect();
      const Y = await K.matmat(Array.from({ length: 400 }, (_, i) => [b[i]!, 2 * b[i]!]));
      expect(relativeError(Y.getColumn(1), want.map((v) => 2 * v))).toBeLessThan(TOL);
      await collect();
    }
  });
});
