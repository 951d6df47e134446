/**
 * The one-column fast path of GPU products (`tryGpuMatvec`): after the first product has built the plan, K.matvec
 * converts x straight into the upload array. Checked against the float64 dense K (independent closed form), and
 * against the general path on the inputs the fast path must hand over: non-finite, huge, tiny and zero vectors,
 * Float32Array input, number[] input, products in flight at once, and x mutated right after the call; the same with
 * x written and submitted block by block (`uploadChunks`), where a bad entry may show after blocks went up. A product
 * whose commands the device refused (a destroyed buffer) fails with the device's message on both paths, instead of
 * returning the staging buffer's older results.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { gaussianKernel } from '../../src/index.js';
import { shutdownCpuPool } from '../../src/cpu/pool.js';
import { collectVariables } from '../../src/formula/analyze.js';
import { describeGpuPlan, lastFastPathTimeline, setFastPathTimeline, type GpuKernelOptions } from '../../src/gpu/reduce.js';
import { seededPoints, seededVector } from '../random-data.js';
import { gpu, hasGpu } from './gpu-env.js';

afterAll(async () => {
  await shutdownCpuPool();
});

const n = 300;
const sigma = 0.3;
const x = seededPoints(11, n, 3, { float32: true });

/** y = K v in float64 from the closed form exp(−|x_i − x_j|²/(2σ²)) (on the points x unless others are given). */
function denseProduct(v: ArrayLike<number>, rows: number[][] = x): Float64Array {
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

  it('x split over several column blocks of the binding limit gives the same products', async () => {
    // bindings of at most 512 bytes: 300 points of 3 floats need several blocks of rows and of columns
    const blocked = gaussianKernel(x, { sigma, backend: 'gpu', gpu: { maxBindingBytes: 512 } });
    await blocked.matvec(v);
    for (const input of [v, Float32Array.from(v)]) {
      const y = await blocked.matvec(input);
      expect(relErr(y, input instanceof Float32Array ? denseProduct(input) : want)).toBeLessThan(1e-5);
    }
    const bad = Float64Array.from(v);
    bad[250] = NaN;
    await expect(blocked.matvec(bad)).rejects.toThrow(/matvec: entry 250 of the vector is NaN/);
    await blocked.dispose();
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

describe.runIf(hasGpu)('GPU one-column products whose x goes up block by block (uploadChunks)', () => {
  // four blocks of 75 entries: each narrowed (or converted), written and submitted before the next
  const K = gaussianKernel(x, { sigma, backend: 'gpu', gpu: { uploadChunks: 4 } });
  const v = seededVector(12, n);
  const want = denseProduct(v);

  it('the plan has the blocks, and repeated products match the float64 dense product for every input type', async () => {
    await K.matvec(v);
    const plan = await describeGpuPlan(K.formula.node, collectVariables(K.formula.node), n, n, 1, { uploadChunks: 4 });
    expect(plan.colBlocks).toBe(4);
    expect(plan.dispatches).toBe(5); // a kernel per block, one sum over every block's partials
    for (let r = 0; r < 3; r++) { // the blocks' commands recorded during the product before are used
      for (const input of [v, Float32Array.from(v), Array.from(v)]) {
        const y = await K.matvec(input);
        expect(relErr(y, input instanceof Float32Array ? denseProduct(input) : want)).toBeLessThan(1e-5);
      }
    }
  });

  it('the host marks say when the first block and the last one were submitted', async () => {
    setFastPathTimeline(true);
    try {
      await K.matvec(v);
      const marks = lastFastPathTimeline()!;
      expect(marks).toHaveLength(8);
      for (let i = 1; i < marks.length; i++) expect(marks[i]!).toBeGreaterThanOrEqual(marks[i - 1]!);
    } finally {
      setFastPathTimeline(false);
    }
  });

  it('a non-finite entry in any block is refused with the general message; the blocks submitted before it leave nothing behind', async () => {
    for (const at of [7, 150, 299]) {
      const bad = Float64Array.from(v);
      bad[at] = NaN;
      await expect(K.matvec(bad)).rejects.toThrow(new RegExp(`matvec: entry ${at} of the vector is NaN`));
      bad[at] = -Infinity;
      await expect(K.matvec(Float32Array.from(bad))).rejects.toThrow(new RegExp(`matvec: entry ${at} of the vector is -Infinity`));
      expect(relErr(await K.matvec(v), want)).toBeLessThan(1e-5);
    }
  });

  it('huge, tiny and zero vectors are scaled exactly as on the general path (tiny ones found only at the last block)', async () => {
    for (const scale of [2 ** 70, 2 ** 30, 2 ** -30, 2 ** -70]) {
      const y = await K.matvec(v.map((t) => t * scale));
      expect(relErr(y.map((t) => t / scale), want)).toBeLessThan(1e-5);
      expect(relErr(await K.matvec(v), want)).toBeLessThan(1e-5);
    }
    // one huge entry in the last block: the running sum passes three blocks, then the path stops
    const spike = Float64Array.from(v);
    spike[290] = 2 ** 40;
    expect(relErr(await K.matvec(spike), denseProduct(spike))).toBeLessThan(1e-5);
    expect((await K.matvec(new Float64Array(n))).every((t) => t === 0)).toBe(true);
  });

  it('products started together each get their own right-hand side', async () => {
    const vs = [1, 2, 3].map((s) => seededVector(40 + s, n));
    const ys = await Promise.all(vs.map((u) => K.matvec(u)));
    ys.forEach((y, t) => expect(relErr(y, denseProduct(vs[t]!))).toBeLessThan(1e-5));
  });

  it('uploadChunks outside [1, 64] or not an integer is refused by name', () => {
    for (const bad of [0, 1.5, 65, '4']) {
      expect(() => gaussianKernel(x, { sigma, backend: 'gpu', gpu: { uploadChunks: bad as number } })).toThrow(/uploadChunks/);
    }
  });
});

describe.runIf(hasGpu)('GPU products whose commands the device refuses', () => {
  /** K on fresh points, with the buffers its first product creates (its plan's and its points'). */
  async function operatorWithBuffers(seed: number, options: GpuKernelOptions = {}) {
    const device = gpu!.device;
    const created: GPUBuffer[] = [];
    const createBuffer = device.createBuffer;
    device.createBuffer = function (this: GPUDevice, descriptor: GPUBufferDescriptor) {
      const buffer = createBuffer.call(this, descriptor);
      created.push(buffer);
      return buffer;
    };
    const K = gaussianKernel(seededPoints(seed, n, 3), { sigma, backend: 'gpu', gpu: options });
    try {
      await K.matvec(seededVector(seed, n));
    } finally {
      device.createBuffer = createBuffer;
    }
    return { K, created };
  }
  // the kernel's results (STORAGE 0x80 | COPY_SRC 0x4): destroyed, the submit is refused and the staging keeps the last product
  const isOutput = (b: GPUBuffer) => b.usage === (0x80 | 0x4);

  it.each([1, 4])('a destroyed output buffer fails the fast path and the general path with a validation error (%i block(s))', async (chunks) => {
    const { K, created } = await operatorWithBuffers(31, { uploadChunks: chunks });
    const v = seededVector(32, n);
    await K.matvec(v); // the fast path works before
    const outputs = created.filter(isOutput);
    expect(outputs.length).toBeGreaterThan(0);
    for (const b of outputs) b.destroy();
    await expect(K.matvec(v)).rejects.toThrow(/GPU validation error in a kernel product: .*destroyed/s);
    await expect(K.matvec(Array.from(v))).rejects.toThrow(/GPU validation error in a kernel product: .*destroyed/s);
    await expect(K.matvec(v)).rejects.toThrow(/GPU validation error/); // and again: nothing stale comes back
  });

  it('a failed product does not fail the next products of other operators', async () => {
    const { K } = await operatorWithBuffers(33);
    const v = seededVector(34, n);
    const want = denseProduct(v, seededPoints(33, n, 3));
    for (let r = 0; r < 3; r++) expect(relErr(await K.matvec(v), want)).toBeLessThan(1e-5);
  });
});
