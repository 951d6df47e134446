/// <reference types="@webgpu/types" />
/**
 * A kernel block K_mn = [k(y_a, x_i)] (m landmarks × n points) formed and kept on the device in float32,
 * for low-rank preconditioners at sizes where the host cannot hold or multiply it (n = 2²⁰, m = 4096: 16 GiB,
 * its Gram n·m² = 1.8e13 multiply-adds). Stored y-major (row a holds k(y_a, x_i) for every i), in blocks of
 * landmarks that each fit one storage binding.
 *
 * Operations, each a fixed WGSL program (no formula text; the block itself comes from the formula AST through
 * `emitKernelBlockProgram`):
 *  - `gram()`: G = K_mn K_nm (m×m) over chunks of columns gathered from all blocks into one buffer, 64×128 tiles
 *    of the upper triangle per workgroup, 4×8 per thread, the i range staged 16 at a time, each
 *    GRAM_PARTIAL_TERMS-term partial added to the tile accumulators with compensation (Kahan, kept from folding by
 *    opq), and the result returned as the pair hi + lo (summed in float64 on the host);
 *  - `whiten(R)`: the block becomes Bᵀ = R⁻ᵀK_mn in place (blocked float32 substitution on each gathered chunk,
 *    scattered back) and returns BᵀB as `gram` does, in the same pass (device-landmarks.ts says why);
 *  - `applyT(r)`: K_mn r (m values), a workgroup per landmark reducing over i;
 *  - `apply(c)`: K_nm c (n values), a thread per point summing over the landmarks.
 * The products run in double-float arithmetic on float32 entries (see `PAIR_ARITHMETIC`); vectors come back as
 * float64.
 */
import type { Node } from '../../formula/ast.js';
import type { FormulaSlots } from '../../formula/slots.js';
import { GpuOutOfMemoryError, type GpuContext } from '../device.js';
import { packSplit, pipelineFor, unpackPairs } from '../reduce.js';
import { ADD_PAIR_WGSL, compensatedTermWgsl, emitKernelBlockProgram, HEADER_BYTES, opaqueHelper, type GpuProgram } from '../wgsl-emit.js';
import { fixedProgram, microTile, panelStaging, uniformBuffer, UNIFORM_DECL, uploadFloats, USAGE } from './fixed-programs.js';
import { DeviceCoreSolver, type DeviceCholeskyFactor, type DeviceDoubleFactor } from './cholesky.js';

const MAP_READ = USAGE.MAP_READ;

interface Block {
  /** First landmark of the block and how many. */
  readonly start: number;
  readonly count: number;
  readonly buffer: GPUBuffer;
}

/**
 * Terms per float32 partial of the Gram before it is added with compensation (a multiple of 16, the staging). The
 * compensated add costs ≈ 6 vector operations per 4 accumulators, so with 8-term partials it took 43% of the work;
 * 32 cuts that to 16%, and the partials' own rounding (≈ √32·u of their terms) stays far below what the whitened
 * core needs (ν, see device-landmarks.ts; the Lanczos floor measures it). 64-term partials measured no faster on
 * the H100 (whitening with the Gram 8.8 s against 8.5 s) and lowered the bottom of νI + E from 0.87ν to 0.72ν.
 */
const GRAM_PARTIAL_TERMS = 32;

/** Gram tile: GRAM_ROWS landmarks a × GRAM_COLUMNS landmarks b per workgroup, 4×8 per thread (as TRSM_UPDATE). */
const GRAM_ROWS = 64;
const GRAM_COLUMNS = 128;

/**
 * G[a][b] (+)= Σ_{i < n} A[a][i]·A[b][i] over GRAM_ROWS × GRAM_COLUMNS tiles that reach the upper triangle, A a chunk
 * of columns of K_mn (ma rows, row stride a0), the i range staged 16 at a time, a float32 partial of
 * GRAM_PARTIAL_TERMS terms added to the (acc, cmp) pair by Kahan's step: `gx` = 1 goes on from the (hi, lo) state a
 * previous chunk left in G, GL (see `gram`). Why 4×8: the 4×4 tiles' staged reads and compensation held the Gram to
 * 8.2 TFLOP/s on the H100 (8.4 s at n = 2²⁰, m = 8192), half the substitution's rate.
 */
const GRAM: GpuProgram = fixedProgram('tall-gram-chunked', 256, ['read-only-storage', 'storage', 'storage'], `${UNIFORM_DECL}
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> GL: array<f32>;
${opaqueHelper('h.flag')}fn opq4(x: vec4<f32>) -> vec4<f32> { return vec4<f32>(opq(x.x), opq(x.y), opq(x.z), opq(x.w)); }
var<workgroup> As: array<vec4<f32>, 256>;
var<workgroup> Bs: array<vec4<f32>, 512>;

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let aBase = wid.y * ${GRAM_ROWS}u;
  let bBase = wid.x * ${GRAM_COLUMNS}u;
  if (bBase + ${GRAM_COLUMNS - 1}u < aBase) { return; } // below the diagonal: G is symmetric (the host mirrors it)
  let tx = lid.x;
  let ty = lid.y;
  let t = ty * 16u + tx;
  // acc[2r + q]: row a = aBase + 4ty + r, columns b = bBase + 64q + 4tx … + 3
  var acc: array<vec4<f32>, 8>;
  var cmp: array<vec4<f32>, 8>;
  var part: array<vec4<f32>, 8>;
  for (var q = 0u; q < 8u; q++) {
    acc[q] = vec4<f32>(0.0);
    cmp[q] = vec4<f32>(0.0);
    part[q] = vec4<f32>(0.0);
  }
  if (h.gx == 1u) {
    for (var r = 0u; r < 4u; r++) {
      let a = aBase + ty * 4u + r;
      for (var q = 0u; q < 2u; q++) {
        for (var c = 0u; c < 4u; c++) {
          let b = bBase + q * 64u + tx * 4u + c;
          if (a < h.ma && b < h.ma) {
            acc[2u * r + q][c] = G[a * h.m + b];
            cmp[2u * r + q][c] = -GL[a * h.m + b];
          }
        }
      }
    }
  }
  let kk = t & 15u;
  var stage = 0u;
  for (var k0 = 0u; k0 < h.n; k0 += 16u) {
    let i = k0 + kk;
    workgroupBarrier();
    for (var s = 0u; s < 4u; s++) {
      let a = (t >> 4u) + 16u * s;
      var va = 0.0;
      if (i < h.n && aBase + a < h.ma) { va = A[(aBase + a) * h.a0 + i]; }
      As[kk * 16u + (a >> 2u)][a & 3u] = va;
    }
    for (var s = 0u; s < 8u; s++) {
      let b = (t >> 4u) + 16u * s;
      var vb = 0.0;
      if (i < h.n && bBase + b < h.ma) { vb = A[(bBase + b) * h.a0 + i]; }
      Bs[kk * 32u + (b >> 2u)][b & 3u] = vb;
    }
    workgroupBarrier();
${microTile('As', 'Bs', 'part')}    stage += 16u;
    if (stage == ${GRAM_PARTIAL_TERMS}u || k0 + 16u >= h.n) {
      stage = 0u;
      for (var q = 0u; q < 8u; q++) {
        let y = part[q] - cmp[q];
        let s2 = opq4(acc[q] + y);
        cmp[q] = opq4(s2 - acc[q]) - y;
        acc[q] = s2;
        part[q] = vec4<f32>(0.0);
      }
    }
  }
  for (var r = 0u; r < 4u; r++) {
    let a = aBase + ty * 4u + r;
    if (a < h.ma) {
      for (var q = 0u; q < 2u; q++) {
        for (var c = 0u; c < 4u; c++) {
          let b = bBase + q * 64u + tx * 4u + c;
          if (b < h.ma) {
            // the sum as an unevaluated pair hi + lo: the compensation is kept, not rounded away
            G[a * h.m + b] = acc[2u * r + q][c];
            GL[a * h.m + b] = -cmp[2u * r + q][c];
          }
        }
      }
    }
  }
}
`);

