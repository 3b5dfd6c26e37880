/**
 * start-live: puts the caller's stream on air. Reuses the stream that is already live (the app
 * restarted) or idle (prepared backstage), else creates one; provisions the ingest — a Cloudflare
 * Stream live input when its secrets are set, the local RTMP server otherwise — and stores the
 * stream key where only the host can read it.
 */
import { z } from 'zod';
import { createLiveInput } from '../_shared/cloudflare.ts';
import {
  type CloudflareStreamConfig,
  cloudflareStreamConfig,
  type Env,
  type LocalIngestConfig,
  localIngestConfig,
} from '../_shared/config.ts';
import { maybe, must } from '../_shared/db.ts';
import type { FunctionDeps } from '../_shared/deps.ts';
import { createFunction, type Handler } from '../_shared/http.ts';
import { displayName, recordEvent } from '../_shared/streams.ts';
import type { IngestInfo, StreamIngestRow, StreamRow } from '../_shared/types.ts';

export const MAX_TITLE_LENGTH = 120;

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
}

/** A url-safe random stream key: 144 bits of randomness. */
export function randomStreamKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function publishUrl(rtmpUrl: string, streamKey: string): string {
  return rtmpUrl.endsWith('/') ? `${rtmpUrl}${streamKey}` : `${rtmpUrl}/${streamKey}`;
}

export function localPlaybackUrl(template: string | null, streamKey: string): string | null {
  return template ? template.replaceAll('{key}', encodeURIComponent(streamKey)) : null;
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
  liveInputId: string | null;
  playbackUrl: string | null;
}

/** The ingest for `stream`, reusing `existing` (same provider) so the encoder keeps its key. */
async function provision(
  target: IngestTarget,
  stream: StreamRow,
  existing: StreamIngestRow | null,
  title: string,
  fetchFn: typeof fetch,
): Promise<Provisioned> {
  if (target.provider === 'local') {
    // The local server's address may change between runs; only the key is kept.
    const streamKey = existing?.stream_key ?? randomStreamKey();
    return {
      ingest: { provider: 'local', rtmpUrl: target.cfg.rtmpUrl, streamKey, publishUrl: publishUrl(target.cfg.rtmpUrl, streamKey) },
      liveInputId: null,
      playbackUrl: localPlaybackUrl(target.cfg.playbackUrlTemplate, streamKey),
    };
  }
  if (existing && stream.live_input_id) {
    return {
      ingest: {
        provider: 'cloudflare',
        rtmpUrl: existing.rtmp_url,
        streamKey: existing.stream_key,
        publishUrl: publishUrl(existing.rtmp_url, existing.stream_key),
      },
      liveInputId: stream.live_input_id,
      playbackUrl: stream.playback_url,
    };
  }
  const input = await createLiveInput(fetchFn, target.cfg, title);
  return {
    ingest: { provider: 'cloudflare', rtmpUrl: input.rtmpsUrl, streamKey: input.streamKey, publishUrl: publishUrl(input.rtmpsUrl, input.streamKey) },
    liveInputId: input.uid,
    playbackUrl: input.playbackUrl,
  };
}

export function createStartLiveHandler(deps: FunctionDeps): Handler {
  return createFunction(deps, {
    name: 'start-live',
    body: startLiveBody,
    run: async ({ body, user, db, admin, env, fetch, now, log }): Promise<StartLiveResult> => {
      const target = ingestTarget(env);
      const provider = target.provider;
      const name = await displayName(db, user.id);

      const open = must<StreamRow[]>(
        await db
          .from('streams')
          .select('*')
          .eq('host_id', user.id)
          .in('status', ['live', 'idle'])
          .order('created_at', { ascending: false })
          .limit(20),
        'read your streams',
      );
      let stream = open.find((s) => s.status === 'live') ?? open.find((s) => s.status === 'idle') ?? null;
      const title = body.title ?? (stream?.title || defaultTitle(name));

      if (!stream) {
        stream = must<StreamRow>(
          await admin()
            .from('streams')
            .insert({ host_id: user.id, title, status: 'idle', ingest_provider: provider })
            .select('*')
            .single(),
          'create the stream',
        );
      }

      // Reuse the stream's ingest when it was made by the same provider: the encoder keeps its key.
      const existing =
        stream.ingest_provider === provider
          ? maybe<StreamIngestRow>(
              await db.from('stream_ingests').select('*').eq('stream_id', stream.id).maybeSingle(),
              'read the stream ingest',
            )
          : null;

      const provisioned = await provision(target, stream, existing, title, fetch);

      must(
        await admin()
          .from('stream_ingests')
          .upsert(
            { stream_id: stream.id, rtmp_url: provisioned.ingest.rtmpUrl, stream_key: provisioned.ingest.streamKey },
            { onConflict: 'stream_id' },
          )
          .select('stream_id')
          .single(),
        'store the stream ingest',
      );

      const wasLive = stream.status === 'live';
      stream = must<StreamRow>(
        await admin()
          .from('streams')
          .update({
            title,
            status: 'live',
            ingest_provider: provider,
            live_input_id: provisioned.liveInputId,
            playback_url: provisioned.playbackUrl,
            started_at: wasLive && stream.started_at ? stream.started_at : now.toISOString(),
            ended_at: null,
          })
          .eq('id', stream.id)
          .select('*')
          .single(),
        'put the stream live',
      );

      if (!wasLive) {
        await recordEvent(
          admin(),
          { streamId: stream.id, userId: user.id, actorId: user.id, type: 'stream_started', displayName: name, metadata: { provider } },
          log,
        );
      }
      return { stream, ingest: provisioned.ingest, playbackUrl: provisioned.playbackUrl };
    },
  });
}
