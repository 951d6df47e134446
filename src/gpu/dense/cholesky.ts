/// <reference types="@webgpu/types" />
/**
 * Cholesky factorisation A + sI = RᵀR of a symmetric m×m float32 matrix on the device, for the whitening factor of the
 * device landmark preconditioner (K̃_mm + δI, m up to 8192). Why on the device: the host's float64 WASM factorisation
 * of m = 8192 took 4.5 s on the H100 machine's 16-core host (the pool scales poorly there: 4.0 s with 16 threads,
 * 7.6 s with 4), on the build's critical path, plus K̃_mm's readback and R's upload (bench/RESULTS.md).
 *
 * Why float32 is enough there: R only whitens, B = K̃_nm R⁻¹, which the float32 substitution already forms with an
 * error ≈ u·cond(R); a backward error E of the factorisation (RᵀR = A + sI + E) only changes which matrix whitens, as
 * long as ‖E‖ stays well below the shift s = δ·max K_aa that keeps A + sI positive definite. The update's sums are
 * compensated (Kahan, per 16 staged terms) so that E is ≈ u·|A| entrywise, not u·√m.
 *
 * Up-looking by panels of 64 rows, in place on a copy of A (row-major; only the upper triangle is read or written):
 *  - CHOL_UPDATE: rows [a0, a0 + p) of the panel, columns c ≥ a0: A[a][c] −= Σ_{k<a0} R[k][a]·R[k][c] — the rows
 *    above are final rows of R — 64 × 128 tiles per workgroup, the k range staged 16 at a time (`microTile`);
 *  - CHOL_BLOCK: one workgroup factors the panel's p×p diagonal block in workgroup memory (adding s to its
 *    diagonal) and writes it with 1/R_aa; a pivot that is not positive and finite is recorded (atomicMin of its
 *    row), and the factor reported as failed;
 *  - CHOL_SOLVE: the panel's columns c ≥ a0 + p by forward substitution with the factored block, a thread per column.
 * All ≈ 3·⌈m/64⌉ dispatches go in one command buffer.
 */
import { GpuOutOfMemoryError, type GpuContext } from '../device.js';
import { bindDispatches, encodeDispatches, fixedProgram, microTile, panelStaging, uniformBuffer, UNIFORM_DECL, USAGE, type FixedDispatch } from './fixed-programs.js';
import { fusedMultiplyAdd, pipelineFor } from '../reduce.js';
import { opaqueHelper, type GpuProgram } from '../wgsl-emit.js';

/** Rows per panel (CHOL_BLOCK's block, held in workgroup memory: 64² floats = 16 KiB). */
const PANEL = 64;
/** Columns per CHOL_UPDATE workgroup (4×8 per thread, as the whitening's update). */
const UPDATE_COLUMNS = 128;
/** Columns per CHOL_SOLVE workgroup (a thread per column). */
const SOLVE_COLUMNS = 256;
/** No failed pivot (the status word's initial value). */
const NO_FAILURE = 0xffffffff;

/** Header: m = order, ma = p (panel rows), a0 = first panel row, b0 = the shift's float32 bits, gx = grid width. */
const CHOL_UPDATE: GpuProgram = fixedProgram('chol-update', 256, ['storage'], `${UNIFORM_DECL}
@group(0) @binding(1) var<storage, read_write> R: array<f32>;
${opaqueHelper('h.flag')}fn opq4(x: vec4<f32>) -> vec4<f32> { return vec4<f32>(opq(x.x), opq(x.y), opq(x.z), opq(x.w)); }
var<workgroup> Ls: array<vec4<f32>, 256>;
var<workgroup> Cs: array<vec4<f32>, 512>;

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let tx = lid.x;
  let ty = lid.y;
  let t = ty * 16u + tx;
  let col0 = h.a0 + (wid.x + wid.y * h.gx) * ${UPDATE_COLUMNS}u;
  if (col0 >= h.m) { return; }
  // acc[2r + q] − cmp[2r + q]: the sum for panel row 4ty + r, columns col0 + 64q + 4tx … + 3
  var acc: array<vec4<f32>, 8>;
  var cmp: array<vec4<f32>, 8>;
  var part: array<vec4<f32>, 8>;
  for (var q = 0u; q < 8u; q++) {
    acc[q] = vec4<f32>(0.0);
    cmp[q] = vec4<f32>(0.0);
    part[q] = vec4<f32>(0.0);
  }
  for (var k0 = 0u; k0 < h.a0; k0 += 16u) {
    workgroupBarrier();
${panelStaging('R', 'R', 'h.m')}    workgroupBarrier();
${microTile('Ls', 'Cs', 'part')}    for (var q = 0u; q < 8u; q++) {
      let y = part[q] - cmp[q];
      let s2 = opq4(acc[q] + y);
      cmp[q] = opq4(s2 - acc[q]) - y;
      acc[q] = s2;
      part[q] = vec4<f32>(0.0);
    }
  }
  for (var r = 0u; r < 4u; r++) {
    let row = ty * 4u + r;
    if (row < h.ma) {
      for (var q = 0u; q < 2u; q++) {
        for (var c = 0u; c < 4u; c++) {
          let col = col0 + q * 64u + tx * 4u + c;
          if (col < h.m) {
            let at = (h.a0 + row) * h.m + col;
            R[at] = opq(R[at] - acc[2u * r + q][c]) + cmp[2u * r + q][c];
          }
        }
      }
    }
  }
}
`);

