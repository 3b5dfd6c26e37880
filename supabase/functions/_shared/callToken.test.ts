// deno test supabase/functions/_shared/
import assert from 'node:assert/strict';
import { CALL_TOKEN_AUDIENCE, CallTokenError, signCallToken, verifyCallToken } from './callToken.ts';

const SECRET = 'a-call-token-secret-of-at-least-32-characters';
const subject = {
  userId: '4b0c7a5e-2f9b-4a57-9a59-2c1f1d5c2c11',
  sessionId: '0f6f7e9a-3b1e-4c1f-8e0e-8f4f9b2a7d01',
  streamId: '9d8e2b1c-5a4f-4e3d-9c2b-1a0f9e8d7c6b',
  role: 'guest' as const,
};

Deno.test('a signed call token verifies and carries its claims', async () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const { token, expiresAt } = await signCallToken(subject, SECRET, now);
  assert.equal(expiresAt.toISOString(), '2030-01-01T00:10:00.000Z');
  const claims = await verifyCallToken(token, SECRET, { now, sessionId: subject.sessionId, streamId: subject.streamId });
  assert.deepEqual(claims, {
    sub: subject.userId,
    sid: subject.sessionId,
    stream_id: subject.streamId,
    role: 'guest',
    aud: CALL_TOKEN_AUDIENCE,
    iat: now.getTime() / 1000,
    exp: now.getTime() / 1000 + 600,
  });
});

Deno.test('an expired, forged or misdirected call token is refused', async () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const { token } = await signCallToken(subject, SECRET, now);
  const reason = async (p: Promise<unknown>) => {
    const err = await p.then(() => null, (e: unknown) => e);
    assert.ok(err instanceof CallTokenError);
    return err.reason;
  };
  assert.equal(await reason(verifyCallToken(token, SECRET, { now: new Date('2030-01-01T00:10:01Z') })), 'expired');
  assert.equal(await reason(verifyCallToken(token, `${SECRET}-other`, { now })), 'invalid');
  assert.equal(await reason(verifyCallToken(token, SECRET, { now, sessionId: subject.streamId })), 'invalid');
  assert.equal(await reason(signCallToken(subject, 'short')), 'weak_secret');
});
