/**
 * How the CPU compositor's tick reads its sources' new frames: all at once
 * (one wait for every source, not one after another), each on its own — a
 * copy that fails or never settles costs only its source's picture (the
 * source keeps the picture it had), never the others', and never the
 * program's timing: the tick waits for its reads at most a frame interval
 * (`SourceReads`), and a slow read finishes in the background.
 */

/** What became of one source's frame: read and used, given up after the timeout, or failed (the error). */
export type FrameReadOutcome = { outcome: 'read' } | { outcome: 'timeout' } | { outcome: 'failed'; error: unknown };

/**
 * Reads every frame with `read` at once and hands each result to `use`; a
 * read that does not settle within `timeoutMs` is given up. Every frame is
 * closed once its read settled or was given up. Never rejects: each source's
 * outcome is in the map.
 */
export async function readFrames<F extends { close(): void }, T>(
  frames: ReadonlyArray<readonly [string, F]>,
  read: (id: string, frame: F) => Promise<T>,
  use: (id: string, result: T, frame: F) => void,
  timeoutMs: number,
): Promise<Map<string, FrameReadOutcome>> {
  const outcomes = new Map<string, FrameReadOutcome>();
  await Promise.all(
    frames.map(async ([id, frame]) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const result = await Promise.race([
          read(id, frame).then((value) => ({ value })),
          new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs))),
        ]);
        if (!result) {
          outcomes.set(id, { outcome: 'timeout' });
          return;
        }
        use(id, result.value, frame);
        outcomes.set(id, { outcome: 'read' });
      } catch (error) {
        outcomes.set(id, { outcome: 'failed', error });
      } finally {
        clearTimeout(timer);
        frame.close();
      }
    }),
  );
  return outcomes;
}

/**
 * Reads that outlive a tick. Each source has at most one read in flight (a
 * newer frame of a source still being read waits for the next tick); a tick
 * waits for the reads it started only up to `waitMs`, then composes with the
 * pictures it has, and a slower read lands whenever it settles (its picture
 * is used then, for the next tick).
 */
export class SourceReads<F extends { close(): void }, T> {
  private readonly reading = new Map<string, Promise<void>>();
  /** Bumped when a source is replaced or removed (see replaced). */
  private readonly versions = new Map<string, number>();

  constructor(
    private readonly read: (id: string, frame: F) => Promise<T>,
    private readonly use: (id: string, result: T, frame: F) => void,
    private readonly timeoutMs: number,
    /** Every read's outcome, when it settles (read, given up, failed). */
    private readonly onOutcome: (id: string, outcome: FrameReadOutcome) => void,
  ) {}

  /** Whether a read of this source is still under way (its next frame waits). */
  busy(id: string): boolean {
    return this.reading.has(id);
  }

  /**
   * The source was replaced (a camera turned off: its avatar is up now) or
   * removed: a read of it still under way lands nowhere, or its picture
   * would cover the new one for good.
   */
  replaced(id: string): void {
    this.versions.set(id, (this.versions.get(id) ?? 0) + 1);
  }

  /** Starts a read of each frame (of sources not busy); resolves once all of them settled, or after `waitMs`. */
  async start(frames: ReadonlyArray<readonly [string, F]>, waitMs: number): Promise<void> {
    const reads = frames.map(([id, frame]) => {
      const version = this.versions.get(id) ?? 0;
      const use = (source: string, result: T, read: F) => {
        if ((this.versions.get(source) ?? 0) === version) this.use(source, result, read);
      };
      const settled = readFrames([[id, frame]], this.read, use, this.timeoutMs)
        .then((outcomes) => {
          for (const [source, outcome] of outcomes) this.onOutcome(source, outcome);
        })
        .finally(() => this.reading.delete(id));
      this.reading.set(id, settled);
      return settled;
    });
    if (reads.length === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(reads), new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
  }
}

/**
 * Each source's frames waiting for the program's clock, oldest first, at most
 * `depth` per source (the oldest is closed when one more comes). A tick takes
 * each source's oldest frame, so two frames that arrive within one tick (a
 * camera's frames bunched up on their way by a busy machine) are shown on two
 * ticks instead of the first being replaced unseen; a source faster than the
 * clock loses its oldest frames, and waits at most `depth` frames.
 */
export class FrameQueues<F extends { close(): void }> {
  private readonly queues = new Map<string, F[]>();

  constructor(private readonly depth = 2) {
    if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`a queue holds at least one frame, got ${depth}`);
  }

  push(id: string, frame: F): void {
    let queue = this.queues.get(id);
    if (!queue) this.queues.set(id, (queue = []));
    queue.push(frame);
    while (queue.length > this.depth) queue.shift()!.close();
  }

  /** Takes the oldest frame of each source that has one, except those `wait` holds back (their frames stay queued). */
  take(wait: (id: string) => boolean = () => false): Array<[string, F]> {
    const taken: Array<[string, F]> = [];
    for (const [id, queue] of this.queues) {
      if (queue.length === 0 || wait(id)) continue;
      taken.push([id, queue.shift()!]);
    }
    return taken;
  }

  /** Closes and forgets the source's frames. */
  drop(id: string): void {
    for (const frame of this.queues.get(id) ?? []) frame.close();
    this.queues.delete(id);
  }

  /** The sources with a queue (empty or not). */
  ids(): string[] {
    return [...this.queues.keys()];
  }

  /** Frames waiting, all sources together. */
  get size(): number {
    let n = 0;
    for (const queue of this.queues.values()) n += queue.length;
    return n;
  }
}