/** One workgroup: the panel's p×p diagonal block (s added to its diagonal) factored in workgroup memory, written back. */
const CHOL_BLOCK: GpuProgram = fixedProgram('chol-block', 256, ['storage', 'storage', 'storage'], `${UNIFORM_DECL}
@group(0) @binding(1) var<storage, read_write> R: array<f32>;
@group(0) @binding(2) var<storage, read_write> D: array<f32>;
@group(0) @binding(3) var<storage, read_write> status: array<atomic<u32>>;
var<workgroup> Ld: array<f32, 4096>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let p = h.ma;
  let a0 = h.a0;
  for (var q = lid; q < 4096u; q += 256u) {
    let r = q >> 6u;
    let c = q & 63u;
    var v = 0.0;
    if (r < p && c < p && c >= r) {
      v = R[(a0 + r) * h.m + a0 + c];
      if (c == r) { v = v + bitcast<f32>(h.b0); }
    }
    Ld[q] = v;
  }
  workgroupBarrier();
  // unblocked, row by row: R[j][j] = √d, R[j][c] /= R[j][j], then the rank-1 update of the rows below
  for (var j = 0u; j < p; j++) {
    let d = Ld[j * 64u + j];
    let pivot = sqrt(d);
    workgroupBarrier();
    if (lid == 0u) {
      Ld[j * 64u + j] = pivot;
      // not 0 < d < ∞ (NaN fails every comparison): the first such row is the failure
      if (!(d > 0.0 && d <= 3.4028234e38)) { atomicMin(&status[0], a0 + j); }
    }
    for (var c = j + 1u + lid; c < p; c += 256u) { Ld[j * 64u + c] = Ld[j * 64u + c] / pivot; }
    workgroupBarrier();
    for (var q = lid; q < 4096u; q += 256u) {
      let r = q >> 6u;
      let c = q & 63u;
      if (r > j && c >= r && c < p) { Ld[q] = Ld[q] - Ld[j * 64u + r] * Ld[j * 64u + c]; }
    }
    workgroupBarrier();
  }
  if (lid < p) { D[a0 + lid] = 1.0 / Ld[lid * 64u + lid]; }
  for (var q = lid; q < 4096u; q += 256u) {
    let r = q >> 6u;
    let c = q & 63u;
    if (r < p && c < p && c >= r) { R[(a0 + r) * h.m + a0 + c] = Ld[q]; }
  }
}
`);

/**
 * The panel's rows right of its block, R[panel][c] = R_pp⁻ᵀ S[panel][c] for c ≥ a0 + p, a thread per column, with the
 * factored block (CHOL_BLOCK's, in the dispatch before: a block factored and read in one dispatch would race).
 */
const CHOL_SOLVE: GpuProgram = fixedProgram('chol-solve', 256, ['storage'], `${UNIFORM_DECL}
@group(0) @binding(1) var<storage, read_write> R: array<f32>;
var<workgroup> Ld: array<f32, 4096>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let p = h.ma;
  let a0 = h.a0;
  for (var q = lid; q < 4096u; q += 256u) {
    let r = q >> 6u;
    let c = q & 63u;
    var v = 0.0;
    if (r < p && c < p && c >= r) { v = R[(a0 + r) * h.m + a0 + c]; }
    Ld[q] = v;
  }
  workgroupBarrier();
  let col = a0 + p + (wid.x + wid.y * h.gx) * ${SOLVE_COLUMNS}u + lid;
  if (col >= h.m) { return; }
  // forward substitution Rᵀ_pp w = S[panel][col], L[r][t] = R[a0 + t][a0 + r] = Ld[t·64 + r]
  var w: array<f32, 64>;
  for (var r = 0u; r < p; r++) {
    let at = (a0 + r) * h.m + col;
    var s = R[at];
    for (var t = 0u; t < r; t++) { s = fma(-Ld[t * 64u + r], w[t], s); }
    w[r] = s / Ld[r * 64u + r];
    R[at] = w[r];
  }
}
`);

/** Copies the diagonal of a row-major m×m matrix: D[a] = A[a·m + a] (header m). */
const DIAGONAL: GpuProgram = fixedProgram('chol-diagonal', 256, ['read-only-storage', 'storage'], `${UNIFORM_DECL}
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> D: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let a = gid.x;
  if (a < h.m) { D[a] = A[a * h.m + a]; }
}
`);

/** An upper Cholesky factor on the device. */
export interface DeviceCholeskyFactor {
  readonly m: number;
  /** R, row-major m×m float32 (the strict lower triangle is scratch). */
  readonly R: GPUBuffer;
  /** 1/R_aa, m float32. */
  readonly inverseDiagonal: GPUBuffer;
  /** Frees both buffers. */
  destroy(): void;
}

