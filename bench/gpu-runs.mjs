/**
 * Issue 21's device runs, one sub-command each; every figure is a JSON line ({"run": …, "kind": …}) and every
 * reference runs in the same command on the same card. `--small` shrinks every size for a dry run on llvmpipe
 * (`EGL_PLATFORM=surfaceless`); the command lines of the device session are in bench/gpu-runs.md.
 *
 *   npm run build && node bench/gpu-runs.mjs <run> [--small] [options]
 *
 *   products  Gaussian matvec (σ = 0.1, d = 3, x uniform in [0,1]³, float32): the whole `K.matvec` call and, with
 *             GPU timestamps, its phases (f64→f32 upload, encode+submit, wait for the map, readback f32→f64, the rest
 *             of the call) at --n=65536,1048576; --ref=/tmp/ref runs the KeOps-scheme CUDA kernel
 *             (../shared/device/keops_scheme_ref.cu) on the same sizes and prints the ratios. Kernel-shape flags as
 *             bench/gpu.ts: --rows --wg --tile --splits --target --direct
 *             (--expanded: the expanded form on llvmpipe too) --upload-chunks; --reps=R (whole calls), --profile-reps=P;
 *             --chunks=1,2,4,… alternates K.matvec between operators whose x goes up in that many blocks.
 *             Then (unless --no-upload-paths) the host cost of an upload of the smallest size on the raw device:
 *             queue.writeBuffer against a persistent MAP_WRITE staging buffer; and (unless --no-steps) each step of
 *             the one-column fast path (`tryGpuMatvec`) timed alone on the raw device at that size, with a trivial
 *             kernel in its place: the host cost of every step, and the alternatives (error scopes, reading the
 *             mapping directly) beside them (--steps-n= another size: llvmpipe's dry run at 65,536).
 *   host      the host side of a whole K.matvec at --n=65536 without an n×n kernel (n×64 and 64×n operators: their
 *             readback and upload phases), for llvmpipe, where submit runs the kernel; --reps=200.
 *   eigsh     eigsh(K, 5) end to end at --n=1048576 (tol 1e-6, seed 1; --ncv=).
 *   spectral  spectralClustering of --n=1000000 points, three noisy concentric circles in 2-D (--noise=0.05), or
 *             with --data=blobs three Gaussians in 3-D (--noise=0.15), on the GPU: end to end, per-stage times, ARI
 *             against the truth.
 *   argkmin   argKmin (k = 10) of |x_i − y_j|², n = m = --n=1000000, d = 3, on the GPU, beside a PyTorch brute force
 *             (bench/torch_argkmin_ref.py: cdist + topk in row chunks; numpy where torch is missing) in the same
 *             command; neighbour agreement of both with exact float64 sets on --sample=500 rows.
 *   grad      issue 18's VJP checks (bench/gradient-check.mjs) on the GPU, each error checked ≤ 1e-3 relative;
 *             then gpNegativeLogMarginalLikelihood + gradient at --gp-n=100000,1000000 (time, iterations).
 *   krr       KernelRidge (σ = 0.1, --alpha=1e-2) fit + predict at --n=1000000 (d = 3 synthetic, --test=100000;
 *             skipped with --solve-only): times, test RMSE against the noiseless truth and the data; then
 *             K.solve(b, 1e-3, rtol --solve-rtol=1e-6, issue 5's bar) at
 *             --solve-n=1048576 (issue 5's problem), its time and verified residual (compensated products).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lib from '../dist/index.js';
import { gaussianBlobs } from './blobs.mjs';

const {
  adjustedRandIndex, concentricCircles, gaussianKernel, getBackendInfo, KernelRidge, lastGpuProfile, mulberry32, setBackend,
  setGpuProfiling, shutdownCpuPool, Vi, Vj,
} = lib;

const [run, ...args] = process.argv.slice(2);
const SMALL = args.includes('--small');
const flag = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const num = (name, big, small) => (flag(name) === undefined ? (SMALL ? small : big) : Number(flag(name)));
const list = (name, big, small) => (flag(name) === undefined ? (SMALL ? small : big) : flag(name).split(',').map(Number));
const log = (o) => console.log(JSON.stringify({ run, ...o }));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const r3 = (v) => +v.toFixed(3);
const sig = (v, p = 4) => +v.toPrecision(p);
const SIGMA = 0.1;

function uniformPoints(n, d, seed) {
  const rand = mulberry32(seed);
  return { data: Float64Array.from({ length: n * d }, () => Math.fround(rand())), rows: n, cols: d };
}

const gpuShape = () => {
  const o = {};
  for (const [f, key] of [['rows', 'rowsPerThread'], ['wg', 'workgroupSize'], ['tile', 'tile'], ['splits', 'splits'], ['target', 'targetWorkgroups'], ['upload-chunks', 'uploadChunks']]) {
    if (flag(f) !== undefined) o[key] = Number(flag(f));
  }
  if (args.includes('--direct')) o.expandedGaussian = false;
  if (args.includes('--expanded')) o.expandedGaussian = true; // llvmpipe's dry run of the hardware form
  return o;
};

/** ‖y − y₆₄‖/‖y₆₄‖ on `rows` sampled rows against the float64 CPU product. */
async function sampledRelErr(x, v, y, count, seed) {
  const rand = mulberry32(seed);
  const rows = Array.from({ length: Math.min(count, x.rows) }, () => Math.floor(rand() * x.rows));
  const xs = { data: new Float64Array(rows.length * x.cols), rows: rows.length, cols: x.cols };
  rows.forEach((i, k) => xs.data.set(x.data.subarray(x.cols * i, x.cols * (i + 1)), x.cols * k));
  const want = await gaussianKernel(xs, { y: x, sigma: SIGMA, backend: 'cpu', dtype: 'float64', denseCache: 'never' }).matvec(v);
  let d = 0;
  let w = 0;
  rows.forEach((i, k) => { d += (y[i] - want[k]) ** 2; w += want[k] ** 2; });
  return Math.sqrt(d / w);
}

