/// <reference types="@webgpu/types" />
/**
 * GPU kernel reductions: out = K·B for a symbolic K, by the WGSL program generated from the
 * formula AST (`wgsl-emit.ts`). Products run in float32 on the device; inputs and results are
 * float64 on the host (converted at upload and readback).
 *
 * What lives on the device and for how long:
 *  - point data: uploaded once per (device, bound data, row block), in a WeakMap keyed by the
 *    formula's `BoundData`, so an operator, its transpose and later products share them, and they
 *    go when the operator goes;
 *  - pipelines: per (device, program key);
 *  - plans: per (device, formula node, column count, shape options): the right-hand-side, output,
 *    partial and readback buffers, the uniform buffers and bind groups of every dispatch. A product
 *    then costs one writeBuffer per column block, one submit and one mapAsync.
 *
 * Splitting: point sets larger than one storage binding (`maxStorageBufferBindingSize`) are cut
 * into row blocks (i) and column blocks (j); the j range of a block may further be split across
 * workgroups (more parallelism for small n), the partials then summed by a small second pass.
 */
import type { BoundData, Node } from '../formula/ast.js';
import { Pm, Vi, Vj } from '../formula/builder.js';
import { collectVariables } from '../formula/analyze.js';
import { norm2InFloat32RangeFor } from '../formula/norm2-range.js';
import { acquireGpu, knownGpu, uncapturedErrors, type GpuContext, type GpuLimits, type UncapturedErrors } from './device.js';
import { boolean, checkArgument } from '../operators/options.js';
import { describeValue } from '../operators/validate.js';
import { mulberry32 } from '../krylov/random.js';
import { UNROLL_MAX_DIM } from '../formula/emit-js.js';
import {
  emitKernelProgram, emitKminProgram, emitSplitSumProgram, HEADER_BYTES, matchExpandedGaussian,
  type BindingSpec, type ExpandedGaussianMatch, type FormulaSlots, type GpuProgram, type KernelShape, type PassWidth,
} from './wgsl-emit.js';

/** Tuning of the GPU kernel's shape; every field has a default chosen from the problem size. */
export interface GpuKernelOptions {
  /** Threads per workgroup (default min(128, device limits)). */
  workgroupSize?: number;
  /** Rows per thread R (default 4, fewer where the register budget of wide passes is exceeded). */
  rowsPerThread?: number;
  /** Points per staged tile (default: the workgroup size). */
  tile?: number;
  /** Right-hand sides per pass: 1, 4 or 8 (default 1 for one column, else 4). */
  columnsPerPass?: PassWidth;
  /** Workgroups sharing one row stripe's j range (default: enough to reach `targetWorkgroups`, ≤ 64). */
  splits?: number;
  /** Workgroups a product should have to fill the device (default 1024). */
  targetWorkgroups?: number;
  /** Compensated addition of the per-tile partials (default true). */
  kahan?: boolean;
  /**
   * Double-float products (default false): the right-hand side goes up as float32 pairs hi + lo, every
   * term is formed with its rounding error (fma) and summed with TwoSum, and each row comes back as a pair
   * — the fixed matrix of float32 entries applied in ≈ float64, one column per pass, in the direct form
   * (no expanded Gaussian). Costs more per pair (see bench/RESULTS.md); for Krylov solves to tolerances
   * below the float32 floor ε₃₂·λ_max/α. The entries keep their float32 rounding: against exact float64
   * K the solution is off by about that rounding times ‖x‖.
   */
  compensated?: boolean;
  /**
   * Compensated products only: half the `opq` guards (KernelShape.lightGuards). Default: where `lightGuardsHold`
   * finds the device gives the same sums with them as with every step guarded.
   */
  lightGuards?: boolean;
  /** Largest buffer binding to use, in bytes (default: the device's limit; tests lower it to force blocks). */
  maxBindingBytes?: number;
  /**
   * The expanded form of a Gaussian exp(−c|x − y|²) (`wgsl-emit.ts`): d multiply-adds and one exp2 per pair
   * instead of 2d + 1 operations, used only where the formula matches and the centred, scaled points satisfy
   * |x̂|² ≤ 64 (error ≈ 1e-6, see `EXPANDED_MAX_SQNORM`), else the direct form runs. Default: on hardware
   * adapters (H100, n = 2²⁰: 313 ms against 364 ms per kernel), off on software ones (llvmpipe runs it 1.7×
   * slower than the direct form). `gpuProgramFor` uses it only when asked.
   */
  expandedGaussian?: boolean;
  /**
   * Column blocks the right-hand side is cut into (at least; more where a binding needs it), so that the one-column
   * fast path (`tryGpuMatvec`) narrows, writes and submits each block while the device runs the blocks before it:
   * the host's upload leaves the call's path but for the first block. Each block adds a split-sum pass.
   * Default: `DEFAULT_UPLOAD_CHUNKS` for one-column products on hardware adapters where m is large enough to hide it, else 1.
   */
  uploadChunks?: number;
  /**
   * Components per chunk of KeOps' chunked mode (`KernelShape.dimensionChunk`) for reductions over vectors longer
   * than 32 that depend on both points: a multiple of 4 in [4, 64], or 0 to loop over the components per pair.
   * Default: 8 on software adapters (llvmpipe: a load from memory inside a loop costs a loop over the SIMD lanes,
   * so each staged y_j component serves 4 rows × 8 lanes, and 4 rows × 8 components of x_i fit the registers),
   * 32 on hardware adapters.
   */
  dimensionChunk?: number;
}

const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80, QUERY_RESOLVE: 0x200 } as const;

// ------------------------------------------------------------------ optional kernel profiling

let profiling = false;
let lastProfile: GpuProfile | undefined;

/** Device-side time of the last kernel product's compute pass (GPU timestamps). */
export interface GpuProfile {
  /** From the start to the end of the compute pass (every dispatch of the product), in ms; NaN without 'timestamp-query'. */
  readonly passMs: number;
  /** Host-side phases, in ms: right-hand sides converted and written, commands encoded and submitted, waiting
   * for the readback mapping, results copied out and converted. */
  readonly uploadMs: number;
  readonly submitMs: number;
  readonly waitMs: number;
  readonly readbackMs: number;
  readonly rows: number;
  readonly columns: number;
}

/**
 * Records GPU timestamps around every product's compute pass (where the device has 'timestamp-query'), for
 * benchmarks: `lastGpuProfile()` then tells the device time apart from submission and readback. Off by
 * default (it costs a second readback per product).
 */
export function setGpuProfiling(on: boolean): void {
  profiling = checkArgument('setGpuProfiling', 'on', on, boolean);
  lastProfile = undefined;
}

/**
 * The last profiled product, or undefined (profiling off, nothing run yet, or the last GPU pass was a min/max/argKmin
 * or knn pass, which are not profiled).
 */
export function lastGpuProfile(): GpuProfile | undefined {
  return lastProfile;
}

/**
 * Host clock readings along the one-column fast path (`tryGpuMatvec`), for benchmarks: unlike profiling it leaves
 * the path as it is (no timestamps, commands recorded ahead). Marks, in ms: entry, x narrowed and checked, written,
 * submitted, readback armed (map requested, output allocated, next commands recorded), mapped, results out. Where
 * x goes up block by block (`GpuKernelOptions.uploadChunks`), the first three are the first block's, and a mark
 * after them says when the last block was submitted (8 marks in all).
 */
let timeline: number[] | undefined;

export function setFastPathTimeline(on: boolean): void {
  timeline = on ? [] : undefined;
}

/** The marks of the last fast-path product (a copy), or undefined. */
export function lastFastPathTimeline(): number[] | undefined {
  return timeline?.slice();
}
const MAP_READ = 0x1;
const SHADER_COMPUTE = 0x4;

/** Registers per thread that the row stripes may take: R·(i-values + accumulators) stays near this. */
const REGISTER_BUDGET = 64;
const DEFAULT_TARGET_WORKGROUPS = 1024;
/**
 * Largest |x̂|² = s²|x − c|² (s² = c·log₂e, c the centre of the points' bounding box) for the expanded
 * Gaussian. The exponent 2x̂·ŷ − |ŷ|² is formed in f32 from terms up to ~3 × this bound, so its rounding error
 * grows with it: at the unit cube with σ = 0.1 (bound 54) the terms carry ≈ 6.5e-7 relative error against
 * 2.2e-7 for the direct form (float32 simulation over n = 2²⁰). Pair terms stay ≤ 2⁶⁴, so with weights
 * of magnitude ≤ 2²⁰ (larger ones are scaled, `unitScale`) no sum over a binding's points can overflow.
 */
const EXPANDED_MAX_SQNORM = 64;
const MAX_SPLITS = 64;

// ------------------------------------------------------------------ caches (per device)

