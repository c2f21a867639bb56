// Progress of a long wait (Hetzner actions, servers starting, SSH and cloud-init on new nodes, a
// guest powering off): a line every few seconds saying what is still awaited and for how long, so
// a quiet terminal is never mistaken for a hung one.

export type ProgressOptions = {
  log: (line: string) => void;
  /** At most one line per this many ms (INFRA_PROGRESS_S; 0: every poll). */
  everyMs: number;
  now?: () => number;
};

export class Progress {
  private readonly started: number;
  private last: number;
  private readonly now: () => number;

  constructor(
    private readonly options: ProgressOptions,
    private readonly what: string,
  ) {
    this.now = options.now ?? Date.now;
    this.started = this.now();
    this.last = this.started;
  }

  /** Called on every poll; prints `… <what>: <detail> (N s)` when the interval has passed. */
  tick(detail: string): void {
    const now = this.now();
    if (now - this.last < this.options.everyMs) return;
    this.last = now;
    this.options.log(`… ${this.what}: ${detail} (${Math.round((now - this.started) / 1000)} s)`);
  }
}

/** A Progress, or one that prints nothing when no options are given (library callers, unit tests). */
export const progress = (options: ProgressOptions | undefined, what: string): Pick<Progress, "tick"> => (options ? new Progress(options, what) : { tick: () => {} });