function checkOrder(ctx: GpuContext, m: number, fn: string): void {
  if (!(Number.isInteger(m) && m >= 1)) throw new RangeError(`${fn}: m must be a positive integer, got ${String(m)}`);
  const maxBinding = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  if (4 * m * m > maxBinding) {
    throw new RangeError(`${fn}: a ${m}×${m} float32 matrix (${4 * m * m} bytes) exceeds the device's buffer binding limit (${maxBinding} bytes)`);
  }
}

async function readBack(device: GPUDevice, encoder: GPUCommandEncoder, source: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
  const read = device.createBuffer({ size: Math.max(16, bytes), usage: USAGE.MAP_READ | USAGE.COPY_DST });
  try {
    encoder.copyBufferToBuffer(source, 0, read, 0, bytes);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(USAGE.MAP_READ, 0, bytes);
    return read.getMappedRange(0, bytes).slice(0);
  } finally {
    read.destroy();
  }
}

/** The diagonal of a row-major m×m float32 matrix on the device, as float32 on the host. */
export async function deviceDiagonal(ctx: GpuContext, A: GPUBuffer, m: number): Promise<Float32Array> {
  checkOrder(ctx, m, 'deviceDiagonal');
  const { device } = ctx;
  const pipe = await pipelineFor(ctx, DIAGONAL);
  const u = uniformBuffer(device, [0, 0, 0, m, 0, 0, 0, 0]);
  const D = device.createBuffer({ size: Math.max(16, 4 * m), usage: USAGE.STORAGE | USAGE.COPY_SRC });
  try {
    device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipe.pipeline);
    pass.setBindGroup(0, device.createBindGroup({
      layout: pipe.layout,
      entries: [{ binding: 0, resource: { buffer: u } }, { binding: 1, resource: { buffer: A } }, { binding: 2, resource: { buffer: D } }],
    }));
    pass.dispatchWorkgroups(Math.ceil(m / 256), 1, 1);
    pass.end();
    const out = readBack(device, encoder, D, 4 * m);
    const invalid = await device.popErrorScope();
    if (invalid) throw new Error(`deviceDiagonal: GPU validation error: ${invalid.message}`);
    return new Float32Array(await out);
  } finally {
    u.destroy();
    D.destroy();
  }
}

/**
 * R with RᵀR = A + shift·I (A: row-major m×m float32 on the device, symmetric, only its upper triangle read, left
 * unchanged), or undefined where a pivot is not positive and finite (A + shift·I not numerically positive definite
 * in float32) — the contract of `choleskyUpperWasm`.
 */
export async function deviceCholesky(ctx: GpuContext, A: GPUBuffer, m: number, shift = 0): Promise<DeviceCholeskyFactor | undefined> {
  const fn = 'deviceCholesky';
  checkOrder(ctx, m, fn);
  if (!Number.isFinite(shift)) throw new RangeError(`${fn}: shift must be finite, got ${shift}`);
  if (A.size < 4 * m * m) throw new RangeError(`${fn}: the buffer holds ${A.size} bytes, fewer than a ${m}×${m} float32 matrix (${4 * m * m})`);
  const pipes = await Promise.all([CHOL_UPDATE, CHOL_BLOCK, CHOL_SOLVE].map((p) => pipelineFor(ctx, p)));
  const shiftBits = new Uint32Array(new Float32Array([shift]).buffer)[0]!;
  const made = await factorByPanels(ctx, fn, m, {
    panel: PANEL, updateColumns: UPDATE_COLUMNS, pipes,
    blockHeader: (p, a0) => [0, p, 0, m, a0, shiftBits, 0, 0],
    outputs: () => {
      const R = ctx.device.createBuffer({ size: 4 * m * m, usage: USAGE.STORAGE | USAGE.COPY_DST | USAGE.COPY_SRC });
      const D = ctx.device.createBuffer({ size: Math.max(16, 4 * m), usage: USAGE.STORAGE | USAGE.COPY_SRC });
      return { factor: [R], extra: [D], copies: [[A, R]] };
    },
  });
  if (!made) return undefined;
  const [R] = made.factor as [GPUBuffer];
  const [D] = made.extra as [GPUBuffer];
  return { m, R, inverseDiagonal: D, destroy: () => { R.destroy(); D.destroy(); } };
}

/** What `factorByPanels` makes and binds: the factor's buffers (bound by all three programs), the block's extra ones. */
interface PanelSpec {
  readonly panel: number;
  readonly updateColumns: number;
  readonly pipes: readonly { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }[];
  readonly blockHeader: (p: number, a0: number) => number[];
  readonly outputs: () => { factor: GPUBuffer[]; extra: GPUBuffer[]; copies: [GPUBuffer, GPUBuffer][] };
}

/**
 * The up-looking panel loop both factorisations share: per panel of `spec.panel` rows the update (not for the
 * first), the block's factorisation (binding the factor, the extra buffers and the status word) and the substitution
 * of the columns right of the block (256 per workgroup), all in one submission after the input's copies; the
 * buffers made in the error scopes (out of memory is `GpuOutOfMemoryError`). Undefined where a pivot failed.
 */