interface DeviceCaches {
  readonly pipelines: Map<string, Promise<{ pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>>;
  readonly data: WeakMap<BoundData, Map<string, GPUBuffer>>;
  readonly plans: WeakMap<Node, Map<string, Promise<Plan>>>;
  /** The same plans once built, for the synchronous fast path of `tryGpuMatvec`. */
  readonly ready: WeakMap<Node, Map<string, Plan>>;
}

const caches = new WeakMap<GPUDevice, DeviceCaches>();

function cachesFor(device: GPUDevice): DeviceCaches {
  let c = caches.get(device);
  if (!c) {
    caches.set(device, (c = { pipelines: new Map(), data: new WeakMap(), plans: new WeakMap(), ready: new WeakMap() }));
    knownDevices.add(device);
  }
  return c;
}

/**
 * Pipelines kept per device at most; the least recently used go (compiled again if asked for). Why: a formula's
 * constants are in its WGSL, so every distinct formula made another pipeline (≈ 1 MiB resident on llvmpipe), and a
 * loop over string formulas grew without bound (190 formulas: +170 MiB).
 */
export const MAX_PIPELINES = 128;
let pipelineLimit = MAX_PIPELINES;

/** Sets the bound (tests: a small one, that the eviction is seen without making 128 pipelines); returns the one before. */
export function setPipelineLimit(limit: number): number {
  const before = pipelineLimit;
  pipelineLimit = limit;
  return before;
}

/** Pipelines kept on the devices used so far, for tests (the most on any one device). */
export function gpuPipelineCount(): number {
  let most = 0;
  for (const device of knownDevices) most = Math.max(most, caches.get(device)?.pipelines.size ?? 0);
  return most;
}

/** The devices given caches (a WeakMap's keys cannot be listed; devices are few: one a backend setting). */
const knownDevices = new Set<GPUDevice>();

export function pipelineFor(ctx: GpuContext, program: GpuProgram) {
  const c = cachesFor(ctx.device);
  let p = c.pipelines.get(program.key);
  if (p) {
    // the most recently used last: the map's order is the eviction order
    c.pipelines.delete(program.key);
    c.pipelines.set(program.key, p);
  } else {
    p = (async () => {
      const { device } = ctx;
      const layout = device.createBindGroupLayout({ entries: program.bindings.map(layoutEntry) });
      const module = device.createShaderModule({ code: program.code });
      try {
        const pipeline = await device.createComputePipelineAsync({
          layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
          compute: { module, entryPoint: 'main' },
        });
        return { pipeline, layout };
      } catch (error) {
        const info = await module.getCompilationInfo().catch(() => undefined);
        const messages = info?.messages.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ') ?? '';
        throw new Error(`GPU pipeline creation failed for ${program.key}: ${(error as Error).message}${messages ? ` (${messages})` : ''}`);
      }
    })();
    c.pipelines.set(program.key, p);
    const made = p;
    made.catch(() => { if (c.pipelines.get(program.key) === made) c.pipelines.delete(program.key); });
    for (const key of c.pipelines.keys()) {
      if (c.pipelines.size <= pipelineLimit) break;
      c.pipelines.delete(key);
    }
  }
  return p;
}

/** Points of the light-guard probe's product (a Gaussian, σ = 0.1, in [0,1]³). */
const LIGHT_GUARD_PROBE_POINTS = 4096;
const lightGuardProbes = new WeakMap<GPUDevice, Promise<boolean>>();

/**
 * Whether compensated products may run with half their `opq` guards on this device (KernelShape.lightGuards): the
 * device's fma is fused, and a compensated Gaussian product over LIGHT_GUARD_PROBE_POINTS points, weights of both
 * signs over 20 binades, comes out bit for bit the same with both guard sets — a compiler that folded or
 * re-associated any of the unguarded steps would change the sums' low bits on such data. Measured once per device.
 * On the H100 (Dawn/Vulkan) the light form matched bit for bit at n = 2²⁰ and ran ≈ 5% faster (1.11 against 1.17 s);
 * with only the product guarded, the compiler folded the compensation away (2·10⁻⁵ relative off).
 */
export function lightGuardsHold(ctx: GpuContext): Promise<boolean> {
  let probe = lightGuardProbes.get(ctx.device);
  if (!probe) {
    probe = (async () => {
      if (!(await fusedMultiplyAdd(ctx))) return false;
      const n = LIGHT_GUARD_PROBE_POINTS;
      const rand = mulberry32(77);
      const points = { data: Float64Array.from({ length: 3 * n }, () => rand()), rows: n, cols: 3 };
      const w = Float64Array.from({ length: n }, () => (rand() - 0.5) * 2 ** Math.floor(rand() * 20 - 4));
      const f = Vi(points, 'x').sub(Vj(points, 'y')).sqnorm2().div(Pm(0.1, 'sigma').square().mul(2)).neg().exp();
      const slots = collectVariables(f.node);
      const run = (lightGuards: boolean) => gpuReduceKernel(f.node, slots, n, n, [w], { context: ctx, compensated: true, lightGuards });
      const [full] = await run(false);
      const [light] = await run(true);
      return full!.every((v, i) => v === light![i]);
    })();
    lightGuardProbes.set(ctx.device, probe);
  }
  return probe;
}

const FMA_PROBE_PAIRS = 64;
const fmaProbes = new WeakMap<GPUDevice, Promise<boolean>>();

/**
 * Whether the device's `fma` is fused — fma(a, b, −fl(a·b)) is then the exact error of the product (one
 * instruction for what Dekker's TwoProduct does in seventeen). WGSL does not promise it, so it is measured once
 * per device: `FMA_PROBE_PAIRS` float32 pairs (one a rounding tie), each error checked against float64, which
 * holds the 48-bit product exactly.
 */
export function fusedMultiplyAdd(ctx: GpuContext): Promise<boolean> {
  let probe = fmaProbes.get(ctx.device);
  if (!probe) {
    probe = (async () => {
      const { device } = ctx;
      const rand = mulberry32(2024);
      const pairs = new Float32Array(2 * FMA_PROBE_PAIRS);
      pairs[0] = pairs[1] = 1 + 2 ** -12; // a·b = 1 + 2⁻¹¹ + 2⁻²⁴: a tie, error 2⁻²⁴ when fused
      for (let k = 2; k < pairs.length; k++) pairs[k] = (rand() - 0.5) * 2 ** Math.floor(rand() * 16 - 8);
      const program: GpuProgram = {
        key: 'wgsl-fma-probe',
        workgroupSize: 64,
        bindings: [
          { binding: 0, type: 'read-only-storage', role: { kind: 'rhs' } },
          { binding: 1, type: 'storage', role: { kind: 'out' } },
        ],
        code: `@group(0) @binding(0) var<storage, read> P: array<f32>;
@group(0) @binding(1) var<storage, read_write> E: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x;
  if (k >= ${FMA_PROBE_PAIRS}u) { return; }
  let p = P[2u * k] * P[2u * k + 1u];
  E[2u * k] = p;
  E[2u * k + 1u] = fma(P[2u * k], P[2u * k + 1u], -p);
}
`,
        shape: { workgroupSize: 64, rowsPerThread: 1, tile: 1, width: 1, kahan: false },
        paramFloats: 0,
        workgroupBytes: 0,
      };
      const { pipeline, layout } = await pipelineFor(ctx, program);
      const input = device.createBuffer({ size: pairs.byteLength, usage: USAGE.STORAGE | USAGE.COPY_DST });
      const output = device.createBuffer({ size: pairs.byteLength, usage: USAGE.STORAGE | USAGE.COPY_SRC });
      const read = device.createBuffer({ size: pairs.byteLength, usage: USAGE.MAP_READ | USAGE.COPY_DST });
      try {
        device.queue.writeBuffer(input, 0, pairs);
        const encoder = device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer: input } }, { binding: 1, resource: { buffer: output } }] }));
        pass.dispatchWorkgroups(1);
        pass.end();
        encoder.copyBufferToBuffer(output, 0, read, 0, pairs.byteLength);
        device.queue.submit([encoder.finish()]);
        await read.mapAsync(MAP_READ);
        const e = new Float32Array(read.getMappedRange().slice(0));
        read.unmap();
        for (let k = 0; k < FMA_PROBE_PAIRS; k++) {
          const exact = pairs[2 * k]! * pairs[2 * k + 1]!; // float64: exact
          if (e[2 * k] !== Math.fround(exact) || e[2 * k + 1] !== exact - e[2 * k]!) return false;
        }
        return true;
      } finally {
        for (const b of [input, output, read]) b.destroy();
      }
    })();
    fmaProbes.set(ctx.device, probe);
  }
  return probe;
}

function layoutEntry(b: BindingSpec): GPUBindGroupLayoutEntry {
  return b.type === 'uniform'
    ? { binding: b.binding, visibility: SHADER_COMPUTE, buffer: { type: 'uniform' } }
    : { binding: b.binding, visibility: SHADER_COMPUTE, buffer: { type: b.type } };
}

/** f32 rows [start, start + rows) of a bound point set, uploaded once per device. */
function pointsBuffer(ctx: GpuContext, value: BoundData, start: number, rows: number): GPUBuffer {
  const c = cachesFor(ctx.device);
  let perData = c.data.get(value);
  if (!perData) c.data.set(value, (perData = new Map()));
  const key = `${start}:${rows}`;
  let buf = perData.get(key);
  if (!buf) {
    const data = new Float32Array(value.data.subarray(start * value.cols, (start + rows) * value.cols));
    buf = ctx.device.createBuffer({ size: align4(data.byteLength), usage: USAGE.STORAGE | USAGE.COPY_DST, mappedAtCreation: true });
    new Float32Array(buf.getMappedRange()).set(data);
    buf.unmap();
    perData.set(key, buf);
  }
  return buf;
}

const align4 = (b: number) => Math.max(4, Math.ceil(b / 4) * 4);

// ------------------------------------------------------------------ plans

interface Dispatch {
  /** The column block whose right-hand side it reads (the sum pass after it: the same block). */
  readonly block: number;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly x: number;
  readonly y: number;
  readonly z: number;
}

