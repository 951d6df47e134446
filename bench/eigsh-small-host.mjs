/**
 * eigsh's host cost at small n, warm: eigsh(D, 5) of a diagonal D (1000·e^(−i/30) plus seeded noise; ncv 20, 64
 * products that cost nothing), 26 calls in one process, the last one's time printed — Lanczos' own work (basis
 * sweeps, restarts) with compilation and first-call costs behind it. With LAZYLINALG_LIB set to another build's
 * index.js, that build instead (run each build in its own process to compare them).
 *
 *   npm run build && node bench/eigsh-small-host.mjs [n …=500 1500]
 */
const lib = process.env.LAZYLINALG_LIB ?? new URL('../dist/index.js', import.meta.url).href;
const { DiagonalOperator, eigsh, mulberry32 } = await import(lib);
for (const n of process.argv.length > 2 ? process.argv.slice(2).map(Number) : [500, 1500]) {
  const rand = mulberry32(5);
  const D = new DiagonalOperator(Float64Array.from({ length: n }, (_, i) => 1000 * Math.exp(-i / 30) + rand()));
  let ms = 0;
  let matvecs = 0;
  for (let r = 0; r < 26; r++) {
    const t = performance.now();
    matvecs = (await eigsh(D, 5)).matvecs;
    ms = performance.now() - t;
  }
  console.log(JSON.stringify({ n, lastCallMs: +ms.toFixed(2), matvecs }));
}
