/**
 * A basis of long vectors (Lanczos' V, n × slots) and the sweeps a Krylov solver makes over it: dots against every
 * basis vector, the subtraction of their combination, and combinations written back in place (thick-restart Ritz
 * vectors). Beside Block, the other store of vectors the solvers share: its storage is the CPU backend's business, so
 * the solvers (which know no backend) get it here. It lives in one WebAssembly memory swept in WASM SIMD
 * (cpu/basis-sweeps.ts); a basis over the 4 GiB of a memory falls back to plain arrays and the same sweeps in JS. Both
 * run chunk by chunk, four basis vectors per pass, and round every axpy-like entry as plain axpys do; dots differ
 * between them only in the grouping of their sums.
 */
import { BasisSweeps, SWEEP_CHUNK } from '../cpu/basis-sweeps.js';

export interface LanczosBasis {
  readonly n: number;
  readonly slots: number;
  /** Slot j's vector, read and written in place (valid until `release`). */
  column(j: number): Float64Array;
  /** c[i] = V_i · V_w for i < count; returns V_w · V_w. */
  dots(c: Float64Array, count: number, w: number): Promise<number>;
  /** V_w ← V_w / d, entry by entry (a division, not a product with 1/d). */
  divide(w: number, d: number): Promise<void>;
  /** V_w ← V_w − Σ_{i<count} c[i]·V_i; returns the new V_w · V_w. */
  subtract(w: number, count: number, c: Float64Array): Promise<number>;
  /** `subtract`, then next[i] = V_i · V_w (i < count): the same results, in one sweep where the kernels can. */
  subtractAndDots(w: number, count: number, c: Float64Array, next: Float64Array): Promise<number>;
  /** V_t ← Σ_{j<size} Y[j·size + cols[t]]·V_j for t < cols.length (Y row-major size×size). */
  combineInPlace(Y: Float64Array, size: number, cols: readonly number[]): Promise<void>;
  release(): void;
}

/**
 * A basis of `slots` vectors of n entries: from BASIS_WASM_MIN_N entries, in a WebAssembly memory where it fits; else
 * in plain arrays.
 */
export async function lanczosBasis(n: number, slots: number): Promise<LanczosBasis> {
  return n >= BASIS_WASM_MIN_N && BasisSweeps.fits(n, slots) ? BasisSweeps.create(n, slots) : new ArrayBasis(n, slots);
}

/**
 * Below this many entries the JS sweeps cost no more than the SIMD ones. Measured (2-vCPU VM, eigsh(D, 5) of a
 * diagonal D, ncv 20, 64 products, warm): n = 200 3.3 ms in JS, 2.4 in WASM; n = 500 4.6 against 2.4; n = 1,500
 * 10.0 against 3.9 — the JS sweeps are scalar. The threshold was one chunk (2,048) before, which left eigsh at
 * n = 1,500–2,048 (digits, the shift-invert bench) on the scalar sweeps.
 */
export const BASIS_WASM_MIN_N = 256;

const CHUNK = SWEEP_CHUNK;

/** The basis in plain arrays, swept in JS (for a basis over 4 GiB, and as the tests' second implementation). */
export class ArrayBasis implements LanczosBasis {
  readonly n: number;
  readonly slots: number;
  private readonly V: Float64Array[];

  constructor(n: number, slots: number) {
    this.n = n;
    this.slots = slots;
    this.V = Array.from({ length: slots }, () => new Float64Array(n));
  }

  column(j: number): Float64Array {
    return this.V[j]!;
  }

  async dots(c: Float64Array, count: number, w: number): Promise<number> {
    const { V, n } = this;
    const x = V[w]!;
    c.fill(0, 0, count);
    for (let s = 0; s < n; s += CHUNK) {
      const e = Math.min(n, s + CHUNK);
      let i = 0;
      for (; i + 4 <= count; i += 4) dots4(c, i, V[i]!, V[i + 1]!, V[i + 2]!, V[i + 3]!, x, s, e);
      for (; i < count; i++) c[i]! += dotRange(V[i]!, x, s, e);
    }
    return this.selfDot(w);
  }

