/// <reference types="@webgpu/types" />
/**
 * The greedy farthest-point order on the device: order[0] = `first`, and each next point is the one whose squared
 * Euclidean distance (float32) to the nearest point chosen so far is largest. Ties go to the smallest row index, so
 * once every point left coincides with a chosen one (all distances 0) the order goes on through the points not yet
 * chosen in increasing index; chosen points carry distance −1 and are never taken again.
 *
 * Why on the device: the host order (`FarthestPointOrder`) takes seconds at n = 2²⁰, m = 8192 on a slow host CPU,
 * and a device step that went back to the host for its winner would cost m round trips. Here a step is two
 * dispatches that read the previous winner from a storage buffer, many steps are encoded per command buffer, and the
 * order is read back once.
 *
 * Before they are rounded to float32 the points are shifted and scaled by a power of two (`placement`): the order is
 * unchanged in exact arithmetic, squared distances cannot overflow, and a far-off origin costs no digits, while
 * coordinates that are float32 values already stay exact.
 */
import type { PointRows } from '../../preconditioners/farthest-point.js';
import { GpuOutOfMemoryError, type GpuContext } from '../device.js';
import { pipelineFor } from '../reduce.js';
import { HEADER_BYTES, type GpuProgram } from '../wgsl-emit.js';
import { fixedProgram, USAGE } from './fixed-programs.js';

const MAP_READ = USAGE.MAP_READ;

/**
 * Points per thread of the update pass (at least): with 256 threads a workgroup covers 1024 points, 1024 partials at
 * n = 2²⁰ — a full H100 of resident threads for the update, and still one small loop per thread for the reduction.
 * Larger n raise it, so the partials stay ≤ MAX_PARTIALS.
 */
const MIN_POINTS_PER_THREAD = 4;
const MAX_PARTIALS = 1024;
/**
 * Steps encoded per command buffer: the host encodes the next while the device runs the last, and no command buffer
 * grows past a few hundred dispatches.
 */
const STEPS_PER_SUBMIT = 256;
/** Initial distance of every point (float32's largest): above any squared distance of the scaled points. */
const FAR = 3.4028234663852886e38;

const UNIFORM_DECL = `struct U { n: u32, stride: u32, chunk: u32, groups: u32, gx: u32, p0: u32, p1: u32, p2: u32 }
struct Best { v: f32, i: u32 }
@group(0) @binding(0) var<uniform> u: U;`;

/** Tree reduction of (wv, wi) to slot 0 in workgroup memory: larger distance, then smaller index. */
function reduceWorkgroup(wg: number): string {
  return `  wv[t] = bv;
  wi[t] = bi;
  for (var h = ${wg >> 1}u; h > 0u; h >>= 1u) {
    workgroupBarrier();
    if (t < h) {
      let ov = wv[t + h];
      let oi = wi[t + h];
      if (ov > wv[t] || (ov == wv[t] && oi < wi[t])) {
        wv[t] = ov;
        wi[t] = oi;
      }
    }
  }
`;
}

/**
 * Pass 1 of a step: the point chosen last (S[0]) lowers the distances D of workgroup g's points [g·chunk, …) and is
 * marked chosen (−1); the workgroup's largest distance and its smallest index go to P[g]. X holds `stride` vec4 per
 * point (zero-padded); `wide` is the variant for stride > 1.
 */
function updateProgram(wg: number, wide: boolean): GpuProgram {
  const distance = wide
    ? `      var s = 0.0;
      for (var k = 0u; k < u.stride; k++) {
        let t4 = X[i * u.stride + k] - X[c * u.stride + k];
        s += dot(t4, t4);
      }`
    : `      let t4 = X[i] - cx;
      let s = dot(t4, t4);`;
  return fixedProgram(`fps-${wide ? 'update-wide' : 'update'}-${wg}`, wg, ['read-only-storage', 'storage', 'read-only-storage', 'storage'], `${UNIFORM_DECL}
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> D: array<f32>;
@group(0) @binding(3) var<storage, read> S: array<u32>;
@group(0) @binding(4) var<storage, read_write> P: array<Best>;
var<workgroup> wv: array<f32, ${wg}>;
var<workgroup> wi: array<u32, ${wg}>;

@compute @workgroup_size(${wg})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let g = wid.x + wid.y * u.gx;
  if (g >= u.groups) { return; }
  let t = lid.x;
  let c = S[0];
${wide ? '' : '  let cx = X[c];\n'}  let end = min(g * u.chunk + u.chunk, u.n);
  var bv = -2.0;
  var bi = 0xffffffffu;
  // increasing i per thread, so a strict > keeps the smallest index of a tie
  for (var i = g * u.chunk + t; i < end; i += ${wg}u) {
    var di = D[i];
    if (i == c) {
      di = -1.0;
      D[i] = di;
    } else if (di > 0.0) {
${distance}
      if (s < di) {
        di = s;
        D[i] = s;
      }
    }
    if (di > bv) {
      bv = di;
      bi = i;
    }
  }
${reduceWorkgroup(wg)}  if (t == 0u) { P[g] = Best(wv[0], wi[0]); }
}
`);
}

