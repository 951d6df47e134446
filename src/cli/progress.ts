/**
 * Progress of long work: one live status line on stderr when stderr is a terminal, nothing when it
 * is piped or redirected (or with --quiet), so that scripts get clean output.
 */

export interface Progress {
  /** Replaces the status line (throttled to about 10 updates a second). */
  update(text: string): void;
  /** Clears the status line. */
  done(): void;
}

const SILENT: Progress = { update: () => {}, done: () => {} };

/** A progress line on `stream` if it is a TTY and not `quiet`. */
export function createProgress(quiet: boolean, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (quiet || !stream.isTTY) return SILENT;
  let last = 0;
  let shown = false;
  return {
    update(text) {
      const now = performance.now();
      if (now - last < 100) return;
      last = now;
      shown = true;
      const width = Math.max(20, (stream.columns ?? 80) - 1);
      stream.write(`\r\x1b[K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
    },
    done() {
      if (shown) stream.write('\r\x1b[K');
      shown = false;
    },
  };
}

/** "12.3 s" / "456 ms". */
export function formatMs(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}
