// Tests that import internal modules (not src/index.ts) get the Node platform the Node entry installs.
// No program cache on disk unless a test names one (test/cpu/program-cache.test.ts): counts of assembled programs
// stay those of this process, and the processes tests spawn inherit it.
process.env['LAZYLINALG_PROGRAM_CACHE'] ??= '0';
await import('../src/cpu/platform-node.js');
await import('../src/formula/mathjs-node.js');
await import('../src/gpu/dawn-node.js');
