/**
 * Backend choice and device life cycle: 'gpu' forced without an adapter (simulated by injecting a
 * failing acquisition), 'auto' falling back to the CPU (said once), 'auto' preferring the CPU over
 * a software adapter, getBackendInfo, device loss (an in-flight product rejects clearly, the next
 * one re-acquires), and a caller-supplied GPUDevice.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { gaussianKernel, getBackendInfo, setBackend, GPU_AUTO_MIN_PAIRS } from '../../src/index.js';
import {
  GpuUnavailableError, acquireGpu, forgetGpuForTesting, setGpuAcquirerForTesting,
} from '../../src/gpu/device.js';
import { relativeError } from '../conformance.js';
import { gpu, hasGpu } from './gpu-env.js';

function points(n: number, d: number, seed = 1): number[][] {
  let s = seed;
  const r = () => ((s = (s * 16807) % 2147483647) / 2147483647);
  return Array.from({ length: n }, () => Array.from({ length: d }, () => Math.fround(r())));
}

const noAdapter = () => Promise.reject(new GpuUnavailableError(
  'no WebGPU adapter found; tried: (1) simulated default backend: requestAdapter() returned null; (2) simulated OpenGL: requestAdapter() returned null'));

afterEach(async () => {
  setGpuAcquirerForTesting(undefined);
  await setBackend('auto');
  vi.restoreAllMocks();
});

describe('without an adapter (simulated)', () => {
  it("'gpu' forced on an operator: the first product fails with an error naming what was tried", async () => {
    setGpuAcquirerForTesting(noAdapter);
    const K = gaussianKernel(points(20, 3), { backend: 'gpu' });
    expect(String(K)).toMatch(/float32 gpu>$/);
    await expect(K.matvec(new Float64Array(20))).rejects.toThrow(/no WebGPU adapter found; tried: \(1\) simulated default backend/);
  });

  it("setBackend('gpu') rejects, getBackendInfo with 'auto' reports the CPU and warns once", async () => {
    setGpuAcquirerForTesting(noAdapter);
    await expect(setBackend('gpu')).rejects.toThrow(GpuUnavailableError);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const info = await setBackend('auto');
    expect(info.backend).toBe('cpu');
    expect(info.reason).toMatch(/no WebGPU adapter/);
    await getBackendInfo();
    await getBackendInfo();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/lazylinalg: using the CPU backend: no WebGPU adapter/);
    // 'auto' operators run on the CPU, with the CPU's float64 default
    const K = gaussianKernel(points(2048, 3));
    expect(K.backend).toBe('cpu');
    expect(K.dtype).toBe('float64');
  });

  it("setBackend('cpu') makes every 'auto' operator a CPU one; an explicit backend still wins", async () => {
    await setBackend('cpu');
    expect((await getBackendInfo()).backend).toBe('cpu');
    expect(gaussianKernel(points(10, 3)).backend).toBe('cpu');
    expect(gaussianKernel(points(10, 3), { backend: 'gpu' }).backend).toBe('gpu');
  });

  it('rejects an unknown setting, a device that is not a GPUDevice and an unknown option, quoting type and value', async () => {
    await expect(setBackend('tpu' as 'gpu')).rejects.toThrow('setBackend: choice must be one of "auto", "cpu", "gpu", got a string "tpu"');
    await expect(setBackend('gpu', { device: {} as GPUDevice })).rejects.toThrow('setBackend: device must be a GPUDevice, got an object with keys []');
    await expect(setBackend('cpu', { devcie: {} } as never)).rejects.toThrow("setBackend: unknown option 'devcie' in options (did you mean 'device'?); known options: device");
    await expect(setBackend('cpu', null as never)).rejects.toThrow('setBackend: options must be a plain object, got null');
  });
});

describe.runIf(hasGpu)('with the adapter of this machine', () => {
  it('getBackendInfo reports the adapter and the requested limits', async () => {
    const info = await getBackendInfo();
    expect(info.adapter).toBeDefined();
    expect(info.limits!.maxComputeWorkgroupSizeX).toBeGreaterThanOrEqual(64);
    expect(info.limits!.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    console.log(`[gpu] ${JSON.stringify(info)}`);
    if (gpu!.adapter.software) {
      expect(info.backend).toBe('cpu');
      expect(info.reason).toMatch(/software rasteriser/);
    } else {
      expect(info.backend).toBe('gpu');
    }
  });

  it("'auto' uses the GPU only for a hardware adapter and n·m ≥ GPU_AUTO_MIN_PAIRS, and never for float64", async () => {
    await getBackendInfo(); // probes
    const big = Math.ceil(Math.sqrt(GPU_AUTO_MIN_PAIRS));
    const K = gaussianKernel(points(big, 1), { denseCache: 'never' });
    expect(K.backend).toBe(gpu!.adapter.software ? 'cpu' : 'gpu');
    expect(gaussianKernel(points(big, 1), { dtype: 'float64' }).backend).toBe('cpu');
    expect(gaussianKernel(points(100, 1)).backend).toBe('cpu');
  });

  it("setBackend('gpu') sends 'auto' operators to the GPU in float32", async () => {
    await setBackend('gpu');
    const K = gaussianKernel(points(30, 3));
    expect(K.backend).toBe('gpu');
    expect(K.dtype).toBe('float32');
    expect(() => gaussianKernel(points(30, 3), { dtype: 'float64' })).toThrow(/float64 is not supported on the GPU backend/);
  });

  it('device loss: an in-flight product rejects with a clear error, the next product re-acquires and works', async () => {
    const X = points(300, 3);
    const b = Float64Array.from({ length: 300 }, (_, i) => Math.sin(i));
    const K = gaussianKernel(X, { backend: 'gpu', sigma: 0.3 });
    const want = await gaussianKernel(X, { backend: 'cpu', sigma: 0.3 }).matvec(b);
    expect(relativeError(await K.matvec(b), want)).toBeLessThan(1e-6);
    const ctx = await acquireGpu();
    const inflight = K.matvec(b);
    ctx.device.destroy();
    await expect(inflight).rejects.toThrow(/the GPU device was lost during a kernel product .*the next product acquires a new device/);
    await new Promise((r) => setTimeout(r, 50));
    const again = await K.matvec(b);
    expect(relativeError(again, want)).toBeLessThan(1e-6);
    const fresh = await acquireGpu();
    expect(fresh.device).not.toBe(ctx.device);
  });

  it('a caller-supplied GPUDevice is used as is', async () => {
    const ctx = await acquireGpu();
    forgetGpuForTesting();
    await setBackend('gpu', { device: ctx.device });
    expect((await acquireGpu()).device).toBe(ctx.device);
    expect((await acquireGpu()).adapter.source).toBe('caller-supplied GPUDevice');
    const X = points(50, 2);
    const b = Float64Array.from({ length: 50 }, (_, i) => i % 3);
    const got = await gaussianKernel(X).matvec(b);
    expect(relativeError(got, await gaussianKernel(X, { backend: 'cpu' }).matvec(b))).toBeLessThan(1e-6);
  });
});
