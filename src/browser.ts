/**
 * lazylinalg in a browser (the package's "browser" export): the same API as the Node entry, with products on the
 * GPU through `navigator.gpu` (or a `GPUDevice` given to `setBackend('gpu', { device })`) and on the CPU in the
 * same generated WebAssembly, spread over Web Workers when the page is cross-origin isolated. No Node built-in
 * is in this module's graph.
 */
import './cpu/platform-browser.js';
import './formula/mathjs-browser.js';

export * from './api.js';
