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
import { acquireGpu, type GpuContext, type GpuLimits } from './device.js';
import {
  emitKernelProgram, emitSplitSumProgram, HEADER_BYTES,
  type BindingSpec, type FormulaSlots, type GpuProgram, type KernelShape, type PassWidth,
} from './wgsl-emit.js';

/** Tuning of the GPU kernel's shape; every field has a default chosen from the problem size. */
export interface GpuKernelOptions {
  /** Threads per workgroup (default min(128, device limits)). */
  workgroupSize?: number;
  /** Rows per thread R (default: the largest of 8, 4, 2, 1 that still yields `targetWorkgroups`). */
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
  /** Largest buffer binding to use, in bytes (default: the device's limit; tests lower it to force blocks). */
  maxBindingBytes?: number;
}

const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;
const MAP_READ = 0x1;
const SHADER_COMPUTE = 0x4;

/** Registers per thread that the row stripes may take: R·(i-values + accumulators) stays near this. */
const REGISTER_BUDGET = 64;
const DEFAULT_TARGET_WORKGROUPS = 1024;
const MAX_SPLITS = 64;

// ------------------------------------------------------------------ caches (per device)

interface DeviceCaches {
  readonly pipelines: Map<string, Promise<{ pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>>;
  readonly data: WeakMap<BoundData, Map<string, GPUBuffer>>;
  readonly plans: WeakMap<Node, Map<string, Promise<Plan>>>;
}

const caches = new WeakMap<GPUDevice, DeviceCaches>();

function cachesFor(device: GPUDevice): DeviceCaches {
  let c = caches.get(device);
  if (!c) caches.set(device, (c = { pipelines: new Map(), data: new WeakMap(), plans: new WeakMap() }));
  return c;
}

function pipelineFor(ctx: GpuContext, program: GpuProgram) {
  const c = cachesFor(ctx.device);
  let p = c.pipelines.get(program.key);
  if (!p) {
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
    p.catch(() => c.pipelines.delete(program.key));
  }
  return p;
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
  /** Serialises products on this plan (they share its buffers). */
  chain: Promise<unknown>;
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
  const WG = o.workgroupSize ?? Math.min(defaultWorkgroupSize(software), maxWG);
  if (!Number.isInteger(WG) || WG < 1 || WG > maxWG) {
    throw new RangeError(`gpu.workgroupSize must be an integer in [1, ${maxWG}] (the device's limit), got ${String(WG)}`);
  }
  const width = o.columnsPerPass ?? (ncols === 1 ? 1 : 4);
  if (width !== 1 && width !== 4 && width !== 8) throw new RangeError(`gpu.columnsPerPass must be 1, 4 or 8, got ${String(width)}`);
  const target = o.targetWorkgroups ?? DEFAULT_TARGET_WORKGROUPS;
  const iFloats = slots.i.reduce((s, v) => s + v.dim, 0);
  const perRow = iFloats + 2 * width * (o.kahan === false ? 1 : 1.5);
  let R = o.rowsPerThread;
  if (R === undefined) {
    R = 1;
    for (const r of [8, 4, 2]) {
      if (r * perRow <= REGISTER_BUDGET && Math.ceil(n / (WG * r)) >= target) { R = r; break; }
    }
  }
  if (!Number.isInteger(R) || R < 1 || R > 32) throw new RangeError(`gpu.rowsPerThread must be an integer in [1, 32], got ${String(R)}`);
  const tile = o.tile ?? WG;
  if (!Number.isInteger(tile) || tile < 1) throw new RangeError(`gpu.tile must be a positive integer, got ${String(tile)}`);
  const shape: KernelShape = { workgroupSize: WG, rowsPerThread: R, tile, width, kahan: o.kahan ?? true };
  return { shape, target };
}

function optionsKey(o: GpuKernelOptions): string {
  return [o.workgroupSize, o.rowsPerThread, o.tile, o.columnsPerPass, o.splits, o.targetWorkgroups, o.kahan, o.maxBindingBytes].join(',');
}

async function buildPlan(ctx: GpuContext, formula: Node, slots: FormulaSlots, n: number, m: number, ncols: number, o: GpuKernelOptions): Promise<Plan> {
  const { device, limits } = ctx;
  const { shape: requested, target } = chooseShape(n, m, ncols, slots, limits, o, ctx.adapter.software);
  const program = emitKernelProgram(formula, slots, requested, limits);
  const shape = program.shape;
  const { width: W, workgroupSize: WG, rowsPerThread: R, tile } = shape;
  const passes = Math.ceil(ncols / W);
  const bindingsNeeded = program.bindings.length - 1;
  if (bindingsNeeded > limits.maxStorageBuffersPerShaderStage) {
    throw new Error(`the formula needs ${bindingsNeeded} storage buffers (one per Vi/Vj variable, plus 2), more than the device's maxStorageBuffersPerShaderStage (${limits.maxStorageBuffersPerShaderStage})`);
  }

  // blocks: every binding within the largest allowed size
  const maxBinding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize, o.maxBindingBytes ?? Infinity);
  const maxIdim = Math.max(...slots.i.map((v) => v.dim));
  const maxJdim = Math.max(...slots.j.map((v) => v.dim));
  const rowBytes = 4 * Math.max(maxIdim, passes * W);
  const colBytes = 4 * Math.max(maxJdim, passes * W);
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
  const colRanges = blocks(m, colsPerBlock);

