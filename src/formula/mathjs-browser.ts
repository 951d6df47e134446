/**
 * mathjs's parser in a browser: an ESM import of the parser alone (`create` with `parseDependencies`), so a bundler
 * keeps only what parsing needs, not mathjs's function library.
 */
import { create, parseDependencies } from 'mathjs';
import { installMathjsLoader, type MathjsParse } from './parse.js';

installMathjsLoader(() => create({ parseDependencies }).parse as MathjsParse);
