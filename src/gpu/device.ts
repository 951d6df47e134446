/// <reference types="@webgpu/types" />
/**
 * GPU device acquisition and the global backend setting.
 *
 * Where a device comes from, in order: a caller-supplied `GPUDevice` (`setBackend('gpu', { device })`);
 * `navigator.gpu` (Deno, browsers); the Node `webgpu` package (Dawn): first its default backend
 * (Vulkan/Metal/D3D12) at core feature level, then Dawn's OpenGL backend at compatibility level
 * (on Linux without a GPU this is Mesa llvmpipe, the software adapter the CI tests run on).
 *
 * Dawn pitfall (shared/device/README.md): the object `create()` returns must outlive every adapter
 * and device made from it, or V8 collects it and Dawn later locks a freed mutex. `dawnInstances`
 * below holds every one of them for the life of the process.
 *
 * A lost device is forgotten: the next `acquireGpu()` acquires a fresh one; products in flight on
 * the lost device reject with a message saying so (see `GpuContext.lost`).
 */
// options.ts is a leaf (it imports validate.ts only, which imports nothing of this library), like reduce.ts's describeValue
import { checkArgument, field, oneOf, optional, parseOptions } from '../operators/options.js';

export type BackendSetting = 'auto' | 'cpu' | 'gpu';

/** What `getBackendInfo()` reports about the adapter. */
export interface AdapterDescription {
  readonly vendor: string;
  readonly architecture: string;
  readonly description: string;
  /** 'core' or 'compatibility': the feature level the adapter was requested at. */
  readonly featureLevel: 'core' | 'compatibility';
  /** How the adapter was found, e.g. "webgpu (Dawn) backend=opengl". */
  readonly source: string;
  /** A CPU rasteriser (llvmpipe, lavapipe, SwiftShader, WARP): 'auto' prefers the CPU backend over it. */
  readonly software: boolean;
}

/** The device limits this library relies on (the values granted on requestDevice). */
export interface GpuLimits {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupSizeX: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxStorageBuffersPerShaderStage: number;
  readonly maxUniformBufferBindingSize: number;
}

export interface GpuContext {
  readonly device: GPUDevice;
  readonly adapter: AdapterDescription;
  readonly limits: GpuLimits;
  /** Set when the device is lost: the reason, for error messages. */
  lost: string | undefined;
  /** The device was created with 'timestamp-query' (kernel timings for `setGpuProfiling`). */
  readonly timestamps?: boolean;
}

export interface BackendInfo {
  /** The backend large products of an operator with backend 'auto' run on now. */
  readonly backend: 'cpu' | 'gpu';
  /** The global setting (`setBackend`). */
  readonly setting: BackendSetting;
  readonly adapter?: AdapterDescription;
  readonly limits?: GpuLimits;
  /** Why the GPU is not used, when it is not. */
  readonly reason?: string;
}

/** Raised when no WebGPU adapter can be found (the message lists what was tried). */
export class GpuUnavailableError extends Error {
  override readonly name = 'GpuUnavailableError';
}

/** Raised when the device cannot allocate what an operation needs (the message says how much). */
export class GpuOutOfMemoryError extends Error {
  override readonly name = 'GpuOutOfMemoryError';
}

/**
 * 'auto' runs a kernel product on the GPU from this many pairs n·m on: below it a submit and
 * readback round trip (~0.1–0.3 ms under Dawn) costs more than the WASM SIMD product on the CPU.
 */
export const GPU_AUTO_MIN_PAIRS = 1 << 20;

/** Limits requested from the adapter (its real values, not WebGPU's small defaults). */
const REQUESTED_LIMITS = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
] as const satisfies readonly (keyof GpuLimits)[];

/** One way of finding an adapter; returns undefined (with a note of why) when it finds none. */
export type AdapterSource = () => Promise<{ adapter: GPUAdapter; featureLevel: 'core' | 'compatibility'; source: string } | { failed: string }>;

/** A function that yields a device or throws GpuUnavailableError (replaceable in tests). */
export type GpuAcquirer = () => Promise<GpuContext>;

// Strong references to every Dawn `create()` result: never released (see the module comment).
const dawnInstances: unknown[] = [];

let setting: BackendSetting = 'auto';
let suppliedDevice: GPUDevice | undefined;
let current: Promise<GpuContext> | undefined;
let known: GpuContext | undefined;        // the last successfully acquired context (sync access)
let knownFailure: string | undefined;      // the last acquisition failure (sync access)
let acquirer: GpuAcquirer = defaultAcquire;
let warnedNoAdapter = false;

