import { describe, expect, it } from 'vitest';
import { choleskyUpperWasm, CholeskySolver } from '../../src/cpu/dense-cholesky.js';
import { choleskySolveInPlace, choleskyUpper } from '../../src/preconditioners/dense.js';
import { poolThreads, setCpuThreads } from '../../src/cpu/pool.js';
import { emptyMemoryCache, recycledMemoryBytes } from '../../src/cpu/memory-pool.js';
import { mulberry32 } from '../../src/krylov/random.js';

/** A = XᵀX/k + I for a seeded k×k X with entries in [−1, 1): SPD, condition number of tens. */
function spd(k: number, seed: number): Float64Array {
  const rng = mulberry32(seed);
  const X = Float64Array.from({ length: k * k }, () => 2 * rng() - 1);
  const A = new Float64Array(k * k);
  for (let r = 0; r < k; r++) {
    const xr = r * k;
    for (let i = 0; i < k; i++) {
      const xi = X[xr + i]!;
      if (xi === 0) continue;
      for (let j = 0; j < k; j++) A[i * k + j]! += xi * X[xr + j]!;
    }
  }
  for (let i = 0; i < k * k; i++) A[i]! /= k;
  for (let i = 0; i < k; i++) A[i * k + i]! += 1;
  return A;
}

/** Symmetric, off-diagonal entries seeded in [−1, 1), diagonal k: SPD by Gershgorin, cheap to build at large k. */
function gershgorinSpd(k: number, seed: number): Float64Array {
  const rng = mulberry32(seed);
  const M = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) M[i * k + j] = M[j * k + i] = 2 * rng() - 1;
    M[i * k + i] = k;
  }
  return M;
}