/**
 * Moves columns [b0, b0 + mb) of a landmark block A (ma rows, row stride n) to or from rows a0… of a chunk C (row
 * stride m): 'gather' copies C[(a0 + a)·m + j] = A[a·n + b0 + j], 'scatter' (whitened columns back into their block)
 * the reverse. One thread per entry.
 */
function chunkCopyProgram(direction: 'gather' | 'scatter'): GpuProgram {
  const [from, to] = direction === 'gather' ? (['A', 'C'] as const) : (['C', 'A'] as const);
  const at = { A: 'A[a * h.n + h.b0 + j]', C: 'C[(h.a0 + a) * h.m + j]' };
  return fixedProgram(`tall-${direction}`, 256, ['read-only-storage', 'storage'], `${UNIFORM_DECL}
@group(0) @binding(1) var<storage, read> ${from}: array<f32>;
@group(0) @binding(2) var<storage, read_write> ${to}: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  let a = gid.y;
  if (j < h.mb && a < h.ma) { ${at[to]} = ${at[from]}; }
}
`);
}
const GATHER = chunkCopyProgram('gather');
const SCATTER = chunkCopyProgram('scatter');

/** Rows per panel of the whitening substitution (TRSM_UPDATE's tile height, TRSM_DIAG's block). */
const PANEL = 64;
/**
 * Columns per TRSM_UPDATE workgroup: 4×8 per thread, so each staged value read from workgroup memory feeds 8 (of L)
 * or 4 (of C) multiply-adds where 4×4 fed 4 each; the staging (16 steps of k) stays within WebGPU's default 16 KiB of
 * workgroup memory.
 */
const UPDATE_COLUMNS = 128;

/**
 * The blocked forward substitution Bᵀ = L⁻¹C on a chunk C of columns (m rows, row stride n = the chunk width), one
 * panel of ma ≤ 64 rows from row a0 at a time: TRSM_UPDATE subtracts L[panel, :a0]·C[:a0] (rows before the panel,
 * already solved) from the panel's rows, 64 × UPDATE_COLUMNS tiles (panel rows × columns) per workgroup, the a0
 * range staged 16 at a time; TRSM_DIAG then solves with the panel's diagonal block, a thread per column.
 * L = Rᵀ comes as R, row-major m×m float32 (L[a][k] = R[k][a], so a panel's rows are contiguous for each k; R's
 * strict lower triangle is never read), D its diagonal's reciprocals.
 */
const TRSM_UPDATE: GpuProgram = fixedProgram('tall-trsm-update', 256, ['read-only-storage', 'storage'], `${UNIFORM_DECL}
@group(0) @binding(1) var<storage, read> L: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
var<workgroup> Ls: array<vec4<f32>, 256>;
var<workgroup> Cs: array<vec4<f32>, 512>;

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let tx = lid.x;
  let ty = lid.y;
  let t = ty * 16u + tx;
  let col0 = (wid.x + wid.y * h.gx) * ${UPDATE_COLUMNS}u;
  // acc[2r + q]: panel row 4ty + r, columns col0 + 64q + 4tx … + 3
  var acc: array<vec4<f32>, 8>;
  for (var q = 0u; q < 8u; q++) { acc[q] = vec4<f32>(0.0); }
  for (var k0 = 0u; k0 < h.a0; k0 += 16u) {
    workgroupBarrier();
${panelStaging('L', 'C', 'h.n')}    workgroupBarrier();
${microTile('Ls', 'Cs', 'acc')}  }
  for (var r = 0u; r < 4u; r++) {
    let row = ty * 4u + r;
    if (row < h.ma) {
      for (var q = 0u; q < 2u; q++) {
        for (var c = 0u; c < 4u; c++) {
          let col = col0 + q * 64u + tx * 4u + c;
          if (col < h.n) {
            let at = (h.a0 + row) * h.n + col;
            C[at] = C[at] - acc[2u * r + q][c];
          }
        }
      }
    }
  }
}
`);

const TRSM_DIAG: GpuProgram = fixedProgram('tall-trsm-diag', 256, ['read-only-storage', 'read-only-storage', 'storage'], `${UNIFORM_DECL}
@group(0) @binding(1) var<storage, read> L: array<f32>;
@group(0) @binding(2) var<storage, read> D: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
var<workgroup> Ld: array<f32, 4096>;
var<workgroup> Dd: array<f32, 64>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  for (var q = lid; q < 4096u; q += 256u) {
    let r = q >> 6u;
    let c = q & 63u;
    var v = 0.0;
    if (r < h.ma && c < r) {
      let k = h.a0 + c;
      v = L[k * h.m + h.a0 + r];
    }
    Ld[q] = v;
  }
  if (lid < 64u) {
    var d = 0.0;
    if (lid < h.ma) { d = D[h.a0 + lid]; }
    Dd[lid] = d;
  }
  workgroupBarrier();
  let col = (wid.x + wid.y * h.gx) * 256u + lid;
  if (col >= h.n) { return; }
  var w: array<f32, 64>;
  for (var r = 0u; r < h.ma; r++) {
    let q = (h.a0 + r) * h.n + col;
    var s = C[q];
    for (var c = 0u; c < r; c++) { s = fma(-Ld[r * 64u + c], w[c], s); }
    w[r] = s * Dd[r];
    C[q] = w[r];
  }
}
`);


