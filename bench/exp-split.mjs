/**
 * Is the expanded Gaussian kernel bound by the exp unit? A stand-alone WGSL copy of the library's inner loop at
 * n = m = --n=65536 (d = 3, 256 threads × 4 rows, tiles of 256 points, --splits=16 of the j range: the H100 plan's
 * shape) in variants: every exp2 on the special-function unit ('mufu'), 1 in 16 / 8 / 4 of them by a degree-5
 * polynomial on the FMA pipe ('soft16', 'soft8', 'soft4'), and exp2 replaced by one multiply ('no-exp': the loop's
 * ceiling without the exp unit). Each variant: --dispatches=20 dispatches per submit, best of --reps=7 submits, and
 * its row sums' relative error against 'mufu' (the polynomial's error, ≈ 2e-7, must not show above float32 noise).
 *
 *   npm run build && node bench/exp-split.mjs [--n=65536] [--splits=16]
 */
import '../dist/index.js'; // the Node entry installs the 'webgpu' loader
import { acquireGpu } from '../dist/gpu/device.js';

const args = process.argv.slice(2);
const num = (name, dflt) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const n = num('n', 65536);
const S = num('splits', 16);
const D = num('dispatches', 20);
const REPS = num('reps', 7);
const WG = 256, R = 4, TILE = 256;
if (n % (WG * R) !== 0 || (n / TILE) % S !== 0) throw new Error('n must be a multiple of 1024 and of 256·splits');

// 2^f on [−1/2, 1/2], near-minimax (Lawson-weighted least squares on Chebyshev nodes): 1.9e-7 relative in float32
const C = [0.6931470036506653, 0.24022242426872253, 0.05550733581185341, 0.009671512991189957, 0.001326472731307149];

function wgsl(variant) {
  const soft = { mufu: 0, soft16: 1, soft8: 2, soft4: 4, 'no-exp': 0 }[variant];
  const exp = (t) => (variant === 'no-exp' ? `(${t} * ${t})` : `exp2(${t})`);
  const lines = [];
  for (let k = 0; k < 4; k++) {
    lines.push(`{ let sv0 = T0[jj + ${k}u]; let w = T1[jj + ${k}u].x;`);
    for (let r = 0; r < R; r++) {
      const s = k * R + r < 16 && (r + 4 * k) % (16 / Math.max(soft, 1)) === 0 && soft > 0;
      lines.push(`  let a${r} = fma(x${r}.z, sv0.z, fma(x${r}.y, sv0.y, fma(x${r}.x, sv0.x, sv0.w)));`);
      lines.push(`  p${r} += ${s ? `exp2s(a${r})` : exp(`a${r}`)} * w;`);
    }
    lines.push('}');
  }
  return `
struct U { zero: u32, n: u32, tilesPerSplit: u32, pad: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
var<workgroup> T0: array<vec4<f32>, ${TILE}>;
var<workgroup> T1: array<vec4<f32>, ${TILE}>;
fn opq(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) | u.zero); }
// 2^t: t = n + f by the 1.5·2^23 rounding trick (opq keeps the compiler from folding it), 2^f by a degree-5
// polynomial, n added to the exponent field; t below −125 gives 2^-125-ish (≈ 0 beside any sum here)
fn exp2s(t: f32) -> f32 {
  let c = max(t, -125.0);
  let a = opq(c + 12582912.0);
  let f = c - (a - 12582912.0);
  var p = fma(f, ${C[4]}, ${C[3]});
  p = fma(p, f, ${C[2]}); p = fma(p, f, ${C[1]}); p = fma(p, f, ${C[0]}); p = fma(p, f, 1.0);
  return bitcast<f32>(bitcast<i32>(p) + (bitcast<i32>(a) << 23u));
}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let base = wid.x * ${WG * R}u + lid;
  let split = wid.y;
${Array.from({ length: R }, (_, r) => `  let x${r} = X[base + ${r * WG}u]; var p${r} = 0.0;`).join('\n')}
  for (var t = split * u.tilesPerSplit; t < (split + 1u) * u.tilesPerSplit; t++) {
    workgroupBarrier();
    let j = t * ${TILE}u + lid;
    T0[lid] = X[j];   // the same points on both sides (x = y); .w holds −|ŷ|² for the staged side
    T0[lid].w = -dot(X[j].xyz, X[j].xyz);
    T1[lid] = vec4<f32>(B[j], 0.0, 0.0, 0.0);
    workgroupBarrier();
    for (var jj = 0u; jj < ${TILE}u; jj += 4u) {
${lines.map((l) => `      ${l}`).join('\n')}
    }
  }
${Array.from({ length: R }, (_, r) => `  O[split * u.n + base + ${r * WG}u] = p${r};`).join('\n')}
}`;
}