async function factorByPanels(ctx: GpuContext, fn: string, m: number, spec: PanelSpec): Promise<{ factor: GPUBuffer[]; extra: GPUBuffer[] } | undefined> {
  const { device, limits } = ctx;
  const [updatePipe, blockPipe, solvePipe] = spec.pipes as [PanelSpec['pipes'][0], PanelSpec['pipes'][0], PanelSpec['pipes'][0]];
  const grid = (groups: number) => {
    const gx = Math.min(groups, limits.maxComputeWorkgroupsPerDimension);
    return [gx, Math.ceil(groups / gx)] as const;
  };
  const temporaries: GPUBuffer[] = [];
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const { factor, extra, copies } = spec.outputs();
  const made = [...factor, ...extra];
  const status = device.createBuffer({ size: 16, usage: USAGE.STORAGE | USAGE.COPY_SRC, mappedAtCreation: true });
  new Uint32Array(status.getMappedRange()).fill(NO_FAILURE);
  status.unmap();
  temporaries.push(status);
  let failedAt = NO_FAILURE;
  try {
    const list: FixedDispatch[] = [];
    for (let a0 = 0; a0 < m; a0 += spec.panel) {
      const p = Math.min(spec.panel, m - a0);
      if (a0 > 0) {
        const [gx, gy] = grid(Math.ceil((m - a0) / spec.updateColumns));
        list.push({ pipe: updatePipe, header: [0, p, 0, m, a0, 0, 0, gx], buffers: factor, grid: [gx, gy] });
      }
      list.push({ pipe: blockPipe, header: spec.blockHeader(p, a0), buffers: [...factor, ...extra, status], grid: [1, 1] });
      if (a0 + p < m) {
        const [gx, gy] = grid(Math.ceil((m - a0 - p) / SOLVE_COLUMNS));
        list.push({ pipe: solvePipe, header: [0, p, 0, m, a0, 0, 0, gx], buffers: factor, grid: [gx, gy] });
      }
    }
    const { groups, uniforms } = bindDispatches(device, list);
    temporaries.push(uniforms);
    const encoder = device.createCommandEncoder();
    for (const [from, to] of copies) encoder.copyBufferToBuffer(from, 0, to, 0, 4 * m * m);
    const pass = encoder.beginComputePass();
    encodeDispatches(pass, list, groups);
    pass.end();
    const word = readBack(device, encoder, status, 4);
    const [invalid, oom] = await Promise.all([device.popErrorScope(), device.popErrorScope()]);
    if (oom) throw new GpuOutOfMemoryError(`${fn}: GPU out of memory factoring a ${m}×${m} matrix: ${oom.message}`);
    if (invalid) throw new Error(`${fn}: GPU validation error: ${invalid.message}`);
    failedAt = new Uint32Array(await word)[0]!;
  } catch (error) {
    for (const b of made) b.destroy();
    throw error;
  } finally {
    for (const b of temporaries) b.destroy();
  }
  if (failedAt !== NO_FAILURE) {
    for (const b of made) b.destroy();
    return undefined;
  }
  return { factor, extra };
}

// ------------------------------------------------------------------ double-float (the landmark preconditioner's core)

/**
 * Double-float arithmetic on (hi, lo) pairs of float32, for the core factorisation: every rounding an error-free
 * transformation relies on goes through `opq` (see wgsl-emit.ts). `fused`: the device's fma is fused (measured,
 * `fusedMultiplyAdd`), so TwoProduct is one fma; else Dekker's split products.
 */
function doubleFloatWgsl(fused: boolean): string {
  const twoProd = fused
    ? `fn twoProd(a: f32, b: f32) -> vec2<f32> { let p = opq(a * b); return vec2<f32>(p, fma(a, b, -p)); }`
    : `fn split(a: f32) -> vec2<f32> { let c = opq(4097.0 * a); let hi = opq(c - opq(c - a)); return vec2<f32>(hi, a - hi); }
fn twoProd(a: f32, b: f32) -> vec2<f32> {
  let p = opq(a * b);
  let x = split(a);
  let y = split(b);
  return vec2<f32>(p, opq(opq(opq(opq(x.x * y.x - p) + x.x * y.y) + x.y * y.x) + x.y * y.y));
}`;
  return `${opaqueHelper('h.flag')}${twoProd}
fn twoSum(a: f32, b: f32) -> vec2<f32> { let s = opq(a + b); let bb = opq(s - a); return vec2<f32>(s, opq(a - opq(s - bb)) + opq(b - bb)); }
// |a| ≥ |b|
fn fastTwoSum(a: f32, b: f32) -> vec2<f32> { let s = opq(a + b); return vec2<f32>(s, b - opq(s - a)); }
fn dfAdd(x: vec2<f32>, y: vec2<f32>) -> vec2<f32> { let s = twoSum(x.x, y.x); return fastTwoSum(s.x, s.y + (x.y + y.y)); }
fn dfMul(x: vec2<f32>, y: vec2<f32>) -> vec2<f32> { let p = twoProd(x.x, y.x); return fastTwoSum(p.x, p.y + (x.x * y.y + x.y * y.x)); }
// acc + x·y, not renormalised (acc.y gathers the errors; callers renormalise every few terms)
fn dfMad(acc: vec2<f32>, x: vec2<f32>, y: vec2<f32>) -> vec2<f32> {
  let p = twoProd(x.x, y.x);
  let s = twoSum(acc.x, p.x);
  return vec2<f32>(s.x, acc.y + (s.y + (p.y + (x.x * y.y + x.y * y.x))));
}
fn dfDiv(x: vec2<f32>, y: vec2<f32>) -> vec2<f32> {
  let q = opq(x.x / y.x);
  let r = dfAdd(x, -dfMul(vec2<f32>(q, 0.0), y));
  return fastTwoSum(q, (r.x + r.y) / y.x);
}
fn dfSqrt(x: vec2<f32>) -> vec2<f32> {
  let s = opq(sqrt(x.x));
  let p = twoProd(s, s);
  return fastTwoSum(s, (((x.x - p.x) - p.y) + x.y) / (2.0 * s));
}
`;
}