/**
 * The products' arithmetic: vectors cross as double-float (hi + lo, with hi's Veltkamp halves split on the host,
 * `packSplit`), each term K̃·(hi + lo) is formed by Dekker's TwoProduct and summed by TwoSum into a (hi, lo) pair
 * (`compensatedTermWgsl`, the kernel products' term).
 * Why: P⁻¹r = (r − K̃_nm S⁻¹K̃_mn r)/μ subtracts two nearly equal vectors, and w = S⁻¹K̃_mn r has large
 * entries of both signs (the landmark columns are nearly collinear), so float32 vectors and sums put rounding
 * into P⁻¹ that 1/μ amplifies until it is indefinite (n = 4,000, m = 800, μ = 10⁻³: rᵀP⁻¹r < 0 at iteration 12).
 * The entries of K̃ stay float32: the products are those of one fixed matrix. `mb` (unused by the products)
 * is the runtime zero of `opq`.
 */
const PAIR_ARITHMETIC = `${opaqueHelper('h.mb')}
${ADD_PAIR_WGSL}
// acc + k·w, w = (hi, hi's high half, hi's low half, lo): the kernel products' compensated term (Dekker's form)
fn addProduct(acc: vec2<f32>, k: f32, w: vec4<f32>) -> vec2<f32> {
  var hi = acc.x;
  var lo = acc.y;
  ${compensatedTermWgsl('k', ['w.x', 'w.y', 'w.z', 'w.w'], 'hi', 'lo', false)}
  return vec2<f32>(hi, lo);
}
`;

/** y[a0 + a] = Σ_i A[a][i]·r[i] as (hi, lo): one workgroup per landmark a. */
const APPLY_T: GpuProgram = fixedProgram('tall-applyT-pairs', 256, ['read-only-storage', 'read-only-storage', 'storage'], `${UNIFORM_DECL}
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> R: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> Y: array<vec2<f32>>;
var<workgroup> red: array<vec2<f32>, 256>;
${PAIR_ARITHMETIC}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let a = wid.x + wid.y * h.gx;
  let base = min(a, h.ma - 1u) * h.n;
  var s = vec2<f32>(0.0, 0.0);
  for (var i = lid; i < h.n; i += 256u) {
    s = addProduct(s, A[base + i], R[i]);
  }
  red[lid] = s;
  for (var w = 128u; w > 0u; w >>= 1u) {
    workgroupBarrier();
    if (lid < w) { red[lid] = addPair(red[lid], red[lid + w]); }
  }
  if (lid == 0u && a < h.ma) { Y[h.a0 + a] = red[0]; }
}
`);

/** Z[i] (+)= Σ_a A[a][i]·c[a0 + a] as (hi, lo): one thread per point; flag ≠ 0 adds to Z. */
const APPLY: GpuProgram = fixedProgram('tall-apply-pairs', 256, ['read-only-storage', 'read-only-storage', 'storage'], `${UNIFORM_DECL}
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> C: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> Z: array<vec2<f32>>;
${PAIR_ARITHMETIC}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  let ii = min(i, h.n - 1u);
  var s = vec2<f32>(0.0, 0.0);
  for (var a = 0u; a < h.ma; a++) {
    s = addProduct(s, A[a * h.n + ii], C[h.a0 + a]);
  }
  if (i < h.n) {
    if (h.flag != 0u) { Z[i] = addPair(Z[i], s); } else { Z[i] = s; }
  }
}
`);

/**
 * Y[a] = Σ_b G[a][b]·w[b] as (hi, lo), G the Gram as `chunkedGram` left it on the device: the upper triangle as
 * pairs (GH + GL, row-major m×m), the lower read from it mirrored. One workgroup per row a. Both halves of each entry
 * go through the compensated term, so the product is that of G in ≈ float64 (header: m, gx).
 */
const GRAM_APPLY: GpuProgram = fixedProgram('tall-gram-apply', 256, ['read-only-storage', 'read-only-storage', 'read-only-storage', 'storage'], `${UNIFORM_DECL}
@group(0) @binding(1) var<storage, read> GH: array<f32>;
@group(0) @binding(2) var<storage, read> GL: array<f32>;
@group(0) @binding(3) var<storage, read> W: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> Y: array<vec2<f32>>;
var<workgroup> red: array<vec2<f32>, 256>;
${PAIR_ARITHMETIC}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let a = min(wid.x + wid.y * h.gx, h.m - 1u);
  var s = vec2<f32>(0.0, 0.0);
  for (var b = lid; b < h.m; b += 256u) {
    var at = a * h.m + b;
    if (b < a) { at = b * h.m + a; }
    s = addProduct(s, GH[at], W[b]);
    s = addProduct(s, GL[at], W[b]);
  }
  red[lid] = s;
  for (var w = 128u; w > 0u; w >>= 1u) {
    workgroupBarrier();
    if (lid < w) { red[lid] = addPair(red[lid], red[lid + w]); }
  }
  if (lid == 0u && wid.x + wid.y * h.gx < h.m) { Y[a] = red[0]; }
}
`);

/** C[a] = (hi, hi's Veltkamp halves, lo) of the pair Y[a], as `packSplit` forms them on the host (header: m). */
const SPLIT_PAIRS: GpuProgram = fixedProgram('tall-split-pairs', 256, ['read-only-storage', 'storage'], `${UNIFORM_DECL}
@group(0) @binding(1) var<storage, read> Y: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> C: array<vec4<f32>>;
${opaqueHelper('h.flag')}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let a = gid.x;
  if (a >= h.m) { return; }
  let v = Y[a];
  let c = opq(4097.0 * v.x);
  let hh = opq(c - opq(c - v.x));
  C[a] = vec4<f32>(v.x, hh, v.x - hh, v.y);
}
`);

/** v as double-float entries (hi, hh, hl, lo) for the pair products. */
function splitVector(v: Float64Array): Float32Array<ArrayBuffer> {
  const data = new Float32Array(4 * v.length);
  packSplit(data, 0, v, 0, v.length, 1);
  return data;
}

/** The (hi, lo) pairs summed in float64. */
function joinPairs(p: Float32Array): Float64Array {
  const out = new Float64Array(p.length / 2);
  unpackPairs(out, 0, p, 0, out.length, 1);
  return out;
}

