/**
 * A setting changed many times in a row (a slider dragged) sent one request at
 * a time: a value given while a request is under way waits, and a newer one
 * replaces it. The last value given is the last one
 * sent, so the stored setting ends where the control stopped, whatever order
 * concurrent requests would have landed in. Each key (a guest) has its own
 * queue.
 */
export function latestOnly<K, T>(send: (key: K, value: T) => Promise<void>): (key: K, value: T) => Promise<void> {
  const queues = new Map<K, { next: { value: T; done: Array<(error?: unknown) => void> } | null }>();
  return (key, value) =>
    new Promise<void>((resolve, reject) => {
      const settle = (error?: unknown) => (error === undefined ? resolve() : reject(error));
      const queue = queues.get(key);
      if (queue) {
        // Replaces a value still waiting: its callers learn the outcome of the newer one.
        if (queue.next) {
          queue.next.value = value;
          queue.next.done.push(settle);
        } else queue.next = { value, done: [settle] };
        return;
      }
      const run = (v: T, done: Array<(error?: unknown) => void>) => {
        const entry = queues.get(key)!;
        void send(key, v).then(
          () => done.forEach((d) => d()),
          (error: unknown) => done.forEach((d) => d(error ?? new Error('request failed'))),
        ).finally(() => {
          const next = entry.next;
          entry.next = null;
          if (next) run(next.value, next.done);
          else queues.delete(key);
        });
      };
      queues.set(key, { next: null });
      run(value, [settle]);
    });
}