const maxAbs = (a: Float64Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const maxAbsDiff = (a: Float64Array, b: Float64Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

/** RᵀR (row-major k×k). */
function gramOfUpper(R: Float64Array, k: number): Float64Array {
  const G = new Float64Array(k * k);
  for (let t = 0; t < k; t++) {
    for (let i = t; i < k; i++) {
      const r = R[t * k + i]!;
      for (let j = t; j < k; j++) G[i * k + j]! += r * R[t * k + j]!;
    }
  }
  for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) G[i * k + j] = G[j * k + i]!;
  return G;
}

function randomBlock(k: number, q: number, seed: number): Float64Array {
  const rng = mulberry32(seed);
  return Float64Array.from({ length: k * q }, () => 2 * rng() - 1);
}

describe('choleskyUpperWasm', () => {
  // 16, 17, 33, 37, 50, 81: a panel (or the last one) ending at or inside a step of the panel's blocked factorisation,
  // off a multiple of 4
  for (const k of [1, 2, 3, 5, 8, 16, 17, 33, 37, 50, 63, 64, 65, 81, 257, 600]) {
    it(`k = ${k}: matches choleskyUpper, RᵀR = M, zero lower triangle`, async () => {
      const M = spd(k, 1000 + k);
      const want = choleskyUpper(M, k)!;
      expect(want).toBeDefined();
      const R = (await choleskyUpperWasm(M, k))!;
      expect(R).toBeDefined();
      expect(R.length).toBe(k * k);
      expect(maxAbsDiff(R, want) / maxAbs(want)).toBeLessThan(1e-12);
      expect(maxAbsDiff(gramOfUpper(R, k), M) / maxAbs(M)).toBeLessThan(1e-13);
      for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) expect(Object.is(R[i * k + j], 0)).toBe(true);
      for (let i = 0; i < k; i++) expect(R[i * k + i]).toBeGreaterThan(0);
    });
  }

  it('k = 900: trailing updates split over a pool of 2 threads give the same factor', async () => {
    const k = 900;
    const M = gershgorinSpd(k, 77);
    const threads = poolThreads();
    if (threads < 2) await setCpuThreads(2);
    try {
      const R = (await choleskyUpperWasm(M, k))!;
      const want = choleskyUpper(M, k)!;
      expect(maxAbsDiff(R, want) / maxAbs(want)).toBeLessThan(1e-12);
      // RᵀR v = M v for a random v
      const v = randomBlock(k, 1, 8);
      const Rv = new Float64Array(k);
      for (let i = 0; i < k; i++) for (let j = i; j < k; j++) Rv[i]! += R[i * k + j]! * v[j]!;
      const RtRv = new Float64Array(k);
      for (let i = 0; i < k; i++) for (let j = i; j < k; j++) RtRv[j]! += R[i * k + j]! * Rv[i]!;
      const Mv = new Float64Array(k);
      for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) Mv[i]! += M[i * k + j]! * v[j]!;
      expect(maxAbsDiff(RtRv, Mv) / maxAbs(Mv)).toBeLessThan(1e-13);
    } finally {
      if (threads < 2) await setCpuThreads(threads);
    }
  });

  it('reads only the upper triangle of M (the lower one may hold anything)', async () => {
    const k = 70;
    const M = spd(k, 7);
    const junk = Float64Array.from(M);
    for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) junk[i * k + j] = j % 2 ? Number.NaN : -1e300;
    const R = (await choleskyUpperWasm(junk, k))!;
    expect(R).toBeDefined();
    expect(maxAbsDiff(R, choleskyUpper(M, k)!) / maxAbs(R)).toBeLessThan(1e-12);
  });

  it('reports the first row whose pivot fails, inside any step of a panel', async () => {
    for (const [k, bad] of [[50, 0], [50, 15], [50, 16], [50, 37], [100, 70], [100, 99]] as const) {
      const M = spd(k, 77 + bad);
      M[bad * k + bad] = -1; // the pivot of that row fails whatever the rows before it gave
      const out = await CholeskySolver.factor(k, (i, row) => row.set(M.subarray(i * k + i, i * k + i + row.length)), 'float64', undefined, 1);
      expect(out).toEqual({ failedRow: bad });
    }
  });

  it('returns undefined for matrices that are not positive definite', async () => {
    for (const k of [1, 5, 64, 65, 300]) {
      // a negative diagonal entry, early and late
      for (const at of [0, k - 1, Math.floor(k / 2)]) {
        const M = spd(k, 20 + k);
        M[at * k + at] = -1;
        expect(choleskyUpper(M, k)).toBeUndefined();
        expect(await choleskyUpperWasm(M, k)).toBeUndefined();
      }
      // a zero matrix: first pivot 0
      expect(await choleskyUpperWasm(new Float64Array(k * k), k)).toBeUndefined();
    }
    // M = vvᵀ − I/10 (rank one plus a shift): one eigenvalue positive, the rest −0.1
    for (const k of [2, 3, 64, 65, 200]) {
      const v = randomBlock(k, 1, 99);
      const M = new Float64Array(k * k);
      for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) M[i * k + j] = v[i]! * v[j]! - (i === j ? 0.1 : 0);
      expect(choleskyUpper(M, k)).toBeUndefined();
      expect(await choleskyUpperWasm(M, k)).toBeUndefined();
    }
    // a positive semi-definite rank-deficient Gram matrix minus a small shift
    const k = 130;
    const rng = mulberry32(5);
    const Y = Float64Array.from({ length: 40 * k }, () => 2 * rng() - 1); // 40×k: rank 40
    const M = new Float64Array(k * k);
    for (let r = 0; r < 40; r++) for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) M[i * k + j]! += Y[r * k + i]! * Y[r * k + j]!;
    for (let i = 0; i < k; i++) M[i * k + i]! -= 1e-3;
    expect(await choleskyUpperWasm(M, k)).toBeUndefined();
  });

  it('returns undefined for NaN or infinite entries of the upper triangle', async () => {
    for (const k of [1, 3, 64, 65, 257]) {
      const spots = k === 1 ? [[0, 0]] : [[0, 0], [0, k - 1], [Math.floor(k / 3), Math.floor((2 * k) / 3)], [k - 1, k - 1]];
      for (const [i, j] of spots) {
        for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
          const M = spd(k, 40 + k);
          M[i! * k + j!] = bad;
          M[j! * k + i!] = bad;
          expect(await choleskyUpperWasm(M, k), `k = ${k}, M[${i}][${j}] = ${bad}`).toBeUndefined();
        }
      }
    }
  });

  it('rejects bad shapes with the sizes in the message', async () => {
    await expect(choleskyUpperWasm(new Float64Array(10), 3)).rejects.toThrow(/10 entries.*k\*k = 9.*k = 3/);
    await expect(choleskyUpperWasm(new Float64Array(0), 0)).rejects.toThrow(/positive integer, got 0/);
    await expect(choleskyUpperWasm(new Float64Array(4), 2.5)).rejects.toThrow(/positive integer, got 2.5/);
    await expect(choleskyUpperWasm(new Float64Array(4), Number.NaN)).rejects.toThrow(/positive integer, got NaN/);
  });
});

