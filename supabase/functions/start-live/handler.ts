/**
 * start-live: puts the caller's stream on air. Reuses the stream that is already live (the app
 * restarted) or idle (prepared backstage), else creates one; provisions the ingest — a Cloudflare
 * Stream live input when its secrets are set, the local RTMP server otherwise — and stores the
 * stream key where only the host can read it. The local playback URL names the stream's random
 * playback id, never its key. The choice of stream and going live are two database functions
 * under one per-host lock (claim_stream_for_live, go_live): parallel calls share one stream and
 * one key, and an end-live that lands in between wins (409 stream_ended). A Cloudflare live input
 * is made by one call: the first to find none reserves it in the database, the others wait until
 * it is stored and answer the same input (see the live_input_reservations migration); a waiting
 * call whose stream ends meanwhile answers 409 as well. An input is deleted only when the stream
 * is known not to publish to it: when go_live's answer is lost, the stored input is kept.
 */
import { LIMITS, takeSlot } from '../_shared/rateLimit.ts';
import { z } from 'zod';
import { createLiveInput, deleteLiveInput } from '../_shared/cloudflare.ts';
import {
  type CloudflareStreamConfig,
  cloudflareStreamConfig,
  type Env,
  type LocalIngestConfig,
  localIngestConfig,
} from '../_shared/config.ts';
import type { PostgrestError } from '@supabase/supabase-js';
import { maybe, must } from '../_shared/db.ts';
import { ConflictError, NotFoundError } from '../_shared/errors.ts';
import type { FunctionDeps } from '../_shared/deps.ts';
import { createFunction, type Handler } from '../_shared/http.ts';
import { displayName, recordEvent } from '../_shared/streams.ts';
import type { IngestInfo, StreamIngestRow, StreamRow } from '../_shared/types.ts';

export const MAX_TITLE_LENGTH = 120;
/** How often a call waiting for another call's live input asks the database again. */
export const LIVE_INPUT_POLL_MS = 200;
/**
 * How long a call waits for another call's live input. The database hands a reservation on once
 * it is 30 s old (its call died or hangs), so the waiter normally gets the input or the
 * reservation well before this.
 */
export const LIVE_INPUT_WAIT_MS = 40_000;

export const startLiveBody = z.strictObject({
  title: z
    .string({ error: 'title must be a string' })
    .trim()
    .min(1, 'title must not be empty')
    .max(MAX_TITLE_LENGTH, `title must be at most ${MAX_TITLE_LENGTH} characters`)
    .optional(),
});

export interface StartLiveResult {
  stream: StreamRow;
  ingest: IngestInfo;
  playbackUrl: string | null;
  /** The stream was live before this call (another studio of the host's, or one that closed without ending it). */
  resumed: boolean;
}

/** A url-safe random token (stream keys, playback ids): 144 bits of randomness. */
export function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function publishUrl(rtmpUrl: string, streamKey: string): string {
  return rtmpUrl.endsWith('/') ? `${rtmpUrl}${streamKey}` : `${rtmpUrl}/${streamKey}`;
}

/** The local playback URL of a playback id (`{id}` in the template); never built from a stream key. */
export function localPlaybackUrl(template: string | null, playbackId: string): string | null {
  return template ? template.replaceAll('{id}', encodeURIComponent(playbackId)) : null;
}

function defaultTitle(name: string | null): string {
  return name ? `${name} is live` : 'Live now';
}

type IngestTarget =
  | { provider: 'cloudflare'; cfg: CloudflareStreamConfig }
  | { provider: 'local'; cfg: LocalIngestConfig };

/** Cloudflare Stream when its secrets are set, else the local RTMP server. */
export function ingestTarget(env: Env): IngestTarget {
  const cloudflare = cloudflareStreamConfig(env);
  return cloudflare ? { provider: 'cloudflare', cfg: cloudflare } : { provider: 'local', cfg: localIngestConfig(env) };
}

interface Provisioned {
  ingest: IngestInfo;
  playbackId: string | null;
  liveInputId: string | null;
  playbackUrl: string | null;
  /** A Cloudflare live input made by this call (not yet stored for the stream). */
  created: boolean;
}

