/** `lazylinalg info`: version, backend, adapter, limits, threads, the program cache. */
import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { HUGE_PAGES_MIN_BYTES } from '../../cpu/platform.js';
import { hugePagesStatus } from '../../cpu/platform-node.js';
import { poolThreads } from '../../cpu/pool.js';
import { programCacheContents, programCacheDirectory } from '../../cpu/program-cache-node.js';
import { getBackendInfo, setBackend } from '../../gpu/device.js';
import { cliVersion } from '../version.js';
import type { Command } from './common.js';

export const infoCommand: Command = {
  spec: {
    name: 'info',
    summary: 'version, backend, GPU adapter and limits, CPU threads, the program cache',
    positionals: [],
    flags: [
      { name: 'backend', kind: 'choice', choices: ['auto', 'cpu', 'gpu'], default: 'auto', help: 'the setting to report on (gpu: fail when there is no adapter)' },
      { name: 'json', kind: 'bool', help: 'print one JSON object' },
    ],
    examples: ['lazylinalg info', 'lazylinalg info --backend gpu', 'lazylinalg info --json'],
    details: 'Environment: LAZYLINALG_THREADS sets the number of CPU worker threads (default: all cores); LAZYLINALG_PROGRAM_CACHE the directory of assembled programs kept for later runs (an absolute path, or 0: none; default ~/.cache/lazylinalg/programs); LAZYLINALG_HUGEPAGES=0 keeps large memories on the kernel\'s default pages.',
  },
  async run(args, ctx) {
    await setBackend(args.string('backend') as 'auto' | 'cpu' | 'gpu');
    const info = await getBackendInfo();
    const report = {
      version: cliVersion(),
      node: process.versions.node,
      backend: info.backend,
      setting: info.setting,
      ...(info.reason ? { reason: info.reason } : {}),
      adapter: info.adapter ?? null,
      limits: info.limits ?? null,
      cpu: { threads: poolThreads(), cores: availableParallelism(), memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)), hugePages: hugePagesReport() },
      programCache: programCacheReport(),
    };
    if (args.bool('json')) {
      ctx.out(JSON.stringify(report, null, 1));
      return;
    }
    ctx.out(`lazylinalg ${report.version} (Node ${report.node})`);
    ctx.out(`backend:  ${report.backend} (setting '${report.setting}')${info.reason ? ` — ${info.reason}` : ''}`);
    if (info.adapter) {
      const a = info.adapter;
      ctx.out(`adapter:  ${a.description || a.vendor || 'unnamed'} [${a.architecture || '-'}], ${a.featureLevel}, ${a.source}${a.software ? ', software rasteriser' : ''}`);
    } else {
      ctx.out('adapter:  none');
    }
    if (info.limits) {
      const l = info.limits;
      ctx.out(`limits:   storage binding ${(l.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB, buffer ${(l.maxBufferSize / 2 ** 20).toFixed(0)} MiB, workgroup ≤ ${l.maxComputeInvocationsPerWorkgroup} invocations, ${l.maxComputeWorkgroupStorageSize} B shared`);
    }
    ctx.out(`cpu:      ${report.cpu.threads} worker threads of ${report.cpu.cores} cores, ${report.cpu.memoryGiB} GiB memory (WASM SIMD)`);
    const thp = transparentHugePages();
    ctx.out(`pages:    ${report.cpu.hugePages === true ? `huge pages asked for on memories of ${HUGE_PAGES_MIN_BYTES / 1024} KiB or more${thp ? ` (the kernel's setting: ${thp})` : ''}` : `the kernel's default (${report.cpu.hugePages})`}`);
    const pc = report.programCache;
    ctx.out(`programs: ${pc.directory === null ? 'no cache (LAZYLINALG_PROGRAM_CACHE=0)' : `${pc.directory}, ${pc.entries} kept (${(pc.bytes / 2 ** 20).toFixed(1)} MiB)`}`);
  },
};

/** true where large memories ask for huge pages, else why not (LAZYLINALG_HUGEPAGES, the native helper). */
function hugePagesReport(): true | string {
  const status = hugePagesStatus();
  return status.on ? true : status.reason;
}

/** Linux's transparent huge page setting (always, madvise or never), where it can be read. */
function transparentHugePages(): string | undefined {
  try {
    return /\[(\w+)\]/.exec(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** Where assembled programs are kept (LAZYLINALG_PROGRAM_CACHE; a bad value is an error naming it) and what is there. */
function programCacheReport(): { directory: string | null; entries: number; bytes: number } {
  const directory = programCacheDirectory(process.env['LAZYLINALG_PROGRAM_CACHE'], (name) => process.env[name]);
  return directory === undefined ? { directory: null, entries: 0, bytes: 0 } : { directory, ...programCacheContents(directory) };
}