// ------------------------------------------------------------------ sources

function navigatorGpu(): GPU | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return nav?.gpu ?? undefined;
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string' && navigatorGpu() === undefined;
}

/** The Node `webgpu` package's loader, installed by the Node entry (dawn-node.ts); a browser bundle has none. */
export type DawnLoader = () => Promise<{ create(options: string[]): GPU; globals: object }>;
let dawnLoader: DawnLoader | undefined;

/** Installs how the Node `webgpu` package (Dawn) is loaded (the Node entry does). */
export function installDawnLoader(load: DawnLoader): void {
  dawnLoader = load;
}

async function loadDawn(): Promise<{ create(options: string[]): GPU; globals: object } | string> {
  if (!dawnLoader) return "no loader of the 'webgpu' package installed (import lazylinalg's Node entry)";
  try {
    return await dawnLoader();
  } catch (error) {
    return `the 'webgpu' package could not be loaded (${(error as Error).message})`;
  }
}

async function request(gpu: GPU, featureLevel: 'core' | 'compatibility'): Promise<GPUAdapter | null> {
  const options: GPURequestAdapterOptions & { featureLevel?: string } = { powerPreference: 'high-performance' };
  if (featureLevel === 'compatibility') options.featureLevel = 'compatibility';
  try {
    return await gpu.requestAdapter(options);
  } catch {
    return null;
  }
}

/** The sources tried by default, in order (see the module comment). */
function defaultSources(): { name: string; find: AdapterSource }[] {
  const sources: { name: string; find: AdapterSource }[] = [];
  const nav = navigatorGpu();
  if (nav) {
    sources.push({
      name: 'navigator.gpu',
      find: async () => {
        for (const level of ['core', 'compatibility'] as const) {
          const adapter = await request(nav, level);
          if (adapter) return { adapter, featureLevel: level, source: 'navigator.gpu' };
        }
        return { failed: 'navigator.gpu.requestAdapter() returned null' };
      },
    });
  }
  if (isNode()) {
    const dawn = (backendOption: string | undefined, level: 'core' | 'compatibility'): AdapterSource => async () => {
      const mod = await loadDawn();
      if (typeof mod === 'string') return { failed: mod };
      if (backendOption === 'opengl') {
        const env = (globalThis as unknown as { process: { env: Record<string, string | undefined> } }).process.env;
        env['EGL_PLATFORM'] ??= 'surfaceless'; // Mesa's EGL without a display
      }
      let gpu: GPU;
      try {
        gpu = mod.create(backendOption ? [`backend=${backendOption}`] : []);
      } catch (error) {
        return { failed: `create() threw: ${(error as Error).message}` };
      }
      dawnInstances.push(gpu);
      const adapter = await request(gpu, level);
      const source = `webgpu (Dawn) ${backendOption ? `backend=${backendOption}` : 'default backend'}`;
      return adapter ? { adapter, featureLevel: level, source } : { failed: 'requestAdapter() returned null' };
    };
    sources.push({ name: "webgpu (Dawn) default backend (Vulkan/Metal/D3D12), feature level 'core'", find: dawn(undefined, 'core') });
    sources.push({ name: "webgpu (Dawn) backend=opengl (EGL_PLATFORM=surfaceless), feature level 'compatibility'", find: dawn('opengl', 'compatibility') });
  }
  return sources;
}

const SOFTWARE = /llvmpipe|lavapipe|softpipe|swiftshader|warp|microsoft basic render|software/i;