// ------------------------------------------------------------------ 1. products

/**
 * `K.matvec` with x uploaded in each of `chunks` blocks (GpuKernelOptions.uploadChunks), one operator per setting on the
 * same points, calls alternating round by round so every setting sees the same host state: median ms and host marks
 * per setting, and each setting's largest deviation from `y` (the main operator's product) relative to max |y|.
 */
async function uploadChunksAB(x, v, y, gpu, chunks, reps) {
  const { setFastPathTimeline, lastFastPathTimeline } = await import('../dist/gpu/reduce.js');
  const ops = chunks.map((c) => gaussianKernel(x, { sigma: SIGMA, backend: 'gpu', gpu: { ...gpu, uploadChunks: c } }));
  const ymax = y.reduce((m, e) => Math.max(m, Math.abs(e)), 0); // (a spread of 2²⁰ arguments overflows the stack)
  const deviation = [];
  for (const K of ops) {
    const yc = await K.matvec(v);
    deviation.push(sig(yc.reduce((m, e, i) => Math.max(m, Math.abs(e - y[i])), 0) / ymax, 3));
    for (let r = 0; r < (SMALL ? 5 : x.rows <= 100_000 ? 300 : 3); r++) await K.matvec(v);
  }
  const times = ops.map(() => []);
  const marks = ops.map(() => []);
  setFastPathTimeline(true);
  for (let r = 0; r < reps; r++) {
    for (const [k, K] of ops.entries()) {
      const t = performance.now();
      await K.matvec(v);
      times[k].push(performance.now() - t);
      const m = lastFastPathTimeline();
      if (m) marks[k].push(m.slice(1).map((e, i) => e - m[i]));
    }
  }
  setFastPathTimeline(false);
  for (const K of ops) await K.dispose();
  return chunks.map((c, k) => ({
    chunks: c, msPerCall: r3(median(times[k])), minMs: r3(Math.min(...times[k])), maxRelDeviation: deviation[k],
    marksMs: marks[k].length ? marks[k][0].map((_, i) => +median(marks[k].map((e) => e[i])).toFixed(4)) : undefined,
  }));
}