interface Plan {
  readonly ctx: GpuContext;
  readonly ncols: number;
  readonly width: PassWidth;
  readonly passes: number;
  readonly colBlocks: readonly { start: number; count: number; rhs: GPUBuffer }[];
  readonly rowBlocks: readonly { start: number; count: number; out: GPUBuffer; stagingOffset: number }[];
  readonly dispatches: readonly Dispatch[];
  readonly staging: GPUBuffer;
  readonly program: GpuProgram;
  readonly splits: number;
  /** The expanded Gaussian form: columns of extreme magnitude are scaled by a power of two on upload. */
  readonly expanded: boolean;
  /** Double-float products: right-hand sides and results as (hi, lo) float32 pairs. */
  readonly compensated: boolean;
  /** Serialises products on this plan (they share its buffers). */
  chain: Promise<unknown>;
  /** Products queued or running on this plan: the fast path of `tryGpuMatvec` runs only on an idle plan. */
  queued: number;
  /** Query set and buffers of the optional profiling, made on first use. */
  profiler?: { querySet: GPUQuerySet; resolve: GPUBuffer; read: GPUBuffer };
  /**
   * Host arrays reused by every product (products on a plan are serialised): each column block's float32
   * right-hand sides, and the copy of the readback mapping. A fresh array per product cost more than the
   * conversions themselves at n = 65,536 (page faults of a new allocation).
   */
  uploads?: Float32Array<ArrayBuffer>[];
  readback?: Float32Array<ArrayBuffer>;
  /**
   * The next product's commands, recorded while the device runs this one (a plan's commands never change): takes
   * the encoding (0.03 ms on the H100's host) off the next product's path. Not used while profiling.
   */
  nextCommands?: GPUCommandBuffer;
  /**
   * The same per column block, for the fast path's block-by-block submission (`tryGpuMatvec`): entry b holds block b's
   * dispatches (the last one also the result copies); an entry submitted is cleared, and one missing is recorded then.
   */
  blockCommands?: (GPUCommandBuffer | undefined)[];
}

/** What a plan was built with: exposed for benchmarks and tests. */
export interface PlanSummary {
  readonly shape: KernelShape;
  readonly splits: number;
  readonly rowBlocks: number;
  readonly colBlocks: number;
  readonly passes: number;
  readonly dispatches: number;
  readonly programKey: string;
  /** Whether the expanded Gaussian form runs (see `GpuKernelOptions.expandedGaussian`). */
  readonly expanded: boolean;
}

/**
 * Default threads per workgroup: 256 on hardware adapters (H100, n = 2²⁰: 385 ms against 403 ms with
 * 128, bench/RESULTS.md), 128 on software adapters (llvmpipe runs a workgroup per CPU thread).
 */
function defaultWorkgroupSize(software: boolean): number {
  return software ? 128 : 256;
}

function chooseShape(
  n: number, m: number, ncols: number, slots: FormulaSlots, limits: GpuLimits, o: GpuKernelOptions, software = true,
) {
  const maxWG = Math.min(limits.maxComputeWorkgroupSizeX, limits.maxComputeInvocationsPerWorkgroup);
  let WG = o.workgroupSize ?? Math.min(defaultWorkgroupSize(software), maxWG);
  if (!Number.isInteger(WG) || WG < 1 || WG > maxWG) {
    throw new RangeError(`gpu.workgroupSize must be an integer in [1, ${maxWG}] (the device's limit), got ${String(WG)}`);
  }
  for (const flag of ['kahan', 'expandedGaussian', 'compensated', 'lightGuards'] as const) {
    if (o[flag] !== undefined && typeof o[flag] !== 'boolean') {
      throw new TypeError(`gpu.${flag} must be true or false, got ${describeValue(o[flag])}`);
    }
  }
  const compensated = o.compensated === true;
  const width = o.columnsPerPass ?? (ncols === 1 || compensated ? 1 : 4);
  if (width !== 1 && width !== 4 && width !== 8) throw new RangeError(`gpu.columnsPerPass must be 1, 4 or 8, got ${String(width)}`);
  if (compensated && width !== 1) throw new RangeError(`gpu.compensated products run one column per pass: columnsPerPass must be 1, got ${width}`);
  const target = o.targetWorkgroups ?? DEFAULT_TARGET_WORKGROUPS;
  const dimensionChunk = o.dimensionChunk ?? (software ? SOFTWARE_DIMENSION_CHUNK : HARDWARE_DIMENSION_CHUNK);
  if (!(Number.isInteger(dimensionChunk) && dimensionChunk % 4 === 0 && dimensionChunk >= 0 && dimensionChunk <= 64)) {
    throw new RangeError(`gpu.dimensionChunk must be 0 or a multiple of 4 in [4, 64], got ${describeValue(dimensionChunk)}`);
  }
  // registers a row holds: a long x_i only a chunk at a time (or none: the per-pair loops read it from memory)
  const iFloats = slots.i.reduce((s, v) => s + (v.dim > UNROLL_MAX_DIM ? dimensionChunk : v.dim), 0);
  const perRow = iFloats + 2 * width * (compensated ? 2 : o.kahan === false ? 1 : 1.5);
  // R = 4 where the registers allow (then splits of the j range fill the device): on the H100, n = 65,536
  // ran its kernel in 1.25 ms with R = 2 or 4 and 16–32 splits, 1.31 ms with R = 8, 1.70 ms with R = 1
  // (4 splits); at n = 2²⁰, R = 4 and 8 are within 2% (bench/RESULTS.md)
  let R = o.rowsPerThread;
  if (R === undefined) {
    R = 1;
    for (const r of [4, 2]) {
      if (r * perRow <= REGISTER_BUDGET) { R = r; break; }
    }
  }
  if (!Number.isInteger(R) || R < 1 || R > 32) throw new RangeError(`gpu.rowsPerThread must be an integer in [1, 32], got ${String(R)}`);
  const chunked = dimensionChunk > 0 && [...slots.i, ...slots.j].some((v) => v.dim > UNROLL_MAX_DIM);
  if (chunked && software) ({ WG, R } = fitRows(n, WG, R, o));
  // chunked: a private array of tile × ⌈R/4⌉ vec4 per reduction; llvmpipe's compile time jumps past 64 points
  // (a 1,024-dimensional Gaussian: 0.45 s with 64, 2.7 s with 128)
  const tile = o.tile ?? (chunked ? Math.min(WG, CHUNKED_TILE) : WG);
  if (!Number.isInteger(tile) || tile < 1) throw new RangeError(`gpu.tile must be a positive integer, got ${String(tile)}`);
  const shape: KernelShape = {
    workgroupSize: WG, rowsPerThread: R, tile, width, kahan: o.kahan ?? true, dimensionChunk, ...(compensated ? { compensated } : {}),
  };
  return { shape, target };
}

/**
 * Workgroup size and rows per thread cut down to a few rows (software adapters, chunked programs, where a row
 * slot without a row costs as much as one with): WG ≥ 32, a power of two near n / R, then R near n / WG.
 * Explicit options stay as given.
 */
function fitRows(n: number, WG: number, R: number, o: GpuKernelOptions): { WG: number; R: number } {
  const pow2 = (v: number) => 2 ** Math.ceil(Math.log2(Math.max(1, v)));
  const wg = o.workgroupSize ?? Math.max(Math.min(32, WG), Math.min(WG, pow2(Math.ceil(n / R))));
  const r = o.rowsPerThread ?? Math.min(R, pow2(Math.ceil(n / wg)));
  return { WG: wg, R: r };
}

/**
 * Column blocks a plan's right-hand side is cut into (`GpuKernelOptions.uploadChunks`). By default only one-column
 * products on hardware adapters with m ≥ `UPLOAD_CHUNKS_MIN_M` are cut: there a block's kernel outlasts the next
 * block's narrowing, write and submit, so only the first block's upload stays on the call's path. Each block costs
 * the device about 0.01–0.03 ms more (a dispatch and its barrier). H100, d = 3 Gaussian, `K.matvec` alternating
 * between settings (bench/RESULTS.md, fourteenth lease): n = 65,536 — 1 block 1.384–1.394 ms, 2 blocks 1.374–1.383,
 * 4 blocks 1.408–1.413, 8 blocks 1.506–1.510; n = 2²⁰ — 316.99, 315.95 (2), 315.05 ms (4).
 */
function uploadChunksFor(o: GpuKernelOptions, ncols: number, m: number, software: boolean): number {
  const chunks = o.uploadChunks ?? (ncols === 1 && !software && m >= UPLOAD_CHUNKS_MIN_M ? DEFAULT_UPLOAD_CHUNKS : 1);
  if (!Number.isInteger(chunks) || chunks < 1 || chunks > MAX_UPLOAD_CHUNKS) {
    throw new RangeError(`gpu.uploadChunks must be an integer in [1, ${MAX_UPLOAD_CHUNKS}], got ${describeValue(chunks)}`);
  }
  return chunks;
}
const DEFAULT_UPLOAD_CHUNKS = 2;
const UPLOAD_CHUNKS_MIN_M = 32_768;
const MAX_UPLOAD_CHUNKS = 64;

function optionsKey(o: GpuKernelOptions): string {
  return [o.workgroupSize, o.rowsPerThread, o.tile, o.columnsPerPass, o.splits, o.targetWorkgroups, o.kahan, o.maxBindingBytes, o.expandedGaussian, o.compensated, o.lightGuards, o.dimensionChunk, o.uploadChunks].join(',');
}

/**
 * The kernel program of a product, its shape settled: compensated products form each product's error with one fma
 * where the device fuses it; on llvmpipe the tile shrinks to its loop budget.
 */
