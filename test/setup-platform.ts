// Tests that import internal modules (not src/index.ts) get the Node platform the Node entry installs.
import '../src/cpu/platform-node.js';
import '../src/formula/mathjs-node.js';
import '../src/gpu/dawn-node.js';
