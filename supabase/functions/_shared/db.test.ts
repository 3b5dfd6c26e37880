// deno test supabase/functions/_shared/
import assert from 'node:assert/strict';
import type { PostgrestError } from '@supabase/supabase-js';
import { databaseError } from './db.ts';

const pgError = (code: string, message: string): PostgrestError => ({ code, message, details: '', hint: '', name: 'PostgrestError' }) as PostgrestError;

Deno.test("a database function's not-found and rule refusals keep their status and message", () => {
  const missing = databaseError('end the stream', pgError('PT404', 'Stream not found'));
  assert.equal(missing.status, 404);
  assert.equal(missing.message, 'Stream not found');
  const ended = databaseError('end the stream', pgError('P0001', 'This stream has ended'));
  assert.equal(ended.status, 409);
  assert.equal(ended.message, 'This stream has ended');
  assert.equal(databaseError('read the stream', pgError('XX000', 'boom')).status, 500);
});
