import { describe, expect, it } from 'vitest';
import { BasisSweeps, SWEEP_CHUNK } from '../../src/cpu/basis-sweeps.js';
import { ArrayBasis, BASIS_WASM_MIN_N, lanczosBasis, type LanczosBasis } from '../../src/operators/basis.js';
import { emptyMemoryCache, recycledMemoryBytes } from '../../src/cpu/memory-pool.js';
import { poolThreads, setCpuThreads, startCpuPool } from '../../src/cpu/pool.js';
import { seededVector } from '../random-data.js';
import { DiagonalOperator, eigsh, SingularShiftError } from '../../src/index.js';

/** Plain float64 loops over whole vectors: the reference every sweep is checked against. */
function plainDot(x: Float64Array, y: Float64Array): number {
  let s = 0;
  for (let t = 0; t < x.length; t++) s += x[t]! * y[t]!;
  return s;
}
/** y ← y + Σ a[i]·V[i], one plain axpy after another. */
function plainAxpys(y: Float64Array, V: readonly Float64Array[], a: readonly number[]): Float64Array {
  const out = y.slice();
  a.forEach((ai, i) => { for (let t = 0; t < out.length; t++) out[t]! += ai * V[i]![t]!; });
  return out;
}

const bits = (a: Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

function filled(basis: LanczosBasis, seed: number): Float64Array[] {
  return Array.from({ length: basis.slots }, (_, j) => {
    const v = seededVector(seed + j, basis.n);
    basis.column(j).set(v);
    return v;
  });
}

// n below a chunk, odd, and past a chunk by an odd tail; slot counts that leave 1–3 vectors past the groups of four
const shapes = [[5, 4], [1, 2], [SWEEP_CHUNK - 3, 7], [2 * SWEEP_CHUNK + 7, 10], [3 * SWEEP_CHUNK + 2, 6]] as const;

describe('BasisSweeps: Lanczos sweeps in WASM SIMD against plain float64 loops', () => {
  for (const [n, slots] of shapes) {
    it(`n = ${n}, ${slots} slots: dots to rounding, the subtraction and in-place combinations bit for bit`, async () => {
      const basis = await BasisSweeps.create(n, slots);
      const twin = new ArrayBasis(n, slots);
      const V = filled(basis, 100 + n);
      filled(twin, 100 + n);
      const w = slots - 1;
      const count = slots - 1;
      // dots: grouped by chunk and lane, so to rounding of the plain sums (bound: n·eps·Σ|v||w|)
      const c = new Float64Array(count);
      const ww = await basis.dots(c, count, w);
      const c2 = new Float64Array(count);
      const ww2 = await twin.dots(c2, count, w);
      // w·w from the same sweep: no cancellation, so to a relative n·eps
      for (const v of [ww, ww2]) expect(Math.abs(v - plainDot(V[w]!, V[w]!))).toBeLessThanOrEqual(2 * n * Number.EPSILON * plainDot(V[w]!, V[w]!));
      for (let i = 0; i < count; i++) {
        const bound = 2 * n * Number.EPSILON * plainDot(V[i]!.map(Math.abs), V[w]!.map(Math.abs));
        expect(Math.abs(c[i]! - plainDot(V[i]!, V[w]!))).toBeLessThanOrEqual(bound);
        expect(Math.abs(c2[i]! - plainDot(V[i]!, V[w]!))).toBeLessThanOrEqual(bound);
      }
      // the subtraction: entry by entry the plain axpys' rounding
      const coef = Float64Array.from(c, (v, i) => v * (i % 2 ? -1.5 : 1));
      const after = await basis.subtract(w, count, coef);
      const after2 = await twin.subtract(w, count, coef);
      const want = plainAxpys(V[w]!, V, Array.from(coef, (v) => -v));
      expect(basis.column(w)).toEqual(want);
      expect(twin.column(w)).toEqual(want);
      for (const v of [after, after2]) expect(Math.abs(v - plainDot(want, want))).toBeLessThanOrEqual(2 * n * Number.EPSILON * plainDot(want, want));
      // the subtraction and the next dots in one sweep: as the two sweeps apart give them
      const again = new Float64Array(count);
      const saved = basis.column(w).slice();
      const fusedNorm2 = await basis.subtractAndDots(w, count, c, again);
      const subtracted = basis.column(w).slice();
      basis.column(w).set(saved);
      await basis.subtract(w, count, c);
      expect(basis.column(w)).toEqual(subtracted);
      const apart = new Float64Array(count);
      expect(await basis.dots(apart, count, w)).toBe(fusedNorm2);
      expect(again).toEqual(apart);
      // combinations into the first columns, in place: every output from the inputs as they were
      const size = slots - 1;
      const Y = seededVector(7, size * size);
      const cols = Array.from({ length: Math.min(3, size) }, (_, t) => (2 * t + 1) % size);
      const inputs = Array.from({ length: size }, (_, j) => basis.column(j).slice());
      await basis.combineInPlace(Y, size, cols);
      await twin.combineInPlace(Y, size, cols);
      cols.forEach((col, t) => {
        const expected = plainAxpys(new Float64Array(n), inputs, Array.from({ length: size }, (_, j) => Y[j * size + col]!));
        expect(basis.column(t)).toEqual(expected);
        expect(twin.column(t)).toEqual(expected);
      });
      // columns past the outputs are untouched
      for (let j = cols.length; j < size; j++) expect(basis.column(j)).toEqual(inputs[j]);
      // a division entry by entry, bit for bit the plain loop's (a product with 1/d would round differently)
      for (const d of [3, -0.7, 1e-300, 7e300]) {
        const before = basis.column(w).slice();
        twin.column(w).set(before);
        await basis.divide(w, d);
        await twin.divide(w, d);
        const want = before.map((x) => x / d);
        expect(bits(basis.column(w))).toBe(bits(want));
        expect(bits(twin.column(w))).toBe(bits(want));
      }
      basis.release();
    });
  }

  it('over the pool: split at chunk boundaries, every result equals the one-thread result bit for bit', async () => {
    const threads = poolThreads();
    try {
      await setCpuThreads(2);
      await startCpuPool();
      const n = 128 * SWEEP_CHUNK + 5; // 2.6M multiply-adds per sweep of 10 vectors: past the pool threshold
      const basis = await BasisSweeps.create(n, 11);
      filled(basis, 3);
      const run = async () => {
        const c = new Float64Array(10);
        const next = new Float64Array(10);
        const norms = new Float64Array(3);
        norms[0] = await basis.dots(c, 10, 10);
        norms[1] = await basis.subtractAndDots(10, 10, c, next);
        norms[2] = await basis.subtract(10, 10, next);
        await basis.combineInPlace(seededVector(9, 100), 10, [4, 1, 7]);
        await basis.divide(5, 0.37);
        return [c, next, norms, ...Array.from({ length: 11 }, (_, j) => basis.column(j).slice())];
      };
      const saved = Array.from({ length: 11 }, (_, j) => basis.column(j).slice());
      const pooled = await run();
      saved.forEach((v, j) => basis.column(j).set(v));
      await setCpuThreads(1);
      const solo = await run();
      pooled.forEach((v, k) => expect(v.every((x, t) => Object.is(x, solo[k]![t]))).toBe(true));
      basis.release();
    } finally {
      await setCpuThreads(threads);
    }
  });

  it('a recycled memory holds the previous basis: every result is formed from the new data', async () => {
    const a = await BasisSweeps.create(SWEEP_CHUNK + 1, 5);
    filled(a, 1);
    a.release();
    const b = await BasisSweeps.create(SWEEP_CHUNK + 1, 5);
    const V = filled(b, 50);
    const c = new Float64Array(4);
    await b.dots(c, 4, 4);
    for (let i = 0; i < 4; i++) expect(c[i]).toBeCloseTo(plainDot(V[i]!, V[4]!), 10);
    b.release();
  });

  it('refuses a basis over 4 GiB, slots out of range and use after release, by name', async () => {
    expect(BasisSweeps.fits(2 ** 20, 21)).toBe(true);
    expect(BasisSweeps.fits(2 ** 25, 21)).toBe(false);
    await expect(BasisSweeps.create(2 ** 25, 21)).rejects.toThrow(/over the 4 GiB/);
    const b = await BasisSweeps.create(10, 3);
    expect(() => b.column(3)).toThrow(/slot 3 outside 0…2/);
    await expect(b.dots(new Float64Array(4), 4, 0)).rejects.toThrow(/count 4 outside 0…3/);
    b.release();
    expect(() => b.column(0)).toThrow(/after release/);
  });
});

describe('eigsh on the WASM basis (n past one chunk)', () => {
  it('the top eigenpairs of a diagonal operator: values and unit eigenvectors exact to tolerance', async () => {
    const n = 2 * SWEEP_CHUNK + 901;
    const d = Float64Array.from({ length: n }, (_, i) => 1 + ((i * 7919) % n) / n); // a permutation of 1 + i/n
    const r = await eigsh(new DiagonalOperator(d), 4, { which: 'LA', tol: 1e-10, seed: 3 });
    const top = Array.from(d).sort((a, b) => b - a).slice(0, 4).reverse();
    r.eigenvalues.forEach((v, t) => expect(Math.abs(v - top[t]!)).toBeLessThan(1e-8));
    for (let t = 0; t < 4; t++) {
      const at = d.indexOf(top[t]!);
      expect(Math.abs(r.eigenvectors!.get(at, t))).toBeGreaterThan(1 - 1e-6);
    }
  });

  it('an invariant subspace (three distinct eigenvalues): the basis is extended by random orthogonal vectors', async () => {
    const n = SWEEP_CHUNK + 3;
    const d = Float64Array.from({ length: n }, (_, i) => [3, 2, 1][i % 3]!);
    const r = await eigsh(new DiagonalOperator(d), 2, { which: 'LA', ncv: 8, seed: 1 });
    expect(Array.from(r.eigenvalues)).toEqual([expect.closeTo(3, 12), expect.closeTo(3, 12)]);
  });
});

describe('ArrayBasis (the basis of eigsh below BASIS_WASM_MIN_N entries, and over 4 GiB)', () => {
  it('dots are the plain loop\'s sums bit for bit; the subtraction and the combinations the plain axpys\'', async () => {
    const n = 1797;
    const slots = 9; // more than one group of four, and a remainder
    const basis = new ArrayBasis(n, slots);
    const V = filled(basis, 3);
    const w = slots - 1;
    const c = new Float64Array(w);
    expect(await basis.dots(c, w, w)).toBe(plainDot(V[w]!, V[w]!));
    c.forEach((ci, i) => expect(ci).toBe(plainDot(V[i]!, V[w]!)));
    const want = plainAxpys(V[w]!, V, Array.from(c, (v) => -v));
    const next = new Float64Array(w);
    expect(await basis.subtractAndDots(w, w, c, next)).toBe(plainDot(want, want));
    expect(basis.column(w)).toEqual(want);
    next.forEach((ci, i) => expect(ci).toBe(plainDot(V[i]!, want)));
    const Y = seededVector(8, w * w);
    const inputs = Array.from({ length: w }, (_, j) => basis.column(j).slice());
    await basis.combineInPlace(Y, w, [4, 0]);
    [4, 0].forEach((col, t) => {
      expect(basis.column(t)).toEqual(plainAxpys(new Float64Array(n), inputs, Array.from({ length: w }, (_, j) => Y[j * w + col]!)));
    });
  });
});

describe('lanczosBasis: the SIMD sweeps from BASIS_WASM_MIN_N entries', () => {
  it('picks the WASM basis at and above the threshold, the JS one below', async () => {
    const below = await lanczosBasis(BASIS_WASM_MIN_N - 1, 5);
    const at = await lanczosBasis(BASIS_WASM_MIN_N, 5);
    expect(below).toBeInstanceOf(ArrayBasis);
    expect(at).toBeInstanceOf(BasisSweeps);
    below.release();
    at.release();
  });

  it("eigsh hands the basis' memory back where planning the operator fails (a singular shift)", async () => {
    const n = 2 * BASIS_WASM_MIN_N;
    const d = Float64Array.from({ length: n }, (_, i) => i + 1);
    emptyMemoryCache();
    await expect(eigsh(new DiagonalOperator(d), 3, { sigma: 7 })).rejects.toBeInstanceOf(SingularShiftError);
    expect(recycledMemoryBytes()).toBeGreaterThanOrEqual(BasisSweeps.bytes(n, 21));
  });
});
