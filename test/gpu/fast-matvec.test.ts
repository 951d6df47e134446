/**
 * The one-column fast path of GPU products (`tryGpuMatvec`): after the first product has built the plan, K.matvec
 * converts x straight into the upload array. Checked against the float64 dense K (independent closed form), and
 * against the general path on the inputs the fast path must hand over: non-finite, huge, tiny and zero vectors,
 * Float32Array input, number[] input, products in flight at once, and x mutated right after the call.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { gaussianKernel } from '../../src/index.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { seededPoints, seededVector } from '../random-data.js';
import { hasGpu } from './gpu-env.js';

afterAll(async () => {
  await shutdownCpuPool();
});

const n = 300;
const sigma = 0.3;
const x = seededPoints(11, n, 3, { float32: true });

/** y = K v in float64 from the closed form exp(−|x_i − x_j|²/(2σ²)). */
function denseProduct(v: ArrayLike<number>): Float64Array {
  const rows = x;
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) {
      const d2 = rows[i]!.reduce((a, u, k) => a + (u - rows[j]![k]!) ** 2, 0);
      s += Math.exp(-d2 / (2 * sigma ** 2)) * v[j]!;
    }
    y[i] = s;
  }
  return y;
}

const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0;
  let w = 0;
  for (let i = 0; i < b.length; i++) { d += (a[i]! - b[i]!) ** 2; w += b[i]! ** 2; }
  return Math.sqrt(d / w);
};

describe.runIf(hasGpu)('GPU one-column products after the first (fast path)', () => {
  const K = gaussianKernel(x, { sigma, backend: 'gpu' });
  const v = seededVector(12, n);
  const want = denseProduct(v);

  it('repeated products match the float64 dense product, for Float64Array, Float32Array and number[] input', async () => {
    await K.matvec(v); // builds the plan: later products may take the fast path
    for (const input of [v, Float32Array.from(v), Array.from(v)]) {
      const y = await K.matvec(input);
      const ref = input instanceof Float32Array ? denseProduct(input) : want;
      expect(relErr(y, ref)).toBeLessThan(1e-5);
    }
  });

  it('non-finite entries are refused with the general message (the fast path hands them over)', async () => {
    await K.matvec(v);
    const bad = Float64Array.from(v);
    bad[7] = NaN;
    await expect(K.matvec(bad)).rejects.toThrow(/matvec: entry 7 of the vector is NaN/);
    bad[7] = Infinity;
    await expect(K.matvec(bad)).rejects.toThrow(/matvec: entry 7 of the vector is Infinity/);
  });

  it('huge, tiny and zero vectors are scaled exactly as on the general path', async () => {
    for (const scale of [2 ** 70, 2 ** 30, 2 ** -30, 2 ** -70]) {
      const y = await K.matvec(v.map((t) => t * scale));
      expect(relErr(y.map((t) => t / scale), want)).toBeLessThan(1e-5);
      expect(y.every(Number.isFinite)).toBe(true);
    }
    const zero = await K.matvec(new Float64Array(n));
    expect(zero.every((t) => t === 0)).toBe(true);
  });

  it('products started together each get their own right-hand side; x may change right after the call', async () => {
    const vs = [1, 2, 3, 4].map((s) => seededVector(20 + s, n));
    const inputs = vs.map((u) => Float64Array.from(u));
    const pending = inputs.map((u) => K.matvec(u));
    for (const u of inputs) u.fill(1e6); // the products read x before matvec returned
    const ys = await Promise.all(pending);
    ys.forEach((y, t) => expect(relErr(y, denseProduct(vs[t]!))).toBeLessThan(1e-5));
  });
});
