/**
 * TURN credentials handed out with call tokens (table call_turn_credentials): recorded when
 * generate-call-token issues them, revoked at Cloudflare when the participant leaves the stage,
 * the call ends or the stream goes off air. They last 24 h (see ICE_CREDENTIALS_TTL_SECONDS), so a
 * guest who was removed would otherwise keep relaying through the account's TURN service.
 */
import type { SupabaseClient } from '@supabase/supabase-js';
import { revokeTurnCredential } from './cloudflare.ts';
import { type CloudflareTurnConfig, cloudflareTurnConfig, type Env } from './config.ts';
import type { IceServer } from './types.ts';

type Fetch = typeof fetch;

/** How long one revocation may take before it counts as failed (ms). */
export const REVOKE_TIMEOUT_MS = 5000;
/** Revocations in flight at once. */
export const REVOKE_CONCURRENCY = 8;
/** Credentials read per page (hosted PostgREST answers at most 1000 rows), and pages at most per call. */
const REVOKE_PAGE = 500;
const REVOKE_MAX_PAGES = 20;

/**
 * The TURN settings for revoking, after the caller's own work is done: settings that no longer
 * hold together are logged (nothing can be revoked then) rather than failing a request whose
 * stream or call has already ended.
 */
export function turnConfigForRevoking(env: Env, log: (message: string) => void): CloudflareTurnConfig | null {
  try {
    return cloudflareTurnConfig(env);
  } catch (error) {
    log(`TURN credentials cannot be revoked: ${(error as Error).message}`);
    return null;
  }
}

export interface IssuedTo {
  callSessionId: string;
  streamId: string;
  userId: string;
}

/** The usernames of the TURN entries of `iceServers` (STUN entries have none). */
export function turnUsernames(iceServers: readonly IceServer[]): string[] {
  return [...new Set(iceServers.map((s) => s.username).filter((u): u is string => typeof u === 'string' && u.length > 0))];
}

/**
 * Records the TURN usernames of `iceServers`, issued at `issuedAt` (the request's time: a
 * participant's credentials count as issued before anything that happens while the request runs).
 */
export async function recordTurnCredentials(
  admin: SupabaseClient,
  iceServers: readonly IceServer[],
  to: IssuedTo,
  issuedAt: Date,
  expiresAt: Date,
): Promise<string[]> {
  const usernames = turnUsernames(iceServers);
  if (usernames.length === 0) return [];
  // A username seen before (an answer that repeats one) is kept as first recorded.
  const { error } = await admin.from('call_turn_credentials').upsert(
    usernames.map((username) => ({
      username,
      call_session_id: to.callSessionId,
      stream_id: to.streamId,
      user_id: to.userId,
      issued_at: issuedAt.toISOString(),
      expires_at: expiresAt.toISOString(),
    })),
    { onConflict: 'username', ignoreDuplicates: true },
  );
  if (error) throw new Error(`could not record the TURN credentials: ${error.message}`);
  return usernames;
}

export interface RevokeWhich {
  /** The call sessions whose credentials go; or, with `streamId`, every call of that stream. */
  callSessionIds?: readonly string[];
  streamId?: string;
  /** Only this participant's; every participant's when absent. */
  userId?: string;
  /** Only those issued before this time (ISO). */
  issuedBefore?: string;
}

export interface RevokeOutcome {
  revoked: number;
  /** Credentials that could not be revoked (they stay recorded as open, for a later try). */
  failed: number;
}

/**
 * Revokes the open (not revoked, not expired) credentials of the sessions and marks them
 * revoked. Never throws: a failure (the TURN service, the database) is logged and counted, since
 * the caller's own work (ending a call, a stream) is done whatever happens here.
 */
export async function revokeTurnCredentials(
  admin: SupabaseClient,
  fetchFn: Fetch,
  turn: CloudflareTurnConfig | null,
  which: RevokeWhich,
  now: Date,
  log: (message: string) => void,
): Promise<RevokeOutcome> {
  if (!which.streamId && (which.callSessionIds ?? []).length === 0) return { revoked: 0, failed: 0 };
  const total: RevokeOutcome = { revoked: 0, failed: 0 };
  // Page by page (a read answers at most REVOKE_PAGE rows): until none is left open, or a page revokes none.
  for (let page = 0; page < REVOKE_MAX_PAGES; page++) {
    let query = admin.from('call_turn_credentials').select('username').is('revoked_at', null).gt('expires_at', now.toISOString());
    query = which.streamId ? query.eq('stream_id', which.streamId) : query.in('call_session_id', [...(which.callSessionIds ?? [])]);
    if (which.userId) query = query.eq('user_id', which.userId);
    if (which.issuedBefore) query = query.lte('issued_at', which.issuedBefore);
    const { data, error } = await query.order('username').limit(REVOKE_PAGE);
    if (error) {
      log(`could not read the TURN credentials to revoke: ${error.message}`);
      return total;
    }
    const usernames = (data as Array<{ username: string }>).map((r) => r.username);
    const outcome = await revokeUsernames(admin, fetchFn, turn, usernames, now, log);
    total.revoked += outcome.revoked;
    total.failed += outcome.failed;
    if (usernames.length < REVOKE_PAGE || outcome.revoked === 0) break;
  }
  await revokeOrphaned(admin, fetchFn, turn, now, log);
  return total;
}

/**
 * Orphaned credentials revoked at most per call of revokeOrphaned: two rounds of
 * REVOKE_CONCURRENCY, so a slow TURN service adds at most 2 x REVOKE_TIMEOUT_MS to the
 * function that sweeps (never generate-call-token: a guest's join does not wait for it).
 */