async function products() {
  const sizes = list('n', [65_536, 1_048_576], [2048, 8192]);
  const gpu = gpuShape();
  const measured = {};
  for (const n of sizes) {
    const x = uniformPoints(n, 3, 1);
    const rand = mulberry32(2);
    const v = Float64Array.from({ length: n }, () => rand() - 0.5);
    const K = gaussianKernel(x, { sigma: SIGMA, backend: 'gpu', gpu });
    let t = performance.now();
    let y = await K.matvec(v);
    const firstMs = performance.now() - t;
    const reps = num('reps', n <= 100_000 ? 300 : 5, 20);
    // V8 tiers up the host loops (a fresh process's first hundreds of calls measured up to 0.17 ms slower at 65,536)
    for (let r = 0; r < (SMALL ? 5 : n <= 100_000 ? 300 : 3); r++) await K.matvec(v);
    const times = [];
    for (let r = 0; r < reps; r++) {
      t = performance.now();
      y = await K.matvec(v);
      times.push(performance.now() - t);
    }
    // the same call with the JS conversion loop instead of the WASM narrowing (tryGpuMatvec without `narrow`),
    // alternating with K.matvec so both see the same host state
    const { tryGpuMatvec } = await import('../dist/gpu/reduce.js');
    const ab = { wasm: [], js: [] };
    for (let r = 0; r < Math.min(reps, 200); r++) {
      t = performance.now();
      await K.matvec(v);
      ab.wasm.push(performance.now() - t);
      t = performance.now();
      const p = tryGpuMatvec(K.formula.node, n, n, v, gpu);
      if (!p) throw new Error('the fast path did not apply');
      await p;
      ab.js.push(performance.now() - t);
    }
    // the fast path's own host marks (the path unchanged): where a call's time goes between the device's work
    const { setFastPathTimeline, lastFastPathTimeline } = await import('../dist/gpu/reduce.js');
    setFastPathTimeline(true);
    const marks = [];
    for (let r = 0; r < Math.min(reps, 300); r++) {
      t = performance.now();
      await K.matvec(v);
      const end = performance.now();
      const m = lastFastPathTimeline();
      if (m?.length === 7) marks.push({ entry: m[0] - t, narrow: m[1] - m[0], writeBuffer: m[2] - m[1], submit: m[3] - m[2], arm: m[4] - m[3], wait: m[5] - m[4], unpack: m[6] - m[5], resume: end - m[6], total: end - t });
      // x up block by block: the first block's narrow, write and submit, then the other blocks' until the last submit
      if (m?.length === 8) marks.push({ entry: m[0] - t, narrow: m[1] - m[0], writeBuffer: m[2] - m[1], submit: m[3] - m[2], otherBlocks: m[4] - m[3], arm: m[5] - m[4], wait: m[6] - m[5], unpack: m[7] - m[6], resume: end - m[7], total: end - t });
    }
    setFastPathTimeline(false);
    const timeline = marks.length ? Object.fromEntries(Object.keys(marks[0]).map((k) => [k, +median(marks.map((x) => x[k])).toFixed(4)])) : undefined;
    // phases: GPU timestamps around the pass (where the adapter has them) and the host's own clock
    setGpuProfiling(true);
    const prof = [];
    for (let r = 0; r < num('profile-reps', n <= 100_000 ? 50 : 3, 10); r++) {
      t = performance.now();
      await K.matvec(v);
      const total = performance.now() - t;
      const p = lastGpuProfile();
      if (p) prof.push({ ...p, total });
    }
    setGpuProfiling(false);
    const ms = median(times);
    const phases = prof.length ? Object.fromEntries(['passMs', 'uploadMs', 'submitMs', 'waitMs', 'readbackMs', 'total'].map((k) => [k, r3(median(prof.map((p) => p[k])))])) : undefined;
    if (phases) {
      // the call outside runPlan: input checks and copy, scaling checks, the Block wrapper
      phases.restOfCallMs = r3(median(prof.map((p) => p.total - p.uploadMs - p.submitMs - p.waitMs - p.readbackMs)));
      phases.hostMs = r3(median(prof.map((p) => p.total - p.waitMs))); // all but the map's wait (GL: submit runs the kernel)
      phases.convertMs = r3(median(prof.map((p) => p.total - p.submitMs - p.waitMs))); // upload, readback, rest
      if (Number.isFinite(phases.passMs)) phases.nonKernelMs = r3(median(prof.map((p) => p.total - p.passMs)));
    }
    measured[n] = ms;
    const chunkAB = flag('chunks') === undefined ? undefined : await uploadChunksAB(x, v, y, gpu, list('chunks', [], []), Math.min(reps, 300));
    log({
      kind: 'matvec', n, reps, msPerCall: r3(ms), minMs: r3(Math.min(...times)), pairsPerS: sig(n * n / (ms / 1e3)),
      ...(phases && Number.isFinite(phases.passMs) ? { kernelPairsPerS: sig(n * n / (phases.passMs / 1e3)) } : {}),
      firstCallMs: +firstMs.toFixed(1), ...(chunkAB ? { uploadChunks: chunkAB } : {}), alternating: { wasmNarrowMs: r3(median(ab.wasm)), jsConvertMs: r3(median(ab.js)) }, timeline, phases, relErrSample: sig(await sampledRelErr(x, v, y, 64, 3), 3), gpu,
    });
    await K.dispose();
  }
  if (!args.includes('--no-upload-paths')) await uploadPaths(Math.min(...sizes), num('reps', 200, 50));
  if (!args.includes('--no-steps')) await fastPathSteps(num('steps-n', Math.min(...sizes), Math.min(...sizes)), num('reps', 200, 50));
  const ref = flag('ref');
  if (ref) {
    if (!existsSync(ref)) throw new Error(`--ref=${ref}: no such binary (build it: nvcc -O3 -arch=sm_90 -o ${ref} keops_scheme_ref.cu)`);
    const out = spawnSync(ref, sizes.map(String), { encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`${ref} failed: ${out.stderr}`);
    const best = {};
    for (const line of out.stdout.split('\n')) {
      const m = /N=(\d+) BS=(\d+) R=(\d+) ms=([\d.]+)/.exec(line);
      if (!m) continue;
      log({ kind: 'cuda-ref', n: +m[1], bs: +m[2], rowsPerThread: +m[3], ms: +m[4], line: line.trim() });
      best[m[1]] = Math.min(best[m[1]] ?? Infinity, +m[4]);
    }
    for (const n of sizes) if (best[n]) log({ kind: 'ratio', n, cudaMs: best[n], oursMsPerCall: r3(measured[n]), cudaOverOurs: sig(best[n] / measured[n], 3) });
  }
}

/**
 * The host side of a whole `K.matvec` at --n (default 65,536) without the cost of an n×n kernel, for llvmpipe (whose
 * submit runs the kernel): an n×64 operator (its readback is n results) and a 64×n one (its upload is n weights); the
 * phases that scale with n are the first's readback and the second's upload, plus the rest of each call.
 */
async function host() {
  const n = num('n', 65_536, 65_536);
  const reps = num('reps', 100, 100);
  const few = uniformPoints(64, 3, 7);
  const many = uniformPoints(n, 3, 8);
  const phasesOf = async (K, v) => {
    for (let r = 0; r < 30; r++) await K.matvec(v);
    setGpuProfiling(true);
    const prof = [];
    for (let r = 0; r < reps; r++) {
      const t = performance.now();
      await K.matvec(v);
      prof.push({ ...lastGpuProfile(), total: performance.now() - t });
    }
    setGpuProfiling(false);
    const med = (f) => median(prof.map(f));
    return { upload: med((p) => p.uploadMs), readback: med((p) => p.readbackMs), rest: med((p) => p.total - p.uploadMs - p.submitMs - p.waitMs - p.readbackMs), total: med((p) => p.total) };
  };
  const rand = mulberry32(2);
  const tall = await phasesOf(gaussianKernel(many, { y: few, sigma: SIGMA, backend: 'gpu' }), Float64Array.from({ length: 64 }, () => rand() - 0.5));
  const wide = await phasesOf(gaussianKernel(few, { y: many, sigma: SIGMA, backend: 'gpu' }), Float64Array.from({ length: n }, () => rand() - 0.5));
  const hostMs = wide.upload + tall.readback + tall.rest + wide.rest;
  log({
    kind: 'host', n, reps, hostMsPerCall: r3(hostMs), uploadMs: r3(wide.upload), readbackMs: r3(tall.readback),
    restOfCallMs: r3(tall.rest + wide.rest), restTallMs: r3(tall.rest), restWideMs: r3(wide.rest), tallCallMs: r3(tall.total), wideCallMs: r3(wide.total),
  });
}

/**
 * Where an upload's host time goes, on the raw device (no library code): n float64 weights to a float32 storage
 * buffer (a) converted into a reused Float32Array and written by queue.writeBuffer, (b) converted straight into a
 * persistent MAP_WRITE staging buffer (mapped again after each use) and copied by the command encoder; each then
 * submitted and waited for. Medians in ms per step.
 */
async function uploadPaths(n, reps) {
  const { acquireGpu } = await import('../dist/gpu/device.js');
  const { device } = await acquireGpu();
  const rand = mulberry32(9);
  const src = Float64Array.from({ length: n }, () => rand() - 0.5);
  const dst = device.createBuffer({ size: 4 * n, usage: 0x80 | 0x8 }); // STORAGE | COPY_DST
  const f32 = new Float32Array(n);
  const staging = device.createBuffer({ size: 4 * n, usage: 0x2 | 0x4 }); // MAP_WRITE | COPY_SRC
  const steps = { a: [], b: [] };
  for (let r = 0; r < reps + 10; r++) {
    let t0 = performance.now();
    f32.set(src);
    const t1 = performance.now();
    device.queue.writeBuffer(dst, 0, f32);
    const t2 = performance.now();
    device.queue.submit([]);
    await device.queue.onSubmittedWorkDone();
    const t3 = performance.now();
    if (r >= 10) steps.a.push({ convert: t1 - t0, writeBuffer: t2 - t1, submitWait: t3 - t2, total: t3 - t0 });

    t0 = performance.now();
    await staging.mapAsync(0x2); // MAP_WRITE
    const u1 = performance.now();
    new Float32Array(staging.getMappedRange()).set(src);
    staging.unmap();
    const u2 = performance.now();
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(staging, 0, dst, 0, 4 * n);
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    const u3 = performance.now();
    if (r >= 10) steps.b.push({ mapWait: u1 - t0, convertIntoMapping: u2 - u1, copySubmitWait: u3 - u2, total: u3 - t0 });
  }
  const med = (rows) => Object.fromEntries(Object.keys(rows[0]).map((k) => [k, +median(rows.map((x) => x[k])).toFixed(4)]));
  log({ kind: 'upload-paths', n, reps, writeBuffer: med(steps.a), mappedStaging: med(steps.b) });
  dst.destroy();
  staging.destroy();
}

/** `tryGpuMatvec`'s conversion loop (src/gpu/reduce.ts convertSquares), copied: its cost alone. */
function convertSquares(data, src) {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, j = 0;
  const count = src.length;
  for (; j + 4 <= count; j += 4) {
    const a = src[j], b = src[j + 1], c = src[j + 2], d = src[j + 3];
    data[j] = a; data[j + 1] = b; data[j + 2] = c; data[j + 3] = d;
    s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d;
  }
  for (; j < count; j++) { const a = src[j]; data[j] = a; s0 += a * a; }
  return s0 + s1 + s2 + s3;
}

/** The alternative to `convertSquares`: the runtime's converting copy, then Σ x_j² over the float32 copy. */
function nativeThenSquares(data, src) {
  data.set(src);
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, j = 0;
  for (; j + 4 <= data.length; j += 4) {
    const a = data[j], b = data[j + 1], c = data[j + 2], d = data[j + 3];
    s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d;
  }
  for (; j < data.length; j++) s0 += data[j] * data[j];
  return s0 + s1 + s2 + s3;
}

/**
 * The one-column fast path's steps, each timed alone on the raw device (no library code) at n: a trivial kernel
 * (y = 2x, dispatched twice like the kernel and its split sum) stands in for the Gaussian, so `mapWait` is the
 * round trip of a near-empty submit. Steps in the library's order: allocate the float64 output, convert x with its
 * sum of squares, writeBuffer, encode, submit, wait for the map, getMappedRange, bulk copy out of the mapping,
 * float32 → float64 into the output, unmap. Alternatives beside them: pushErrorScope + popErrorScope around the
 * encode and submit, with the await of the pop (`scopes`, what the fast path no longer pays); and float32 → float64
 * straight from the mapping (`directFromMapping`, in place of copy + toFloat64; its map measured as `mapWait2`);
 * the runtime's converting copy and then the sum of squares over float32 (`convertNative`, in place of convert).
 * One microtask hop (`hop`) for scale. Medians in ms.
 */
async function fastPathSteps(n, reps) {
  const { acquireGpu } = await import('../dist/gpu/device.js');
  const { narrowWithSquares } = await import('../dist/cpu/narrow.js');
  const { device } = await acquireGpu();
  const rand = mulberry32(10);
  const x = Float64Array.from({ length: n }, () => rand() - 0.5);
  const module = device.createShaderModule({
    code: `@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < arrayLength(&Y)) { Y[g.x] = 2.0 * X[g.x]; } }`,
  });
  const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const rhs = device.createBuffer({ size: 4 * n, usage: 0x80 | 0x8 }); // STORAGE | COPY_DST
  const out = device.createBuffer({ size: 4 * n, usage: 0x80 | 0x4 }); // STORAGE | COPY_SRC
  const staging = device.createBuffer({ size: 4 * n, usage: 0x1 | 0x8 }); // MAP_READ | COPY_DST
  const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: rhs } }, { binding: 1, resource: { buffer: out } }] });
  const upload = new Float32Array(n);
  const readback = new Float32Array(n);
  const encode = () => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (let k = 0; k < 2; k++) {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(Math.ceil(n / 256));
    }
    pass.end();
    encoder.copyBufferToBuffer(out, 0, staging, 0, 4 * n);
    return encoder.finish();
  };
  const rows = [];
  let check = 0;
  for (let r = 0; r < reps + 20; r++) {
    const t = [performance.now()];
    const y = new Float64Array(n);
    t.push(performance.now());
    check += convertSquares(upload, x);
    t.push(performance.now());
    device.queue.writeBuffer(rhs, 0, upload);
    t.push(performance.now());
    const commands = encode();
    t.push(performance.now());
    device.queue.submit([commands]);
    t.push(performance.now());
    await staging.mapAsync(0x1);
    t.push(performance.now());
    const range = new Float32Array(staging.getMappedRange());
    t.push(performance.now());
    readback.set(range);
    t.push(performance.now());
    y.set(readback);
    t.push(performance.now());
    staging.unmap();
    t.push(performance.now());
    check += y[n - 1];
    // alternatives
    const s0 = performance.now();
    device.pushErrorScope('validation');
    device.queue.submit([encode()]);
    const pop = device.popErrorScope();
    const s1 = performance.now();
    await staging.mapAsync(0x1);
    const s2 = performance.now();
    if (await pop) throw new Error('validation error in the step bench');
    const s3 = performance.now();
    y.set(new Float32Array(staging.getMappedRange()));
    staging.unmap();
    const s4 = performance.now();
    await Promise.resolve();
    const s5 = performance.now();
    check += nativeThenSquares(upload, x);
    const s6 = performance.now();
    const narrowed = narrowWithSquares(x, 0, n);
    const s7 = performance.now();
    device.queue.writeBuffer(rhs, 0, narrowed.data.buffer, narrowed.data.byteOffset, narrowed.data.byteLength);
    const s8 = performance.now();
    check += narrowed.squares;
    if (r < 20) continue;
    const step = (k) => t[k + 1] - t[k];
    rows.push({
      allocate: step(0), convert: step(1), writeBuffer: step(2), encode: step(3), submit: step(4), mapWait: step(5),
      getMappedRange: step(6), copyOut: step(7), toFloat64: step(8), unmap: step(9), total: t[10] - t[0],
      scopesAroundSubmit: s1 - s0 - step(3) - step(4), scopesAwaitPop: s3 - s2, mapWait2: s2 - s1, directFromMapping: s4 - s3, hop: s5 - s4, convertNative: s6 - s5,
      convertWasm: s7 - s6, writeFromWasm: s8 - s7,
    });
  }
  const med = Object.fromEntries(Object.keys(rows[0]).map((k) => [k, +median(rows.map((x) => x[k])).toFixed(4)]));
  log({ kind: 'fast-path-steps', n, reps, ...med, checksum: sig(check, 3) });
  for (const b of [rhs, out, staging]) b.destroy();
}