/**
 * Starts compiling the block algebra's programs (not the formula's own block program), so that a build which
 * needs them later finds them compiled: Dawn compiles pipelines asynchronously, off the host's critical path.
 */
export function warmBlockPipelines(ctx: GpuContext): void {
  // in the order a landmark build needs them (compilation may be serial)
  for (const p of [GATHER, TRSM_UPDATE, TRSM_DIAG, GRAM, SCATTER, GRAM_APPLY, APPLY, SPLIT_PAIRS, APPLY_T]) {
    pipelineFor(ctx, p).catch(() => undefined); // a failure surfaces where the program is used
  }
}

/** K_mn on the device (see the module comment). */
export class DeviceKernelBlock {
  private constructor(
    private readonly ctx: GpuContext,
    /** n points (columns), m landmarks (rows). */
    readonly n: number,
    readonly m: number,
    private readonly blocks: readonly Block[],
    private readonly vectors: { r: GPUBuffer; y: GPUBuffer; c: GPUBuffer; z: GPUBuffer; readM: GPUBuffer; readN: GPUBuffer },
  ) {}

  /**
   * Forms K_mn for `formula` (its i-variables bound to the n points, its j-variables to the m landmarks) on the
   * device. `slots` are the formula's variables.
   */
  static async create(ctx: GpuContext, formula: Node, slots: FormulaSlots, n: number, m: number): Promise<DeviceKernelBlock> {
    const { device, limits } = ctx;
    const maxBinding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
    const perBlock = Math.floor(maxBinding / (4 * n));
    if (perBlock < 1) throw new RangeError(`one row of K_mn (${n} float32) exceeds the device's buffer binding limit (${maxBinding} bytes)`);
    if (slots.i.some((v) => 4 * v.value.data.length > maxBinding) || slots.j.some((v) => 4 * v.value.data.length > maxBinding)) {
      throw new RangeError(`the point data exceeds the device's buffer binding limit (${maxBinding} bytes)`);
    }
    const WG = Math.min(256, limits.maxComputeWorkgroupSizeX, limits.maxComputeInvocationsPerWorkgroup);
    const program = emitKernelBlockProgram(formula, slots, WG, limits);
    const blockPipe = await pipelineFor(ctx, program);

    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    const upload = (data: Float64Array): GPUBuffer => uploadFloats(device, new Float32Array(data), USAGE.COPY_DST);
    const temporaries: GPUBuffer[] = []; // inputs of the block formation, freed once it has run
    const iBuffers = slots.i.map((v) => upload(v.value.data));
    temporaries.push(...iBuffers);
    const params = new Float32Array(Math.max(4, Math.ceil(program.paramFloats / 4) * 4));
    let po = 0;
    for (const v of slots.p) { params.set(v.value.data, po); po += v.dim; }
    const blocks: Block[] = [];
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(blockPipe.pipeline);
    const groups = Math.ceil(n / WG);
    const gx = Math.min(groups, limits.maxComputeWorkgroupsPerDimension);
    for (let start = 0; start < m; start += perBlock) {
      const count = Math.min(perBlock, m - start);
      const buffer = device.createBuffer({ size: 4 * n * count, usage: USAGE.STORAGE | USAGE.COPY_SRC });
      const jBuffers = slots.j.map((v) => upload(v.value.data.subarray(start * v.dim, (start + count) * v.dim)));
      const ubuf = device.createBuffer({ size: HEADER_BYTES + params.byteLength, usage: USAGE.UNIFORM, mappedAtCreation: true });
      const mapped = ubuf.getMappedRange();
      new Uint32Array(mapped, 0, 8).set([n, count, 0, 0, gx, 0, 0, 0]);
      new Float32Array(mapped, HEADER_BYTES, params.length).set(params);
      ubuf.unmap();
      temporaries.push(ubuf, ...jBuffers);
      const entries: GPUBindGroupEntry[] = program.bindings.map((b) => {
        switch (b.role.kind) {
          case 'uniform': return { binding: b.binding, resource: { buffer: ubuf } };
          case 'i': return { binding: b.binding, resource: { buffer: iBuffers[b.role.slot]! } };
          case 'j': return { binding: b.binding, resource: { buffer: jBuffers[b.role.slot]! } };
          default: return { binding: b.binding, resource: { buffer } };
        }
      });
      pass.setBindGroup(0, device.createBindGroup({ layout: blockPipe.layout, entries }));
      pass.dispatchWorkgroups(gx, 1, Math.ceil(groups / gx));
      blocks.push({ start, count, buffer });
    }
    pass.end();
    device.queue.submit([encoder.finish()]);
    const vec = (floats: number, usage: number) => device.createBuffer({ size: Math.max(16, 4 * floats), usage });
    const vectors = {
      // double-float vectors: (hi, hh, hl, lo) in, (hi, lo) out
      r: vec(4 * n, USAGE.STORAGE | USAGE.COPY_DST),
      y: vec(2 * m, USAGE.STORAGE | USAGE.COPY_SRC),
      c: vec(4 * m, USAGE.STORAGE | USAGE.COPY_DST),
      z: vec(2 * n, USAGE.STORAGE | USAGE.COPY_SRC),
      readM: vec(2 * m, USAGE.MAP_READ | USAGE.COPY_DST),
      readN: vec(2 * n, USAGE.MAP_READ | USAGE.COPY_DST),
    };
    const [invalid, oom] = await Promise.all([device.popErrorScope(), device.popErrorScope()]);
    if (oom || invalid) {
      for (const b of [...temporaries, ...blocks.map((k) => k.buffer), ...Object.values(vectors)]) b.destroy();
      if (oom) throw new GpuOutOfMemoryError(`GPU out of memory forming a ${m}×${n} kernel block (${((4 * m * n) / 2 ** 30).toFixed(1)} GiB): ${oom.message}`);
      throw new Error(`GPU validation error forming a kernel block: ${invalid!.message}`);
    }
    await device.queue.onSubmittedWorkDone();
    for (const t of temporaries) t.destroy();
    return new DeviceKernelBlock(ctx, n, m, blocks, vectors);
  }

  /** Bind groups of the two products, per landmark block: their buffers never change. */
  private bound?: { applyT: GPUBindGroup[]; apply: GPUBindGroup[]; uniforms: GPUBuffer[] };