async function kernelProgramFor(
  ctx: GpuContext, formula: Node, slots: FormulaSlots, n: number, m: number, ncols: number, o: GpuKernelOptions,
): Promise<{ program: GpuProgram; target: number; expanded: ReturnType<typeof expandedGaussianFor> }> {
  const { limits } = ctx;
  const chosen = chooseShape(n, m, ncols, slots, limits, o, ctx.adapter.software);
  const fused = chosen.shape.compensated === true && (await fusedMultiplyAdd(ctx));
  const light = fused && (o.lightGuards ?? (await lightGuardsHold(ctx)));
  const requested = withNorm2Proof(formula, fused ? { ...chosen.shape, fusedTwoProduct: true, ...(light ? { lightGuards: true } : {}) } : chosen.shape);
  // compensated products run the direct form: the expanded form's row factor would round each result once more
  const expanded = !o.compensated && (o.expandedGaussian ?? !ctx.adapter.software) ? expandedGaussianFor(formula, slots) : undefined;
  let program = emitKernelProgram(formula, slots, requested, limits, expanded?.match);
  for (let pass = 0; pass < 3 && ctx.adapter.software && o.tile === undefined; pass++) {
    // llvmpipe's loop budget (see softwareLoopSplits) holds at least one tile per invocation (the chunk loops'
    // iterations per pair depend a little on the tile: checked again on the smaller one)
    const loopTile = Math.floor(SOFTWARE_LOOP_BUDGET / (program.loopIterationsPerPair ?? 1));
    if (program.shape.tile <= loopTile || loopTile < 1) break;
    program = emitKernelProgram(formula, slots, { ...requested, tile: loopTile }, limits, expanded?.match);
  }
  const bindingsNeeded = program.bindings.length - 1;
  if (bindingsNeeded > limits.maxStorageBuffersPerShaderStage) {
    throw new Error(`the formula needs ${bindingsNeeded} storage buffers (one per Vi/Vj variable, plus 2, plus 1 for parameters beyond the uniform), more than the device's maxStorageBuffersPerShaderStage (${limits.maxStorageBuffersPerShaderStage})`);
  }
  return { program, target: chosen.target, expanded };
}

/** Floats per result (F: a compensated product's (hi, lo) pair) and per right-hand-side entry (FB: hi, its halves, lo). */
function floatsPerEntry(shape: KernelShape): { F: number; FB: number } {
  return shape.compensated ? { F: 2, FB: 4 } : { F: 1, FB: 1 };
}

/** A product's blocks of rows and columns (every binding within the largest allowed size) and its splits of tiles. */
interface BlockLayout {
  passes: number;
  maxBinding: number;
  rowRanges: { start: number; count: number }[];
  colRanges: { start: number; count: number }[];
  nbMax: number;
  splits: number;
  /** One split and one column block: the kernel writes the output itself. */
  direct: boolean;
}

function blockLayout(
  ctx: GpuContext, program: GpuProgram, slots: FormulaSlots, n: number, m: number, ncols: number, target: number, o: GpuKernelOptions,
): BlockLayout {
  const { limits } = ctx;
  const { width: W, workgroupSize: WG, rowsPerThread: R, tile } = program.shape;
  const { F, FB } = floatsPerEntry(program.shape);
  const passes = Math.ceil(ncols / W);
  const maxBinding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize, o.maxBindingBytes ?? Infinity);
  const maxIdim = Math.max(...slots.i.map((v) => v.dim));
  const maxJdim = Math.max(...slots.j.map((v) => v.dim));
  const rowBytes = 4 * Math.max(maxIdim, passes * W * F);
  const colBytes = 4 * Math.max(maxJdim, passes * W * FB);
  const rowsPerBlock = Math.floor(maxBinding / rowBytes);
  const colsPerBlock = Math.floor(maxBinding / colBytes);
  if (rowsPerBlock < 1 || colsPerBlock < 1) {
    throw new RangeError(`one point or one row of results (${Math.max(rowBytes, colBytes)} bytes) exceeds the buffer binding limit (${maxBinding} bytes)`);
  }
  const blocks = (total: number, per: number) => {
    const count = Math.ceil(total / per);
    const size = Math.ceil(total / count); // balanced blocks
    return Array.from({ length: count }, (_, b) => ({ start: b * size, count: Math.min(size, total - b * size) }));
  };
  const rowRanges = blocks(n, rowsPerBlock);
  const chunks = uploadChunksFor(o, ncols, m, ctx.adapter.software);
  const colRanges = blocks(m, Math.min(colsPerBlock, Math.ceil(m / chunks)));

  // splits of a column block's tiles across workgroups
  const nbMax = Math.max(...rowRanges.map((b) => b.count));
  const mbMax = Math.max(...colRanges.map((b) => b.count));
  const rowGroups = Math.ceil(nbMax / (WG * R));
  const tilesMax = Math.ceil(mbMax / tile);
  let splits = o.splits ?? Math.max(1, Math.min(MAX_SPLITS, Math.floor(target / rowGroups)));
  if (!Number.isInteger(splits) || splits < 1) throw new RangeError(`gpu.splits must be a positive integer, got ${String(splits)}`);
  const maxSplits = Math.min(tilesMax, limits.maxComputeWorkgroupsPerDimension, Math.max(1, Math.floor(maxBinding / (4 * W * F * nbMax))));
  splits = Math.min(splits, maxSplits);
  if (ctx.adapter.software) splits = Math.max(splits, softwareLoopSplits(program, tilesMax, maxSplits));
  return { passes, maxBinding, rowRanges, colRanges, nbMax, splits, direct: splits === 1 && colRanges.length === 1 };
}

async function buildPlan(ctx: GpuContext, formula: Node, slots: FormulaSlots, n: number, m: number, ncols: number, o: GpuKernelOptions): Promise<Plan> {
  const { device, limits } = ctx;
  const { program, target, expanded } = await kernelProgramFor(ctx, formula, slots, n, m, ncols, o);
  const shape = program.shape;
  const { width: W, workgroupSize: WG, rowsPerThread: R, tile } = shape;
  const { F, FB } = floatsPerEntry(shape);
  const { passes, maxBinding, rowRanges, colRanges, nbMax, splits, direct } = blockLayout(ctx, program, slots, n, m, ncols, target, o);

  // header: nb, mb, tilesPerSplit, rhsOffset, gx, partStride, outOffset, zero (see wgsl-emit.ts)
  const kernel = await pipelineFor(ctx, program);
  const sumProgram = emitSplitSumProgram(W, 64, shape.compensated === true);
  const sum = direct ? undefined : await pipelineFor(ctx, sumProgram);

  // everything below is synchronous: the error scopes cannot interleave with other async work
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const params = new Float32Array(Math.max(4, Math.ceil(program.paramFloats / 4) * 4));
  let po = 0;
  for (const v of slots.p) { params.set(v.value.data, po); po += v.dim; }
  if (expanded) params.set(expanded.center, po);
  // parameters beyond the uniform binding limit: one storage buffer shared by every dispatch
  const paramBuffer = shape.paramsInStorage ? device.createBuffer({ size: params.byteLength, usage: USAGE.STORAGE, mappedAtCreation: true }) : undefined;
  if (paramBuffer) {
    new Float32Array(paramBuffer.getMappedRange()).set(params);
    paramBuffer.unmap();
  }
  const uniformBytes = HEADER_BYTES + (paramBuffer ? 16 : params.byteLength);
  const uniform = (header: readonly number[], withParams: boolean): GPUBuffer => {
    const bytes = withParams ? uniformBytes : HEADER_BYTES + 16;
    const buf = device.createBuffer({ size: bytes, usage: USAGE.UNIFORM | USAGE.COPY_DST, mappedAtCreation: true });
    const mapped = buf.getMappedRange();
    new Uint32Array(mapped, 0, 8).set(header);
    if (withParams && !paramBuffer) new Float32Array(mapped, HEADER_BYTES, params.length).set(params);
    buf.unmap();
    return buf;
  };

  const colBlocks = colRanges.map((b) => ({
    ...b,
    rhs: device.createBuffer({ size: align4(passes * b.count * W * FB * 4), usage: USAGE.STORAGE | USAGE.COPY_DST }),
  }));
  let stagingBytes = 0;
  const rowBlocks = rowRanges.map((b) => {
    const bytes = passes * b.count * W * F * 4;
    const out = device.createBuffer({ size: align4(bytes), usage: USAGE.STORAGE | USAGE.COPY_SRC });
    const block = { ...b, out, stagingOffset: stagingBytes };
    stagingBytes += align4(bytes);
    return block;
  });
  // each column block's tiles per split, and the splits that then have tiles
  const blockSplits = colBlocks.map((cb) => {
    const tiles = Math.ceil(cb.count / tile);
    const tilesPerSplit = Math.ceil(tiles / splits);
    return { tilesPerSplit, used: Math.ceil(tiles / tilesPerSplit) };
  });
  const totalSplits = blockSplits.reduce((a, b) => a + b.used, 0);
  // several column blocks: every block's partials side by side and one sum pass, where they fit one binding (a sum
  // pass per block cost the H100 0.01 ms more at n = 65,536 with 4 blocks, bench/RESULTS.md); else a pass per block
  const sumOnce = !direct && colBlocks.length > 1 && totalSplits * nbMax * W * F * 4 <= maxBinding;
  const partSplits = sumOnce ? totalSplits : splits;
  const part = direct ? undefined : device.createBuffer({ size: align4(partSplits * nbMax * W * F * 4), usage: USAGE.STORAGE });
  const staging = device.createBuffer({ size: stagingBytes, usage: USAGE.MAP_READ | USAGE.COPY_DST });

  const maxGroups = limits.maxComputeWorkgroupsPerDimension;
  const dispatches: Dispatch[] = [];
  for (const rb of rowBlocks) {
    const groups = Math.ceil(rb.count / (WG * R));
    const gx = Math.min(groups, maxGroups);
    const gz = Math.ceil(groups / gx);
    for (let p = 0; p < passes; p++) {
      let splitBase = 0; // sumOnce: the first partial slot of this block
      colBlocks.forEach((cb, c) => {
        const { tilesPerSplit, used } = blockSplits[c]!;
        const outOffset = direct ? p * rb.count : sumOnce ? splitBase * rb.count : 0;
        splitBase += used;
        const header = [rb.count, cb.count, tilesPerSplit, p * cb.count, gx, rb.count, outOffset, 0];
        const entries: GPUBindGroupEntry[] = program.bindings.map((b) => {
          switch (b.role.kind) {
            case 'uniform': return { binding: b.binding, resource: { buffer: uniform(header, true) } };
            case 'params': return { binding: b.binding, resource: { buffer: paramBuffer! } };
            case 'i': return { binding: b.binding, resource: { buffer: pointsBuffer(ctx, slots.i[b.role.slot]!.value, rb.start, rb.count) } };
            case 'j': return { binding: b.binding, resource: { buffer: pointsBuffer(ctx, slots.j[b.role.slot]!.value, cb.start, cb.count) } };
            case 'rhs': return { binding: b.binding, resource: { buffer: cb.rhs } };
            default: return { binding: b.binding, resource: { buffer: direct ? rb.out : part! } };
          }
        });
        dispatches.push({
          block: c,
          pipeline: kernel.pipeline,
          bindGroup: device.createBindGroup({ layout: kernel.layout, entries }),
          x: gx, y: used, z: gz,
        });
        if (!direct && (!sumOnce || c === colBlocks.length - 1)) {
          // the partials of this block (added to the earlier blocks' sum), or with sumOnce of every block
          const sumOf = sumOnce ? totalSplits : used;
          const G = W === 1 ? 1 : W / 4;
          const count = rb.count * G;
          const sgroups = Math.ceil(count / sumProgram.workgroupSize);
          const sx = Math.min(sgroups, maxGroups);
          dispatches.push({
            block: c,
            pipeline: sum!.pipeline,
            bindGroup: device.createBindGroup({
              layout: sum!.layout,
              entries: [
                { binding: 0, resource: { buffer: uniform([count, sumOf, 0, c > 0 && !sumOnce ? 1 : 0, 0, 0, p * rb.count, 0], false) } },
                { binding: 1, resource: { buffer: part! } },
                { binding: 2, resource: { buffer: rb.out } },
              ],
            }),
            x: sx, y: Math.ceil(sgroups / sx), z: 1,
          });
        }
      });
    }
  }
  const invalid = device.popErrorScope();
  const oom = device.popErrorScope();
  const [v, m2] = await Promise.all([invalid, oom]);
  if (m2) throw new Error(`GPU out of memory while preparing a ${n}x${m} kernel product with ${ncols} column(s): ${m2.message}`);
  if (v) throw new Error(`GPU validation error while preparing a ${n}x${m} kernel product: ${v.message}`);
  return {
    ctx, ncols, width: W, passes, colBlocks, rowBlocks, dispatches, staging, program, splits,
    expanded: expanded !== undefined, compensated: F === 2, chain: Promise.resolve(), queued: 0,
  };
}