// ------------------------------------------------------------------ 2. eigsh

async function eigsh() {
  const n = num('n', 1_048_576, 4096);
  const K = gaussianKernel(uniformPoints(n, 3, 1), { sigma: SIGMA, backend: 'gpu', gpu: gpuShape() });
  await K.matvec(new Float64Array(n).fill(1)); // compile and upload outside the timing, as a second eigsh would
  const t = performance.now();
  const e = await K.eigsh(5, {
    tol: num('tol', 1e-6, 1e-6), seed: 1, ...(flag('ncv') ? { ncv: Number(flag('ncv')) } : {}),
    onProgress: (p) => log({ kind: 'progress', iteration: p.iteration, matvecs: p.matvecs, nconv: p.nconv, elapsedS: r3(p.elapsedMs / 1e3) }),
  });
  log({ kind: 'eigsh', n, k: 5, seconds: r3((performance.now() - t) / 1e3), matvecs: e.matvecs, iterations: e.iterations, eigenvalues: Array.from(e.eigenvalues, (v) => sig(v, 8)) });
}

// ------------------------------------------------------------------ 3. spectral clustering

function circles(n, noise) {
  const { points, labels } = concentricCircles(n, { nCircles: 3, noise, seed: 1 });
  const data = new Float64Array(2 * n);
  points.forEach((p, i) => { data[2 * i] = p[0]; data[2 * i + 1] = p[1]; });
  return { data, labels, dim: 2 };
}