/** Pass 2 of a step: one workgroup reduces the partials and appends the winner to O (at S[1]) and to S[0]. */
function selectProgram(wg: number): GpuProgram {
  return fixedProgram(`fps-select-${wg}`, wg, ['read-only-storage', 'storage', 'storage'], `${UNIFORM_DECL}
@group(0) @binding(1) var<storage, read> P: array<Best>;
@group(0) @binding(2) var<storage, read_write> S: array<u32>;
@group(0) @binding(3) var<storage, read_write> O: array<u32>;
var<workgroup> wv: array<f32, ${wg}>;
var<workgroup> wi: array<u32, ${wg}>;

@compute @workgroup_size(${wg})
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let t = lid.x;
  var bv = -2.0;
  var bi = 0xffffffffu;
  for (var p = t; p < u.groups; p += ${wg}u) {
    let q = P[p];
    if (q.v > bv || (q.v == bv && q.i < bi)) {
      bv = q.v;
      bi = q.i;
    }
  }
${reduceWorkgroup(wg)}  if (t == 0u) {
    let k = S[1];
    O[k] = wi[0];
    S[0] = wi[0];
    S[1] = k + 1u;
  }
}
`);
}

/**
 * The shift and scale applied to the points before they are rounded to float32: x ↦ (x − centre)·scale, scale a
 * power of two that brings every coordinate into [−1, 1] (squared distances ≤ 4·cols, no overflow). A coordinate is
 * shifted only where its range lies away from zero (|x| ≥ hi − lo throughout), where storing it as it is would spend
 * float32 digits on the offset; the shift is then a multiple of 2^(e−25), 2^e ≤ max|x| < 2^(e+1), so that for
 * float32 inputs x − centre is exact in float32 (all such x are multiples of 2^(e−24) and |x − centre| < 2^(e−1)).
 */
export function placement(lo: Float64Array, hi: Float64Array): { centre: Float64Array; scale: number } {
  const cols = lo.length;
  const centre = new Float64Array(cols);
  let extent = 0;
  for (let k = 0; k < cols; k++) {
    const a = lo[k]!;
    const b = hi[k]!;
    const width = b - a;
    const near = Math.min(Math.abs(a), Math.abs(b));
    if (a * b > 0 && near >= width) {
      const top = Math.max(Math.abs(a), Math.abs(b));
      let e = Math.floor(Math.log2(top));
      if (2 ** e > top) e--;
      if (2 ** (e + 1) <= top) e++;
      const grid = 2 ** (e - 25);
      centre[k] = Math.round((a / 2 + b / 2) / grid) * grid;
    }
    extent = Math.max(extent, Math.abs(b - centre[k]!), Math.abs(a - centre[k]!));
  }
  let scale = 1;
  if (extent > 0) {
    let e = Math.ceil(Math.log2(extent));
    if (2 ** e < extent) e++;
    if (2 ** (e - 1) >= extent) e--;
    scale = 2 ** -Math.max(e, -1000); // (an extent below 2⁻¹⁰⁰⁰ flushes to coinciding points in float32 anyway)
  }
  return { centre, scale };
}

function describe(value: unknown): string {
  return typeof value === 'number' ? String(value) : `${typeof value} ${String(value)}`;
}

/**
 * The first m points of the farthest-point order of `points` from row `first` (see the module comment), as row
 * indices.
 */
