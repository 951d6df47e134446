// Small-problem fixed costs (issue 16 item 19): eigsh(K, 5) of a Gaussian kernel (σ = 2) on 1,797 points in d = 64
// — scikit-learn's digits scaled to [0, 1] when sklearn is installed, else seeded uniform points — end to end in a
// fresh process each time: ours (import excluded: operator, first product, Lanczos) against scipy's dense K
// (cdist + exp) and ARPACK eigsh (imports excluded). Runs each REPS times alternately, prints medians and the ratio,
// and for ours where the time went (medians): the import (not timed), the operator's construction, the first product
// (K stored, programs compiled), the other products, and the rest (Lanczos on the calling thread); scipy's cdist + exp
// apart from ARPACK, and both sides' operator applications. Ours runs twice per rep: as it is, and with
// LAZYLINALG_PREFAULT=0 (K's fresh pages then come at the store's own first touches instead of being written on
// libuv's thread pool meanwhile); mainCpuMs is the calling thread's CPU time (Linux), the work left on that thread;
// gcMs / gcMajorMs the garbage collector's pauses within the timed span (all, and the Mark-Compacts among them).
// Both sides' first-touch page faults are counted (numpy madvises transparent huge pages for its large arrays: one
// fault a 2 MiB page; V8 cannot for a WebAssembly memory: one a 4 KiB page); with --reference-4k-pages each rep also
// runs scipy with NUMPY_MADVISE_HUGEPAGE=0, numpy on the pages V8 gets, beside the default run (the reference).
// Usage: npm run build && node bench/small-eigsh.mjs [reps] [--reference-4k-pages]
// With LAZYLINALG_BEFORE=<another build's dist/index.js> (e.g. main's, built into /tmp), each rep also runs that build
// the same way, alternating with ours: before_median_s, its phases, and ours/before.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const pages4k = process.argv.includes('--reference-4k-pages');
const reps = Number(process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 5);
const lib = process.env.LAZYLINALG_LIB ?? new URL('../dist/index.js', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'small-eigsh-'));
const file = join(dir, 'points.f64');

let source = 'digits';
try {
  execFileSync('python3', ['-c', `from sklearn.datasets import load_digits\n(load_digits().data / 16).astype('float64').tofile(${JSON.stringify(file)})`]);
} catch {
  source = 'uniform';
  let s = 7;
  const r = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  writeFileSync(file, Buffer.from(Float64Array.from({ length: 1797 * 64 }, r).buffer));
}

const oursWith = (lib) => `
const { readFileSync } = await import('node:fs');
const { PerformanceObserver, constants } = await import('node:perf_hooks');
const gcs = [];
const gcObserver = new PerformanceObserver((list) => gcs.push(...list.getEntries()));
gcObserver.observe({ entryTypes: ['gc'] });
const i0 = performance.now();
const { gaussianKernel, aslinearoperator, shutdownCpuPool } = await import(${JSON.stringify(lib)});
const importMs = performance.now() - i0;
const data = new Float64Array(readFileSync(${JSON.stringify(file)}).buffer.slice(0));
// the calling thread's CPU time in ms where Linux gives it (schedstat), else NaN
const threadCpu = () => { try { return Number(readFileSync('/proc/self/task/' + process.pid + '/schedstat', 'utf8').split(' ')[0]) / 1e6; } catch { return NaN; } };
const cpu0 = threadCpu();
const f0 = process.resourceUsage().minorPageFault;
const t = performance.now();
const K = aslinearoperator(gaussianKernel({ data, rows: data.length / 64, cols: 64 }, { sigma: 2 }));
const constructMs = performance.now() - t;
// the products, timed at the operator's _matvec (the one-column product behind matvec and one-column blocks alike)
const matvec = K._matvec.bind(K);
const products = [];
K._matvec = async (x) => { const s = performance.now(); const y = await matvec(x); products.push(performance.now() - s); return y; };
const r = await K.eigsh(5);
const end = performance.now();
const seconds = (end - t) / 1000;
const mainCpuMs = threadCpu() - cpu0;
const faults = process.resourceUsage().minorPageFault - f0;
await new Promise((resolve) => setImmediate(resolve)); // the observer's entries are delivered asynchronously
gcs.push(...gcObserver.takeRecords());
gcObserver.disconnect();
const inSpan = gcs.filter((g) => g.startTime >= t && g.startTime < end);
const gcMs = inSpan.reduce((a, g) => a + g.duration, 0);
const gcMajorMs = inSpan.filter((g) => g.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR).reduce((a, g) => a + g.duration, 0);
const rest = products.slice(1).reduce((a, b) => a + b, 0);
console.log(JSON.stringify({
  seconds, eigenvalues: Array.from(r.eigenvalues),
  phases: { importMs, constructMs, firstProductMs: products[0], otherProductsMs: rest, products: products.length, lanczosMs: seconds * 1000 - constructMs - products[0] - rest, mainCpuMs, gcMs, gcMajorMs, faults },
}));
await shutdownCpuPool();`;
const ours = oursWith(lib);
const before = process.env.LAZYLINALG_BEFORE;