const { device } = await acquireGpu();
let s = 12345;
const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const scale = Math.sqrt(Math.log2(Math.E) / (2 * 0.1 ** 2)); // σ = 0.1, centred at 0.5
const X = new Float32Array(4 * n);
for (let i = 0; i < n; i++) {
  for (let k = 0; k < 3; k++) X[4 * i + k] = (rnd() - 0.5) * scale;
}
// rows carry 2x̂ in xyz for the pair's fma chain: the loop reads x from the same buffer, so halve y instead
// (2x̂·ŷ = x̂·(2ŷ)); keep it simple: the pair exponent is x̂·ŷ − |ŷ|², an exponent of the same range
const Bw = Float32Array.from({ length: n }, () => rnd() - 0.5);
const buf = (data, usage) => {
  const b = device.createBuffer({ size: data.byteLength, usage: usage | 0x8 });
  device.queue.writeBuffer(b, 0, data);
  return b;
};
const ubuf = buf(new Uint32Array([0, n, n / TILE / S, 0]), 0x40); // UNIFORM
const xbuf = buf(X, 0x80);
const bbuf = buf(Bw, 0x80);
const obuf = device.createBuffer({ size: 4 * n * S, usage: 0x80 | 0x4 });
const read = device.createBuffer({ size: 4 * n * S, usage: 0x1 | 0x8 });

const results = {};
let reference;
for (const variant of ['mufu', 'soft16', 'soft8', 'soft4', 'no-exp', 'mufu']) {
  const module = device.createShaderModule({ code: wgsl(variant) });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length) throw new Error(`${variant}: ${errors.map((m) => m.message).join('; ')}`);
  const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [ubuf, xbuf, bbuf, obuf].map((b, binding) => ({ binding, resource: { buffer: b } })),
  });
  const times = [];
  for (let rep = 0; rep < REPS + 1; rep++) {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    for (let d = 0; d < D; d++) pass.dispatchWorkgroups(n / (WG * R), S);
    pass.end();
    const t = performance.now();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    if (rep > 0) times.push((performance.now() - t) / D);
  }
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(obuf, 0, read, 0, 4 * n * S);
  device.queue.submit([encoder.finish()]);
  await read.mapAsync(1);
  const parts = new Float32Array(read.getMappedRange().slice(0));
  read.unmap();
  const sums = new Float64Array(n);
  for (let q = 0; q < S; q++) for (let i = 0; i < n; i++) sums[i] += parts[q * n + i];
  reference ??= sums;
  let d2 = 0, w2 = 0;
  for (let i = 0; i < n; i++) { d2 += (sums[i] - reference[i]) ** 2; w2 += reference[i] ** 2; }
  const ms = Math.min(...times);
  results[variant] = ms;
  console.log(JSON.stringify({ variant, msPerKernel: +ms.toFixed(4), pairsPerS: +(n * n / (ms / 1e3)).toPrecision(4), relErrVsMufu: +Math.sqrt(d2 / w2).toPrecision(3) }));
}
