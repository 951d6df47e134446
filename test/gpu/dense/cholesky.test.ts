/**
 * The device's float32 Cholesky (src/gpu/dense/cholesky.ts) against float64 host factorisations of the same float32
 * matrices, and the whitening with a device factor against the whitening with the host's.
 */
import { describe, expect, it } from 'vitest';
import { deviceCholesky, deviceCholeskyDouble, deviceDiagonal, DeviceCoreSolver } from '../../../src/gpu/dense/cholesky.js';
import { DeviceKernelBlock } from '../../../src/gpu/dense/tall.js';
import { collectVariables } from '../../../src/formula/analyze.js';
import { gaussianKernel } from '../../../src/index.js';
import { restrictRows } from '../../../src/preconditioners/kernel-access.js';
import { choleskySolveInPlace, choleskyUpper } from '../../../src/preconditioners/dense.js';
import { mulberry32 } from '../../conformance.js';
import { gpu, hasGpu } from '../gpu-env.js';

const MAP_READ = 0x1;
const COPY_SRC = 0x4;
const COPY_DST = 0x8;
const STORAGE = 0x80;

function upload(data: Float32Array): GPUBuffer {
  const b = gpu!.device.createBuffer({ size: Math.max(16, data.byteLength), usage: STORAGE | COPY_SRC | COPY_DST, mappedAtCreation: true });
  new Float32Array(b.getMappedRange(), 0, data.length).set(data);
  b.unmap();
  return b;
}

async function download(buffer: GPUBuffer, floats: number): Promise<Float32Array> {
  const { device } = gpu!;
  const read = device.createBuffer({ size: 4 * floats, usage: MAP_READ | COPY_DST });
  device.pushErrorScope('validation');
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, 0, read, 0, 4 * floats);
  device.queue.submit([encoder.finish()]);
  const invalid = await device.popErrorScope();
  if (invalid) throw new Error(invalid.message);
  await read.mapAsync(MAP_READ);
  const out = new Float32Array(read.getMappedRange()).slice();
  read.destroy();
  return out;
}

/** A Gaussian kernel matrix of m points in [0,1]³ (σ), rounded to float32: SPD, with small eigenvalues. */
function gaussianMatrix(m: number, sigma: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const y = Array.from({ length: m }, () => [r(), r(), r()]);
  const A = new Float32Array(m * m);
  for (let a = 0; a < m; a++) {
    for (let b = 0; b < m; b++) {
      const d2 = (y[a]![0]! - y[b]![0]!) ** 2 + (y[a]![1]! - y[b]![1]!) ** 2 + (y[a]![2]! - y[b]![2]!) ** 2;
      A[a * m + b] = Math.exp(-d2 / (2 * sigma * sigma));
    }
  }
  return A;
}

/** max |RᵀR − (A + sI)| over the upper triangle, R read from the device's row-major buffer (upper part only). */
function backwardError(R: Float32Array, A: Float32Array, m: number, shift: number): number {
  let worst = 0;
  for (let a = 0; a < m; a++) {
    for (let b = a; b < m; b++) {
      let s = 0;
      for (let k = 0; k <= a; k++) s += R[k * m + a]! * R[k * m + b]!;
      worst = Math.max(worst, Math.abs(s - A[a * m + b]! - (a === b ? shift : 0)));
    }
  }
  return worst;
}