const scipy = `
import json, resource, time, numpy as np
from scipy.sparse.linalg import eigsh, LinearOperator
from scipy.spatial.distance import cdist
X = np.fromfile(${JSON.stringify(file)}).reshape(-1, 64)
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
t = time.perf_counter()
K = np.exp(-cdist(X, X, 'sqeuclidean') / (2 * 2.0 ** 2))
t1 = time.perf_counter()
count = [0]
def mv(v):
    count[0] += 1
    return K @ v
w = eigsh(LinearOperator(K.shape, matvec=mv, dtype=K.dtype), 5)[0]
t2 = time.perf_counter()
print(json.dumps({'seconds': t2 - t, 'eigenvalues': sorted(w.tolist()), 'phases': {'denseKMs': (t1 - t) * 1e3, 'arpackMs': (t2 - t1) * 1e3, 'products': count[0], 'faults': resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0}}))`;

const run = (cmd, args, env = {}) => JSON.parse(execFileSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env } }).trim().split('\n').pop());
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const times = { ours: [], oursNoPrefault: [], scipy: [], scipy4k: [], before: [] };
const phases = { ours: [], oursNoPrefault: [], scipy: [], scipy4k: [], before: [] };
let last;
for (let i = 0; i < reps; i++) {
  const a = run(process.execPath, ['--input-type=module', '-e', ours]);
  times.ours.push(a.seconds);
  phases.ours.push(a.phases);
  const c = run(process.execPath, ['--input-type=module', '-e', ours], { LAZYLINALG_PREFAULT: '0' });
  times.oursNoPrefault.push(c.seconds);
  phases.oursNoPrefault.push(c.phases);
  if (before) {
    const p = run(process.execPath, ['--input-type=module', '-e', oursWith(before)]);
    times.before.push(p.seconds);
    phases.before.push(p.phases);
  }
  let b;
  try {
    b = run('python3', ['-c', scipy]);
    times.scipy.push(b.seconds);
    phases.scipy.push(b.phases);
    if (pages4k) {
      const small = run('python3', ['-c', scipy], { NUMPY_MADVISE_HUGEPAGE: '0' });
      times.scipy4k.push(small.seconds);
      phases.scipy4k.push(small.phases);
    }
  } catch {
    b = undefined;
  }
  last = { ours: a.eigenvalues, scipy: b?.eigenvalues };
}
/** The median of each phase over the reps. */
const medianPhases = (list) => list.length === 0 ? null
  : Object.fromEntries(Object.keys(list[0]).map((key) => [key, +(+median(list.map((p) => p[key] ?? NaN))).toFixed(1)]));
const result = {
  source, n: 1797, d: 64, reps,
  ours_s: times.ours.map((t) => +t.toFixed(3)), scipy_s: times.scipy.map((t) => +t.toFixed(3)),
  ours_median_s: +median(times.ours).toFixed(3),
  ours_no_prefault_s: times.oursNoPrefault.map((t) => +t.toFixed(3)),
  ours_no_prefault_median_s: +median(times.oursNoPrefault).toFixed(3),
  scipy_median_s: times.scipy.length ? +median(times.scipy).toFixed(3) : null,
  ratio: times.scipy.length ? +(median(times.ours) / median(times.scipy)).toFixed(2) : null,
  ...(pages4k && times.scipy4k.length ? { scipy_4k_pages_median_s: +median(times.scipy4k).toFixed(3), ratio_4k_pages: +(median(times.ours) / median(times.scipy4k)).toFixed(2) } : {}),
  ratio_no_prefault: times.scipy.length ? +(median(times.oursNoPrefault) / median(times.scipy)).toFixed(2) : null,
  ...(before ? {
    before, before_s: times.before.map((t) => +t.toFixed(3)), before_median_s: +median(times.before).toFixed(3),
    ratio_to_before: +(median(times.ours) / median(times.before)).toFixed(2),
  } : {}),
  phases_median_ms: {
    ours: medianPhases(phases.ours), oursNoPrefault: medianPhases(phases.oursNoPrefault), scipy: medianPhases(phases.scipy),
    ...(pages4k ? { scipy4kPages: medianPhases(phases.scipy4k) } : {}),
    ...(before ? { before: medianPhases(phases.before) } : {}),
  },
  eigenvalues: last,
};
console.log(JSON.stringify(result, null, 1));