describe('CholeskySolver', () => {
  for (const k of [1, 2, 3, 5, 8, 63, 64, 65, 257, 600]) {
    it(`k = ${k}: solveInPlace matches choleskySolveInPlace for q = 1, 3, 6, 11 (two passes of 8 and 3)`, async () => {
      const M = spd(k, 3000 + k);
      const R = choleskyUpper(M, k)!;
      const solver = await CholeskySolver.create(R, k);
      expect(solver.k).toBe(k);
      for (const q of [1, 3, 6, 11]) {
        for (const seed of [1, 2]) {
          const B = randomBlock(k, q, 100 * q + seed);
          const want = choleskySolveInPlace(R, k, Float64Array.from(B), q);
          const got = Float64Array.from(B);
          expect(solver.solveInPlace(got, q)).toBe(got);
          expect(maxAbsDiff(got, want) / maxAbs(want)).toBeLessThan(1e-12);
          // and M·X = B
          let err = 0;
          for (let i = 0; i < k; i++) {
            for (let c = 0; c < q; c++) {
              let s = 0;
              for (let j = 0; j < k; j++) s += M[i * k + j]! * got[j * q + c]!;
              err = Math.max(err, Math.abs(s - B[i * q + c]!));
            }
          }
          expect(err / maxAbs(B)).toBeLessThan(1e-12);
        }
      }
    });
  }

  it('solves with the factor of choleskyUpperWasm, and ignores R below the diagonal', async () => {
    const k = 129;
    const M = spd(k, 11);
    const R = (await choleskyUpperWasm(M, k))!;
    const withJunk = Float64Array.from(R);
    for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) withJunk[i * k + j] = Number.NaN;
    const solver = await CholeskySolver.create(withJunk, k);
    const B = randomBlock(k, 2, 3);
    const want = choleskySolveInPlace(R, k, Float64Array.from(B), 2);
    const got = solver.solveInPlace(Float64Array.from(B), 2);
    expect(maxAbsDiff(got, want) / maxAbs(want)).toBeLessThan(1e-12);
    // a NaN right-hand side does not poison later solves
    solver.solveInPlace(new Float64Array(k).fill(Number.NaN), 1);
    const again = solver.solveInPlace(Float64Array.from(B), 2);
    expect(maxAbsDiff(again, want) / maxAbs(want)).toBeLessThan(1e-12);
  });

  it('rejects bad shapes with the sizes in the message', async () => {
    await expect(CholeskySolver.create(new Float64Array(8), 3)).rejects.toThrow(/8 entries.*k\*k = 9.*k = 3/);
    await expect(CholeskySolver.create(new Float64Array(1), -1)).rejects.toThrow(/positive integer, got -1/);
    const solver = await CholeskySolver.create(choleskyUpper(spd(4, 1), 4)!, 4);
    expect(() => solver.solveInPlace(new Float64Array(7), 2)).toThrow(/7 entries.*k\*q = 8.*k = 4, q = 2/);
    expect(() => solver.solveInPlace(new Float64Array(4), 0)).toThrow(/positive integer, got 0/);
    expect(() => solver.solveInPlace(new Float64Array(4), 1.5)).toThrow(/positive integer, got 1.5/);
  });
});

describe('choleskyUpperWasm memory', () => {
  it('takes its memory from the recycling pool and hands it back: repeated factorisations reuse one memory', async () => {
    // a fresh memory per factorisation, once handed to the workers, outlives it (the pool leak of products)
    emptyMemoryCache();
    const k = 203; // odd: padding rows and columns in the working matrix
    const first = spd(k, 1);
    expect(await choleskyUpperWasm(first, k)).toBeDefined();
    const kept = recycledMemoryBytes();
    expect(kept).toBeGreaterThan(k * k * 8);
    // the second factorisation runs in the first one's memory, its data left behind: same R as the JS reference
    const second = spd(k, 2);
    const R = (await choleskyUpperWasm(second, k))!;
    expect(recycledMemoryBytes()).toBe(kept);
    expect(maxAbsDiff(R, choleskyUpper(second, k)!) / maxAbs(R)).toBeLessThan(1e-12);
  });
});