  private async bindings(): Promise<{ applyT: GPUBindGroup[]; apply: GPUBindGroup[]; uniforms: GPUBuffer[] }> {
    if (this.bound) return this.bound;
    const { device, limits } = this.ctx;
    const { n, m, vectors } = this;
    const [pT, pN] = await Promise.all([pipelineFor(this.ctx, APPLY_T), pipelineFor(this.ctx, APPLY)]);
    const uniforms: GPUBuffer[] = [];
    const groups = Math.ceil(n / 256);
    const gxN = Math.min(groups, limits.maxComputeWorkgroupsPerDimension);
    const applyT = this.blocks.map((A) => {
      const gx = Math.min(A.count, limits.maxComputeWorkgroupsPerDimension);
      const u = this.uniform([n, A.count, 0, m, A.start, 0, 0, gx]);
      uniforms.push(u);
      return device.createBindGroup({
        layout: pT.layout,
        entries: [
          { binding: 0, resource: { buffer: u } },
          { binding: 1, resource: { buffer: A.buffer } },
          { binding: 2, resource: { buffer: vectors.r } },
          { binding: 3, resource: { buffer: vectors.y } },
        ],
      });
    });
    const apply = this.blocks.map((A, p) => {
      const u = this.uniform([n, A.count, 0, m, A.start, 0, p > 0 ? 1 : 0, gxN]);
      uniforms.push(u);
      return device.createBindGroup({
        layout: pN.layout,
        entries: [
          { binding: 0, resource: { buffer: u } },
          { binding: 1, resource: { buffer: A.buffer } },
          { binding: 2, resource: { buffer: vectors.c } },
          { binding: 3, resource: { buffer: vectors.z } },
        ],
      });
    });
    return (this.bound = { applyT, apply, uniforms });
  }

  private uniform(values: readonly number[]): GPUBuffer {
    return uniformBuffer(this.ctx.device, values);
  }

  private async run(
    build: (pass: GPUComputePassEncoder) => void,
    copy: { from: GPUBuffer | GPUBuffer[]; to: GPUBuffer; bytes: number },
  ): Promise<Float32Array> {
    return this.runAndRead(build, copy, (mapped) => mapped.slice());
  }

  /** As `run`, handing the mapped readback to `consume` (valid only during the call). */
  private async runAndRead<T>(
    build: (pass: GPUComputePassEncoder) => void,
    copy: { from: GPUBuffer | GPUBuffer[]; to: GPUBuffer; bytes: number },
    consume: (mapped: Float32Array) => T,
  ): Promise<T> {
    const { device } = this.ctx;
    device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    build(pass);
    pass.end();
    const sources = Array.isArray(copy.from) ? copy.from : [copy.from];
    const each = copy.bytes / sources.length;
    sources.forEach((src, k) => encoder.copyBufferToBuffer(src, 0, copy.to, k * each, each));
    device.queue.submit([encoder.finish()]);
    const invalid = device.popErrorScope();
    await copy.to.mapAsync(MAP_READ, 0, copy.bytes);
    try {
      const e = await invalid;
      if (e) throw new Error(`GPU validation error in a kernel-block product: ${e.message}`);
      return consume(new Float32Array(copy.to.getMappedRange(0, copy.bytes)));
    } finally {
      copy.to.unmap();
    }
  }

  /**
   * G = K_mn K_nm (m×m, row-major, float64 from the float32 device result), over chunks of `chunk` columns
   * (default: as many as fit one storage binding for all m rows, a multiple of 32): each chunk of every landmark
   * is gathered into one buffer, whose Gram — one dispatch over the whole m×m upper triangle — goes on from the
   * previous chunk's compensated state, so the sums are those of one pass over i. Why: the landmark blocks'
   * rows lie n floats apart (4 MiB at n = 2²⁰), and one block pair at a time (512 × 512 landmarks there) kept
   * most of the GPU idle: m = 8192 took 31–33 s at n = 2²⁰ where n = 2¹⁸ ran 2.5× faster per multiply-add.
   */
  async gram(options: { chunk?: number } = {}): Promise<Float64Array> {
    return (await this.chunkedGram('DeviceKernelBlock.gram', options.chunk))!;
  }

  /**
   * Whitens the block in place, K̃_mn → Bᵀ = L⁻¹K̃_mn with L = Rᵀ — R upper-triangular m×m, either a device factor
   * (`deviceCholesky`) or row-major float64 as `choleskyUpperWasm` returns it (rounded to float32 on the device) —
   * and returns the Gram of the whitened rows,
   * BᵀB (as `gram` does). The substitution runs in float32 on each gathered chunk of columns (blocked: panels of 64
   * rows, the update a tiled product, see TRSM_UPDATE) between the gather and the Gram, and the chunk is scattered
   * back, so the block's products apply B afterwards. Why this and not L⁻¹GL⁻ᵀ from G: see device-landmarks.ts.
   */
  async whiten(factor: Float64Array | DeviceCholeskyFactor, options: { chunk?: number; keepGram?: boolean } = {}): Promise<Float64Array> {
    return (await this.whitenAndGram('DeviceKernelBlock.whiten', factor, options.chunk, options.keepGram === true, true))!;
  }

  /**
   * `whiten` without reading the Gram back: it stays on the device (`gramPairs`, `gramRounding`), for a core factored
   * there (`deviceCholeskyDouble`) — the m² readback and its float64 sums are the host's to skip.
   */
  async whitenOnDevice(factor: Float64Array | DeviceCholeskyFactor, options: { chunk?: number } = {}): Promise<void> {
    await this.whitenAndGram('DeviceKernelBlock.whitenOnDevice', factor, options.chunk, true, false);
  }

