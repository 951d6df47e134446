/**
 * The demo page (web/) in Debian's Chromium, headless, driven by playwright-core: the page is built once with Vite
 * and served from 127.0.0.1 with COOP/COEP (cross-origin isolated, so the CPU path runs on Web Workers). Spectral
 * clustering of a seeded sample runs on the GPU backend (Chromium's WebGPU adapter: SwiftShader here) and on the
 * CPU backend; the labels must match the sample's truth (ARI ≥ 0.95) and Node's `spectralClustering` for the same
 * data and seed. Screenshots go to test-output/web/. Chromium missing is a failure, not a skip.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adjustedRandIndex, concentricCircles, gaussianKernel, spectralClustering } from '../../src/index.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OUT = join(ROOT, 'test-output', 'web');
const DIST = join(OUT, 'dist');
/** WebGPU in headless Chromium without a GPU: SwiftShader's Vulkan gives the adapter. */
const CHROMIUM_ARGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--disable-vulkan-surface'];
const N = 450;
const SEED = 3;
const CLUSTERS = 2;

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };

function serve(dir: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    let file = join(dir, path);
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!file.startsWith(dir) || !existsSync(file)) { res.writeHead(404).end(); return; }
    // ?isolation=off serves the page without COOP/COEP: not cross-origin isolated, unshared memory, one thread
    const isolated = !(req.url ?? '').includes('isolation=off');
    res.writeHead(200, {
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      ...(isolated ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {}),
    });
    res.end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const address = server.address() as { port: number };
    resolve({ server, url: `http://127.0.0.1:${address.port}/` });
  }));
}

interface PageResult { labels?: number[]; ari?: number; rmse?: number; backendLabel: string; adapter?: { architecture: string; vendor: string; software: boolean }; iterations: number | string; ms: number }

async function runInPage(page: Page, backend: 'gpu' | 'cpu'): Promise<PageResult> {
  await page.selectOption('#backend', backend);
  await page.click('#run');
  await page.waitForSelector('#status[data-state="done"], #status[data-state="error"]', { timeout: 45_000 });
  const state = await page.evaluate(() => (window as unknown as { lazylinalgDemo: { lastResult: unknown; lastError?: string } }).lazylinalgDemo);
  if (state.lastError) throw new Error(`the page reported: ${state.lastError}`);
  return state.lastResult as PageResult;
}

/** Distinct cluster colours on the canvas (pixels of the palette's first entries). */
async function canvasColours(page: Page): Promise<number> {
  return page.evaluate(() => {
    const c = document.getElementById('plot') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const palette = [[0x1f, 0x77, 0xb4], [0xff, 0x7f, 0x0e], [0x2c, 0xa0, 0x2c], [0xd6, 0x27, 0x28]];
    const seen = new Set<number>();
    for (let p = 0; p < d.length; p += 4) palette.forEach(([r, g, b], k) => { if (d[p] === r && d[p + 1] === g && d[p + 2] === b) seen.add(k); });
    return seen.size;
  });
}