describe('CholeskySolver.factor with the one-column solve program', () => {
  const writeFrom = (M: Float64Array, k: number) => (i: number, row: Float64Array | Float32Array) => row.set(M.subarray(i * k + i, i * k + k));

  for (const dtype of ['float64', 'float32'] as const) {
    it(`${dtype}: columns 1 solves q = 1, 3 and 11 one column a pass, equal to the eight-column program's solves`, async () => {
      const k = 203;
      const M = spd(k, 77);
      const one = await CholeskySolver.factor(k, writeFrom(M, k), dtype, undefined, 1);
      const eight = await CholeskySolver.factor(k, writeFrom(M, k), dtype);
      if (!(one instanceof CholeskySolver) || !(eight instanceof CholeskySolver)) throw new Error('factor failed');
      const R64 = choleskyUpper(M, k)!;
      for (const q of [1, 3, 11]) {
        const B = randomBlock(k, q, 900 + q);
        const want = choleskySolveInPlace(R64, k, Float64Array.from(B), q);
        const got = one.solveInPlace(Float64Array.from(B), q);
        const tol = dtype === 'float64' ? 1e-12 : 1e-5;
        expect(maxAbsDiff(got, want) / maxAbs(want)).toBeLessThan(tol);
        // the eight-column passes sum the backward dot products in another order: equal to rounding
        expect(maxAbsDiff(got, eight.solveInPlace(Float64Array.from(B), q)) / maxAbs(want)).toBeLessThan(dtype === 'float64' ? 1e-13 : 1e-6);
      }
      one.release();
      eight.release();
    });

    it(`${dtype}: widen() gives a one-column solver the eight-column passes in its own memory — the wide solver's results`, async () => {
      const k = 203;
      const M = spd(k, 78);
      const one = await CholeskySolver.factor(k, writeFrom(M, k), dtype, undefined, 1);
      const eight = await CholeskySolver.factor(k, writeFrom(M, k), dtype);
      if (!(one instanceof CholeskySolver) || !(eight instanceof CholeskySolver)) throw new Error('factor failed');
      expect([one.columns, eight.columns]).toEqual([1, 8]);
      const B = randomBlock(k, 11, 950);
      const before = one.solveInPlace(Float64Array.from(B), 11);
      await one.widen();
      expect(one.columns).toBe(8);
      const wide = eight.solveInPlace(Float64Array.from(B), 11);
      expect(Array.from(one.solveInPlace(Float64Array.from(B), 11))).toEqual(Array.from(wide)); // the same program, the same R
      expect(maxAbsDiff(before, wide) / maxAbs(wide)).toBeLessThan(dtype === 'float64' ? 1e-13 : 1e-6);
      one.release();
      await one.widen(); // released: nothing to widen, no error
      expect(() => one.solveInPlace(Float64Array.from(B), 11)).toThrow(/was released/);
      eight.release();
    });
  }
});

describe('CholeskySolver.factor: rows packed by panel groups', () => {
  const writeFrom = (M: Float64Array, k: number) => (i: number, row: Float64Array | Float32Array) => row.set(M.subarray(i * k + i, i * k + k));

  for (const dtype of ['float64', 'float32'] as const) {
    it(`${dtype}: holds R in about half a k×k square (each 64-row group from its first column), recycled whole`, async () => {
      emptyMemoryCache();
      const k = 1000;
      const solver = await CholeskySolver.factor(k, writeFrom(gershgorinSpd(k, 31), k), dtype, undefined, 1);
      if (!(solver instanceof CholeskySolver)) throw new Error('factor failed');
      solver.release();
      const bytes = dtype === 'float64' ? 8 : 4;
      // k²/2 + 32·k entries for R, 64·k for the packed panel, whole 64 KiB pages: well under the square's k²
      expect(recycledMemoryBytes()).toBeLessThan(0.62 * k * k * bytes);
      expect(recycledMemoryBytes()).toBeGreaterThan(0.5 * k * k * bytes);
    });
  }

  it('float64, k = 900 over a pool of 2 threads: solves of 1 and 11 columns match the JS factor\'s, R below the diagonal ignored', async () => {
    const k = 900;
    const M = gershgorinSpd(k, 79);
    for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) M[i * k + j] = 1e6; // the lower triangle is never read
    const threads = poolThreads();
    if (threads < 2) await setCpuThreads(2);
    try {
      const solver = await CholeskySolver.factor(k, writeFrom(M, k), 'float64');
      if (!(solver instanceof CholeskySolver)) throw new Error('factor failed');
      for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) M[i * k + j] = M[j * k + i]!;
      const R64 = choleskyUpper(M, k)!;
      for (const q of [1, 11]) {
        const B = randomBlock(k, q, 70 + q);
        const want = choleskySolveInPlace(R64, k, Float64Array.from(B), q);
        expect(maxAbsDiff(solver.solveInPlace(Float64Array.from(B), q), want) / maxAbs(want)).toBeLessThan(1e-13);
      }
      solver.release();
    } finally {
      if (threads < 2) await setCpuThreads(threads);
    }
  });
});