/** Default `dimensionChunk` on software and hardware adapters (see GpuKernelOptions.dimensionChunk). */
const SOFTWARE_DIMENSION_CHUNK = 8;
const HARDWARE_DIMENSION_CHUNK = 32;
/** Default points per tile of chunked programs (see chooseShape). */
const CHUNKED_TILE = 64;

/** Mesa's llvmpipe ends an invocation's loops after 65,535 iterations in all (LP_MAX_TGSI_LOOP_ITERATIONS). */
const SOFTWARE_LOOP_BUDGET = 60_000;

/**
 * Splits of the j range the software adapter needs so that one invocation's loop iterations (pairs × the
 * program's iterations per pair, loops over large dimensions included) stay within llvmpipe's budget; past it
 * the loops stop early and the sums silently miss terms.
 */
function softwareLoopSplits(program: GpuProgram, tilesMax: number, maxSplits: number): number {
  const perPair = program.loopIterationsPerPair ?? 1;
  const tilesPerSplit = Math.floor(SOFTWARE_LOOP_BUDGET / (perPair * program.shape.tile));
  const needed = tilesPerSplit < 1 ? Infinity : Math.ceil(tilesMax / tilesPerSplit);
  if (needed > maxSplits) {
    throw new RangeError(`the software GPU adapter (llvmpipe) stops a shader's loops after 65,535 iterations: this formula costs ${perPair} per pair, and ${tilesMax} tiles of ${program.shape.tile} points need ${needed} splits (at most ${maxSplits} here); use the CPU backend for it`);
  }
  return needed;
}

/**
 * `shape`, marked `norm2InRange` where the points keep every norm2 of the formula in float32's range: the pair loop
 * then needs no range test (see norm2InFloat32RangeFor). Proven once per formula (its points are bound in it): a scan
 * of the points, 14 ms at 10⁶ × 3.
 */
function withNorm2Proof(formula: Node, shape: KernelShape): KernelShape {
  let proven = norm2Proofs.get(formula);
  if (proven === undefined) norm2Proofs.set(formula, (proven = norm2InFloat32RangeFor(formula)));
  return proven ? { ...shape, norm2InRange: true } : shape;
}
const norm2Proofs = new WeakMap<Node, boolean>();

/**
 * The expanded Gaussian's match and centre, when the data allow it: c is the centre of the bounding box of
 * both point sets, and s²·max|p − c|² over every point must stay within `EXPANDED_MAX_SQNORM`.
 */
function expandedGaussianFor(formula: Node, slots: FormulaSlots): { match: ExpandedGaussianMatch; center: Float32Array } | undefined {
  const match = matchExpandedGaussian(formula, slots);
  if (!match) return undefined;
  const d = match.dim;
  const lo = new Float64Array(d).fill(Infinity);
  const hi = new Float64Array(d).fill(-Infinity);
  const sets = [match.iVar.value, match.jVar.value];
  for (const { data, rows } of sets) {
    for (let i = 0; i < rows; i++) {
      for (let k = 0; k < d; k++) {
        const v = data[i * d + k]!;
        if (v < lo[k]!) lo[k] = v;
        if (v > hi[k]!) hi[k] = v;
      }
    }
  }
  const center = new Float32Array(d);
  let reach = 0; // max |p − c|² is at a corner of the box
  for (let k = 0; k < d; k++) {
    if (!Number.isFinite(lo[k]!) || !Number.isFinite(hi[k]!)) return undefined; // empty or non-finite points
    center[k] = (lo[k]! + hi[k]!) / 2;
    reach += Math.max(hi[k]! - center[k]!, center[k]! - lo[k]!) ** 2;
  }
  return match.scale2 * reach <= EXPANDED_MAX_SQNORM ? { match, center } : undefined;
}

function planFor(ctx: GpuContext, formula: Node, slots: FormulaSlots, n: number, m: number, ncols: number, o: GpuKernelOptions): Promise<Plan> {
  const c = cachesFor(ctx.device);
  let perNode = c.plans.get(formula);
  if (!perNode) c.plans.set(formula, (perNode = new Map()));
  const key = `${ncols}|${optionsKey(o)}`;
  let plan = perNode.get(key);
  if (!plan) {
    plan = buildPlan(ctx, formula, slots, n, m, ncols, o);
    perNode.set(key, plan);
    plan.then((built) => {
      let ready = c.ready.get(formula);
      if (!ready) c.ready.set(formula, (ready = new Map()));
      ready.set(key, built);
    }, () => perNode.delete(key));
  }
  return plan;
}

// ------------------------------------------------------------------ products

function lostError(ctx: GpuContext, cause?: unknown): Error {
  return new Error(
    `the GPU device was lost during a kernel product (${ctx.lost ?? (cause as Error | undefined)?.message ?? 'unknown reason'}); ` +
    'the next product acquires a new device', { cause },
  );
}

async function runPlan(plan: Plan, columns: readonly Float64Array[], n: number, maxAbs?: readonly number[]): Promise<Float64Array[]> {
  if (plan.ctx.lost) throw lostError(plan.ctx);
  const t0 = performance.now();
  // expanded form: columns of extreme magnitude scaled by an exact power of two (undone on readback)
  const scales = columns.map((col, c) => (plan.expanded ? unitScale(maxAbs?.[c] ?? maxAbsOf(col)) : 1));
  const W = plan.width;
  const uploads = uploadArrays(plan);
  for (const [b, cb] of plan.colBlocks.entries()) {
    // pass-major, W floats per point (W = 1 and 4 floats when compensated); lanes beyond ncols stay 0 (a plan's
    // products all have its ncols columns, so no product writes them)
    const data = uploads[b]!;
    if (plan.compensated) {
      columns.forEach((col, c) => packSplit(data, c * cb.count * 4, col, cb.start, cb.count, scales[c]!));
    } else {
      columns.forEach((col, c) => {
        const p = Math.floor(c / W);
        const lane = c % W;
        const base = p * cb.count * W + lane;
        packColumn(data, base, W, col, cb.start, cb.count, scales[c]!);
      });
    }
    plan.ctx.device.queue.writeBuffer(cb.rhs, 0, data);
  }
  return submitAndRead(plan, n, scales, t0, performance.now());
}