describe('the demo page in Chromium', () => {
  let browser: Browser;
  let server: Server;
  let page: Page;
  let url: string;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
    mkdirSync(OUT, { recursive: true });
    await build({ configFile: join(ROOT, 'web', 'vite.config.ts'), logLevel: 'error', build: { outDir: DIST, emptyOutDir: true } });
    const s = await serve(DIST);
    server = s.server;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    url = s.url;
    await page.goto(url);
    await page.selectOption('#sample', 'circles');
    await page.fill('#n', String(N));
    await page.fill('#seed', String(SEED));
  });

  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  it('is cross-origin isolated and has a WebGPU adapter', async () => {
    const env = await page.evaluate(async () => {
      const adapter = await navigator.gpu?.requestAdapter();
      return { isolated: self.crossOriginIsolated, adapter: adapter ? `${adapter.info.vendor} ${adapter.info.architecture}` : null };
    });
    console.log(`Chromium WebGPU adapter: ${env.adapter ?? 'none'}; cross-origin isolated: ${env.isolated}`);
    expect(env.isolated).toBe(true);
    expect(env.adapter, 'Chromium gave no WebGPU adapter with ' + CHROMIUM_ARGS.join(' ')).not.toBeNull();
  });

  it('clusters the circles on the GPU and on the CPU as Node does', async () => {
    const sample = concentricCircles(N, { seed: SEED, nCircles: 2 });
    const node = await spectralClustering(sample.points, { nClusters: CLUSTERS, seed: SEED, backend: 'cpu' });
    expect(adjustedRandIndex(sample.labels, node.labels)).toBeGreaterThanOrEqual(0.95);

    const gpu = await runInPage(page, 'gpu');
    console.log(`page GPU run: ${gpu.backendLabel}, ${gpu.iterations} LOBPCG iterations, ${gpu.ms.toFixed(0)} ms`);
    expect(gpu.backendLabel).toMatch(/^GPU: /);
    expect(gpu.ari).toBeGreaterThanOrEqual(0.95);
    // float32 products on SwiftShader against Node's CPU: the same partition (numbering by first appearance)
    expect(gpu.labels).toEqual(Array.from(node.labels));
    expect(await canvasColours(page)).toBe(CLUSTERS);
    await page.screenshot({ path: join(OUT, 'clusters-gpu.png') });

    const cpu = await runInPage(page, 'cpu');
    console.log(`page CPU run: ${cpu.backendLabel}, ${cpu.iterations} LOBPCG iterations, ${cpu.ms.toFixed(0)} ms`);
    expect(cpu.backendLabel).toMatch(/^CPU: WebAssembly, \d+ threads? \(cross-origin isolated\)/);
    expect(cpu.ari).toBeGreaterThanOrEqual(0.95);
    expect(cpu.labels).toEqual(Array.from(node.labels));
    expect(await canvasColours(page)).toBe(CLUSTERS);
    await page.screenshot({ path: join(OUT, 'clusters-cpu.png') });
    expect(consoleErrors).toEqual([]);
  });

  it('interpolates the 2-D signal on the GPU and on the CPU', async () => {
    await page.selectOption('#sample', 'signal');
    await page.fill('#n', '300');
    await page.fill('#sigma', '0.3');
    for (const backend of ['gpu', 'cpu'] as const) {
      const r = await runInPage(page, backend);
      console.log(`page interpolation on ${r.backendLabel}: ${r.iterations} iterations, RMS error ${r.rmse?.toExponential(2)}, ${r.ms.toFixed(0)} ms`);
      // 300 points of a smooth signal on [-1, 1]², α = 1e-3: the surface follows the signal to a few percent
      expect(r.rmse).toBeLessThan(0.05);
      await page.screenshot({ path: join(OUT, `surface-${backend}.png`) });
    }
  });

  it('a large CPU product runs on Web Workers sharing the memory and equals Node\'s', async () => {
    const n = 2500; // 6.25e6 pairs: enough for the product to start the pool and wait for it
    const points = concentricCircles(n, { seed: SEED, nCircles: 2 }).points;
    const v = Float64Array.from({ length: n }, (_, i) => Math.sin(i));
    const expected = await gaussianKernel(points, { sigma: 0.5, backend: 'cpu', dtype: 'float64' }).matvec(v);
    const got = await page.evaluate(async ({ points, v }) => {
      const lib = (window as unknown as { lazylinalg: typeof import('../../src/browser.js') }).lazylinalg;
      return Array.from(await lib.gaussianKernel(points, { sigma: 0.5, backend: 'cpu', dtype: 'float64' }).matvec(v));
    }, { points, v: Array.from(v) });
    // Playwright learns of a page's workers by events that may arrive after the product's promise settles (under a
    // loaded CI run the count read 1 at once): polled, up to 5 s
    await expect.poll(() => page.workers().length, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
    let err = 0;
    let norm = 0;
    got.forEach((g, i) => { err = Math.max(err, Math.abs(g - expected[i]!)); norm = Math.max(norm, Math.abs(expected[i]!)); });
    expect(err / norm).toBeLessThan(1e-12);
  });

  it('without cross-origin isolation the CPU path runs on one thread (unshared memory) with the same labels', async () => {
    const sample = concentricCircles(N, { seed: SEED, nCircles: 2 });
    const node = await spectralClustering(sample.points, { nClusters: CLUSTERS, seed: SEED, backend: 'cpu' });
    const plain = await browser.newPage();
    try {
      await plain.goto(`${url}?isolation=off`);
      expect(await plain.evaluate(() => self.crossOriginIsolated)).toBe(false);
      await plain.fill('#n', String(N));
      await plain.fill('#seed', String(SEED));
      const cpu = await runInPage(plain, 'cpu');
      expect(cpu.backendLabel).toBe('CPU: WebAssembly, 1 thread (not cross-origin isolated)');
      expect(cpu.labels).toEqual(Array.from(node.labels));
      expect(plain.workers()).toHaveLength(0);
    } finally {
      await plain.close();
    }
  });

  it('shows an error in the page for a malformed CSV', async () => {
    await page.setInputFiles('#file', { name: 'bad.csv', mimeType: 'text/csv', buffer: Buffer.from('x,y\n1,2\n3,abc\n') });
    await expect.poll(() => page.textContent('#error')).toBe("bad.csv: line 3, column 2: 'abc' is not a finite number");
  });
});
