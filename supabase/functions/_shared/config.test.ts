// deno test supabase/functions/_shared/
import assert from 'node:assert/strict';
import { callTokenSigningSecret, cloudflareStreamConfig, supabaseConfig } from './config.ts';
import { errorResponse } from './errors.ts';

/** The answer a function gives when `fn` throws, as errorResponse makes it. */
async function answer(fn: () => unknown): Promise<{ status: number; body: unknown }> {
  try {
    fn();
  } catch (err) {
    const res = errorResponse(err, () => {});
    return { status: res.status, body: await res.json() };
  }
  throw new Error('expected a throw');
}

Deno.test('a call token secret too short for HS256 is a 500 that names the setting to fix', async () => {
  assert.deepEqual(await answer(() => callTokenSigningSecret({ CALL_TOKEN_SECRET: 'x'.repeat(31) })), {
    status: 500,
    body: { error: 'CALL_TOKEN_SECRET is too short: it needs at least 32 characters' },
  });
  assert.deepEqual(await answer(() => callTokenSigningSecret({ SUPABASE_JWT_SECRET: 'short-jwt-secret' })), {
    status: 500,
    body: {
      error: 'CALL_TOKEN_SECRET is not set and SUPABASE_JWT_SECRET, which stands in for it, is too short: set CALL_TOKEN_SECRET to at least 32 characters',
    },
  });
  const { body } = await answer(() => callTokenSigningSecret({}));
  assert.match((body as { error: string }).error, /set CALL_TOKEN_SECRET \(at least 32 characters\)/);
  assert.equal(callTokenSigningSecret({ CALL_TOKEN_SECRET: 'x'.repeat(32), SUPABASE_JWT_SECRET: 'short' }), 'x'.repeat(32));
});

Deno.test('a URL setting without its scheme is a 500 that names it, not a failure inside a client', async () => {
  const keys = { SUPABASE_ANON_KEY: 'anon', SUPABASE_SERVICE_ROLE_KEY: 'service' };
  assert.deepEqual(await answer(() => supabaseConfig({ ...keys, SUPABASE_URL: 'project.supabase.co' })), {
    status: 500,
    body: { error: 'SUPABASE_URL must be an http:// or https:// URL' },
  });
  assert.equal(supabaseConfig({ ...keys, SUPABASE_URL: 'https://project.supabase.co/' }).url, 'https://project.supabase.co');
  const stream = { CLOUDFLARE_ACCOUNT_ID: 'acc', CLOUDFLARE_STREAM_API_TOKEN: 'tok', CLOUDFLARE_STREAM_CUSTOMER_CODE: 'cust' };
  assert.deepEqual(await answer(() => cloudflareStreamConfig({ ...stream, CLOUDFLARE_API_BASE: 'ftp://api.cloudflare.com' })), {
    status: 500,
    body: { error: 'CLOUDFLARE_API_BASE must be an http:// or https:// URL' },
  });
  assert.equal(cloudflareStreamConfig(stream)?.apiBase, 'https://api.cloudflare.com/client/v4');
});
