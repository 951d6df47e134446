/**
 * Sweeps over a basis V of long vectors in cache-sized chunks, for Lanczos at large n: each chunk of the vector
 * being orthogonalised (or of the outputs being formed) stays in cache while every basis vector's chunk streams
 * past once, where one dot or axpy per basis vector would read and write the whole of w once per basis vector.
 * Every entry is formed in the same order as by plain dots and axpys; only the dots' sums over n > CHUNK entries are
 * grouped by chunk (and so round a little differently).
 */

/** Entries per chunk: 2,048 float64 = 16 KiB, so w's chunk and a few basis chunks share the L1/L2. */
const CHUNK = 2048;

/** c[i] = V[i]·w for i < count. */
export function dotsInto(c: Float64Array, V: readonly Float64Array[], count: number, w: Float64Array): void {
  c.fill(0, 0, count);
  const n = w.length;
  for (let s = 0; s < n; s += CHUNK) {
    const e = Math.min(n, s + CHUNK);
    let i = 0;
    for (; i + 4 <= count; i += 4) dots4(c, i, V[i]!, V[i + 1]!, V[i + 2]!, V[i + 3]!, w, s, e);
    for (; i < count; i++) c[i]! += dotRange(V[i]!, w, s, e);
  }
}

/** w ← w − Σ_{i<count} c[i]·V[i]. */
export function subtractCombination(w: Float64Array, V: readonly Float64Array[], count: number, c: Float64Array): void {
  const n = w.length;
  for (let s = 0; s < n; s += CHUNK) {
    const e = Math.min(n, s + CHUNK);
    let i = 0;
    for (; i + 4 <= count; i += 4) axpy4(-c[i]!, -c[i + 1]!, -c[i + 2]!, -c[i + 3]!, V[i]!, V[i + 1]!, V[i + 2]!, V[i + 3]!, w, s, e);
    for (; i < count; i++) axpyRange(-c[i]!, V[i]!, w, s, e);
  }
}

/** out[t] = Σ_{j<size} Y[j·size + cols[t]]·V[j] (Ritz vectors from a row-major size×size Y), fresh arrays. */
export function combineColumns(V: readonly Float64Array[], Y: Float64Array, size: number, cols: readonly number[], n: number): Float64Array[] {
  const out = cols.map(() => new Float64Array(n));
  for (let s = 0; s < n; s += CHUNK) {
    const e = Math.min(n, s + CHUNK);
    cols.forEach((c, t) => {
      const y = (j: number) => Y[j * size + c]!;
      let j = 0;
      for (; j + 4 <= size; j += 4) axpy4(y(j), y(j + 1), y(j + 2), y(j + 3), V[j]!, V[j + 1]!, V[j + 2]!, V[j + 3]!, out[t]!, s, e);
      for (; j < size; j++) axpyRange(y(j), V[j]!, out[t]!, s, e);
    });
  }
  return out;
}

// four basis vectors per sweep of the chunk: w (or the output) loaded and stored once for four of them

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

function axpy4(
  a0: number, a1: number, a2: number, a3: number, v0: Float64Array, v1: Float64Array, v2: Float64Array, v3: Float64Array,
  y: Float64Array, s: number, e: number,
): void {
  for (let t = s; t < e; t++) {
    let acc = y[t]!;
    acc += a0 * v0[t]!; // one term at a time: the rounding of four plain axpys
    acc += a1 * v1[t]!;
    acc += a2 * v2[t]!;
    acc += a3 * v3[t]!;
    y[t] = acc;
  }
}

function dotRange(x: Float64Array, y: Float64Array, s: number, e: number): number {
  let acc = 0;
  for (let t = s; t < e; t++) acc += x[t]! * y[t]!;
  return acc;
}

function axpyRange(a: number, x: Float64Array, y: Float64Array, s: number, e: number): void {
  for (let t = s; t < e; t++) y[t]! += a * x[t]!;
}