/** Rows per panel of the double-float factorisation (its block: 32² pairs = 8 KiB of workgroup memory). */
const DF_PANEL = 32;
/** Columns per DF_UPDATE workgroup (2 rows × 4 columns per thread). */
const DF_UPDATE_COLUMNS = 64;

/** The update's accumulators per thread (2 rows × 4 columns). */
const ACC = [0, 1, 2, 3, 4, 5, 6, 7];

/** Header: m, ma = p, a0, flag = 0 (opq's zero), gx. U = UH + UL (row-major m×m pairs, upper triangle). */
function dfUpdateProgram(fused: boolean): GpuProgram {
  return fixedProgram(`chol-df-update${fused ? '-fma' : ''}`, 256, ['storage', 'storage'], `${UNIFORM_DECL}
@group(0) @binding(1) var<storage, read_write> UH: array<f32>;
@group(0) @binding(2) var<storage, read_write> UL: array<f32>;
${doubleFloatWgsl(fused)}var<workgroup> Lh: array<f32, 256>;
var<workgroup> Ll: array<f32, 256>;
var<workgroup> Ch: array<f32, 512>;
var<workgroup> Cl: array<f32, 512>;

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let tx = lid.x;
  let ty = lid.y;
  let t = ty * 16u + tx;
  let col0 = h.a0 + (wid.x + wid.y * h.gx) * ${DF_UPDATE_COLUMNS}u;
  if (col0 >= h.m) { return; }
  // acc{4r + c}: Σ_k U[k][a0 + 2ty + r]·U[k][col0 + 4tx + c] (named, not an array: constant registers)
${ACC.map((q) => `  var acc${q} = vec2<f32>(0.0);`).join('\n')}
  for (var k0 = 0u; k0 < h.a0; k0 += 8u) {
    workgroupBarrier();
    {
      let r = t & 31u;
      let kk = t >> 5u;
      var lh = 0.0;
      var ll = 0.0;
      if (r < h.ma) {
        let at = (k0 + kk) * h.m + h.a0 + r;
        lh = UH[at];
        ll = UL[at];
      }
      Lh[kk * 32u + r] = lh;
      Ll[kk * 32u + r] = ll;
    }
    for (var s = 0u; s < 2u; s++) {
      let c = t & 63u;
      let kk = (t >> 6u) + 4u * s;
      var ch = 0.0;
      var cl = 0.0;
      if (col0 + c < h.m) {
        let at = (k0 + kk) * h.m + col0 + c;
        ch = UH[at];
        cl = UL[at];
      }
      Ch[kk * 64u + c] = ch;
      Cl[kk * 64u + c] = cl;
    }
    workgroupBarrier();
    for (var k = 0u; k < 8u; k++) {
      let a0v = vec2<f32>(Lh[k * 32u + 2u * ty], Ll[k * 32u + 2u * ty]);
      let a1v = vec2<f32>(Lh[k * 32u + 2u * ty + 1u], Ll[k * 32u + 2u * ty + 1u]);
${[0, 1, 2, 3].map((c) => `      let b${c} = vec2<f32>(Ch[k * 64u + 4u * tx + ${c}u], Cl[k * 64u + 4u * tx + ${c}u]);
      acc${c} = dfMad(acc${c}, a0v, b${c});
      acc${4 + c} = dfMad(acc${4 + c}, a1v, b${c});`).join('\n')}
    }
${ACC.map((q) => `    acc${q} = fastTwoSum(acc${q}.x, acc${q}.y);`).join('\n')}
  }
${ACC.map((q) => `  {
    let row = 2u * ty + ${q >> 2}u;
    let col = col0 + 4u * tx + ${q & 3}u;
    if (row < h.ma && col < h.m) {
      let at = (h.a0 + row) * h.m + col;
      let v = dfAdd(vec2<f32>(UH[at], UL[at]), -acc${q});
      UH[at] = v.x;
      UL[at] = v.y;
    }
  }`).join('\n')}
}
`);
}