describe.runIf(hasGpu)('deviceCholesky: RᵀR = A + sI in float32 on the device', () => {
  it.each([
    [1, 0.3], [37, 0.3], [64, 0.3], [130, 0.2], [300, 0.15], [270, 0.3], [400, 0.3],
  ])('m = %i: matches the float64 factor of the same float32 matrix; backward error ≈ u·|A|', async (m, sigma) => {
    const A = gaussianMatrix(m, sigma, m);
    const shift = 1e-3;
    const Abuf = upload(A);
    const F = await deviceCholesky(gpu!, Abuf, m, shift);
    try {
      expect(F).toBeDefined();
      const R = await download(F!.R, m * m);
      const D = await download(F!.inverseDiagonal, m);
      const M = Float64Array.from(A);
      for (let a = 0; a < m; a++) M[a * m + a]! += Math.fround(shift);
      const R64 = choleskyUpper(M, m)!;
      let err = 0;
      let scale = 0;
      for (let a = 0; a < m; a++) {
        expect(D[a]).toBeCloseTo(1 / R[a * m + a]!, 5);
        for (let b = a; b < m; b++) {
          err = Math.max(err, Math.abs(R[a * m + b]! - R64[a * m + b]!));
          scale = Math.max(scale, Math.abs(R64[a * m + b]!));
        }
      }
      // forward error ≈ u·cond(R)·…; the shift keeps cond(R) ≤ √(max A/s) ≈ 30 here (measured ≤ 1.8e-5 on llvmpipe)
      expect(err / scale).toBeLessThan(1e-4);
      // backward error of the compensated update: a few u of |A| ≤ 1 (measured 2.2e-7 to 3.9e-7)
      expect(backwardError(R, A, m, Math.fround(shift))).toBeLessThan(1.5e-6);
      // the input is left as it was
      expect(Array.from(await download(Abuf, m * m))).toEqual(Array.from(A));
    } finally {
      F?.destroy();
      Abuf.destroy();
    }
  });

  it('reports failure (undefined) on a matrix that is not positive definite, in a later panel; a shift rescues a singular one', async () => {
    const m = 150;
    const A = new Float32Array(m * m);
    for (let a = 0; a < m; a++) A[a * m + a] = 1;
    A[100 * m + 101] = A[101 * m + 100] = 2; // eigenvalue −1 in rows 100–101 (the second panel)
    const Abuf = upload(A);
    try {
      expect(await deviceCholesky(gpu!, Abuf, m)).toBeUndefined();
      expect(await deviceCholesky(gpu!, Abuf, m, 1.5)).toBeDefined(); // A + 1.5I: eigenvalues ≥ 0.5
    } finally {
      Abuf.destroy();
    }
    // rank one: vvᵀ is singular, vvᵀ + 10⁻²I factors
    const v = Float32Array.from({ length: 90 }, (_, a) => Math.fround(Math.cos(a)));
    const V = new Float32Array(90 * 90);
    for (let a = 0; a < 90; a++) for (let b = 0; b < 90; b++) V[a * 90 + b] = v[a]! * v[b]!;
    const Vbuf = upload(V);
    try {
      expect(await deviceCholesky(gpu!, Vbuf, 90)).toBeUndefined();
      const F = await deviceCholesky(gpu!, Vbuf, 90, 1e-2);
      expect(F).toBeDefined();
      const R = await download(F!.R, 90 * 90);
      expect(backwardError(R, V, 90, Math.fround(1e-2))).toBeLessThan(1e-5);
      F!.destroy();
    } finally {
      Vbuf.destroy();
    }
  });

  it('a NaN entry fails the factorisation instead of returning NaN factors', async () => {
    const m = 70;
    const A = gaussianMatrix(m, 0.3, 3);
    A[65 * m + 65] = NaN;
    const Abuf = upload(A);
    try {
      expect(await deviceCholesky(gpu!, Abuf, m, 1e-3)).toBeUndefined();
    } finally {
      Abuf.destroy();
    }
  });

  it('bad input is refused with the value named', async () => {
    const Abuf = upload(new Float32Array(16));
    try {
      await expect(deviceCholesky(gpu!, Abuf, 0)).rejects.toThrow(/m must be a positive integer, got 0/);
      await expect(deviceCholesky(gpu!, Abuf, 2.5)).rejects.toThrow(/got 2\.5/);
      await expect(deviceCholesky(gpu!, Abuf, 5)).rejects.toThrow(/holds 64 bytes, fewer than a 5×5 float32 matrix \(100\)/);
      await expect(deviceCholesky(gpu!, Abuf, 4, NaN)).rejects.toThrow(/shift must be finite, got NaN/);
      await expect(deviceCholesky(gpu!, Abuf, 1e6)).rejects.toThrow(/exceeds the device's buffer binding limit/);
    } finally {
      Abuf.destroy();
    }
  });

  it('deviceDiagonal reads the diagonal', async () => {
    const m = 300;
    const A = Float32Array.from({ length: m * m }, (_, q) => q);
    const Abuf = upload(A);
    try {
      const d = await deviceDiagonal(gpu!, Abuf, m);
      expect(Array.from(d)).toEqual(Array.from({ length: m }, (_, a) => a * m + a));
    } finally {
      Abuf.destroy();
    }
  });
});

describe.runIf(hasGpu)('whitening with the device factor', () => {
  it('K̃_mm formed and factored on the device whitens K̃_mn as the host float64 factor does (to float32 rounding)', async () => {
    const n = 900;
    const m = 140; // three panels, the last one short
    const r = mulberry32(11);
    const X = Array.from({ length: n }, () => [r(), r(), r()]);
    const K = gaussianKernel(X, { sigma: 0.2, backend: 'gpu' });
    const idx = Int32Array.from({ length: m }, (_, a) => (a * 37) % n);
    const node = K.formula.node;
    const kmmNode = restrictRows(node, { i: idx, j: idx });
    const Kmm = await DeviceKernelBlock.create(gpu!, kmmNode, collectVariables(kmmNode), m, m);
    const knmNode = restrictRows(node, { j: idx });
    const hostBlock = await DeviceKernelBlock.create(gpu!, knmNode, collectVariables(knmNode), n, m);
    const deviceBlock = await DeviceKernelBlock.create(gpu!, knmNode, collectVariables(knmNode), n, m);
    const shift = 1e-4;
    const F = await deviceCholesky(gpu!, Kmm.buffer!, m, shift);
    try {
      expect(F).toBeDefined();
      const A = Float64Array.from(await Kmm.rows(Array.from({ length: m }, (_, a) => a)));
      for (let a = 0; a < m; a++) A[a * m + a]! += Math.fround(shift);
      const G64 = await hostBlock.whiten(choleskyUpper(A, m)!);
      const G32 = await deviceBlock.whiten(F!);
      let err = 0;
      let scale = 0;
      for (let q = 0; q < m * m; q++) {
        err = Math.max(err, Math.abs(G32[q]! - G64[q]!));
        scale = Math.max(scale, Math.abs(G64[q]!));
      }
      expect(err / scale).toBeLessThan(1e-3);
      // the whitened rows themselves
      const B64 = await hostBlock.rows([0, 70, 139]);
      const B32 = await deviceBlock.rows([0, 70, 139]);
      let rowErr = 0;
      let rowScale = 0;
      for (let q = 0; q < B64.length; q++) {
        rowErr = Math.max(rowErr, Math.abs(B32[q]! - B64[q]!));
        rowScale = Math.max(rowScale, Math.abs(B64[q]!));
      }
      expect(rowErr / rowScale).toBeLessThan(1e-3);
      expect(rowErr).toBeGreaterThan(0); // two different factors (float32 against float64): not the same program twice
      await expect(hostBlock.whiten({ ...F!, m: m + 1 })).rejects.toThrow(/device factor is 141×141, expected m = 140/);
    } finally {
      F?.destroy();
      for (const b of [Kmm, hostBlock, deviceBlock]) b.destroy();
    }
  });
});

/** A Gram XᵀX (m×m, float64) of columns scaled from 1 down to 10⁻⁴ (condition ≈ 10⁸): the core's dynamic range. */
function gradedGram(m: number, seed: number): Float64Array {
  const r = mulberry32(seed);
  const rows = m + 20;
  const X = Array.from({ length: rows }, () => Array.from({ length: m }, (_, b) => (r() - 0.5) * 10 ** (-4 * b / m)));
  const G = new Float64Array(m * m);
  for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) {
    let s = 0;
    for (let i = 0; i < rows; i++) s += X[i]![a]! * X[i]![b]!;
    G[a * m + b] = s;
  }
  return G;
}

