/**
 * TURN credentials handed out with call tokens (table call_turn_credentials): recorded when
 * generate-call-token issues them, revoked at Cloudflare when the participant is removed, the
 * call ends or the stream goes off air. They last 24 h (see ICE_CREDENTIALS_TTL_SECONDS), so a
 * guest who was removed would otherwise keep relaying through the account's TURN service.
 */
import type { SupabaseClient } from '@supabase/supabase-js';
import { revokeTurnCredential } from './cloudflare.ts';
import type { CloudflareTurnConfig } from './config.ts';
import { maybe } from './db.ts';
import type { IceServer } from './types.ts';

type Fetch = typeof fetch;

export interface IssuedTo {
  callSessionId: string;
  streamId: string;
  userId: string;
}

/** Records the usernames of the TURN entries of `iceServers` (STUN entries have none). */
export async function recordTurnCredentials(admin: SupabaseClient, iceServers: readonly IceServer[], to: IssuedTo, expiresAt: Date): Promise<number> {
  const usernames = [...new Set(iceServers.map((s) => s.username).filter((u): u is string => typeof u === 'string' && u.length > 0))];
  if (usernames.length === 0) return 0;
  // A username seen before (an answer that repeats one) is kept as first recorded.
  const { error } = await admin.from('call_turn_credentials').upsert(
    usernames.map((username) => ({
      username,
      call_session_id: to.callSessionId,
      stream_id: to.streamId,
      user_id: to.userId,
      expires_at: expiresAt.toISOString(),
    })),
    { onConflict: 'username', ignoreDuplicates: true },
  );
  if (error) throw new Error(`could not record the TURN credentials: ${error.message}`);
  return usernames.length;
}

export interface RevokeWhich {
  /** The call sessions whose credentials go. */
  callSessionIds: readonly string[];
  /** Only this participant's; every participant's when absent. */
  userId?: string;
  /** Only those issued before this time (ISO). */
  issuedBefore?: string;
}

export interface RevokeOutcome {
  revoked: number;
  /** Credentials the service would not revoke (they stay recorded as open, for a later try). */
  failed: number;
}

/**
 * Revokes the open (not revoked, not expired) credentials of the sessions, one request each,
 * and marks them revoked. A failure to revoke one is logged and counted, never thrown: the
 * caller's own work (ending a call, a stream) is done whatever the TURN service says.
 */
export async function revokeTurnCredentials(
  admin: SupabaseClient,
  fetchFn: Fetch,
  turn: CloudflareTurnConfig | null,
  which: RevokeWhich,
  now: Date,
  log: (message: string) => void,
): Promise<RevokeOutcome> {
  if (which.callSessionIds.length === 0) return { revoked: 0, failed: 0 };
  let query = admin
    .from('call_turn_credentials')
    .select('username')
    .in('call_session_id', [...which.callSessionIds])
    .is('revoked_at', null)
    .gt('expires_at', now.toISOString());
  if (which.userId) query = query.eq('user_id', which.userId);
  if (which.issuedBefore) query = query.lte('issued_at', which.issuedBefore);
  const rows = maybe<Array<{ username: string }>>(await query, 'read the TURN credentials') ?? [];
  if (rows.length === 0) return { revoked: 0, failed: 0 };
  if (!turn) {
    log(`${rows.length} TURN credential(s) cannot be revoked: the Cloudflare TURN settings are gone; they expire on their own`);
    return { revoked: 0, failed: rows.length };
  }
  let revoked = 0;
  let failed = 0;
  for (const { username } of rows) {
    try {
      await revokeTurnCredential(fetchFn, turn, username);
    } catch (error) {
      failed += 1;
      log(`could not revoke TURN credential ${username.slice(0, 8)}…: ${(error as Error).message}`);
      continue;
    }
    const { error } = await admin.from('call_turn_credentials').update({ revoked_at: now.toISOString() }).eq('username', username);
    if (error) log(`revoked TURN credential ${username.slice(0, 8)}… but could not mark it: ${error.message}`);
    revoked += 1;
  }
  return { revoked, failed };
}