async function spectral() {
  const n = num('n', 1_000_000, 3000);
  const t0 = performance.now();
  const blobs = flag('data') === 'blobs';
  const { data, labels, dim } = blobs ? gaussianBlobs(n, num('noise', 0.15, 0.15)) : circles(n, num('noise', 0.05, 0.05));
  log({ kind: 'data', n, data: blobs ? 'blobs-3d' : 'circles-2d', clusters: 3, noise: num('noise', blobs ? 0.15 : 0.05, blobs ? 0.15 : 0.05), generateS: r3((performance.now() - t0) / 1e3) });
  const stages = {};
  let last = 0;
  const t = performance.now();
  const r = await lib.spectralClustering({ data, rows: n, cols: dim }, {
    nClusters: 3, backend: 'gpu', seed: 0,
    onProgress: (p) => {
      stages[p.stage] = r3(p.stageMs / 1e3);
      // every stage change, every 10th LOBPCG iteration, and at least every 5 s
      if (p.stage !== 'eigsh' || p.elapsedMs - last > 5000 || (p.lobpcg?.iteration ?? 1) % 10 === 0) {
        last = p.elapsedMs;
        log({ kind: 'progress', stage: p.stage, elapsedS: r3(p.elapsedMs / 1e3), stageS: r3(p.stageMs / 1e3), ...(p.lobpcg ? { iteration: p.lobpcg.iteration, maxResidual: sig(Math.max(...p.lobpcg.residualNorms), 3) } : {}), ...(p.restart ? { restart: p.restart } : {}) });
      }
    },
  });
  const seconds = (performance.now() - t) / 1e3;
  log({
    kind: 'spectral', n, seconds: r3(seconds), ari: sig(adjustedRandIndex(r.labels, labels), 6), sigma: sig(r.sigma),
    matvecs: r.matvecs, eigenvalues: Array.from(r.eigenvalues, (v) => sig(v, 6)), stageSeconds: stages,
  });
}