  private async whitenAndGram(
    fn: string, factor: Float64Array | DeviceCholeskyFactor, chunk: number | undefined, keep: boolean, read: boolean,
  ): Promise<Float64Array | undefined> {
    const { m } = this;
    if (!(factor instanceof Float64Array)) {
      if (factor.m !== m) throw new RangeError(`${fn}: the device factor is ${factor.m}×${factor.m}, expected m = ${m}`);
      return this.chunkedGram(fn, chunk, { L: factor.R, D: factor.inverseDiagonal }, keep, read);
    }
    if (factor.length !== m * m) throw new RangeError(`${fn}: R has ${factor.length} entries, expected m·m = ${m * m} for m = ${m}`);
    const inv = new Float32Array(m);
    for (let k = 0; k < m; k++) {
      const d = factor[k * m + k]!;
      if (!(d > 0 && Number.isFinite(d))) throw new RangeError(`${fn}: R's diagonal must be positive and finite, got R[${k}][${k}] = ${d}`);
      inv[k] = 1 / d;
    }
    const { limits } = this.ctx;
    if (4 * m * m > Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize)) {
      throw new RangeError(`${fn}: R (${m}×${m} float32, ${4 * m * m} bytes) exceeds the device's buffer binding limit (${limits.maxStorageBufferBindingSize} bytes)`);
    }
    const L = uploadFloats(this.ctx.device, new Float32Array(factor));
    const D = uploadFloats(this.ctx.device, inv);
    try {
      return await this.chunkedGram(fn, chunk, { L, D }, keep, read);
    } finally {
      L.destroy();
      D.destroy();
    }
  }

  private async chunkedGram(
    fn: string, chunkOption: number | undefined, whiten?: { L: GPUBuffer; D: GPUBuffer }, keepGram = false, read = true,
  ): Promise<Float64Array | undefined> {
    const { device, limits } = this.ctx;
    const { n, m } = this;
    const maxBinding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
    const fit = Math.floor(maxBinding / (4 * m) / 32) * 32;
    const chunk = Math.min(chunkOption ?? fit, fit, Math.ceil(n / 32) * 32);
    if (!(Number.isInteger(chunk) && chunk >= 32 && chunk % 32 === 0)) {
      throw new RangeError(`${fn}: chunk must be a multiple of 32 columns ≥ 32 that fits one binding for ${m} rows, got ${String(chunkOption ?? fit)}`);
    }
    const rowsPerDispatch = limits.maxComputeWorkgroupsPerDimension;
    if (Math.ceil(m / GRAM_ROWS) > rowsPerDispatch || this.blocks.some((A) => A.count > rowsPerDispatch)) {
      throw new RangeError(`${m} landmarks exceed the device's workgroup grid`);
    }
    const [gramPipe, gatherPipe, scatterPipe, updatePipe, diagPipe] = await Promise.all(
      [GRAM, GATHER, SCATTER, TRSM_UPDATE, TRSM_DIAG].map((p) => pipelineFor(this.ctx, p)),
    );
    const temporaries: GPUBuffer[] = [];
    const buffer = (size: number, usage: number) => {
      const b = device.createBuffer({ size, usage });
      temporaries.push(b);
      return b;
    };
    // every dispatch's header in one uniform buffer at aligned offsets, written once before the submission (a
    // mapped buffer per header cost ≈ 1 ms each on the H100 machine: see bindDispatches)
    const stride = Math.max(256, device.limits.minUniformBufferOffsetAlignment);
    const slots = 2 * Math.ceil(m / PANEL) + Math.ceil(n / chunk) * (this.blocks.length + 1);
    const headers = new Uint32Array((slots * stride) / 4);
    const arena = buffer(slots * stride, USAGE.UNIFORM | USAGE.COPY_DST);
    let used = 0;
    const uniform = (values: readonly number[]): GPUBufferBinding => {
      if (used === slots) throw new Error(`${fn}: internal: more than ${slots} dispatch headers`);
      headers.set(values, (used * stride) / 4);
      return { buffer: arena, offset: stride * used++, size: HEADER_BYTES };
    };
    const grid = (groups: number) => {
      const gx = Math.min(groups, limits.maxComputeWorkgroupsPerDimension);
      return [gx, Math.ceil(groups / gx)] as const;
    };
    try {
      this.releaseGram();
      const hi = keepGram ? device.createBuffer({ size: 4 * m * m, usage: USAGE.STORAGE | USAGE.COPY_SRC }) : buffer(4 * m * m, USAGE.STORAGE | USAGE.COPY_SRC);
      const lo = keepGram ? device.createBuffer({ size: 4 * m * m, usage: USAGE.STORAGE | USAGE.COPY_SRC }) : buffer(4 * m * m, USAGE.STORAGE | USAGE.COPY_SRC);
      if (keepGram) this.keptGram = { hi, lo };
      const columns = buffer(4 * m * chunk, USAGE.STORAGE);
      // without a read back, 16 bytes still wait for the work (and its errors)
      const readBytes = read ? 8 * m * m : 16;
      const readBuffer = buffer(readBytes, USAGE.MAP_READ | USAGE.COPY_DST);
      // the substitution's dispatches per panel: they read and write only `columns`, the same for every chunk
      const panels: { update?: GPUBindGroup; diag: GPUBindGroup }[] = [];
      const [ux, uy] = grid(Math.ceil(chunk / UPDATE_COLUMNS));
      const [dx, dy] = grid(Math.ceil(chunk / 256));
      if (whiten) {
        const { L, D } = whiten;
        for (let a0 = 0; a0 < m; a0 += PANEL) {
          const p = Math.min(PANEL, m - a0);
          panels.push({
            update: a0 === 0 ? undefined : device.createBindGroup({
              layout: updatePipe.layout,
              entries: [
                { binding: 0, resource: uniform([chunk, p, 0, m, a0, 0, 0, ux]) },
                { binding: 1, resource: { buffer: L } },
                { binding: 2, resource: { buffer: columns } },
              ],
            }),
            diag: device.createBindGroup({
              layout: diagPipe.layout,
              entries: [
                { binding: 0, resource: uniform([chunk, p, 0, m, a0, 0, 0, dx]) },
                { binding: 1, resource: { buffer: L } },
                { binding: 2, resource: { buffer: D } },
                { binding: 3, resource: { buffer: columns } },
              ],
            }),
          });
        }
      }
      const g = await this.run((pass) => {
        for (let c0 = 0, first = true; c0 < n; c0 += chunk, first = false) {
          const len = Math.min(chunk, n - c0);
          const moves = this.blocks.map((A) => ({ A, u: uniform([n, A.count, len, chunk, A.start, c0, 0, 0]) }));
          // this chunk's columns of every landmark block into `columns` ('gather') or back ('scatter')
          const move = (direction: 'gather' | 'scatter') => {
            const pipe = direction === 'gather' ? gatherPipe : scatterPipe;
            pass.setPipeline(pipe.pipeline);
            for (const { A, u } of moves) {
              const [source, target] = direction === 'gather' ? [A.buffer, columns] : [columns, A.buffer];
              pass.setBindGroup(0, device.createBindGroup({
                layout: pipe.layout,
                entries: [
                  { binding: 0, resource: u },
                  { binding: 1, resource: { buffer: source } },
                  { binding: 2, resource: { buffer: target } },
                ],
              }));
              pass.dispatchWorkgroups(Math.ceil(len / 256), A.count, 1);
            }
          };
          move('gather');
          for (const panel of panels) {
            if (panel.update) {
              pass.setPipeline(updatePipe.pipeline);
              pass.setBindGroup(0, panel.update);
              pass.dispatchWorkgroups(ux, uy, 1);
            }
            pass.setPipeline(diagPipe.pipeline);
            pass.setBindGroup(0, panel.diag);
            pass.dispatchWorkgroups(dx, dy, 1);
          }
          pass.setPipeline(gramPipe.pipeline);
          pass.setBindGroup(0, device.createBindGroup({
            layout: gramPipe.layout,
            entries: [
              { binding: 0, resource: uniform([len, m, m, m, chunk, 0, 0, first ? 0 : 1]) },
              { binding: 1, resource: { buffer: columns } },
              { binding: 2, resource: { buffer: hi } },
              { binding: 3, resource: { buffer: lo } },
            ],
          }));
          pass.dispatchWorkgroups(Math.ceil(m / GRAM_COLUMNS), Math.ceil(m / GRAM_ROWS), 1);
          if (whiten) move('scatter');
        }
        device.queue.writeBuffer(arena, 0, headers); // queued before the submission that reads it
      }, { from: [hi, lo], to: readBuffer, bytes: readBytes });
      if (!read) return undefined;
      // the upper triangle as computed (hi + lo in float64), mirrored
      const G = new Float64Array(m * m);
      const mm = m * m;
      for (let a = 0; a < m; a++) {
        for (let b = a; b < m; b++) {
          const v = g[a * m + b]! + g[mm + a * m + b]!;
          G[a * m + b] = v;
          G[b * m + a] = v;
        }
      }
      return G;
    } finally {
      for (const b of temporaries) b.destroy();
    }
  }

  /** The Gram's device pairs, kept by `whiten(…, { keepGram: true })` or `whitenOnDevice` (`gramRounding`, the core). */
  private keptGram?: {
    hi: GPUBuffer; lo: GPUBuffer;
    /** `gramRounding`'s buffers and bind groups, made on its first call. */
    lanczos?: { gy: GPUBuffer; read: GPUBuffer; buffers: GPUBuffer[]; gramGrid: readonly [number, number]; gram: GPUBindGroup; split: GPUBindGroup };
  };

  /** The kept Gram as device pairs (upper triangle, row-major m×m float32 each), or undefined. */
  get gramPairs(): { readonly hi: GPUBuffer; readonly lo: GPUBuffer } | undefined {
    return this.keptGram;
  }

  /**
   * G w − Bᵀ(B w) (m values) in one submission, G the kept Gram and B this block: the Gram's rounding applied to w,
   * in double-float arithmetic throughout (B w stays on the device as pairs, split there for Bᵀ). For the Lanczos
   * floor (`coreBottom`): one upload and one m-vector readback per step, where a G w, `apply` and `applyT` each
   * moved its vector through the host (the n-vectors both ways).
   */
  async gramRounding(w: Float64Array): Promise<Float64Array<ArrayBuffer>> {
    const { device, limits } = this.ctx;
    const { n, m, vectors } = this;
    const G = this.keptGram;
    if (!G) throw new Error('DeviceKernelBlock.gramRounding: no Gram kept (whiten with { keepGram: true } first)');
    if (w.length !== m) throw new RangeError(`DeviceKernelBlock.gramRounding: w has ${w.length} entries, expected m = ${m}`);
    device.queue.writeBuffer(vectors.c, 0, splitVector(w));
    const [pG, pT, pN, pS] = await Promise.all([GRAM_APPLY, APPLY_T, APPLY, SPLIT_PAIRS].map((p) => pipelineFor(this.ctx, p)));
    const { applyT, apply } = await this.bindings();
    G.lanczos ??= (() => {
      const gy = device.createBuffer({ size: Math.max(16, 8 * m), usage: USAGE.STORAGE | USAGE.COPY_SRC });
      const read = device.createBuffer({ size: Math.max(32, 16 * m), usage: USAGE.MAP_READ | USAGE.COPY_DST });
      const gx = Math.min(m, limits.maxComputeWorkgroupsPerDimension);
      const uG = this.uniform([0, 0, 0, m, 0, 0, 0, gx]);
      const uS = this.uniform([0, 0, 0, n, 0, 0, 0, 0]);
      const bind = (pipe: { layout: GPUBindGroupLayout }, buffers: GPUBuffer[]) => device.createBindGroup({
        layout: pipe.layout, entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      return {
        gy, read, buffers: [gy, read, uG, uS], gramGrid: [gx, Math.ceil(m / gx)] as const,
        gram: bind(pG!, [uG, G.hi, G.lo, vectors.c, gy]),
        split: bind(pS!, [uS, vectors.z, vectors.r]),
      };
    })();
    const L = G.lanczos;
    const groups = Math.ceil(n / 256);
    const gxN = Math.min(groups, limits.maxComputeWorkgroupsPerDimension);
    const out = await this.run((pass) => {
      pass.setPipeline(pG!.pipeline);
      pass.setBindGroup(0, L.gram);
      pass.dispatchWorkgroups(L.gramGrid[0], L.gramGrid[1], 1);
      pass.setPipeline(pN!.pipeline);
      for (const group of apply) {
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(gxN, Math.ceil(groups / gxN), 1);
      }
      pass.setPipeline(pS!.pipeline);
      pass.setBindGroup(0, L.split);
      pass.dispatchWorkgroups(gxN, Math.ceil(groups / gxN), 1);
      pass.setPipeline(pT!.pipeline);
      this.blocks.forEach((A, p) => {
        const gx = Math.min(A.count, limits.maxComputeWorkgroupsPerDimension);
        pass.setBindGroup(0, applyT[p]!);
        pass.dispatchWorkgroups(gx, Math.ceil(A.count / gx), 1);
      });
    }, { from: [L.gy, vectors.y], to: L.read, bytes: 16 * m });
    const result = new Float64Array(m);
    for (let a = 0; a < m; a++) result[a] = (out[2 * a]! + out[2 * a + 1]!) - (out[2 * m + 2 * a]! + out[2 * m + 2 * a + 1]!);
    return result;
  }

  /** Frees the kept Gram (2·4m² bytes). */
  releaseGram(): void {
    this.keptGram?.hi.destroy();
    this.keptGram?.lo.destroy();
    for (const b of this.keptGram?.lanczos?.buffers ?? []) b.destroy();
    this.keptGram = undefined;
  }

  /** The whole block as one row-major m×n float32 buffer, where it fits one binding (else undefined). */
  get buffer(): GPUBuffer | undefined {
    return this.blocks.length === 1 ? this.blocks[0]!.buffer : undefined;
  }

  /** Rows `landmarks` of K̃_mn as stored on the device (float32, row-major, landmarks.length × n). */
  async rows(landmarks: readonly number[]): Promise<Float32Array> {
    const { device, limits } = this.ctx;
    const { n, m } = this;
    for (const a of landmarks) {
      if (!(Number.isInteger(a) && a >= 0 && a < m)) throw new RangeError(`rows: landmark ${a} out of range for ${m} landmarks`);
    }
    const out = new Float32Array(n * landmarks.length);
    const perRead = Math.max(1, Math.floor(limits.maxBufferSize / (4 * n))); // rows per mapped read buffer
    for (let first = 0; first < landmarks.length; first += perRead) {
      const batch = landmarks.slice(first, first + perRead);
      const bytes = 4 * n * batch.length;
      const read = device.createBuffer({ size: Math.max(16, bytes), usage: USAGE.MAP_READ | USAGE.COPY_DST });
      try {
        const encoder = device.createCommandEncoder();
        batch.forEach((a, k) => {
          const block = this.blocks.find((b) => a >= b.start && a < b.start + b.count)!;
          encoder.copyBufferToBuffer(block.buffer, 4 * n * (a - block.start), read, 4 * n * k, 4 * n);
        });
        device.queue.submit([encoder.finish()]);
        await read.mapAsync(MAP_READ, 0, bytes);
        out.set(new Float32Array(read.getMappedRange(0, bytes)), first * n);
      } finally {
        read.destroy();
      }
    }
    return out;
  }

  /** K_mn r (m values). */
  async applyT(r: Float64Array): Promise<Float64Array> {
    const { limits } = this.ctx;
    const { m, vectors } = this;
    this.ctx.device.queue.writeBuffer(vectors.r, 0, splitVector(r));
    const pipe = await pipelineFor(this.ctx, APPLY_T);
    const { applyT } = await this.bindings();
    const y = await this.run((pass) => {
      pass.setPipeline(pipe.pipeline);
      this.blocks.forEach((A, p) => {
        const gx = Math.min(A.count, limits.maxComputeWorkgroupsPerDimension);
        pass.setBindGroup(0, applyT[p]!);
        pass.dispatchWorkgroups(gx, Math.ceil(A.count / gx), 1);
      });
    }, { from: vectors.y, to: vectors.readM, bytes: 8 * m });
    return joinPairs(y);
  }

  /** A solver of the core UᵀU on this block's m-vector, for `woodbury`. */
  coreSolver(factor: DeviceDoubleFactor): Promise<DeviceCoreSolver> {
    if (factor.m !== this.m) throw new RangeError(`DeviceKernelBlock.coreSolver: the factor is ${factor.m}×${factor.m}, expected m = ${this.m}`);
    return DeviceCoreSolver.create(this.ctx, factor, this.vectors.y);
  }

  /**
   * (r − K_nm S⁻¹ K_mn r)/ν, the Woodbury form of the landmark preconditioner's P⁻¹r, in one submission: K_mn r, the
   * core solve on the device (`solver`, from `coreSolver`), the result split into pairs with halves there, K_nm c —
   * double-float throughout, one upload, and the last step taken on the mapped readback (no intermediate n-vector).
   */
  async woodbury(r: Float64Array, solver: DeviceCoreSolver, nu: number): Promise<Float64Array> {
    const fn = 'DeviceKernelBlock.woodbury';
    const { device, limits } = this.ctx;
    const { n, m, vectors } = this;
    if (solver.vector !== vectors.y) throw new Error(`${fn}: the solver is not this block's (see coreSolver)`);
    if (r.length !== n) throw new RangeError(`${fn}: r has ${r.length} entries, expected n = ${n}`);
    device.queue.writeBuffer(vectors.r, 0, splitVector(r));
    const [pT, pN, pS] = await Promise.all([APPLY_T, APPLY, SPLIT_PAIRS].map((p) => pipelineFor(this.ctx, p)));
    const { applyT, apply } = await this.bindings();
    this.split ??= (() => {
      const u = this.uniform([0, 0, 0, m, 0, 0, 0, 0]);
      return {
        u,
        group: device.createBindGroup({
          layout: pS!.layout,
          entries: [u, vectors.y, vectors.c].map((buffer, binding) => ({ binding, resource: { buffer } })),
        }),
      };
    })();
    const split = this.split;
    const groups = Math.ceil(n / 256);
    const gxN = Math.min(groups, limits.maxComputeWorkgroupsPerDimension);
    return this.runAndRead((pass) => {
      pass.setPipeline(pT!.pipeline);
      this.blocks.forEach((A, p) => {
        const gx = Math.min(A.count, limits.maxComputeWorkgroupsPerDimension);
        pass.setBindGroup(0, applyT[p]!);
        pass.dispatchWorkgroups(gx, Math.ceil(A.count / gx), 1);
      });
      solver.encode(pass);
      pass.setPipeline(pS!.pipeline);
      pass.setBindGroup(0, split.group);
      pass.dispatchWorkgroups(Math.ceil(m / 256), 1, 1);
      pass.setPipeline(pN!.pipeline);
      for (const group of apply) {
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(gxN, Math.ceil(groups / gxN), 1);
      }
    }, { from: vectors.z, to: vectors.readN, bytes: 8 * n }, (z) => {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = (r[i]! - (z[2 * i]! + z[2 * i + 1]!)) / nu;
      return out;
    });
  }

  private split?: { u: GPUBuffer; group: GPUBindGroup };

  /** K_nm c (n values). */
  async apply(c: Float64Array): Promise<Float64Array> {
    const { limits } = this.ctx;
    const { n, vectors } = this;
    this.ctx.device.queue.writeBuffer(vectors.c, 0, splitVector(c));
    const pipe = await pipelineFor(this.ctx, APPLY);
    const { apply } = await this.bindings();
    const groups = Math.ceil(n / 256);
    const gx = Math.min(groups, limits.maxComputeWorkgroupsPerDimension);
    const z = await this.run((pass) => {
      pass.setPipeline(pipe.pipeline);
      for (const group of apply) {
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(gx, Math.ceil(groups / gx), 1);
      }
    }, { from: vectors.z, to: vectors.readN, bytes: 8 * n });
    return joinPairs(z);
  }

  /** Frees the device memory (the object cannot be used afterwards). */
  destroy(): void {
    this.releaseGram();
    this.split?.u.destroy();
    for (const b of this.blocks) b.buffer.destroy();
    for (const v of Object.values(this.vectors)) v.destroy();
    for (const u of this.bound?.uniforms ?? []) u.destroy();
  }
}
