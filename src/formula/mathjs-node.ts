/**
 * mathjs's parser in Node, loaded at the first string formula: loading mathjs builds its whole function library
 * (measured 3.5–4.4 s of a fresh process's import on the loaded 2-vCPU VM), which operators built without
 * strings never use. kernelOperator is synchronous and ESM has no synchronous dynamic import: this is a
 * CommonJS require of the same package (its CommonJS build).
 */
import { createRequire } from 'node:module';
import { installMathjsLoader } from './parse.js';

installMathjsLoader(() => (createRequire(import.meta.url)('mathjs') as typeof import('mathjs')).parse);