function pairs(G: Float64Array): [Float32Array, Float32Array] {
  const hi = Float32Array.from(G);
  return [hi, Float32Array.from(G, (v, q) => v - hi[q]!)];
}

describe.runIf(hasGpu)('deviceCholeskyDouble: UᵀU = G + sI in double-float on the device', () => {
  it.each([[1], [31], [32], [75], [200]])('m = %i: matches float64 on a graded Gram (condition ≈ 10⁸ + shift)', async (m) => {
    const G = gradedGram(m, 7 + m);
    const shift = 1e-9;
    const [hi, lo] = pairs(G);
    const GH = upload(hi);
    const GL = upload(lo);
    const F = await deviceCholeskyDouble(gpu!, GH, GL, m, shift);
    try {
      expect(F).toBeDefined();
      const [uh, ul] = [await download(F!.hi, m * m), await download(F!.lo, m * m)];
      const M = Float64Array.from(G, (v, q) => (Math.floor(q / m) === q % m ? v + shift : v));
      const R64 = choleskyUpper(M, m)!;
      let err = 0;
      let back = 0;
      let norm = 0;
      for (let a = 0; a < m; a++) {
        for (let b = a; b < m; b++) {
          err = Math.max(err, Math.abs(uh[a * m + b]! + ul[a * m + b]! - R64[a * m + b]!) / Math.abs(R64[b * m + b]!));
          let sum = 0;
          for (let k = 0; k <= a; k++) sum += (uh[k * m + a]! + ul[k * m + a]!) * (uh[k * m + b]! + ul[k * m + b]!);
          back = Math.max(back, Math.abs(sum - M[a * m + b]!));
          norm = Math.max(norm, Math.abs(M[a * m + b]!));
        }
      }
      // float32 would lose everything below 10⁻⁷·‖G‖; double-float keeps ≈ 2⁻⁴⁴ relative (llvmpipe, Dekker's
      // products: backward ≤ 8.5e-15, forward ≤ 8.7e-14 relative)
      expect(back / norm).toBeLessThan(1e-13);
      expect(err).toBeLessThan(1e-11);
      // the input is left as it was
      expect(Array.from(await download(GH, m * m))).toEqual(Array.from(hi));
    } finally {
      F?.destroy();
      GH.destroy();
      GL.destroy();
    }
  });

  it('fails (undefined) where G + sI is not positive definite; bad input is refused', async () => {
    const m = 70;
    const G = gradedGram(m, 3);
    const [hi, lo] = pairs(G);
    const GH = upload(hi);
    const GL = upload(lo);
    try {
      expect(await deviceCholeskyDouble(gpu!, GH, GL, m, -1e-3)).toBeUndefined(); // below the smallest eigenvalue
      await expect(deviceCholeskyDouble(gpu!, GH, GL, m, NaN)).rejects.toThrow(/shift must be finite, got NaN/);
      await expect(deviceCholeskyDouble(gpu!, GH, GL, 71, 0)).rejects.toThrow(/fewer than a 71×71 float32 matrix/);
    } finally {
      GH.destroy();
      GL.destroy();
    }
  });
});