/** One workgroup: the panel's p×p block (+ the shift, a pair in (b0, n) as bits) factored in double-float. */
function dfBlockProgram(fused: boolean): GpuProgram {
  return fixedProgram(`chol-df-block${fused ? '-fma' : ''}`, 256, ['storage', 'storage', 'storage'], `${UNIFORM_DECL}
@group(0) @binding(1) var<storage, read_write> UH: array<f32>;
@group(0) @binding(2) var<storage, read_write> UL: array<f32>;
@group(0) @binding(3) var<storage, read_write> status: array<atomic<u32>>;
${doubleFloatWgsl(fused)}var<workgroup> Bh: array<f32, 1024>;
var<workgroup> Bl: array<f32, 1024>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let p = h.ma;
  let a0 = h.a0;
  let shift = vec2<f32>(bitcast<f32>(h.b0), bitcast<f32>(h.n));
  for (var q = lid; q < 1024u; q += 256u) {
    let r = q >> 5u;
    let c = q & 31u;
    var v = vec2<f32>(0.0);
    if (r < p && c < p && c >= r) {
      let at = (a0 + r) * h.m + a0 + c;
      v = vec2<f32>(UH[at], UL[at]);
      if (c == r) { v = dfAdd(v, shift); }
    }
    Bh[q] = v.x;
    Bl[q] = v.y;
  }
  workgroupBarrier();
  for (var j = 0u; j < p; j++) {
    let d = vec2<f32>(Bh[j * 32u + j], Bl[j * 32u + j]);
    let pivot = dfSqrt(d);
    workgroupBarrier();
    if (lid == 0u) {
      Bh[j * 32u + j] = pivot.x;
      Bl[j * 32u + j] = pivot.y;
      if (!(d.x > 0.0 && d.x <= 3.4028234e38)) { atomicMin(&status[0], a0 + j); }
    }
    for (var c = j + 1u + lid; c < p; c += 256u) {
      let v = dfDiv(vec2<f32>(Bh[j * 32u + c], Bl[j * 32u + c]), pivot);
      Bh[j * 32u + c] = v.x;
      Bl[j * 32u + c] = v.y;
    }
    workgroupBarrier();
    for (var q = lid; q < 1024u; q += 256u) {
      let r = q >> 5u;
      let c = q & 31u;
      if (r > j && c >= r && c < p) {
        let prod = dfMul(vec2<f32>(Bh[j * 32u + r], Bl[j * 32u + r]), vec2<f32>(Bh[j * 32u + c], Bl[j * 32u + c]));
        let v = dfAdd(vec2<f32>(Bh[q], Bl[q]), -prod);
        Bh[q] = v.x;
        Bl[q] = v.y;
      }
    }
    workgroupBarrier();
  }
  for (var q = lid; q < 1024u; q += 256u) {
    let r = q >> 5u;
    let c = q & 31u;
    if (r < p && c < p && c >= r) {
      let at = (a0 + r) * h.m + a0 + c;
      UH[at] = Bh[q];
      UL[at] = Bl[q];
    }
  }
}
`);
}

/** The panel's rows right of its block, by double-float substitution with the factored block (a thread per column). */
function dfSolveProgram(fused: boolean): GpuProgram {
  return fixedProgram(`chol-df-solve${fused ? '-fma' : ''}`, 256, ['storage', 'storage'], `${UNIFORM_DECL}
@group(0) @binding(1) var<storage, read_write> UH: array<f32>;
@group(0) @binding(2) var<storage, read_write> UL: array<f32>;
${doubleFloatWgsl(fused)}var<workgroup> Bh: array<f32, 1024>;
var<workgroup> Bl: array<f32, 1024>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let p = h.ma;
  let a0 = h.a0;
  for (var q = lid; q < 1024u; q += 256u) {
    let r = q >> 5u;
    let c = q & 31u;
    var v = vec2<f32>(0.0);
    if (r < p && c < p && c >= r) {
      let at = (a0 + r) * h.m + a0 + c;
      v = vec2<f32>(UH[at], UL[at]);
    }
    Bh[q] = v.x;
    Bl[q] = v.y;
  }
  workgroupBarrier();
  let col = a0 + p + (wid.x + wid.y * h.gx) * 256u + lid;
  if (col >= h.m) { return; }
  var w: array<vec2<f32>, 32>;
  for (var r = 0u; r < p; r++) {
    let at = (a0 + r) * h.m + col;
    var s = vec2<f32>(UH[at], UL[at]);
    var acc = vec2<f32>(0.0);
    for (var t = 0u; t < r; t++) { acc = dfMad(acc, vec2<f32>(Bh[t * 32u + r], Bl[t * 32u + r]), w[t]); }
    s = dfAdd(s, -fastTwoSum(acc.x, acc.y));
    w[r] = dfDiv(s, vec2<f32>(Bh[r * 32u + r], Bl[r * 32u + r]));
    UH[at] = w[r].x;
    UL[at] = w[r].y;
  }
}
`);
}

/** An upper Cholesky factor U = UH + UL on the device (row-major m×m float32 pairs; the strict lower triangle scratch). */
export interface DeviceDoubleFactor {
  readonly m: number;
  readonly hi: GPUBuffer;
  readonly lo: GPUBuffer;
  destroy(): void;
}

/**
 * U with UᵀU = G + shift·I in double-float arithmetic on the device, G = GH + GL (row-major m×m float32 pairs, only the
 * upper triangle read, left unchanged), or undefined where a pivot is not positive and finite. For the whitened core
 * νI + BᵀB of the device landmark preconditioner, whose condition (≈ 10⁷ at n = 2²⁰) float32 cannot factor: the
 * host's float64 factorisation of m = 8192 took 3.9–4.6 s on the H100 machine's host. Same panels as
 * `deviceCholesky`, 32 rows each; the update's sums are double-float MADs (renormalised every 8 terms).
 */