export async function deviceFarthestPointOrder(ctx: GpuContext, points: PointRows, m: number, first: number): Promise<Int32Array> {
  const { data, rows: n, cols } = points;
  if (!(Number.isInteger(n) && n >= 1 && Number.isInteger(cols) && cols >= 1 && data.length === n * cols)) {
    throw new RangeError(`deviceFarthestPointOrder: points must be rows × cols with rows, cols ≥ 1 and rows·cols values, got ${describe(n)}x${describe(cols)} with ${data.length} values`);
  }
  if (!(Number.isInteger(m) && m >= 1 && m <= n)) {
    throw new RangeError(`deviceFarthestPointOrder: m must be an integer in [1, rows = ${n}], got ${describe(m)}`);
  }
  if (!(Number.isInteger(first) && first >= 0 && first < n)) {
    throw new RangeError(`deviceFarthestPointOrder: first must be an integer row in [0, ${n}), got ${describe(first)}`);
  }
  // bounding box (also the finiteness check)
  const lo = new Float64Array(cols).fill(Infinity);
  const hi = new Float64Array(cols).fill(-Infinity);
  for (let t = 0; t < data.length; t++) {
    const v = data[t]!;
    if (!Number.isFinite(v)) {
      throw new RangeError(`deviceFarthestPointOrder: point ${Math.floor(t / cols)} has a non-finite coordinate (${v})`);
    }
    const k = t % cols;
    if (v < lo[k]!) lo[k] = v;
    if (v > hi[k]!) hi[k] = v;
  }
  if (m === 1) return Int32Array.of(first);

  const { device, limits } = ctx;
  const stride = Math.ceil(cols / 4);
  const pointBytes = 16 * stride * n;
  const maxBinding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  if (pointBytes > maxBinding) {
    throw new RangeError(`deviceFarthestPointOrder: ${n} points of ${cols} coordinates take ${pointBytes} bytes on the device, over its buffer binding limit (${maxBinding} bytes)`);
  }
  let wg = 1;
  while (wg * 2 <= Math.min(256, limits.maxComputeWorkgroupSizeX, limits.maxComputeInvocationsPerWorkgroup)) wg *= 2;
  const perThread = Math.max(MIN_POINTS_PER_THREAD, Math.ceil(n / (MAX_PARTIALS * wg)));
  const chunk = wg * perThread;
  const groups = Math.ceil(n / chunk);
  const gx = Math.min(groups, limits.maxComputeWorkgroupsPerDimension);
  const gy = Math.ceil(groups / gx);
  if (gy > limits.maxComputeWorkgroupsPerDimension) {
    throw new RangeError(`deviceFarthestPointOrder: ${n} points need ${groups} workgroups, more than this device can dispatch`);
  }

  const update = updateProgram(wg, stride > 1);
  const select = selectProgram(wg);
  const [pu, ps] = await Promise.all([pipelineFor(ctx, update), pipelineFor(ctx, select)]);

  const { centre, scale } = placement(lo, hi);
  const buffers: GPUBuffer[] = [];
  const create = (size: number, usage: number, fill?: (mapped: ArrayBuffer) => void): GPUBuffer => {
    const buffer = device.createBuffer({ size: Math.max(16, Math.ceil(size / 16) * 16), usage, mappedAtCreation: fill !== undefined });
    buffers.push(buffer);
    if (fill) {
      fill(buffer.getMappedRange());
      buffer.unmap();
    }
    return buffer;
  };
  let scopes = false;
  try {
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    scopes = true;
    const X = create(pointBytes, USAGE.STORAGE, (mapped) => {
      const x = new Float32Array(mapped, 0, 4 * stride * n);
      for (let i = 0; i < n; i++) {
        for (let k = 0; k < cols; k++) x[4 * stride * i + k] = (data[i * cols + k]! - centre[k]!) * scale;
      }
    });
    const D = create(4 * n, USAGE.STORAGE, (mapped) => new Float32Array(mapped, 0, n).fill(FAR));
    const S = create(8, USAGE.STORAGE, (mapped) => new Uint32Array(mapped, 0, 2).set([first, 1]));
    const P = create(8 * groups, USAGE.STORAGE);
    const O = create(4 * m, USAGE.STORAGE | USAGE.COPY_SRC, (mapped) => { new Uint32Array(mapped, 0, 1)[0] = first; });
    const read = create(4 * m, USAGE.MAP_READ | USAGE.COPY_DST);
    const U = create(HEADER_BYTES, USAGE.UNIFORM, (mapped) => new Uint32Array(mapped, 0, 8).set([n, stride, chunk, groups, gx, 0, 0, 0]));
    const updateGroup = device.createBindGroup({
      layout: pu.layout,
      entries: [U, X, D, S, P].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const selectGroup = device.createBindGroup({
      layout: ps.layout,
      entries: [U, P, S, O].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    // step k (1 ≤ k < m) appends order[k]
    for (let k = 1; k < m; k += STEPS_PER_SUBMIT) {
      const steps = Math.min(STEPS_PER_SUBMIT, m - k);
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      for (let s = 0; s < steps; s++) {
        pass.setPipeline(pu.pipeline);
        pass.setBindGroup(0, updateGroup);
        pass.dispatchWorkgroups(gx, gy);
        pass.setPipeline(ps.pipeline);
        pass.setBindGroup(0, selectGroup);
        pass.dispatchWorkgroups(1);
      }
      pass.end();
      if (k + steps >= m) encoder.copyBufferToBuffer(O, 0, read, 0, 4 * m);
      device.queue.submit([encoder.finish()]);
    }
    scopes = false;
    const errors = Promise.all([device.popErrorScope(), device.popErrorScope()]);
    const mapped = read.mapAsync(MAP_READ, 0, 4 * m);
    const [invalid, oom] = await errors;
    if (invalid || oom) {
      await mapped.catch(() => undefined);
      const what = `the farthest-point order (n = ${n}, cols = ${cols}, m = ${m})`;
      if (oom) throw new GpuOutOfMemoryError(`GPU out of memory in ${what}, ${pointBytes + 4 * n} bytes of points and distances: ${oom.message}`);
      throw new Error(`GPU validation error in ${what}: ${invalid!.message}`);
    }
    await mapped;
    if (ctx.lost) throw new Error(`GPU device lost during the farthest-point order: ${ctx.lost}`);
    const order = new Int32Array(read.getMappedRange(0, 4 * m).slice(0));
    read.unmap();
    return order;
  } finally {
    if (scopes) await Promise.all([device.popErrorScope(), device.popErrorScope()]).catch(() => undefined);
    for (const b of buffers) b.destroy();
  }
}