/** The plan's reused float32 right-hand sides, one array per column block (made on first use). */
function uploadArrays(plan: Plan): Float32Array<ArrayBuffer>[] {
  return (plan.uploads ??= plan.colBlocks.map((cb) => new Float32Array(plan.passes * cb.count * plan.width * (plan.compensated ? 4 : 1))));
}

/** A plan's timestamp queries and their buffers (profiling with 'timestamp-query' only). */
type Profiler = NonNullable<Plan['profiler']>;

/** Submits the plan's dispatches and result copies (with the pass timestamps when profiling). */
function encodeAndSubmit(plan: Plan): Profiler | undefined {
  const { device } = plan.ctx;
  const profiler = profiling && plan.ctx.timestamps ? (plan.profiler ??= {
    querySet: device.createQuerySet({ type: 'timestamp', count: 2 }),
    resolve: device.createBuffer({ size: 16, usage: USAGE.QUERY_RESOLVE | USAGE.COPY_SRC }),
    read: device.createBuffer({ size: 16, usage: USAGE.MAP_READ | USAGE.COPY_DST }),
  }) : undefined;
  if (profiler) {
    plan.nextCommands = undefined;
    device.queue.submit([encodeCommands(plan, profiler)]);
    return profiler;
  }
  const commands = plan.nextCommands ?? encodeCommands(plan, undefined);
  plan.nextCommands = undefined;
  device.queue.submit([commands]);
  return undefined;
}

/** Records the plan's next product's commands (Plan.nextCommands): called while the device runs this one. */
function recordNextCommands(plan: Plan): void {
  if (!profiling) plan.nextCommands ??= encodeCommands(plan, undefined);
}

/** Records the next fast-path product's commands of column block b (Plan.blockCommands), as `recordNextCommands`. */
function recordBlockCommands(plan: Plan, b: number): void {
  if (!profiling) (plan.blockCommands ??= [])[b] ??= encodeCommands(plan, undefined, b);
}

/** Column block b's commands, recorded ahead or now; the entry is cleared (a command buffer is submitted once). */
function takeBlockCommands(plan: Plan, b: number): GPUCommandBuffer {
  const recorded = plan.blockCommands?.[b];
  if (recorded) plan.blockCommands![b] = undefined;
  return recorded ?? encodeCommands(plan, undefined, b);
}

/**
 * The plan's dispatches and result copies as one command buffer (and the pass timestamps with a profiler); with
 * `block`, only that column block's dispatches, and the result copies only after the last block.
 */
function encodeCommands(plan: Plan, profiler: Profiler | undefined, block?: number): GPUCommandBuffer {
  const { width: W, passes } = plan;
  const F = plan.compensated ? 2 : 1;
  const encoder = plan.ctx.device.createCommandEncoder();
  const pass = encoder.beginComputePass(profiler
    ? { timestampWrites: { querySet: profiler.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } }
    : undefined);
  for (const d of plan.dispatches) {
    if (block !== undefined && d.block !== block) continue;
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.x, d.y, d.z);
  }
  pass.end();
  if (block !== undefined && block !== plan.colBlocks.length - 1) return encoder.finish();
  for (const rb of plan.rowBlocks) encoder.copyBufferToBuffer(rb.out, 0, plan.staging, rb.stagingOffset, passes * rb.count * W * F * 4);
  if (profiler) {
    encoder.resolveQuerySet(profiler.querySet, 0, 2, profiler.resolve, 0);
    encoder.copyBufferToBuffer(profiler.resolve, 0, profiler.read, 0, 16);
  }
  return encoder.finish();
}

/** The error of a failed readback map: most often a lost device whose `lost` promise has not settled yet. */
async function mapFailure(ctx: GpuContext, error: unknown): Promise<Error> {
  await Promise.race([ctx.device.lost, new Promise((resolve) => setTimeout(resolve, 100))]);
  if (ctx.lost) return lostError(ctx, error);
  return new Error(`GPU readback failed: ${(error as Error).message}`, { cause: error });
}

/** The compute pass's device time in ms, from the profiler's timestamps. */
async function passTimeMs(profiler: Profiler): Promise<number> {
  await profiler.read.mapAsync(MAP_READ);
  const [begin, end] = new BigUint64Array(profiler.read.getMappedRange());
  profiler.read.unmap();
  return Number(end! - begin!) / 1e6;
}

/**
 * The mapped staging buffer's results, unscaled, into `out` (one float64 array per column), then unmapped. One column
 * per pass reads the mapping at unit stride, directly (H100, 65,536 entries: 0.025 ms against 0.066 for a copy +
 * conversion). Strided lanes go through one bulk copy out of the mapping first: mapped memory may be uncached, where
 * element-wise strided reads cost ~20 ns each (H100 machine: 23 ms of a 336 ms product at n = 2²⁰ before that copy).
 */
function unpackMapped(plan: Plan, out: readonly Float64Array[], scales: readonly number[]): void {
  const range = new Float32Array(plan.staging.getMappedRange());
  const direct = plan.width === 1 && !plan.compensated;
  if (direct) {
    try {
      unpackFrom(plan, range, out, scales);
    } finally {
      plan.staging.unmap();
    }
    return;
  }
  const mapped = (plan.readback ??= new Float32Array(range.length));
  mapped.set(range);
  plan.staging.unmap();
  unpackFrom(plan, mapped, out, scales);
}

/** The columns of `out` from the staging layout in `mapped` (float32), each divided by its scale. */
function unpackFrom(plan: Plan, mapped: Float32Array, out: readonly Float64Array[], scales: readonly number[]): void {
  const W = plan.width;
  for (const rb of plan.rowBlocks) {
    const base0 = rb.stagingOffset / 4;
    if (plan.compensated) {
      out.forEach((col, c) => unpackPairs(col, rb.start, mapped, base0 + c * rb.count * 2, rb.count, 1 / scales[c]!));
      continue;
    }
    out.forEach((col, c) => {
      const p = Math.floor(c / W);
      const lane = c % W;
      const base = base0 + p * rb.count * W + lane;
      unpackColumn(col, rb.start, mapped, base, W, rb.count, 1 / scales[c]!);
    });
  }
}

/**
 * Encodes and submits the product whose right-hand sides are written (one per entry of `scales`), waits for the
 * readback and returns the columns (float64, unscaled); t0, t1 bound the upload, for the profile.
 */
async function submitAndRead(plan: Plan, n: number, scales: readonly number[], t0: number, t1: number): Promise<Float64Array[]> {
  const { ctx } = plan;
  const { device } = ctx;
  device.pushErrorScope('validation');
  const profiler = encodeAndSubmit(plan);
  const validation = device.popErrorScope();
  const t2 = performance.now();
  recordNextCommands(plan);
  let t3 = t2;
  try {
    await plan.staging.mapAsync(MAP_READ);
    t3 = performance.now();
  } catch (error) {
    await validation.catch(() => undefined);
    throw await mapFailure(ctx, error);
  }
  let stillMapped = true;
  try {
    const invalid = await validation;
    if (invalid) throw new Error(`GPU validation error in a kernel product: ${invalid.message}`);
    const passMs = profiler ? await passTimeMs(profiler) : NaN;
    const t4 = performance.now();
    // the columns as views of one column-major buffer: a Block wraps them without a copy (Block.adoptColumns)
    const all = new Float64Array(n * scales.length);
    const out = scales.map((_, c) => all.subarray(c * n, (c + 1) * n));
    stillMapped = false;
    unpackMapped(plan, out, scales);
    if (profiling) recordProfile(passMs, t0, t1, t2, t3, t4, n, scales.length);
    return out;
  } finally {
    if (stillMapped) plan.staging.unmap();
  }
}

/** The host phases of the last product (profiling on; passMs NaN where the device has no timestamps). */
function recordProfile(passMs: number, t0: number, t1: number, t2: number, t3: number, t4: number, rows: number, columns: number): void {
  lastProfile = {
    passMs, uploadMs: t1 - t0, submitMs: t2 - t1, waitMs: t3 - t2, readbackMs: performance.now() - t4, rows, columns,
  };
}

// Host loops of a product, each in a small function of its own: V8 optimises those after a few calls,
// where the same loops inside runPlan stayed in a lower tier for the first dozens of products.

/**
 * The power of two the expanded form scales a column by: 1 while max |w| ∈ [2⁻²⁰, 2²⁰] (pair terms ≤ 2⁶⁴ times
 * at most 2²⁰ over ≤ 2²⁷ points per binding stay far below float32's 2¹²⁸, and no weight nears its underflow),
 * else 2^−e with max |w| · 2^−e ∈ (½, 1]; 1 for a zero or non-finite column (nothing to protect, or NaN anyway).
 */
function unitScale(max: number): number {
  if (!(max > 0) || !Number.isFinite(max) || (max >= 2 ** -20 && max <= 2 ** 20)) return 1;
  return 2 ** -Math.ceil(Math.log2(max));
}

/** max_j |col_j| (NaN where col holds one). */
export function maxAbsOf(col: Float64Array): number {
  let max = 0;
  for (let j = 0; j < col.length; j++) {
    const a = Math.abs(col[j]!);
    if (a > max || a !== a) max = a; // NaN wins, as in Math.max
  }
  return max;
}

/** data[base + j·W] = src[start + j]·scale for j < count (float64 → float32). */
function packColumn(data: Float32Array, base: number, W: number, src: Float64Array, start: number, count: number, scale: number): void {
  if (W === 1 && scale === 1) {
    data.set(src.subarray(start, start + count), base); // a converting copy in the runtime
    return;
  }
  for (let j = 0; j < count; j++) data[base + j * W] = src[start + j]! * scale;
}