describe('CholeskySolver.factor in float32', () => {
  const writeFrom = (M: Float64Array, k: number) => (i: number, row: Float64Array | Float32Array) => row.set(M.subarray(i * k + i, i * k + k));

  for (const k of [1, 3, 8, 9, 63, 64, 65, 130, 203]) {
    it(`k = ${k}: solves match the float64 reference to float32 accuracy (q = 1, 6 and 11)`, async () => {
      const M = spd(k, 500 + k);
      const R64 = choleskyUpper(M, k)!;
      const solver = await CholeskySolver.factor(k, writeFrom(M, k), 'float32');
      if (!(solver instanceof CholeskySolver)) throw new Error(`float32 factor failed at row ${solver.failedRow}`);
      expect(solver.dtype).toBe('float32');
      for (const q of [1, 6, 11]) {
        const B = randomBlock(k, q, 40 + q);
        const want = choleskySolveInPlace(R64, k, Float64Array.from(B), q);
        const got = solver.solveInPlace(Float64Array.from(B), q);
        const err = maxAbsDiff(got, want) / maxAbs(want);
        expect(err).toBeLessThan(1e-5); // κ(M) of tens, ε₃₂ ≈ 1.2e-7
        if (k > 8) expect(err).toBeGreaterThan(1e-12); // float32 arithmetic indeed (float64 would agree to 1e-15)
      }
      solver.release();
    });
  }

  it('trailing updates split over a pool of 2 threads give the same float32 solves (k = 900)', async () => {
    const k = 900;
    const M = gershgorinSpd(k, 78);
    const threads = poolThreads();
    if (threads < 2) await setCpuThreads(2);
    try {
      const solver = await CholeskySolver.factor(k, writeFrom(M, k), 'float32');
      if (!(solver instanceof CholeskySolver)) throw new Error('float32 factor failed');
      const b = randomBlock(k, 1, 9);
      const want = choleskySolveInPlace(choleskyUpper(M, k)!, k, Float64Array.from(b), 1);
      expect(maxAbsDiff(solver.solveInPlace(Float64Array.from(b), 1), want) / maxAbs(want)).toBeLessThan(1e-5);
      solver.release();
    } finally {
      if (threads < 2) await setCpuThreads(threads);
    }
  });

  it('reports the failed row where M is positive definite in float64 but not in float32 (11ᵀ + 1e-8·I)', async () => {
    const k = 40;
    const M = new Float64Array(k * k).fill(1);
    for (let i = 0; i < k; i++) M[i * k + i] = 1 + 1e-8;
    expect(choleskyUpper(M, k)).toBeDefined();
    const f64 = await CholeskySolver.factor(k, writeFrom(M, k), 'float64');
    expect(f64).toBeInstanceOf(CholeskySolver);
    (f64 as CholeskySolver).release();
    expect(await CholeskySolver.factor(k, writeFrom(M, k), 'float32')).toEqual({ failedRow: 1 });
  });

  it('absRowSums receives Σ_j |M_ij| of the symmetric matrix, in both precisions', async () => {
    for (const k of [1, 7, 65]) {
      const M = spd(k, 600 + k);
      for (let i = 0; i < k * k; i += 3) M[i] = -M[i]!; // signs: both triangles alike below
      for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) M[i * k + j] = M[j * k + i]!;
      for (let i = 0; i < k; i++) M[i * k + i] = Math.abs(M[i * k + i]!) + k;
      const want = Float64Array.from({ length: k }, (_, i) => M.subarray(i * k, i * k + k).reduce((s, v) => s + Math.abs(v), 0));
      for (const [dtype, tol] of [['float64', 1e-14], ['float32', 1e-6]] as const) {
        const sums = new Float64Array(k);
        const solver = await CholeskySolver.factor(k, writeFrom(M, k), dtype, sums);
        expect(maxAbsDiff(sums, want) / maxAbs(want)).toBeLessThan(tol);
        if (solver instanceof CholeskySolver) solver.release();
      }
    }
  });
});