// ------------------------------------------------------------------ 4. argKmin

/** Exact float64 squared distances of row i of X to all of Y: the k nearest (ties to the lower j) and the (k+1)-th. */
function exactRow(X, Y, m, i, k) {
  const best = [];
  const x0 = X[3 * i];
  const x1 = X[3 * i + 1];
  const x2 = X[3 * i + 2];
  for (let j = 0; j < m; j++) {
    const a = x0 - Y[3 * j];
    const b = x1 - Y[3 * j + 1];
    const c = x2 - Y[3 * j + 2];
    const s = a * a + b * b + c * c;
    if (best.length <= k || s < best[k][0]) {
      let p = best.length;
      while (p > 0 && best[p - 1][0] > s) p--;
      best.splice(p, 0, [s, j]);
      if (best.length > k + 1) best.pop();
    }
  }
  return best;
}

/** Rows whose neighbour set is the exact one; rows that differ only by near-ties (within `tol` of the k-th distance). */
function agreement(idx, X, Y, m, rows, exact, k) {
  let same = 0;
  let ties = 0;
  const other = [];
  rows.forEach((i, s) => {
    const want = exact[s];
    const got = Array.from(idx.subarray(i * k, (i + 1) * k));
    const wantSet = new Set(want.slice(0, k).map((e) => e[1]));
    if (got.every((j) => wantSet.has(j))) { same++; return; }
    const kth = want[k - 1][0];
    const dist = (j) => { let t = 0; for (let c = 0; c < 3; c++) t += (X[3 * i + c] - Y[3 * j + c]) ** 2; return t; };
    // float32 distances of points in [0,1]³ carry ≈ 1e-7 absolute error (cdist by matmul: |x|² + |y|² − 2x·y)
    if (got.filter((j) => !wantSet.has(j)).every((j) => Math.abs(dist(j) - kth) <= 1e-6)) ties++;
    else other.push(i);
  });
  return { rows: rows.length, same, nearTies: ties, other: other.length, firstOther: other.slice(0, 5) };
}