/**
 * data[base + 4j …] = hi, hh, hl, lo of v = src[start + j]·scale: hi = fl₃₂(v), lo = fl₃₂(v − hi), and
 * hi = hh + hl exactly with 12-bit halves (Veltkamp's split, exact in float64), for Dekker's product.
 */
export function packSplit(data: Float32Array, base: number, src: Float64Array, start: number, count: number, scale: number): void {
  for (let j = 0; j < count; j++) {
    const v = src[start + j]! * scale;
    const hi = Math.fround(v);
    const c = Math.fround(4097 * hi);
    const hh = Math.fround(c - Math.fround(c - hi));
    data[base + 4 * j] = hi;
    data[base + 4 * j + 1] = hh;
    data[base + 4 * j + 2] = hi - hh; // exact: the low 12 bits
    data[base + 4 * j + 3] = v - hi; // rounded to float32 by the store
  }
}

/** dst[start + i] = (hi + lo)·scale of the pair at src[base + 2i] (float64). */
export function unpackPairs(dst: Float64Array, start: number, src: Float32Array, base: number, count: number, scale: number): void {
  for (let i = 0; i < count; i++) dst[start + i] = (src[base + 2 * i]! + src[base + 2 * i + 1]!) * scale;
}

/** dst[start + i] = src[base + i·W]·scale for i < count (float32 → float64). */
function unpackColumn(dst: Float64Array, start: number, src: Float32Array, base: number, W: number, count: number, scale: number): void {
  if (W === 1 && scale === 1) {
    dst.set(src.subarray(base, base + count), start);
    return;
  }
  for (let i = 0; i < count; i++) dst[start + i] = src[base + i * W]! * scale;
}

export interface GpuReduceOptions extends GpuKernelOptions {
  /** The device context (default: `acquireGpu()`). */
  context?: GpuContext;
  /** max |w| of each column (`maxAbsOf`), where the caller has it already: saves a pass over the columns. */
  columnMaxAbs?: readonly number[];
}

/**
 * out[r][i] = Σ_j F(x_i, y_j)·B[r][j] for every column r (given column-major as Float64Arrays of
 * length m), computed in float32 on the GPU. Returns `columns.length` Float64Arrays of length n.
 */
export async function gpuReduceKernel(
  formula: Node,
  slots: FormulaSlots,
  n: number,
  m: number,
  columns: readonly Float64Array[],
  options: GpuReduceOptions = {},
): Promise<Float64Array[]> {
  if (columns.length === 0) return [];
  const ctx = options.context ?? await acquireGpu();
  const plan = await planFor(ctx, formula, slots, n, m, columns.length, options);
  return enqueue(plan, () => runPlan(plan, columns, n, options.columnMaxAbs));
}

/** Runs `product` after every product queued on the plan before it (they share its buffers). */
function enqueue<T>(plan: Plan, product: () => Promise<T>): Promise<T> {
  plan.queued++;
  const result = plan.chain.then(product).finally(() => { plan.queued--; });
  plan.chain = result.catch(() => undefined);
  return result;
}

/**
 * The fast path of `tryGpuMatvec` takes x only where no path would scale it: max |x_j| within [2⁻²⁰, 2²⁰]
 * (`unitScale`'s window, narrower than the operators'). It reads that off s = Σ x_j², which the conversion loop
 * forms at less cost than a running maximum: max ≤ √s ≤ 2²⁰ and max ≥ √(s/m) ≥ 2⁻²⁰ where s ∈ [m·2⁻⁴⁰, 2⁴⁰];
 * a NaN or ±∞ entry makes s NaN or ∞. Other vectors (zero, tiny, huge) take the general path.
 */
const FAST_MIN_SQUARES = 2 ** -40;
const FAST_MAX_SQUARES = 2 ** 40;

/**
 * y = K x for one column, with the host work of a product cut to one pass each way: x is converted to float32 in the
 * same pass that checks its entries — by `narrow` where the caller passes one (float64 x, one column block), else
 * by a JS loop into the plan's upload array — with no other pass over it.
 * Taken only where it needs nothing else: a device acquired, the one-column plan built and idle, plain float32
 * products (not compensated), and x finite and in the window above. Otherwise it returns undefined having started
 * nothing, and the caller runs the general path (which checks, scales and reports non-finite entries). x is read
 * before this returns: the caller may reuse it at once.
 */
export function tryGpuMatvec(
  formula: Node, n: number, m: number, x: Float64Array | Float32Array, options?: GpuKernelOptions, narrow?: Narrow,
): Promise<Float64Array> | undefined {
  const ctx = knownGpu();
  if (!ctx || x.length !== m) return undefined;
  const plan = cachesFor(ctx.device).ready.get(formula)?.get(oneColumnKey(options));
  if (!plan || plan.queued > 0 || plan.compensated) return undefined;
  const t0 = profiling ? performance.now() : 0;
  if (timeline) timeline = [performance.now()];
  const { colBlocks } = plan;
  const last = colBlocks.length - 1;
  const { queue } = ctx.device;
  // no error scope: errors raised from the first write to the map are counted by the device (see uncapturedErrors)
  const errors = uncapturedErrors(ctx.device);
  const before = errors.count;
  // block by block (Plan.blockCommands): each block is narrowed, written and submitted while the device runs the
  // ones before it. A non-finite or huge entry shows in the running Σ x_j² at its block, a vector too small for the
  // window only in the total: either way the path stops before the last block, whose commands copy the results
  // out — the blocks already submitted only wrote partial sums, which the general path then overwrites.
  const pipelined = last > 0 && !profiling;
  const narrowed = narrow !== undefined && x instanceof Float64Array && m <= MAX_NARROWED;
  const uploads = narrowed ? undefined : uploadArrays(plan);
  let squares = 0;
  for (let b = 0; b <= last; b++) {
    const cb = colBlocks[b]!;
    let data: Float32Array;
    if (narrowed) {
      // the host routine's float32 view goes to the device as it is (written only once x is known to fit)
      const view = narrow(x, cb.start, cb.count);
      data = view.data;
      squares += view.squares;
    } else {
      data = uploads![b]!;
      // one call site per input type: each loop stays monomorphic
      squares += x instanceof Float64Array ? convertSquares(data, x, cb.start, cb.count) : convertSquares32(data, x, cb.start, cb.count);
    }
    if (!(squares <= FAST_MAX_SQUARES) || (b === last && !fitsFastPath(squares, m))) return undefined;
    if (b === 0) timeline?.push(performance.now());
    queue.writeBuffer(cb.rhs, 0, data.buffer, data.byteOffset, data.byteLength);
    if (b === 0) timeline?.push(performance.now());
    if (!pipelined) continue;
    queue.submit([takeBlockCommands(plan, b)]);
    if (b === 0) timeline?.push(performance.now());
    // the next product's commands for this block, recorded while the device runs it: after the last submit only the
    // readback is left to arm before the device finishes
    recordBlockCommands(plan, b);
  }
  if (pipelined) timeline?.push(performance.now());
  const t1 = profiling ? performance.now() : 0;
  const profiler = pipelined ? undefined : encodeAndSubmit(plan);
  if (!pipelined) timeline?.push(performance.now());
  const t2 = profiling ? performance.now() : 0;
  plan.queued++;
  const result = readOneColumn(plan, n, errors, before, profiler, profiling ? [t0, t1, t2] : undefined);
  plan.chain = result.catch(() => undefined); // a general product on this plan waits for this one
  return result;
}

/**
 * Longest x given to `narrow`: its memory (12 bytes an entry) grows to the longest vector it took and cannot shrink,
 * so past 2²² entries (48 MiB) the JS loop runs instead — there the kernel's seconds dwarf the loop's milliseconds.
 */
const MAX_NARROWED = 1 << 22;

/**
 * A host routine narrowing x[start, start + count) to float32 with Σ x_j² (NaN or ∞ where an entry is), its view
 * valid until the next call: the CPU backend's WASM SIMD one (cpu/narrow.ts), passed in by the operators.
 */
export type Narrow = (x: Float64Array, start: number, count: number) => { readonly data: Float32Array; readonly squares: number };

/** Whether Σ x_j² puts every |x_j| in the fast path's window (see FAST_MIN_SQUARES). */
function fitsFastPath(squares: number, m: number): boolean {
  return squares >= m * FAST_MIN_SQUARES && squares <= FAST_MAX_SQUARES;
}

/** The plan-cache key of a one-column product with these options (`options` undefined: the default key, kept). */
function oneColumnKey(options: GpuKernelOptions | undefined): string {
  if (options === undefined) return (DEFAULT_ONE_COLUMN_KEY ??= `1|${optionsKey({})}`);
  return `1|${optionsKey(options)}`;
}
let DEFAULT_ONE_COLUMN_KEY: string | undefined;

/**
 * The readback of `tryGpuMatvec`'s submitted product: the output is allocated while the device runs the kernel,
 * and any error the device raised since `before` (a destroyed buffer, a failed submit: the staging buffer would
 * then hold an older product's results) fails the product. Releases the plan (`queued`) however it ends.
 */
