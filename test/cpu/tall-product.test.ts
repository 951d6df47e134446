import { describe, expect, it } from 'vitest';
import { TallMatrix } from '../../src/cpu/tall-product.js';
import { startCpuPool } from '../../src/cpu/pool.js';
import { seededVector } from '../random-data.js';

/** Plain triple loops: F·Z (n×k) and Fᵀ·X (r×k), row-major. */
function naiveMul(F: Float64Array, n: number, r: number, Z: Float64Array, k: number): Float64Array {
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) for (let t = 0; t < r; t++) for (let c = 0; c < k; c++) out[i * k + c]! += F[i * r + t]! * Z[t * k + c]!;
  return out;
}
function naiveCross(F: Float64Array, n: number, r: number, X: Float64Array, k: number): Float64Array {
  const out = new Float64Array(r * k);
  for (let i = 0; i < n; i++) for (let t = 0; t < r; t++) for (let c = 0; c < k; c++) out[t * k + c]! += F[i * r + t]! * X[i * k + c]!;
  return out;
}
function expectClose(got: Float64Array, want: Float64Array): void {
  expect(got.length).toBe(want.length);
  const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  for (let t = 0; t < want.length; t++) expect(Math.abs(got[t]! - want[t]!)).toBeLessThanOrEqual(1e-13 * scale * 64);
}

describe('TallMatrix: products of a stored tall factor (WASM SIMD over the pool)', () => {
  // odd and even r (the 4-row blocks and their tails), k = 1, odd k (padded), a width that regrows the memory;
  // the last shape is past the pool threshold; 30011x71 takes k = 1 (one dot product per row) over the pool, odd r
  // leaving every other row's start 8 bytes off a 16-byte boundary
  const cases = [[1, 1, [1, 2]], [7, 3, [1, 5, 2]], [53, 10, [3, 33, 1]], [301, 37, [33, 8, 64]], [1600, 66, [33, 66]], [30011, 71, [1]]] as const;
  for (const [n, r, ks] of cases) {
    it(`${n}x${r}: F·Z and Fᵀ·X match plain loops for k = ${ks.join(', ')}`, async () => {
      if (n * r >= 100_000) await startCpuPool();
      const F = seededVector(1 + n, n * r);
      const M = new TallMatrix(F, n, r);
      for (const k of ks) {
        const Z = seededVector(2 + k, r * k);
        const X = seededVector(3 + k, n * k);
        expectClose(await M.mul(Z, k), naiveMul(F, n, r, Z, k));
        expectClose(await M.crossT(X, k), naiveCross(F, n, r, X, k));
      }
    });
  }

  it('gram: FᵀF from its upper triangle matches plain loops (odd and even r, over the pool from 3000x127 on)', async () => {
    for (const [n, r] of [[1, 1], [9, 2], [40, 7], [301, 36], [3000, 127]] as const) {
      if (n * r >= 100_000) await startCpuPool();
      const F = seededVector(40 + r, n * r);
      expectClose(await new TallMatrix(F, n, r).gram(), naiveCross(F, n, r, F, r));
    }
  });

  it('concurrent products share the workspace one at a time, each with its own result', async () => {
    const [n, r, k] = [120, 9, 3];
    const F = seededVector(5, n * r);
    const M = new TallMatrix(F, n, r);
    const Zs = [0, 1, 2].map((s) => seededVector(10 + s, r * k));
    const got = await Promise.all(Zs.map((Z) => M.mul(Z, k)));
    got.forEach((g, s) => expectClose(g, naiveMul(F, n, r, Zs[s]!, k)));
  });

  it('a prefix of the columns (len < r) and setColumn, as pivoted Cholesky uses them', async () => {
    const [n, r] = [77, 11];
    const F = seededVector(6, n * r);
    const M = new TallMatrix(Float64Array.from(F), n, r);
    const z = seededVector(7, r);
    for (const len of [0, 1, 4, 5, 11]) {
      const Fp = new Float64Array(n * r);
      for (let i = 0; i < n; i++) for (let t = 0; t < len; t++) Fp[i * r + t] = F[i * r + t]!;
      expectClose(await M.mul(z, 1, len), naiveMul(Fp, n, r, z, 1));
    }
    const col = seededVector(8, n);
    await M.setColumn(3, col);
    for (let i = 0; i < n; i++) F[i * r + 3] = col[i]!;
    expectClose(await M.mul(z, 1), naiveMul(F, n, r, z, 1));
    await expect(M.mul(z, 1, 12)).rejects.toThrow(/len 12 outside 0…11/);
  });

  it('setColumns writes a block of columns into F and its stored copy (products and gram see them); bad ranges refused', async () => {
    const [n, r] = [53, 10];
    const F = seededVector(20, n * r);
    const M = new TallMatrix(Float64Array.from(F), n, r);
    const z = seededVector(21, r);
    expectClose(await M.mul(z, 1), naiveMul(F, n, r, z, 1)); // the stored copy exists before the write
    const block = seededVector(22, 3 * n); // columns 4, 5, 6, one after another
    await M.setColumns(4, 3, block);
    for (let c = 0; c < 3; c++) for (let i = 0; i < n; i++) F[i * r + 4 + c] = block[c * n + i]!;
    expectClose(await M.mul(z, 1), naiveMul(F, n, r, z, 1));
    expectClose(await M.gram(), naiveCross(F, n, r, F, r));
    await expect(M.setColumns(8, 3, block)).rejects.toThrow(/columns 8…10 of 10/);
    await expect(M.setColumns(0, 3, new Float64Array(10))).rejects.toThrow(/from 10 values/);
  });

  it('reserveColumns: one-column products, then gram and wider blocks in the same memory, all matching plain loops', async () => {
    const [n, r] = [61, 12];
    const F = seededVector(30, n * r);
    const M = new TallMatrix(Float64Array.from(F), n, r, 9);
    const z = seededVector(31, r);
    expectClose(await M.mul(z, 1), naiveMul(F, n, r, z, 1));
    expectClose(await M.gram(), naiveCross(F, n, r, F, r));
    for (const k of [9, 13]) { // within the reserve, then past it (a larger memory)
      const Z = seededVector(32 + k, r * k);
      const X = seededVector(33 + k, n * k);
      expectClose(await M.mul(Z, k), naiveMul(F, n, r, Z, k));
      expectClose(await M.crossT(X, k), naiveCross(F, n, r, X, k));
    }
  });

  it('refuses a block of the wrong size, naming it', async () => {
    const M = new TallMatrix(new Float64Array(12), 4, 3);
    await expect(M.mul(new Float64Array(5), 2)).rejects.toThrow(/5 entries for 3x2/);
    await expect(M.crossT(new Float64Array(5), 2)).rejects.toThrow(/5 entries for 4x2/);
    expect(() => new TallMatrix(new Float64Array(5), 2, 3)).toThrow(/5 entries for 2x3/);
  });
});