describe.runIf(hasGpu)('DeviceCoreSolver: UᵀU c = y on the device in double-float', () => {
  it.each([[20], [75], [200]])('m = %i: backward stable against G + sI, and close to float64', async (m) => {
    const G = gradedGram(m, 100 + m);
    const shift = 1e-7;
    const [hi, lo] = pairs(G);
    const GH = upload(hi);
    const GL = upload(lo);
    const r = mulberry32(m);
    const y = Float64Array.from({ length: m }, () => r() - 0.5);
    const pairsOfY = new Float32Array(2 * m);
    for (let a = 0; a < m; a++) {
      pairsOfY[2 * a] = y[a]!;
      pairsOfY[2 * a + 1] = y[a]! - pairsOfY[2 * a]!;
    }
    const V = upload(pairsOfY);
    const F = await deviceCholeskyDouble(gpu!, GH, GL, m, shift);
    const solver = await DeviceCoreSolver.create(gpu!, F!, V);
    try {
      const encoder = gpu!.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      solver.encode(pass);
      pass.end();
      gpu!.device.queue.submit([encoder.finish()]);
      const got = await download(V, 2 * m);
      const c = Float64Array.from({ length: m }, (_, a) => got[2 * a]! + got[2 * a + 1]!);
      const M = Float64Array.from(G, (v, q) => (Math.floor(q / m) === q % m ? v + shift : v));
      let res = 0;
      let scale = 0;
      let cNorm = 0;
      for (let a = 0; a < m; a++) {
        let s = 0;
        for (let b = 0; b < m; b++) s += M[a * m + b]! * c[b]!;
        res = Math.max(res, Math.abs(s - y[a]!));
        cNorm = Math.max(cNorm, Math.abs(c[a]!));
      }
      for (const v of M) scale = Math.max(scale, Math.abs(v));
      expect(res / (scale * cNorm)).toBeLessThan(1e-13);
      const want = Float64Array.from(y);
      choleskySolveInPlace(choleskyUpper(M, m)!, m, want, 1);
      expect(relativeErr(c, want)).toBeLessThan(1e-6); // condition ≈ 10⁷ times 2⁻⁴⁸ at most
      const tiny = upload(new Float32Array(2));
      await expect(DeviceCoreSolver.create(gpu!, F!, tiny)).rejects.toThrow(new RegExp(`holds 16 bytes, fewer than ${m} pairs`));
      tiny.destroy();
    } finally {
      solver.destroy();
      for (const b of [GH, GL, V]) b.destroy();
    }
  });
});

function relativeErr(a: Float64Array, b: Float64Array): number {
  let d = 0;
  let w = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    w += b[i]! ** 2;
  }
  return Math.sqrt(d / w);
}