  // splits of a column block's tiles across workgroups
  const nbMax = Math.max(...rowRanges.map((b) => b.count));
  const mbMax = Math.max(...colRanges.map((b) => b.count));
  const rowGroups = Math.ceil(nbMax / (WG * R));
  const tilesMax = Math.ceil(mbMax / tile);
  let splits = o.splits ?? Math.max(1, Math.min(MAX_SPLITS, Math.floor(target / rowGroups)));
  if (!Number.isInteger(splits) || splits < 1) throw new RangeError(`gpu.splits must be a positive integer, got ${String(splits)}`);
  splits = Math.min(splits, tilesMax, limits.maxComputeWorkgroupsPerDimension, Math.max(1, Math.floor(maxBinding / (4 * W * nbMax))));
  const direct = splits === 1 && colRanges.length === 1; // the kernel writes the output itself

  // header: nb, mb, tilesPerSplit, rhsOffset, gx, partStride, outOffset, zero (see wgsl-emit.ts)
  const kernel = await pipelineFor(ctx, program);
  const sumProgram = emitSplitSumProgram(W);
  const sum = direct ? undefined : await pipelineFor(ctx, sumProgram);

  // everything below is synchronous: the error scopes cannot interleave with other async work
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const uniformBytes = HEADER_BYTES + 16 * Math.max(1, Math.ceil(program.paramFloats / 4));
  const params = new Float32Array(Math.max(4, Math.ceil(program.paramFloats / 4) * 4));
  let po = 0;
  for (const v of slots.p) { params.set(v.value.data, po); po += v.dim; }
  const uniform = (header: readonly number[], withParams: boolean): GPUBuffer => {
    const bytes = withParams ? uniformBytes : HEADER_BYTES + 16;
    const buf = device.createBuffer({ size: bytes, usage: USAGE.UNIFORM | USAGE.COPY_DST, mappedAtCreation: true });
    const mapped = buf.getMappedRange();
    new Uint32Array(mapped, 0, 8).set(header);
    if (withParams) new Float32Array(mapped, HEADER_BYTES, params.length).set(params);
    buf.unmap();
    return buf;
  };

  const colBlocks = colRanges.map((b) => ({
    ...b,
    rhs: device.createBuffer({ size: align4(passes * b.count * W * 4), usage: USAGE.STORAGE | USAGE.COPY_DST }),
  }));
  let stagingBytes = 0;
  const rowBlocks = rowRanges.map((b) => {
    const bytes = passes * b.count * W * 4;
    const out = device.createBuffer({ size: align4(bytes), usage: USAGE.STORAGE | USAGE.COPY_SRC });
    const block = { ...b, out, stagingOffset: stagingBytes };
    stagingBytes += align4(bytes);
    return block;
  });
  const part = direct ? undefined : device.createBuffer({ size: align4(splits * nbMax * W * 4), usage: USAGE.STORAGE });
  const staging = device.createBuffer({ size: stagingBytes, usage: USAGE.MAP_READ | USAGE.COPY_DST });

