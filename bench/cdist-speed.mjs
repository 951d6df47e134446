/**
 * cdist and a Laplace kernel descriptor's product on n = 3,000 points, best of 5, for one build (the dist/index.js
 * given): run it for two builds alternately to compare (the range-safe Euclidean distance is used only where the
 * points' squares may leave float64's range, so ordinary data must time as before).
 *
 *   npm run build && node bench/cdist-speed.mjs [dist/index.js] [d=3]
 */
const lib = process.argv[2] ?? new URL('../dist/index.js', import.meta.url).href;
const L = await import(lib.startsWith('file:') || lib.startsWith('/') ? lib : new URL(`../${lib}`, import.meta.url).href);
const n = 3000;
const d = Number(process.argv[3] ?? 3);
const x = { data: Float64Array.from({ length: n * d }, (_, i) => Math.sin(i)), rows: n, cols: d };
await L.cdist(x, undefined, {});
let best = Infinity;
for (let r = 0; r < 5; r++) {
  const t = performance.now();
  await L.cdist(x, undefined, {});
  best = Math.min(best, performance.now() - t);
}
const K = L.kernelOperator({ innerP: 2, epilogue: 'laplace' }, x, { denseCache: 'never' });
const v = new Float64Array(n).fill(1);
await K.matvec(v);
let product = Infinity;
for (let r = 0; r < 5; r++) {
  const t = performance.now();
  await K.matvec(v);
  product = Math.min(product, performance.now() - t);
}
console.log(JSON.stringify({ lib, n, d, cdistMs: +best.toFixed(1), laplaceDescriptorProductMs: +product.toFixed(2) }));
await L.shutdownCpuPool();
