import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/** COOP/COEP make the page cross-origin isolated: shared WebAssembly memory, so the CPU path runs on Web Workers. */
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  // the page imports the library's browser entry from source
  resolve: { alias: { lazylinalg: fileURLToPath(new URL('../src/browser.ts', import.meta.url)) } },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 2000 },
  server: { headers: ISOLATION_HEADERS, host: '127.0.0.1' },
  preview: { headers: ISOLATION_HEADERS, host: '127.0.0.1', port: 4173 },
});