export async function deviceCholeskyDouble(
  ctx: GpuContext, GH: GPUBuffer, GL: GPUBuffer, m: number, shift: number,
): Promise<DeviceDoubleFactor | undefined> {
  const fn = 'deviceCholeskyDouble';
  checkOrder(ctx, m, fn);
  if (!Number.isFinite(shift)) throw new RangeError(`${fn}: shift must be finite, got ${shift}`);
  for (const b of [GH, GL]) {
    if (b.size < 4 * m * m) throw new RangeError(`${fn}: a buffer holds ${b.size} bytes, fewer than a ${m}×${m} float32 matrix (${4 * m * m})`);
  }
  const fused = await fusedMultiplyAdd(ctx);
  const pipes = await Promise.all([dfUpdateProgram(fused), dfBlockProgram(fused), dfSolveProgram(fused)].map((p) => pipelineFor(ctx, p)));
  const shiftHi = Math.fround(shift);
  const bits = new Uint32Array(new Float32Array([shiftHi, Math.fround(shift - shiftHi)]).buffer);
  const made = await factorByPanels(ctx, fn, m, {
    panel: DF_PANEL, updateColumns: DF_UPDATE_COLUMNS, pipes,
    blockHeader: (p, a0) => [bits[1]!, p, 0, m, a0, bits[0]!, 0, 0],
    outputs: () => {
      const UH = ctx.device.createBuffer({ size: 4 * m * m, usage: USAGE.STORAGE | USAGE.COPY_DST | USAGE.COPY_SRC });
      const UL = ctx.device.createBuffer({ size: 4 * m * m, usage: USAGE.STORAGE | USAGE.COPY_DST | USAGE.COPY_SRC });
      return { factor: [UH, UL], extra: [], copies: [[GH, UH], [GL, UL]] };
    },
  });
  if (!made) return undefined;
  const [UH, UL] = made.factor as [GPUBuffer, GPUBuffer];
  return { m, hi: UH, lo: UL, destroy: () => { UH.destroy(); UL.destroy(); } };
}

// ------------------------------------------------------------------ solves with the double-float factor

/** Header: m, ma = p (panel rows), a0. V: the vector, (hi, lo) pairs, solved in place. */
function triProgram(kind: 'fwd-block' | 'fwd-update' | 'bwd-block' | 'bwd-update', fused: boolean): GpuProgram {
  const head = `${UNIFORM_DECL}
@group(0) @binding(1) var<storage, read> UH: array<f32>;
@group(0) @binding(2) var<storage, read> UL: array<f32>;
@group(0) @binding(3) var<storage, read_write> V: array<vec2<f32>>;
${doubleFloatWgsl(fused)}fn u(k: u32, a: u32) -> vec2<f32> { let at = k * h.m + a; return vec2<f32>(UH[at], UL[at]); }
var<workgroup> w: array<vec2<f32>, 32>;
`;
  const bodies = {
    // Uᵀ_pp w = V[panel], column by column: w_r settled, then taken off the rows below it
    'fwd-block': `@compute @workgroup_size(32)
fn main(@builtin(local_invocation_index) lid: u32) {
  if (lid < h.ma) { w[lid] = V[h.a0 + lid]; }
  workgroupBarrier();
  for (var r = 0u; r < h.ma; r++) {
    if (lid == r) { w[r] = dfDiv(w[r], u(h.a0 + r, h.a0 + r)); }
    workgroupBarrier();
    if (lid > r && lid < h.ma) { w[lid] = dfAdd(w[lid], -dfMul(u(h.a0 + r, h.a0 + lid), w[r])); }
    workgroupBarrier();
  }
  if (lid < h.ma) { V[h.a0 + lid] = w[lid]; }
}`,
    // V[a] −= Σ_t U[a0 + t][a]·V[a0 + t] for the rows a after the panel
    'fwd-update': `@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  if (lid < h.ma) { w[lid] = V[h.a0 + lid]; }
  workgroupBarrier();
  let a = h.a0 + h.ma + (wid.x + wid.y * h.gx) * 256u + lid;
  if (a >= h.m) { return; }
  var acc = vec2<f32>(0.0);
  for (var t = 0u; t < h.ma; t++) { acc = dfMad(acc, u(h.a0 + t, a), w[t]); }
  V[a] = dfAdd(V[a], -fastTwoSum(acc.x, acc.y));
}`,
    // U_pp c = V[panel], from the last row up
    'bwd-block': `@compute @workgroup_size(32)
fn main(@builtin(local_invocation_index) lid: u32) {
  if (lid < h.ma) { w[lid] = V[h.a0 + lid]; }
  workgroupBarrier();
  for (var q = 0u; q < h.ma; q++) {
    let r = h.ma - 1u - q;
    if (lid == r) { w[r] = dfDiv(w[r], u(h.a0 + r, h.a0 + r)); }
    workgroupBarrier();
    if (lid < r) { w[lid] = dfAdd(w[lid], -dfMul(u(h.a0 + lid, h.a0 + r), w[r])); }
    workgroupBarrier();
  }
  if (lid < h.ma) { V[h.a0 + lid] = w[lid]; }
}`,
    // V[k] −= Σ_t U[k][a0 + t]·V[a0 + t] for the rows k before the panel
    'bwd-update': `@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  if (lid < h.ma) { w[lid] = V[h.a0 + lid]; }
  workgroupBarrier();
  let k = (wid.x + wid.y * h.gx) * 256u + lid;
  if (k >= h.a0) { return; }
  var acc = vec2<f32>(0.0);
  for (var t = 0u; t < h.ma; t++) { acc = dfMad(acc, u(k, h.a0 + t), w[t]); }
  V[k] = dfAdd(V[k], -fastTwoSum(acc.x, acc.y));
}`,
  };
  return fixedProgram(`chol-df-${kind}${fused ? '-fma' : ''}`, kind.endsWith('block') ? 32 : 256, ['read-only-storage', 'read-only-storage', 'storage'], `${head}\n${bodies[kind]}\n`);
}

