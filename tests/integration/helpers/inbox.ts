/** Collects what a callback receives; `next` waits for the next item (or fails after `ms`). */
export function inbox<T>() {
  const items: T[] = [];
  const waiters: Array<(item: T) => void> = [];
  return {
    items,
    push(item: T): void {
      const waiter = waiters.shift();
      if (waiter) waiter(item);
      else items.push(item);
    },
    next(ms = 5000): Promise<T> {
      const ready = items.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`nothing arrived within ${ms} ms`)), ms);
        waiters.push((item) => {
          clearTimeout(timer);
          resolve(item);
        });
      });
    },
  };
}