async function readOneColumn(
  plan: Plan, n: number, errors: UncapturedErrors, before: number, profiler: Profiler | undefined, times: readonly number[] | undefined,
): Promise<Float64Array> {
  let stillMapped = false;
  try {
    const mapping = plan.staging.mapAsync(MAP_READ);
    // the output's pages are committed now, while the device works: a fresh allocation's pages otherwise fault in
    // during the readback (65,536 entries: 35 µs against 10 µs for the same copy into touched pages, this VM)
    const out = new Float64Array(n).fill(0);
    if (plan.colBlocks.length === 1) recordNextCommands(plan); // (block by block: recorded as each block went up)
    timeline?.push(performance.now());
    try {
      await mapping;
    } catch (error) {
      throw await mapFailure(plan.ctx, error);
    }
    timeline?.push(performance.now());
    stillMapped = true;
    if (errors.count !== before) throw new Error(`GPU validation error in a kernel product: ${errors.last}`);
    if (!times) {
      stillMapped = false;
      unpackMapped(plan, [out], ONE_SCALE);
      timeline?.push(performance.now());
      return out;
    }
    const t3 = performance.now();
    const passMs = profiler ? await passTimeMs(profiler) : NaN;
    const t4 = performance.now();
    stillMapped = false;
    unpackMapped(plan, [out], ONE_SCALE);
    recordProfile(passMs, times[0]!, times[1]!, times[2]!, t3, t4, n, 1);
    return out;
  } finally {
    if (stillMapped) plan.staging.unmap();
    plan.queued--;
  }
}
const ONE_SCALE: readonly number[] = [1];

/** data[j] = src[start + j] (float64 → float32) for j < count; returns Σ src_j² (four sums: no single add chain). */
function convertSquares(data: Float32Array, src: Float64Array, start: number, count: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, j = 0;
  for (; j + 4 <= count; j += 4) {
    const a = src[start + j]!, b = src[start + j + 1]!, c = src[start + j + 2]!, d = src[start + j + 3]!;
    data[j] = a; data[j + 1] = b; data[j + 2] = c; data[j + 3] = d;
    s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d;
  }
  for (; j < count; j++) {
    const a = src[start + j]!;
    data[j] = a;
    s0 += a * a;
  }
  return s0 + s1 + s2 + s3;
}

/** `convertSquares` for float32 input (a copy; Σ src_j² in float64). */
function convertSquares32(data: Float32Array, src: Float32Array, start: number, count: number): number {
  data.set(src.subarray(start, start + count));
  let s0 = 0, s1 = 0;
  for (let j = 0; j < count; j++) {
    const a = data[j]!;
    if (j & 1) s1 += a * a;
    else s0 += a * a;
  }
  return s0 + s1;
}

/** Builds (and caches) the plan of an `ncols`-column product ahead of it: pipeline compiled, buffers allocated. */
export async function prepareGpuKernel(
  formula: Node, slots: FormulaSlots, n: number, m: number, ncols: number, options: GpuReduceOptions = {},
): Promise<void> {
  const ctx = options.context ?? await acquireGpu();
  await planFor(ctx, formula, slots, n, m, ncols, options);
}

/** The plan a product with `ncols` columns would use (builds it): for benchmarks and tests. */
export async function describeGpuPlan(
  formula: Node, slots: FormulaSlots, n: number, m: number, ncols: number, options: GpuReduceOptions = {},
): Promise<PlanSummary> {
  const ctx = options.context ?? await acquireGpu();
  const p = await planFor(ctx, formula, slots, n, m, ncols, options);
  return {
    shape: p.program.shape, splits: p.splits, rowBlocks: p.rowBlocks.length, colBlocks: p.colBlocks.length,
    passes: p.passes, dispatches: p.dispatches.length, programKey: p.program.key, expanded: p.expanded,
  };
}

/** The WGSL text of the kernel program a product would use (no device needed beyond the limits). */
export function gpuProgramFor(formula: Node, slots: FormulaSlots, n: number, m: number, ncols: number, limits: GpuLimits, options: GpuKernelOptions = {}): GpuProgram {
  const expanded = options.expandedGaussian ? expandedGaussianFor(formula, slots) : undefined;
  return emitKernelProgram(formula, slots, withNorm2Proof(formula, chooseShape(n, m, ncols, slots, limits, options).shape), limits, expanded?.match);
}

/**
 * The k smallest values of F(x_i, y_j) over j per row i, ascending, with their indices (ties to the lowest j;
 * NaN skipped, unreached slots +∞ / −1), computed in float32 by `emitKminProgram`: row-major n×k.
 */
export async function gpuReduceKmin(
  formula: Node, slots: FormulaSlots, n: number, m: number, k: number, options: { context?: GpuContext } = {},
): Promise<{ values: Float64Array; indices: Int32Array }> {
  // k-min passes are not profiled: the profile of an earlier product must not read as theirs
  lastProfile = undefined;
  const ctx = options.context ?? await acquireGpu();
  const { device, limits } = ctx;
  const maxBinding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  if (4 * n * k > maxBinding || [...slots.i, ...slots.j].some((v) => 4 * v.value.data.length > maxBinding)) {
    throw new RangeError(`k-min reduction: the point data or the ${n}×${k} result exceeds the device's buffer binding limit (${maxBinding} bytes)`);
  }
  const WG = Math.min(64, limits.maxComputeWorkgroupSizeX, limits.maxComputeInvocationsPerWorkgroup);
  const program = emitKminProgram(formula, slots, k, WG, limits);
  const pipe = await pipelineFor(ctx, program);
  // one invocation loops over every j, inserting into its k best: llvmpipe silently stops loops after 65,535
  // iterations, so there the j range goes in blocks within the budget, merged here (earlier blocks win ties)
  const block = ctx.adapter.software ? Math.max(1, Math.floor(SOFTWARE_LOOP_BUDGET / ((program.loopIterationsPerPair ?? 1) + k))) : m;
  let best: { values: Float64Array; indices: Int32Array } | undefined;
  for (let start = 0; start < m; start += block) {
    const part = await kminPass(ctx, pipe, program, slots, n, k, WG, start, Math.min(block, m - start));
    best = best ? mergeKmin(best, part, n, k) : part;
  }
  return best!;
}

/** Rows' k smallest of two candidate lists (each ascending; `a`'s entries first among equals). */
function mergeKmin(a: { values: Float64Array; indices: Int32Array }, b: { values: Float64Array; indices: Int32Array }, n: number, k: number) {
  const values = new Float64Array(n * k);
  const indices = new Int32Array(n * k);
  for (let i = 0; i < n; i++) {
    let p = i * k, q = i * k;
    for (let t = i * k; t < (i + 1) * k; t++) {
      const takeB = b.indices[q]! >= 0 && (a.indices[p]! < 0 || b.values[q]! < a.values[p]!);
      values[t] = takeB ? b.values[q]! : a.values[p]!;
      indices[t] = takeB ? b.indices[q++]! : a.indices[p++]!;
    }
  }
  return { values, indices };
}

/** One dispatch of the k-min program over the j rows [start, start + count); indices into the whole j range. */
async function kminPass(
  ctx: GpuContext, pipe: Awaited<ReturnType<typeof pipelineFor>>, program: GpuProgram, slots: FormulaSlots, n: number, k: number, WG: number, start: number, m: number,
): Promise<{ values: Float64Array; indices: Int32Array }> {
  const { device, limits } = ctx;
  const groups = Math.ceil(n / WG);
  const gx = Math.min(groups, limits.maxComputeWorkgroupsPerDimension);
  const params = new Float32Array(Math.max(4, Math.ceil(program.paramFloats / 4) * 4));
  let po = 0;
  for (const v of slots.p) { params.set(v.value.data, po); po += v.dim; }
  const ubuf = device.createBuffer({ size: HEADER_BYTES + params.byteLength, usage: USAGE.UNIFORM, mappedAtCreation: true });
  const mapped = ubuf.getMappedRange();
  new Uint32Array(mapped, 0, 8).set([n, m, 0, 0, gx, 0, 0, 0]);
  new Float32Array(mapped, HEADER_BYTES, params.length).set(params);
  ubuf.unmap();
  const bytes = align4(4 * n * k);
  const outV = device.createBuffer({ size: bytes, usage: USAGE.STORAGE | USAGE.COPY_SRC });
  const outX = device.createBuffer({ size: bytes, usage: USAGE.STORAGE | USAGE.COPY_SRC });
  const read = device.createBuffer({ size: 2 * bytes, usage: USAGE.MAP_READ | USAGE.COPY_DST });
  try {
    let outs = 0;
    const entries: GPUBindGroupEntry[] = program.bindings.map((b) => {
      switch (b.role.kind) {
        case 'uniform': return { binding: b.binding, resource: { buffer: ubuf } };
        case 'i': return { binding: b.binding, resource: { buffer: pointsBuffer(ctx, slots.i[b.role.slot]!.value, 0, n) } };
        case 'j': return { binding: b.binding, resource: { buffer: pointsBuffer(ctx, slots.j[b.role.slot]!.value, start, m) } };
        default: return { binding: b.binding, resource: { buffer: outs++ === 0 ? outV : outX } };
      }
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipe.pipeline);
    pass.setBindGroup(0, device.createBindGroup({ layout: pipe.layout, entries }));
    pass.dispatchWorkgroups(gx, 1, Math.ceil(groups / gx));
    pass.end();
    encoder.copyBufferToBuffer(outV, 0, read, 0, bytes);
    encoder.copyBufferToBuffer(outX, 0, read, bytes, bytes);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(MAP_READ);
    const range = read.getMappedRange();
    const values = Float64Array.from(new Float32Array(range, 0, n * k));
    const indices = new Int32Array(range, bytes, n * k).map((j) => (j < 0 ? j : j + start));
    read.unmap();
    return { values, indices };
  } finally {
    for (const b of [ubuf, outV, outX, read]) b.destroy();
  }
}