/**
 * Solves UᵀU c = y in place on the device for a double-float factor U (`deviceCholeskyDouble`) and a vector of (hi, lo)
 * pairs: forward with Uᵀ, then back with U, by 32-row panels (a block solved in one workgroup, then the rest of the
 * vector updated a thread per row) — ≈ 4m/32 dispatches, recorded into the caller's compute pass so that a whole
 * preconditioner application is one submission. Why: the host's two float64 triangular solves at m = 8192 took 86 ms
 * of each 0.3 s application on the H100 machine (memory-bound on one thread), and the factor's readback 512 MiB.
 */
export class DeviceCoreSolver {
  private constructor(
    readonly factor: DeviceDoubleFactor,
    readonly vector: GPUBuffer,
    private readonly list: readonly FixedDispatch[],
    private readonly groups: readonly GPUBindGroup[],
    private readonly uniforms: GPUBuffer,
  ) {}

  /** The solver for `factor` acting on `vector` (m pairs, a STORAGE buffer the caller owns). */
  static async create(ctx: GpuContext, factor: DeviceDoubleFactor, vector: GPUBuffer): Promise<DeviceCoreSolver> {
    const { m } = factor;
    if (vector.size < 8 * m) throw new RangeError(`DeviceCoreSolver: the vector buffer holds ${vector.size} bytes, fewer than ${m} pairs (${8 * m})`);
    const { device, limits } = ctx;
    const fused = await fusedMultiplyAdd(ctx);
    const kinds = ['fwd-block', 'fwd-update', 'bwd-block', 'bwd-update'] as const;
    const pipes = Object.fromEntries(await Promise.all(kinds.map(async (k) => [k, await pipelineFor(ctx, triProgram(k, fused))] as const)));
    const list: FixedDispatch[] = [];
    const add = (kind: (typeof kinds)[number], p: number, a0: number, threads: number) => {
      const groups = kind.endsWith('block') ? 1 : Math.ceil(threads / 256);
      if (groups === 0) return;
      const gx = Math.min(groups, limits.maxComputeWorkgroupsPerDimension);
      list.push({ pipe: pipes[kind]!, header: [0, p, 0, m, a0, 0, 0, gx], buffers: [factor.hi, factor.lo, vector], grid: [gx, Math.ceil(groups / gx)] });
    };
    const panels: number[] = [];
    for (let a0 = 0; a0 < m; a0 += DF_PANEL) panels.push(a0);
    for (const a0 of panels) {
      const p = Math.min(DF_PANEL, m - a0);
      add('fwd-block', p, a0, 1);
      add('fwd-update', p, a0, m - a0 - p);
    }
    for (const a0 of [...panels].reverse()) {
      const p = Math.min(DF_PANEL, m - a0);
      add('bwd-block', p, a0, 1);
      add('bwd-update', p, a0, a0);
    }
    const { groups, uniforms } = bindDispatches(device, list);
    return new DeviceCoreSolver(factor, vector, list, groups, uniforms);
  }

  /** Records the solve into `pass`. */
  encode(pass: GPUComputePassEncoder): void {
    encodeDispatches(pass, this.list, this.groups);
  }

  /** Frees its uniforms and the factor. */
  destroy(): void {
    this.uniforms.destroy();
    this.factor.destroy();
  }
}

/** Starts compiling the factorisations' and solves' programs (see `warmBlockPipelines` in tall.ts). */
export async function warmCholeskyPipelines(ctx: GpuContext): Promise<void> {
  // the float32 factorisation's now (a build needs them first), the double-float ones once the fma probe has run
  for (const p of [DIAGONAL, CHOL_UPDATE, CHOL_BLOCK, CHOL_SOLVE]) pipelineFor(ctx, p).catch(() => undefined); // a failure surfaces where it is used
  const fused = await fusedMultiplyAdd(ctx);
  const programs = [
    dfUpdateProgram(fused), dfBlockProgram(fused), dfSolveProgram(fused),
    ...(['fwd-block', 'fwd-update', 'bwd-block', 'bwd-update'] as const).map((k) => triProgram(k, fused)),
  ];
  for (const p of programs) pipelineFor(ctx, p).catch(() => undefined);
}