export const ORPHANS_PER_SWEEP = 2 * REVOKE_CONCURRENCY;
/** A credential whose call, stream or participant was deleted (an account deleted with them). */
const ORPHANED = 'call_session_id.is.null,stream_id.is.null,user_id.is.null';

/**
 * Revokes credentials whose account, stream or call was deleted (their links set to null,
 * migration 20260101001600): nobody ends that call any more, so the functions that end calls sweep
 * a few of them (end-live, end-call-session, create-call-session). Revoked or expired orphans are then forgotten. Never throws (logged); not
 * counted in the caller's outcome, which is about the call it was asked for.
 */
export async function revokeOrphaned(
  admin: SupabaseClient,
  fetchFn: Fetch,
  turn: CloudflareTurnConfig | null,
  now: Date,
  log: (message: string) => void,
): Promise<RevokeOutcome> {
  // Without the TURN settings nothing can be revoked: the orphans wait for them, or expire.
  if (!turn) return { revoked: 0, failed: 0 };
  const { data, error } = await admin
    .from('call_turn_credentials')
    .select('username')
    .or(ORPHANED)
    .is('revoked_at', null)
    .gt('expires_at', now.toISOString())
    // The longest-lived first: those are the ones worth revoking.
    .order('expires_at', { ascending: false })
    .limit(ORPHANS_PER_SWEEP);
  if (error) {
    log(`could not read the TURN credentials of deleted accounts: ${error.message}`);
    return { revoked: 0, failed: 0 };
  }
  const outcome = await revokeUsernames(admin, fetchFn, turn, (data as Array<{ username: string }>).map((r) => r.username), now, log);
  const table = () => admin.from('call_turn_credentials').delete().or(ORPHANED);
  for (const forget of await Promise.all([table().not('revoked_at', 'is', null), table().lte('expires_at', now.toISOString())])) {
    if (forget.error) log(`could not forget the revoked or expired TURN credentials of deleted accounts: ${forget.error.message}`);
  }
  return outcome;
}

/**
 * How many of a participant's latest token requests in one call keep their credentials. Each
 * (re)join makes a new peer connection with the credentials that came with its token, so older
 * ones serve nobody; keeping a few covers a rejoin that overlaps the one before it. Without this,
 * a participant asking for tokens in a loop would hold any number of 24-hour credentials.
 */
export const KEEP_LATEST_REQUESTS = 3;
/** Credentials read at most when looking for superseded ones. */
const SUPERSEDED_READ = 200;

/**
 * Revokes the participant's open credentials in this call that came with requests older than
 * their KEEP_LATEST_REQUESTS latest. Never throws (a failure is logged; the token is still good).
 */
export async function revokeSuperseded(
  admin: SupabaseClient,
  fetchFn: Fetch,
  turn: CloudflareTurnConfig | null,
  to: Pick<IssuedTo, 'callSessionId' | 'userId'>,
  now: Date,
  log: (message: string) => void,
): Promise<RevokeOutcome> {
  const { data, error } = await admin
    .from('call_turn_credentials')
    .select('username, issued_at')
    .eq('call_session_id', to.callSessionId)
    .eq('user_id', to.userId)
    .is('revoked_at', null)
    .gt('expires_at', now.toISOString())
    .order('issued_at', { ascending: false })
    .order('username')
    .limit(SUPERSEDED_READ);
  if (error) {
    log(`could not read the TURN credentials a new token supersedes: ${error.message}`);
    return { revoked: 0, failed: 0 };
  }
  const rows = data as Array<{ username: string; issued_at: string }>;
  // One request's credentials share its time: the latest KEEP_LATEST_REQUESTS times stay.
  const kept = new Set<number>();
  for (const row of rows) {
    if (kept.size >= KEEP_LATEST_REQUESTS) break;
    kept.add(Date.parse(row.issued_at));
  }
  const superseded = rows.filter((r) => !kept.has(Date.parse(r.issued_at))).map((r) => r.username);
  return revokeUsernames(admin, fetchFn, turn, superseded, now, log);
}

/** Revokes these credentials, REVOKE_CONCURRENCY at a time, each within REVOKE_TIMEOUT_MS; never throws. */
export async function revokeUsernames(
  admin: SupabaseClient,
  fetchFn: Fetch,
  turn: CloudflareTurnConfig | null,
  usernames: readonly string[],
  now: Date,
  log: (message: string) => void,
): Promise<RevokeOutcome> {
  if (usernames.length === 0) return { revoked: 0, failed: 0 };
  if (!turn) {
    log(`${usernames.length} TURN credential(s) cannot be revoked: the Cloudflare TURN settings are gone; they expire on their own`);
    return { revoked: 0, failed: usernames.length };
  }
  const timed: Fetch = (input, init) => fetchFn(input, { ...init, signal: AbortSignal.timeout(REVOKE_TIMEOUT_MS) });
  const outcome: RevokeOutcome = { revoked: 0, failed: 0 };
  const revokeOne = async (username: string) => {
    try {
      await revokeTurnCredential(timed, turn, username);
    } catch (error) {
      outcome.failed += 1;
      log(`could not revoke TURN credential ${username.slice(0, 8)}…: ${(error as Error).message}`);
      return;
    }
    outcome.revoked += 1;
    const { error } = await admin.from('call_turn_credentials').update({ revoked_at: now.toISOString() }).eq('username', username);
    if (error) log(`revoked TURN credential ${username.slice(0, 8)}… but could not mark it: ${error.message}`);
  };
  for (let i = 0; i < usernames.length; i += REVOKE_CONCURRENCY) {
    await Promise.all(usernames.slice(i, i + REVOKE_CONCURRENCY).map(revokeOne));
  }
  return outcome;
}
