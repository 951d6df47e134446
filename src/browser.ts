/**
 * lazylinalg in a browser (the package's "browser" export): the same API as the Node entry, with products on the
 * GPU through `navigator.gpu` (or a `GPUDevice` given to `setBackend('gpu', { device })`) and on the CPU in the
 * same generated WebAssembly, spread over Web Workers when the page is cross-origin isolated. No Node built-in
 * is in this module's graph.
 */
import './cpu/platform-browser.js';
import './formula/mathjs-browser.js';
import * as autodiff from './autodiff/index.js';
import * as krylov from './krylov/index.js';
import * as preconditioners from './preconditioners/index.js';
import { registerAutodiffModule } from './operators/autodiff-bridge.js';
import { registerKrylovModule, type KrylovModule } from './operators/krylov-bridge.js';
import { registerPreconditionerModule, type PreconditionerModule } from './operators/linear-operator.js';

// the operators reach these floors by runtime specifiers (no static cycle), which a bundle cannot resolve
registerKrylovModule(krylov as unknown as KrylovModule);
registerPreconditionerModule(preconditioners as unknown as PreconditionerModule);
registerAutodiffModule(autodiff);

export * from './api.js';
