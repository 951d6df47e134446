export * from './types.js';
export * from './validate.js';
export * from './linear-operator.js';
export * from './algebra.js';
export * from './dense.js';
export * from './aslinearoperator.js';
export * from './krylov-bridge.js';