/** What claim_stream_for_live answers. */
interface Claimed {
  stream: StreamRow;
  ingest: StreamIngestRow | null;
  /** Set when this call is to make the stream's Cloudflare live input. */
  reservation: string | null;
  /** Another call is making the stream's Cloudflare live input. */
  pending: boolean;
}

function cloudflareIngest(row: StreamIngestRow): IngestInfo {
  return { provider: 'cloudflare', rtmpUrl: row.rtmp_url, streamKey: row.stream_key, publishUrl: publishUrl(row.rtmp_url, row.stream_key) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The ingest for `stream`: the local one claimed with it, or Cloudflare's (reused when the stream has one). */
async function provision(
  target: IngestTarget,
  stream: StreamRow,
  existing: StreamIngestRow | null,
  title: string,
  fetchFn: typeof fetch,
  /** Runs just before a new Stream live input is made (what spends the account): the per-host limit. */
  beforeCreate: () => Promise<void>,
): Promise<Provisioned> {
  if (target.provider === 'local') {
    // claim_stream_for_live stored the key and playback id (kept across calls); the local
    // server's address may change between runs, so its current URL is used.
    if (!existing?.playback_id) throw new ConflictError('The stream has no local ingest yet: try again');
    const streamKey = existing.stream_key;
    return {
      ingest: { provider: 'local', rtmpUrl: target.cfg.rtmpUrl, streamKey, publishUrl: publishUrl(target.cfg.rtmpUrl, streamKey) },
      playbackId: existing.playback_id,
      liveInputId: null,
      playbackUrl: localPlaybackUrl(target.cfg.playbackUrlTemplate, existing.playback_id),
      created: false,
    };
  }
  if (existing && stream.live_input_id) {
    return { ingest: cloudflareIngest(existing), playbackId: null, liveInputId: stream.live_input_id, playbackUrl: stream.playback_url, created: false };
  }
  await beforeCreate();
  const input = await createLiveInput(fetchFn, target.cfg, title);
  return {
    ingest: { provider: 'cloudflare', rtmpUrl: input.rtmpsUrl, streamKey: input.streamKey, publishUrl: publishUrl(input.rtmpsUrl, input.streamKey) },
    playbackId: null,
    liveInputId: input.uid,
    playbackUrl: input.playbackUrl,
    created: true,
  };
}

/** An RPC's data; the refusals of claim_stream_for_live and go_live (by hint) as 409 and 404. */
function rpcData<T>(result: { data: T | null; error: PostgrestError | null }, action: string): T {
  const { error } = result;
  if (error?.hint === 'stream_ended' || error?.hint === 'already_live') throw new ConflictError(error.message);
  if (error?.hint === 'stream_not_found') throw new NotFoundError(error.message);
  return must(result, action);
}

export function createStartLiveHandler(deps: FunctionDeps): Handler {
  return createFunction(deps, {
    name: 'start-live',
    body: startLiveBody,
    run: async ({ body, user, db, admin, env, fetch, now, log }): Promise<StartLiveResult> => {
      const target = ingestTarget(env);
      const provider = target.provider;
      const name = await displayName(db, user.id);

      const claim = async () =>
        rpcData<Claimed>(
          await admin().rpc('claim_stream_for_live', {
            p_host_id: user.id,
            p_title: body.title ?? defaultTitle(name),
            p_provider: provider,
            ...(target.provider === 'local'
              ? { p_rtmp_url: target.cfg.rtmpUrl, p_stream_key: randomToken(), p_playback_id: randomToken() }
              : {}),
          }),
          'choose the stream to put live',
        );
      // Whether a stream has ended (a claim may pick another stream for other reasons: a newer idle one).
      const streamEnded = async (streamId: string): Promise<boolean> => {
        const row = maybe<{ status: string }>(await admin().from('streams').select('status').eq('id', streamId).maybeSingle(), 'read the stream');
        return row === null || row.status === 'ended';
      };
      // While another call makes the stream's Cloudflare live input, wait until go_live has stored
      // it (this call then answers the same input), or until its reservation passes to this call.
      let claimed = await claim();
      // A call that cannot make or store its input gives its reservation up at once, so a waiting
      // call makes one instead of waiting for the reservation to be abandoned.
      const release = async () => {
        if (!claimed.reservation) return;
        const { error } = await admin().rpc('release_live_input_reservation', { p_stream_id: claimed.stream.id, p_token: claimed.reservation });
        if (error) log(`could not release the live input reservation of stream ${claimed.stream.id}: ${error.message}`);
      };
      const waitedFor = claimed.stream.id;
      if (claimed.pending) log(`stream ${waitedFor}: waiting for another start-live's live input`);
      const waitUntil = Date.now() + LIVE_INPUT_WAIT_MS;
      while (claimed.pending) {
        if (Date.now() >= waitUntil) throw new ConflictError("Another start-live is still making the stream's live input: try again");
        await sleep(LIVE_INPUT_POLL_MS);
        claimed = await claim();
        if (claimed.stream.id !== waitedFor && (await streamEnded(waitedFor))) {
          // The stream this call waited for ended meanwhile (the claim then picked another): the
          // end-live wins, as it does over a call that claimed the stream before it ended. The
          // other stream stays idle for the next start-live.
          await release();
          throw new ConflictError('This stream has ended');
        }
      }

      // A live input nobody will publish to is deleted; failing that, it is only logged, since the
      // caller's answer does not depend on it.
      const discard = async (uid: string) => {
        if (target.provider !== 'cloudflare') return;
        await deleteLiveInput(fetch, target.cfg, uid).catch((err: Error) => log(`could not delete unused live input ${uid}: ${err.message}`));
      };

      // Whether `uid` is the live input stored for the stream. When that cannot be read, it is
      // taken for stored: an input left unused costs less than the stream's own input deleted.
      const isStored = async (streamId: string, uid: string): Promise<boolean> => {
        const { data, error } = await admin().from('streams').select('live_input_id').eq('id', streamId).maybeSingle();
        if (error) {
          log(`could not read the live input of stream ${streamId}, so ${uid} is kept: ${error.message}`);
          return true;
        }
        return (data as { live_input_id: string | null } | null)?.live_input_id === uid;
      };

      const title = body.title ?? (claimed.stream.title || defaultTitle(name));
      let provisioned: Provisioned;
      try {
        // A new Stream live input spends the account's quota: a host makes so many a while (a show resumed makes none).
        provisioned = await provision(target, claimed.stream, claimed.ingest, title, fetch, () => takeSlot(admin(), user.id, LIMITS.startLive, log));
      } catch (err) {
        await release();
        throw err;
      }

      let live: { stream: StreamRow; ingest: StreamIngestRow | null; started: boolean };
      try {
        live = rpcData<{ stream: StreamRow; ingest: StreamIngestRow | null; started: boolean }>(
          await admin().rpc('go_live', {
            p_stream_id: claimed.stream.id,
            p_host_id: user.id,
            p_title: title,
            p_provider: provider,
            p_rtmp_url: provisioned.ingest.rtmpUrl,
            p_stream_key: provisioned.ingest.streamKey,
            p_playback_id: provisioned.playbackId,
            p_live_input_id: provisioned.liveInputId,
            p_playback_url: provisioned.playbackUrl,
            p_started_at: now.toISOString(),
          }),
          'put the stream live',
        );
      } catch (err) {
        // The stream ended meanwhile (409), or the database failed: the new input is of no use,
        // unless go_live stored it all the same (its answer was lost after the commit): then the
        // stream publishes to it, and the next start-live answers it.
        if (provisioned.created && provisioned.liveInputId && !(await isStored(claimed.stream.id, provisioned.liveInputId))) {
          await discard(provisioned.liveInputId);
        }
        await release();
        throw err;
      }
      const { stream, started } = live;

      let { ingest, playbackUrl } = provisioned;
      if (provisioned.created && provisioned.liveInputId && stream.live_input_id !== provisioned.liveInputId && live.ingest) {
        // Another call's input was stored first (this call's reservation had been handed on as
        // abandoned): both callers publish to that one, and this call's input goes.
        await discard(provisioned.liveInputId);
        ingest = cloudflareIngest(live.ingest);
        playbackUrl = stream.playback_url;
      }

      if (started) {
        await recordEvent(
          admin(),
          { streamId: stream.id, userId: user.id, actorId: user.id, type: 'stream_started', displayName: name, metadata: { provider } },
          log,
        );
      }
      return { stream, ingest, playbackUrl, resumed: !started };
    },
  });
}
