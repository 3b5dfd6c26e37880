/**
 * How the CPU compositor's tick reads its sources' new frames: all at once
 * (one wait for every source, not one after another), each on its own — a
 * copy that fails or never settles costs only its source's picture this tick
 * (the source keeps the picture it had), never the others'.
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
