/**
 * Small deterministic PRNG for start vectors (eigsh `v0`, lobpcg test blocks).
 * mulberry32: 32-bit state, passes the usual smoke tests, and is reproducible across
 * platforms — which Math.random is not.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform entries in [-1, 1), as ARPACK's dgetv0 draws its start vector. */
export function randomVector(n: number, rng: () => number): Float64Array {
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = 2 * rng() - 1;
  return v;
}

/** One standard normal draw from two uniforms (Box–Muller, the cosine branch only): the seeded toy data's noise. */
export function normalDraw(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}
