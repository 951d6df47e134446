/**
 * Pieces shared by the fixed (formula-free) WGSL programs of the device's dense block algebra (tall.ts, cholesky.ts):
 * the uniform header, the 4×8 register tile of their tiled products, and the program descriptor.
 */
import { HEADER_BYTES, type GpuProgram } from '../wgsl-emit.js';

/** GPUBufferUsage flags the fixed programs' buffers use (numeric: no global `GPUBufferUsage` in every runtime). */
export const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;

/** A 32-byte uniform buffer holding one header (8 u32). */
export function uniformBuffer(device: GPUDevice, values: readonly number[]): GPUBuffer {
  const buf = device.createBuffer({ size: HEADER_BYTES, usage: USAGE.UNIFORM, mappedAtCreation: true });
  new Uint32Array(buf.getMappedRange()).set(values);
  buf.unmap();
  return buf;
}

/** A storage buffer (plus `usage`) holding float32 `data`, sized up to a multiple of 16 bytes. */
export function uploadFloats(device: GPUDevice, data: Float32Array, usage = 0): GPUBuffer {
  const b = device.createBuffer({ size: Math.max(16, Math.ceil(data.byteLength / 16) * 16), usage: USAGE.STORAGE | usage, mappedAtCreation: true });
  new Float32Array(b.getMappedRange(), 0, data.length).set(data);
  b.unmap();
  return b;
}

/** The header every fixed program reads (8 u32; what each field means is each program's own). */
export const UNIFORM_DECL = `struct H { n: u32, ma: u32, mb: u32, m: u32, a0: u32, b0: u32, flag: u32, gx: u32 }
@group(0) @binding(0) var<uniform> h: H;`;

/**
 * The 4×8 register tile shared by the Gram and the substitution's update: 16 staged steps of k, each a vec4 of 4 rows
 * from `rows` ([k][row/4], 16 per step) and two vec4 of columns from `cols` ([k][col/4], 32 per step: columns 4tx…
 * and 64 + 4tx…), multiply-added into `acc`[2r + q] (row 4ty + r, column half q).
 */
export function microTile(rows: string, cols: string, acc: string): string {
  const lanes = ['x', 'y', 'z', 'w'];
  return `    for (var k = 0u; k < 16u; k++) {
      let av = ${rows}[k * 16u + ty];
      let b0 = ${cols}[k * 32u + tx];
      let b1 = ${cols}[k * 32u + 16u + tx];
${lanes.flatMap((lane, r) => [0, 1].map((q) => `      ${acc}[${2 * r + q}] = fma(vec4<f32>(av.${lane}), b${q}, ${acc}[${2 * r + q}]);`)).join('\n')}
    }
`;
}

/**
 * The staging of a 64-row panel update's step of 16 k (TRSM_UPDATE, CHOL_UPDATE): rows r of L[k][a0 + r] from `l`
 * (row-major, stride h.m) into Ls, columns col0 + c of row k of `c` (row stride `stride`) into Cs, as `microTile`
 * reads them; zero outside the panel and the columns.
 */
export function panelStaging(l: string, c: string, stride: string): string {
  return `    for (var s = 0u; s < 4u; s++) {
      let r = t & 63u;
      let kk = (t >> 6u) + 4u * s;
      var lv = 0.0;
      if (r < h.ma) { lv = ${l}[(k0 + kk) * h.m + h.a0 + r]; }
      Ls[kk * 16u + (r >> 2u)][r & 3u] = lv;
    }
    for (var s = 0u; s < 8u; s++) {
      let c = t & 127u;
      let kk = (t >> 7u) + 2u * s;
      var cv = 0.0;
      if (col0 + c < ${stride}) { cv = ${c}[(k0 + kk) * ${stride} + col0 + c]; }
      Cs[kk * 32u + (c >> 2u)][c & 3u] = cv;
    }
`;
}

/** A fixed program's descriptor: a uniform at binding 0, then the storage bindings in order (the last one written). */
export function fixedProgram(name: string, workgroupSize: number, storage: ('read-only-storage' | 'storage')[], code: string): GpuProgram {
  return {
    key: `wgsl-${name}`,
    workgroupSize,
    bindings: [
      { binding: 0, type: 'uniform', role: { kind: 'uniform' } },
      ...storage.map((type, k) => ({ binding: k + 1, type, role: { kind: k === storage.length - 1 ? 'out' as const : 'part' as const } })),
    ],
    code,
    shape: { workgroupSize, rowsPerThread: 1, tile: 1, width: 1, kahan: true },
    paramFloats: 0,
    workgroupBytes: 0,
  };
}

/** One dispatch of a fixed program: its header (the uniform at binding 0), storage buffers and grid. */
export interface FixedDispatch {
  readonly pipe: { readonly pipeline: GPUComputePipeline; readonly layout: GPUBindGroupLayout };
  readonly header: readonly number[];
  readonly buffers: readonly GPUBuffer[];
  readonly grid: readonly [number, number];
}

/**
 * Bind groups for a list of dispatches whose headers share one uniform buffer (each at its own aligned offset), and
 * the buffer. Why: hundreds of tiny uniform buffers, each mapped at creation, were a measurable part of a factorisation
 * (≈ 3m/32 dispatches for the double-float one).
 */
export function bindDispatches(device: GPUDevice, list: readonly FixedDispatch[]): { groups: GPUBindGroup[]; uniforms: GPUBuffer } {
  const stride = Math.max(256, device.limits.minUniformBufferOffsetAlignment);
  const uniforms = device.createBuffer({ size: Math.max(stride, stride * list.length), usage: USAGE.UNIFORM, mappedAtCreation: true });
  const words = new Uint32Array(uniforms.getMappedRange());
  list.forEach((d, k) => words.set(d.header, (k * stride) / 4));
  uniforms.unmap();
  const groups = list.map((d, k) => device.createBindGroup({
    layout: d.pipe.layout,
    entries: [
      { binding: 0, resource: { buffer: uniforms, offset: k * stride, size: 32 } },
      ...d.buffers.map((buffer, i) => ({ binding: i + 1, resource: { buffer } })),
    ],
  }));
  return { groups, uniforms };
}

/** Records the dispatches (with `bindDispatches`' groups) into a pass. */
export function encodeDispatches(pass: GPUComputePassEncoder, list: readonly FixedDispatch[], groups: readonly GPUBindGroup[]): void {
  list.forEach((d, k) => {
    pass.setPipeline(d.pipe.pipeline);
    pass.setBindGroup(0, groups[k]!);
    pass.dispatchWorkgroups(d.grid[0], d.grid[1], 1);
  });
}
