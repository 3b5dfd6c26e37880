/** Installs the change triggers of `src/local/sql/realtime_local.sql` (local backend only). */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { inTransaction } from '../dbClient.js';
import { RealtimeError } from './errors.js';
import { LOCAL_SQL_DIR } from '../paths.js';

const SQL_FILE = 'realtime_local.sql';

/** In the local SQL folder of the repository or packaged app. */
function candidates(): string[] {
  return [join(LOCAL_SQL_DIR, SQL_FILE)];
}

export async function readRealtimeSql(path?: string): Promise<string> {
  const paths = path ? [path] : candidates();
  for (const p of paths) {
    try {
      return await readFile(p, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  throw new RealtimeError('invalid_request', `${SQL_FILE} not found (looked in ${paths.join(', ')})`);
}

/**
 * Runs the script in one transaction: a row trigger that announces changes on
 * `realtime_changes` for every table of the publication `supabase_realtime`.
 * Idempotent; run it after the migrations (and again after changing the
 * publication, where the connection is not a superuser's).
 */
export async function installRealtimeTriggers(pool: pg.Pool, sqlPath?: string): Promise<void> {
  const sql = await readRealtimeSql(sqlPath);
  try {
    await inTransaction(pool, async (client) => {
      await client.query(sql);
    });
  } catch (err) {
    throw new RealtimeError('database_error', `installing the realtime triggers failed: ${(err as Error).message}`);
  }
}
