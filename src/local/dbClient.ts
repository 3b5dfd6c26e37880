/**
 * Checking out a client of the pool without risking the process. pg-pool
 * listens for a client's errors only while it is idle: a connection that dies
 * while checked out (the server restarted, its backend terminated) would emit
 * an 'error' nobody hears, which ends the process. Every checkout goes
 * through here: the error is heard for the whole checkout and reported on the
 * pool's own 'error' event (which the database's owner logs), and the client
 * is released with it, so the pool drops that connection instead of handing
 * it out again.
 */
import type pg from 'pg';

function sqlState(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

/** Marks the checked-out connection as unusable: it is closed on release, not reused. */
export type Discard = (err: Error) => void;

/** Runs `fn` with a client of the pool, released (or discarded when broken) when `fn` settles. */
export async function withClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient, discard: Discard) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const discard: Discard = (err) => {
    broken ??= err;
  };
  const onError = (err: Error): void => {
    discard(err);
    // Reported as pg-pool reports an idle client's error; with no one listening it is only discarded.
    if (pool.listenerCount('error') > 0) pool.emit('error', err, client);
  };
  client.on('error', onError);
  try {
    return await fn(client, discard);
  } catch (err) {
    // The server said it is closing this connection: never hand it out again.
    if (/^(08|57P)/.test(sqlState(err))) discard(err as Error);
    throw err;
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}

export interface TransactionOptions {
  /** The statement that opens the transaction; default `begin`. */
  begin?: string;
  /** How a transaction whose work succeeded ends; default `commit`. */
  end?: 'commit' | 'rollback';
}

/**
 * Runs `fn` in a transaction on a client of the pool: committed (or rolled
 * back, with `end: 'rollback'`) when `fn` resolves, rolled back when it throws.
 * A connection whose rollback fails is discarded.
 */
export function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
  return withClient(pool, async (client, discard) => {
    await client.query(opts.begin ?? 'begin');
    try {
      const result = await fn(client);
      await client.query(opts.end ?? 'commit');
      return result;
    } catch (err) {
      await client.query('rollback').catch(discard);
      throw err;
    }
  });
}
