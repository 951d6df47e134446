/**
 * The packed symmetric product kernel alone (src/cpu/dense-product.ts, `denseSymmetricProductWat`), on the calling
 * thread: a random packed float64 K of order n and `cols` right-hand sides, per column time (best over interleaved
 * rounds, so that a busy machine slows every variant alike) and GFlop/s (2·n² per column), for one-column products
 * and for the column groups of a multi-column product, this build beside another (before/after):
 *
 *   npm run build && BEFORE_DIST=/path/to/main/dist node bench/packed-kernels.mjs [n=1257] [cols=12] [rounds=40]
 *
 * Without BEFORE_DIST only this build runs. A build without `interleavedOffset` (main before the column groups) is
 * run as it was: column-major b and mirror sums, one pass over K per PACKED_BLOCK_COLUMNS columns.
 */
import { pathToFileURL } from 'node:url';

const here = new URL('../dist/', import.meta.url).href;
const n = +(process.argv[2] ?? 1257), maxCols = +(process.argv[3] ?? 12), rounds = +(process.argv[4] ?? 40);

async function load(dist) {
  const url = (p) => new URL(p, dist.endsWith('/') ? dist : `${dist}/`).href; // dist: a file: URL
  await import(url('index.js')); // installs the CPU platform
  const dp = await import(url('cpu/dense-product.js'));
  const { assembleWat } = await import(url('cpu/wat-assemble.js'));
  const { watForPlatform } = await import(url('cpu/platform.js'));
  const { laneGroup, packedElements } = await import(url('cpu/wasm-emit.js'));
  const compile = (wat) => new WebAssembly.Module(assembleWat(watForPlatform(wat)));
  return { dp, compile, laneGroup, packedElements };
}

const now = await load(here);
const before = process.env.BEFORE_DIST ? await load(pathToFileURL(process.env.BEFORE_DIST).href) : undefined;
const G = now.laneGroup('float64');
const mPad = Math.ceil(n / G) * G;
const align = (b) => Math.ceil(b / 4096) * 4096;
const kBytes = align(now.packedElements(n, mPad) * 8);
const colBytes = mPad * 8;
const scratch = kBytes, rhs = scratch + 4096, out = rhs + maxCols * colBytes, mirror = out + maxCols * colBytes;
const memory = new WebAssembly.Memory({ initial: Math.ceil((mirror + maxCols * colBytes) / 65536), maximum: 65536, shared: true });
let seed = 1;
const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
const K = new Float64Array(memory.buffer, 0, now.packedElements(n, mPad));
for (let i = 0; i < K.length; i++) K[i] = rand();
const B = Array.from({ length: maxCols }, () => Float64Array.from({ length: n }, rand));

/** A variant: `groups` products of `width` columns each over maxCols columns (grouped: all groups in one call). */
function variant(label, lib, width, grouped) {
  const interleaved = typeof lib.dp.interleavedOffset === 'function';
  const reduce = new WebAssembly.Instance(lib.compile(lib.dp.denseSymmetricProductWat('float64', width)), { env: { mem: memory } }).exports.reduce;
  const perCall = grouped && interleaved ? maxCols - (maxCols % width) : width;
  const at = (j, c) => interleaved
    ? (c - (c % width)) * mPad + lib.dp.interleavedOffset(j, c % width, width) / 8
    : c * mPad + j;
  const run = (keep) => {
    const results = [];
    for (let first = 0; first + perCall <= maxCols; first += perCall) {
      const x = new Float64Array(memory.buffer, rhs, perCall * mPad);
      x.fill(0);
      for (let c = 0; c < perCall; c++) for (let j = 0; j < n; j++) x[at(j, c)] = B[first + c][j];
      reduce(0, n, 0, mPad, rhs, out, mirror, perCall / width, scratch);
      if (keep) for (let c = 0; c < perCall; c++) {
        const o = new Float64Array(memory.buffer, out + c * colBytes, n).slice();
        const m = new Float64Array(memory.buffer, mirror, perCall * mPad);
        for (let i = 0; i < n; i++) o[i] += m[at(i, c)];
        results.push(o);
      }
    }
    return results;
  };
  return { label, run, columns: Math.floor(maxCols / perCall) * perCall, best: Infinity };
}

const variants = [];
for (const [name, lib] of [['before', before], ['now', now]]) {
  if (!lib) continue;
  const interleaved = typeof lib.dp.interleavedOffset === 'function';
  variants.push(variant(`${name}: one column per product`, lib, 1, false));
  if (interleaved) for (const w of [2, 4]) variants.push(variant(`${name}: groups of ${w} in one product`, lib, w, true));
  else variants.push(variant(`${name}: ${lib.dp.PACKED_BLOCK_COLUMNS} columns per product`, lib, lib.dp.PACKED_BLOCK_COLUMNS, false));
}
const reference = variants[0].run(true);
for (const v of variants) {
  const got = v.run(true);
  let diff = 0;
  got.forEach((y, c) => y.forEach((value, i) => { diff = Math.max(diff, Math.abs(value - reference[c][i]) / (1 + Math.abs(reference[c][i]))); }));
  v.diff = diff;
}
for (let r = 0; r < rounds; r++) for (const v of variants) {
  const t = performance.now();
  v.run(false);
  v.best = Math.min(v.best, performance.now() - t);
}
const base = variants[0].best / variants[0].columns;
for (const v of variants) {
  const perColumn = v.best / v.columns;
  console.log(JSON.stringify({
    n, variant: v.label, columns: v.columns, msPerColumn: +perColumn.toFixed(4), gflops: +(2 * n * n / perColumn / 1e6).toFixed(1),
    vsFirst: +(perColumn / base).toFixed(3), relDiffVsFirst: +v.diff.toExponential(1),
  }));
}