async function argkmin() {
  const n = num('n', 1_000_000, 4000);
  const k = 10;
  const dir = mkdtempSync(join(tmpdir(), 'argkmin-'));
  const P = uniformPoints(2 * n, 3, 19);
  const X = P.data.subarray(0, 3 * n);
  const Y = P.data.subarray(3 * n);
  const F = Vi({ data: X, rows: n, cols: 3 }).sub(Vj({ data: Y, rows: n, cols: 3 })).sqnorm2();
  const warm = Vi({ data: X.subarray(0, 3 * 64), rows: 64, cols: 3 }).sub(Vj({ data: Y, rows: n, cols: 3 })).sqnorm2();
  await warm.argKmin(k, 1, { backend: 'gpu', dtype: 'float32' }); // compile, upload y
  const t = performance.now();
  const ours = await F.argKmin(k, 1, { backend: 'gpu', dtype: 'float32' });
  const oursS = (performance.now() - t) / 1e3;
  log({ kind: 'ours', n, m: n, d: 3, k, seconds: r3(oursS), pairsPerS: sig(n * n / oursS, 3) });

  const pointsPath = join(dir, 'points.f32');
  writeFileSync(pointsPath, new Uint8Array(Float32Array.from(P.data).buffer));
  const idxPath = join(dir, 'torch-idx.i32');
  const script = new URL('./torch_argkmin_ref.py', import.meta.url).pathname;
  const py = spawnSync('python3', [script, pointsPath, String(n), String(n), '3', String(k), idxPath, ...(flag('chunk') ? ['--chunk', flag('chunk')] : [])], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (py.status !== 0) throw new Error(`torch side failed: ${py.stderr}`);
  const ref = JSON.parse(py.stdout.trim().split('\n').pop());
  log({ kind: 'reference', ...ref, oursOverRef: sig(ref.seconds / oursS, 3) });
  const torchIdx = new Int32Array(readFileSync(idxPath).buffer.slice(0));

  const rand = mulberry32(5);
  const rows = Array.from({ length: Math.min(num('sample', 500, 200), n) }, () => Math.floor(rand() * n));
  const t1 = performance.now();
  const exact = rows.map((i) => exactRow(X, Y, n, i, k));
  log({ kind: 'agreement', side: 'ours', ...agreement(ours, X, Y, n, rows, exact, k), exactS: r3((performance.now() - t1) / 1e3) });
  log({ kind: 'agreement', side: ref.engine, ...agreement(torchIdx, X, Y, n, rows, exact, k) });
}

// ------------------------------------------------------------------ 5. gradients

async function grad() {
  const script = new URL('./gradient-check.mjs', import.meta.url).pathname;
  const gc = spawnSync(process.execPath, [script, '--n', String(num('vjp-n', 500, 200))], { encoding: 'utf8', maxBuffer: 1 << 24, env: process.env });
  if (gc.status !== 0) throw new Error(`gradient-check failed: ${gc.stderr}`);
  for (const line of gc.stdout.split('\n').filter((l) => l.startsWith('{'))) {
    const r = JSON.parse(line);
    const worst = r.errors ? Math.max(...Object.values(r.errors)) : undefined;
    log({ kind: 'vjp-check', ...r, ...(worst === undefined ? {} : { worst: sig(worst, 3), tolerance: r.on?.startsWith('gpu') ? 1e-3 : 1e-6, pass: worst <= (r.on?.startsWith('gpu') ? 1e-3 : 1e-6) }) });
  }
  const gp = lib.gpNegativeLogMarginalLikelihood;
  if (typeof gp !== 'function') {
    log({ kind: 'gp', skipped: 'gpNegativeLogMarginalLikelihood is not in this build (lands with the SLQ helper\'s branch)' });
    return;
  }
  for (const n of list('gp-n', [100_000, 1_000_000], [3000, 6000])) {
    const x = uniformPoints(n, 3, 11);
    const rand = mulberry32(12);
    const noise = num('noise', 1e-2, 1e-2);
    const y = Float64Array.from({ length: n }, (_, i) =>
      Math.sin(2 * Math.PI * x.data[3 * i]) * Math.cos(2 * Math.PI * x.data[3 * i + 1]) + x.data[3 * i + 2] + Math.sqrt(noise) * (rand() + rand() + rand() - 1.5) * 2);
    const K = gaussianKernel(x, { sigma: SIGMA, backend: 'gpu' });
    const options = { method: 'slq' };
    for (const f of ['probes', 'rtol', 'maxiter', 'lanczosSteps']) if (flag(f) !== undefined) options[f] = Number(flag(f));
    const t = performance.now();
    const r = await gp(K, y, noise, options);
    log({
      kind: 'gp', n, sigma: SIGMA, noise, seconds: r3((performance.now() - t) / 1e3), value: sig(r.value, 8), logdet: sig(r.logdet, 8),
      grad: Object.fromEntries(Object.entries(r.grad).map(([key, v]) => [key, sig(v, 6)])), stderr: Object.fromEntries(Object.entries(r.stderr).map(([key, v]) => [key, sig(v, 3)])),
      iterations: r.iterations ? { y: r.iterations.y, probesMax: Math.max(...r.iterations.probes), probesMedian: median(r.iterations.probes) } : undefined, method: r.method, options,
    });
    await K.dispose();
  }
}

// ------------------------------------------------------------------ 6. kernel ridge regression, K.solve at α = 1e-3

async function krr() {
  const n = num('n', 1_000_000, 4000);
  const nt = num('test', 100_000, 1000);
  const alpha = num('alpha', 1e-2, 1e-2);
  const truth = (p, i) => Math.sin(2 * Math.PI * p[3 * i]) * Math.cos(2 * Math.PI * p[3 * i + 1]) + p[3 * i + 2];
  const x = uniformPoints(n, 3, 21);
  const t = uniformPoints(nt, 3, 22);
  const rand = mulberry32(23);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const y = Float64Array.from({ length: n }, (_, i) => truth(x.data, i) + 0.1 * gauss());
  const f = Float64Array.from({ length: nt }, (_, i) => truth(t.data, i));
  const yt = f.map((v) => v + 0.1 * gauss());
  if (!args.includes('--solve-only')) await krrFit(x, y, t, f, yt, alpha, nt, n);
  await issue5Solve();
}

async function krrFit(x, y, t, f, yt, alpha, nt, n) {
  const t0 = performance.now();
  const model = await new KernelRidge({ sigma: SIGMA, alpha, backend: 'gpu', solveOptions: { rtol: num('rtol', 1e-5, 1e-5) } }).fit(x, y);
  const t1 = performance.now();
  const p = await model.predict(t);
  const t2 = performance.now();
  const rmse = (a, b) => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0) / a.length);
  log({ kind: 'krr', n, test: nt, d: 3, sigma: SIGMA, alpha, fitS: r3((t1 - t0) / 1e3), predictS: r3((t2 - t1) / 1e3), rmseVsTruth: sig(rmse(p, f)), rmseVsNoisy: sig(rmse(p, yt)), noiseStd: 0.1 });
  await model.dispose();
}