  async divide(w: number, d: number): Promise<void> {
    const x = this.V[w]!;
    for (let i = 0; i < x.length; i++) x[i]! /= d;
  }

  async subtract(w: number, count: number, c: Float64Array): Promise<number> {
    const { V, n } = this;
    const y = V[w]!;
    for (let s = 0; s < n; s += CHUNK) {
      const e = Math.min(n, s + CHUNK);
      let i = 0;
      for (; i + 4 <= count; i += 4) axpy4(-c[i]!, -c[i + 1]!, -c[i + 2]!, -c[i + 3]!, V[i]!, V[i + 1]!, V[i + 2]!, V[i + 3]!, y, 0, s, e);
      for (; i < count; i++) axpyRange(-c[i]!, V[i]!, y, 0, s, e);
    }
    return this.selfDot(w);
  }

  async subtractAndDots(w: number, count: number, c: Float64Array, next: Float64Array): Promise<number> {
    await this.subtract(w, count, c);
    return this.dots(next, count, w);
  }

  /** V_w · V_w by chunks (for n ≤ one chunk, the plain sum of squares). */
  private selfDot(w: number): number {
    const x = this.V[w]!;
    let total = 0;
    for (let s = 0; s < this.n; s += CHUNK) total += dotRange(x, x, s, Math.min(this.n, s + CHUNK));
    return total;
  }

  async combineInPlace(Y: Float64Array, size: number, cols: readonly number[]): Promise<void> {
    const { V, n } = this;
    // each chunk of every output is formed before any is written back, so the outputs may overwrite the inputs
    const scratch = cols.map(() => new Float64Array(CHUNK));
    for (let s = 0; s < n; s += CHUNK) {
      const e = Math.min(n, s + CHUNK);
      cols.forEach((c, t) => {
        const out = scratch[t]!.fill(0);
        const y = (j: number) => Y[j * size + c]!;
        // 0 − s, not −s: −0 is no small integer, and the sweeps' optimised code (made for integer offsets by the
        // orthogonalisations before) was thrown away at the first chunk of every restart
        const yd = 0 - s;
        let j = 0;
        for (; j + 4 <= size; j += 4) axpy4(y(j), y(j + 1), y(j + 2), y(j + 3), V[j]!, V[j + 1]!, V[j + 2]!, V[j + 3]!, out, yd, s, e);
        for (; j < size; j++) axpyRange(y(j), V[j]!, out, yd, s, e);
      });
      cols.forEach((_, t) => V[t]!.set(scratch[t]!.subarray(0, e - s), s));
    }
  }

  release(): void {}
}

// four basis vectors per sweep of the chunk: the updated vector loaded and stored once for four of them

function dots4(
  c: Float64Array, i: number, v0: Float64Array, v1: Float64Array, v2: Float64Array, v3: Float64Array, w: Float64Array, s: number, e: number,
): void {
  let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (let t = s; t < e; t++) {
    const x = w[t]!;
    a0 += v0[t]! * x; a1 += v1[t]! * x; a2 += v2[t]! * x; a3 += v3[t]! * x;
  }
  c[i]! += a0; c[i + 1]! += a1; c[i + 2]! += a2; c[i + 3]! += a3;
}

/** y[t + yd] += a0·v0[t] + … + a3·v3[t] for t in [s, e), one term at a time: the rounding of four plain axpys. */
function axpy4(
  a0: number, a1: number, a2: number, a3: number, v0: Float64Array, v1: Float64Array, v2: Float64Array, v3: Float64Array,
  y: Float64Array, yd: number, s: number, e: number,
): void {
  for (let t = s; t < e; t++) {
    let acc = y[t + yd]!;
    acc += a0 * v0[t]!;
    acc += a1 * v1[t]!;
    acc += a2 * v2[t]!;
    acc += a3 * v3[t]!;
    y[t + yd] = acc;
  }
}

function dotRange(x: Float64Array, y: Float64Array, s: number, e: number): number {
  let acc = 0;
  for (let t = s; t < e; t++) acc += x[t]! * y[t]!;
  return acc;
}

function axpyRange(a: number, x: Float64Array, y: Float64Array, yd: number, s: number, e: number): void {
  for (let t = s; t < e; t++) y[t + yd]! += a * x[t]!;
}