  const maxGroups = limits.maxComputeWorkgroupsPerDimension;
  const dispatches: Dispatch[] = [];
  for (const rb of rowBlocks) {
    const groups = Math.ceil(rb.count / (WG * R));
    const gx = Math.min(groups, maxGroups);
    const gz = Math.ceil(groups / gx);
    for (let p = 0; p < passes; p++) {
      colBlocks.forEach((cb, c) => {
        const tiles = Math.ceil(cb.count / tile);
        const tilesPerSplit = Math.ceil(tiles / splits);
        const used = Math.ceil(tiles / tilesPerSplit);
        const header = [rb.count, cb.count, tilesPerSplit, p * cb.count, gx, rb.count, direct ? p * rb.count : 0, 0];
        const entries: GPUBindGroupEntry[] = program.bindings.map((b) => {
          switch (b.role.kind) {
            case 'uniform': return { binding: b.binding, resource: { buffer: uniform(header, true) } };
            case 'i': return { binding: b.binding, resource: { buffer: pointsBuffer(ctx, slots.i[b.role.slot]!.value, rb.start, rb.count) } };
            case 'j': return { binding: b.binding, resource: { buffer: pointsBuffer(ctx, slots.j[b.role.slot]!.value, cb.start, cb.count) } };
            case 'rhs': return { binding: b.binding, resource: { buffer: cb.rhs } };
            default: return { binding: b.binding, resource: { buffer: direct ? rb.out : part! } };
          }
        });
        dispatches.push({
          pipeline: kernel.pipeline,
          bindGroup: device.createBindGroup({ layout: kernel.layout, entries }),
          x: gx, y: used, z: gz,
        });
        if (!direct) {
          const G = W === 1 ? 1 : W / 4;
          const count = rb.count * G;
          const sgroups = Math.ceil(count / sumProgram.workgroupSize);
          const sx = Math.min(sgroups, maxGroups);
          dispatches.push({
            pipeline: sum!.pipeline,
            bindGroup: device.createBindGroup({
              layout: sum!.layout,
              entries: [
                { binding: 0, resource: { buffer: uniform([count, used, 0, c > 0 ? 1 : 0, 0, 0, p * rb.count, 0], false) } },
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
  return { ctx, ncols, width: W, passes, colBlocks, rowBlocks, dispatches, staging, program, splits, chain: Promise.resolve() };
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
    plan.catch(() => perNode.delete(key));
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

async function runPlan(plan: Plan, columns: readonly Float64Array[], n: number): Promise<Float64Array[]> {
  const { ctx, width: W, passes } = plan;
  const { device } = ctx;
  if (ctx.lost) throw lostError(ctx);
  for (const cb of plan.colBlocks) {
    // pass-major, W floats per point; columns beyond ncols stay 0
    const data = new Float32Array(passes * cb.count * W);
    columns.forEach((col, c) => {
      const p = Math.floor(c / W);
      const lane = c % W;
      const base = p * cb.count * W + lane;
      for (let j = 0; j < cb.count; j++) data[base + j * W] = col[cb.start + j]!;
    });
    device.queue.writeBuffer(cb.rhs, 0, data);
  }
  device.pushErrorScope('validation');
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  for (const d of plan.dispatches) {
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.x, d.y, d.z);
  }
  pass.end();
  for (const rb of plan.rowBlocks) encoder.copyBufferToBuffer(rb.out, 0, plan.staging, rb.stagingOffset, passes * rb.count * W * 4);
  device.queue.submit([encoder.finish()]);
  const validation = device.popErrorScope();
  try {
    await plan.staging.mapAsync(MAP_READ);
  } catch (error) {
    await validation.catch(() => undefined);
    // a failed map is most often a lost device whose `lost` promise has not settled yet
    await Promise.race([ctx.device.lost, new Promise((resolve) => setTimeout(resolve, 100))]);
    if (ctx.lost) throw lostError(ctx, error);
    throw new Error(`GPU readback failed: ${(error as Error).message}`, { cause: error });
  }
  try {
    const invalid = await validation;
    if (invalid) throw new Error(`GPU validation error in a kernel product: ${invalid.message}`);
    const mapped = new Float32Array(plan.staging.getMappedRange());
    const out = columns.map(() => new Float64Array(n));
    for (const rb of plan.rowBlocks) {
      const base0 = rb.stagingOffset / 4;
      out.forEach((col, c) => {
        const p = Math.floor(c / W);
        const lane = c % W;
        const base = base0 + p * rb.count * W + lane;
        for (let i = 0; i < rb.count; i++) col[rb.start + i] = mapped[base + i * W]!;
      });
    }
    return out;
  } finally {
    plan.staging.unmap();
  }
}

export interface GpuReduceOptions extends GpuKernelOptions {
  /** The device context (default: `acquireGpu()`). */
  context?: GpuContext;
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
  const result = plan.chain.then(() => runPlan(plan, columns, n));
  plan.chain = result.catch(() => undefined);
  return result;
}

/** The plan a product with `ncols` columns would use (builds it): for benchmarks and tests. */
export async function describeGpuPlan(
  formula: Node, slots: FormulaSlots, n: number, m: number, ncols: number, options: GpuReduceOptions = {},
): Promise<PlanSummary> {
  const ctx = options.context ?? await acquireGpu();
  const p = await planFor(ctx, formula, slots, n, m, ncols, options);
  return {
    shape: p.program.shape, splits: p.splits, rowBlocks: p.rowBlocks.length, colBlocks: p.colBlocks.length,
    passes: p.passes, dispatches: p.dispatches.length, programKey: p.program.key,
  };
}

/** The WGSL text of the kernel program a product would use (no device needed beyond the limits). */
export function gpuProgramFor(formula: Node, slots: FormulaSlots, n: number, m: number, ncols: number, limits: GpuLimits, options: GpuKernelOptions = {}): GpuProgram {
  return emitKernelProgram(formula, slots, chooseShape(n, m, ncols, slots, limits, options).shape, limits);
}
