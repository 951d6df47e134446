/**
 * cdist and a Laplace kernel descriptor's product on n = 3,000 points, minimum and median of 15, for one build (the dist/index.js
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
const REPS = 15;
/** Minimum and median of REPS timed runs (ms), after two warm-up runs. */
async function timed(run) {
  await run();
  await run();
  const ts = [];
  for (let r = 0; r < REPS; r++) {
    const t = performance.now();
    await run();
    ts.push(performance.now() - t);
  }
  ts.sort((a, b) => a - b);
  return { min: +ts[0].toFixed(1), median: +ts[REPS >> 1].toFixed(1) };
}
const cdistMs = await timed(() => L.cdist(x, undefined, {}));
const K = L.kernelOperator({ innerP: 2, epilogue: 'laplace' }, x, { denseCache: 'never' });
const v = new Float64Array(n).fill(1);
const productMs = await timed(() => K.matvec(v));
console.log(JSON.stringify({ lib, n, d, cdistMs, laplaceDescriptorProductMs: productMs }));
await L.shutdownCpuPool();