function describeAdapter(info: GPUAdapterInfo | undefined, featureLevel: 'core' | 'compatibility', source: string, fallback = false): AdapterDescription {
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const device = (info as { device?: string } | undefined)?.device ?? '';
  const description = info?.description || device || '';
  const software = fallback || (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true ||
    SOFTWARE.test(`${vendor} ${architecture} ${description} ${device}`);
  return Object.freeze({ vendor, architecture, description, featureLevel, source, software });
}

function readLimits(limits: GPUSupportedLimits): GpuLimits {
  const out: Record<string, number> = {};
  for (const k of REQUESTED_LIMITS) out[k] = Number(limits[k]);
  return Object.freeze(out) as unknown as GpuLimits;
}

const lostDevices = new WeakSet<GPUDevice>();

/** The uncaptured errors a device has raised: how many, and the last one's message. */
export interface UncapturedErrors {
  count: number;
  last: string;
}

const uncaptured = new WeakMap<GPUDevice, UncapturedErrors>();

/**
 * Counts the device's uncaptured errors (those raised outside an error scope), from the first call on for that
 * device. A product that reads the count before its submit and again after its map knows whether anything failed
 * in between without an error scope per product (pushErrorScope/popErrorScope cost a promise round trip each
 * time); Dawn raises a submit's validation error during the submit itself.
 */
export function uncapturedErrors(device: GPUDevice): UncapturedErrors {
  let errors = uncaptured.get(device);
  if (!errors) {
    const record: UncapturedErrors = { count: 0, last: '' };
    device.addEventListener('uncapturederror', (event) => {
      record.count++;
      record.last = (event as GPUUncapturedErrorEvent).error?.message ?? String(event);
    });
    uncaptured.set(device, (errors = record));
  }
  return errors;
}

function watchLoss(ctx: GpuContext): void {
  uncapturedErrors(ctx.device);
  void ctx.device.lost.then((info) => {
    ctx.lost = `${info.reason}${info.message ? `: ${info.message}` : ''}`;
    lostDevices.add(ctx.device);
    if (known === ctx) {
      known = undefined;
      current = undefined; // the next acquireGpu() acquires a fresh device
    }
  });
}

/** Wraps a device the caller created (we cannot know its adapter; `adapterInfo` where the runtime has it). */
export function contextForDevice(device: GPUDevice): GpuContext {
  const info = (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const ctx: GpuContext = {
    device,
    adapter: describeAdapter(info, 'core', 'caller-supplied GPUDevice'),
    limits: readLimits(device.limits),
    lost: undefined,
    timestamps: device.features.has('timestamp-query'),
  };
  watchLoss(ctx);
  return ctx;
}

async function defaultAcquire(): Promise<GpuContext> {
  if (suppliedDevice) {
    if (lostDevices.has(suppliedDevice)) {
      throw new GpuUnavailableError('the GPUDevice given to setBackend was lost; pass a new one with setBackend(choice, { device })');
    }
    return contextForDevice(suppliedDevice);
  }
  const tried: string[] = [];
  const sources = defaultSources();
  if (sources.length === 0) tried.push('no WebGPU runtime: navigator.gpu is absent and this is not Node');
  for (const { name, find } of sources) {
    const found = await find();
    if ('failed' in found) {
      tried.push(`${name}: ${found.failed}`);
      continue;
    }
    const { adapter, featureLevel, source } = found;
    const requiredLimits: Record<string, number> = {};
    for (const k of REQUESTED_LIMITS) {
      const v = adapter.limits[k];
      if (typeof v === 'number' && Number.isFinite(v)) requiredLimits[k] = v;
    }
    // timestamps only serve the optional kernel profiling (reduce.ts); requested where offered
    const timestamps = adapter.features.has('timestamp-query');
    let device: GPUDevice;
    try {
      device = await adapter.requestDevice({ requiredLimits, requiredFeatures: timestamps ? ['timestamp-query'] : [] });
    } catch (error) {
      tried.push(`${name}: requestDevice failed (${(error as Error).message})`);
      continue;
    }
    const ctx: GpuContext = {
      device,
      adapter: describeAdapter(adapter.info, featureLevel, source, (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter),
      limits: readLimits(device.limits),
      lost: undefined,
      timestamps,
    };
    watchLoss(ctx);
    return ctx;
  }
  throw new GpuUnavailableError(`no WebGPU adapter found; tried: ${tried.map((t, k) => `(${k + 1}) ${t}`).join('; ')}`);
}

// ------------------------------------------------------------------ public state

/**
 * The GPU context, acquired on first use and kept; a lost device is re-acquired on the next
 * call. Rejects with `GpuUnavailableError` naming what was tried when there is no adapter
 * (and tries again on the next call).
 */
export function acquireGpu(): Promise<GpuContext> {
  if (!current) {
    const attempt = acquirer().then(
      (ctx) => {
        known = ctx;
        knownFailure = undefined;
        return ctx;
      },
      (error: unknown) => {
        if (current === attempt) current = undefined;
        knownFailure = (error as Error).message;
        throw error;
      },
    );
    current = attempt;
  }
  return current;
}

/** The acquired context if there is one now (no acquisition). */
export function knownGpu(): GpuContext | undefined {
  return known && !known.lost ? known : undefined;
}

/**
 * Whether an operator with backend 'auto' should run its products on the GPU: the setting is
 * 'auto', a hardware adapter has been acquired (a probe is asynchronous, so 'auto' never waits for
 * one: `await setBackend('auto')` or `await getBackendInfo()` probes), and there is enough work.
 */
export function autoPrefersGpu(pairs: number): boolean {
  const ctx = knownGpu();
  return setting === 'auto' && ctx !== undefined && !ctx.adapter.software && pairs >= GPU_AUTO_MIN_PAIRS;
}

/** The global backend setting. */
export function backendSetting(): BackendSetting {
  return setting;
}

export interface SetBackendOptions {
  /** The GPUDevice to use (from the caller's own adapter). */
  device?: GPUDevice;
}

const BACKEND_CHOICE = oneOf('auto', 'cpu', 'gpu');
const SET_BACKEND_SPEC = {
  device: optional(field<GPUDevice>('a GPUDevice', (v) => typeof (v as { createBuffer?: unknown } | null)?.createBuffer === 'function')),
} satisfies Record<keyof SetBackendOptions, unknown>;

/**
 * Chooses where kernel products run: 'cpu'; 'gpu' (every kernel operator, an error when there is
 * no adapter); 'auto' (default): the GPU for large products when a hardware adapter exists, else
 * the CPU, said once with console.warn. `device` supplies the GPUDevice to use. Resolves to
 * `getBackendInfo()`; with 'gpu', rejects when no device can be acquired.
 */
export async function setBackend(choice: BackendSetting, options: SetBackendOptions = {}): Promise<BackendInfo> {
  checkArgument('setBackend', 'choice', choice, BACKEND_CHOICE);
  const { device } = parseOptions('setBackend', options, SET_BACKEND_SPEC);
  if (device !== undefined) {
    suppliedDevice = device;
    current = Promise.resolve(contextForDevice(device)).then((ctx) => (known = ctx));
  }
  setting = choice;
  if (choice === 'gpu') await acquireGpu();
  return getBackendInfo();
}

/**
 * `setBackend('auto' | 'cpu')` without its answer: no adapter is looked for now ('auto' looks at the first product
 * large enough for the GPU). The CLI's commands use it: the probe loads Dawn (0.1–0.2 s on the 2-vCPU VM) and Dawn
 * writes its own warnings to stderr, for inputs whose products never reach GPU_AUTO_MIN_PAIRS.
 */
export function chooseBackend(choice: 'auto' | 'cpu'): void {
  setting = checkArgument('chooseBackend', 'choice', choice, oneOf('auto', 'cpu'));
}

/** Where large products run now, with the adapter and the device limits when there is one (probes once). */
export async function getBackendInfo(): Promise<BackendInfo> {
  if (setting === 'cpu') return Object.freeze({ backend: 'cpu', setting, reason: "setBackend('cpu')" });
  let ctx: GpuContext | undefined;
  try {
    ctx = await acquireGpu();
  } catch (error) {
    if (setting === 'gpu') throw error;
    warnNoAdapterOnce((error as Error).message);
    return Object.freeze({ backend: 'cpu', setting, reason: (error as Error).message });
  }
  const base = { setting, adapter: ctx.adapter, limits: ctx.limits };
  if (setting === 'auto' && ctx.adapter.software) {
    return Object.freeze({
      ...base, backend: 'cpu',
      reason: `the adapter (${ctx.adapter.description || 'unnamed'}) is a software rasteriser; the WASM SIMD CPU backend is faster (backend 'gpu' uses it anyway)`,
    });
  }
  return Object.freeze({ ...base, backend: 'gpu' });
}

function warnNoAdapterOnce(message: string): void {
  if (warnedNoAdapter) return;
  warnedNoAdapter = true;
  console.warn(`lazylinalg: using the CPU backend: ${message}`);
}

/** The error message of the last failed acquisition, if the last attempt failed. */
export function lastGpuFailure(): string | undefined {
  return knownFailure;
}

// ------------------------------------------------------------------ test hooks

/**
 * Replaces how a device is acquired (tests simulate a machine without an adapter) and forgets the
 * current device; `undefined` restores the default. Not part of the public API.
 */
export function setGpuAcquirerForTesting(fn: GpuAcquirer | undefined): void {
  acquirer = fn ?? defaultAcquire;
  current = undefined;
  known = undefined;
  knownFailure = undefined;
  warnedNoAdapter = false;
}

/** Forgets the acquired device (as if it was lost) so the next call re-acquires. Not public. */
export function forgetGpuForTesting(): void {
  current = undefined;
  known = undefined;
}