async function issue5Solve() {
  // issue 5's solve: (K + 1e-3 I) a = b, b uniform in [−½, ½], as `K.solve` picks (default preconditioner, refinement)
  const sn = num('solve-n', 1_048_576, 4096);
  const xs = uniformPoints(sn, 3, 1);
  const K = gaussianKernel(xs, { sigma: SIGMA, backend: 'gpu' });
  const rb = mulberry32(5);
  const b = Float64Array.from({ length: sn }, () => rb() - 0.5);
  const ts = performance.now();
  let iterations = 0;
  const rtol = num('solve-rtol', 1e-6, 1e-6); // issue 5's bar: rtol 1e-6 in ≤ 30 s
  const a = await K.solve(b, 1e-3, { rtol, onProgress: (q) => { iterations = q.iteration; } });
  const seconds = (performance.now() - ts) / 1e3;
  const check = gaussianKernel(xs, { sigma: SIGMA, backend: 'gpu', gpu: { compensated: true } });
  const Ka = await check.matvec(a);
  let res = 0;
  let nb = 0;
  for (let i = 0; i < sn; i++) { res += (b[i] - Ka[i] - 1e-3 * a[i]) ** 2; nb += b[i] ** 2; }
  log({ kind: 'solve', n: sn, alpha: 1e-3, rtol, seconds: r3(seconds), iterations, relResidual: sig(Math.sqrt(res / nb), 3), preconditioner: String((await K.preconditioner(1e-3)) ?? 'none') });
}

const RUNS = { host, products, eigsh, spectral, argkmin, grad, krr };

async function main() {
  if (!RUNS[run]) throw new Error(`usage: node bench/gpu-runs.mjs <${Object.keys(RUNS).join('|')}> [--small] [options]; got ${run}`);
  await setBackend('gpu');
  const info = await getBackendInfo();
  log({ kind: 'device', node: process.version, adapter: info.adapter, small: SMALL });
  const t = performance.now();
  await RUNS[run]();
  log({ kind: 'done', seconds: r3((performance.now() - t) / 1e3) });
}

main().then(() => shutdownCpuPool()).then(() => process.exit(0), (error) => {
  console.error(error);
  process.exit(1);
});
