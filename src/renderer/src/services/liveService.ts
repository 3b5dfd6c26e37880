/** Going live and off air (edge functions start-live / end-live) and the stream row itself. */
import type { SupabaseClient } from '@supabase/supabase-js';
import type { StreamRow } from '../../../shared/domain';
import { type BackendError, functionError, toBackendError } from './errors';
import { requireUuid, watchTable, type Unsubscribe } from './realtime';
import { loadConfig } from '../config';
import { pageMethod, pageService } from './supabase';

export interface IngestInfo {
  provider: 'local' | 'cloudflare';
  rtmpUrl: string;
  streamKey: string;
  publishUrl: string;
}

export interface StartLiveResult {
  stream: StreamRow;
  ingest: IngestInfo;
  playbackUrl: string | null;
  /** The stream was live before this Go live: another studio of the host's, or one that closed without ending it. */
  resumed?: boolean;
}

export interface LiveService {
  /** Creates (or resumes) the caller's live stream and returns where to publish. */
  startLive(title?: string): Promise<StartLiveResult>;
  /** Takes the stream off air: closes its seats, cancels open invitations, ends its calls. Host only. */
  endLive(streamId: string): Promise<StreamRow>;
  /** The stream, or null when there is none with that id. */
  getStream(streamId: string): Promise<StreamRow | null>;
  /** The host's streams that are live now, newest first (one, unless the database was changed by hand). */
  listLiveStreams(hostId: string): Promise<StreamRow[]>;
  /** Changes of the stream row (status, locked seats, playback URL). */
  /** With `onUnavailable`, live updates that cannot start are said and tried again, instead of rejecting (see watchTable). */
  subscribeStream(streamId: string, onChange: (row: StreamRow) => void, onRejoin?: () => void, onUnavailable?: (err: BackendError) => void): Promise<Unsubscribe>;
  /**
   * Prepares, while the page lives, the end of the stream for the moment the
   * page goes away (a closed tab or window, a reload): `fire` sends end-live
   * as a request the browser completes after the page is gone (keepalive),
   * with the session's current token. Nothing async is left for that moment.
   */
  prepareEndOnUnload(streamId: string): Promise<UnloadEnder>;
}

export interface UnloadEnder {
  /** Sends end-live now (once). */
  fire(): void;
  /** Stops following the session's token. */
  dispose(): void;
}

export function createLiveService(client: SupabaseClient, functionsUrl?: string, anonKey?: string): LiveService {
  return {
    async startLive(title) {
      const { data, error } = await client.functions.invoke<StartLiveResult>('start-live', { body: title === undefined ? {} : { title } });
      if (error || !data) throw await functionError('Could not go live', error);
      return data;
    },

    async endLive(streamId) {
      const { data, error } = await client.functions.invoke<{ stream: StreamRow }>('end-live', { body: { streamId } });
      if (error || !data) throw await functionError('Could not end the stream', error, { 403: 'not_host', 404: 'stream_not_found' });
      return data.stream;
    },

    async getStream(streamId) {
      const { data, error } = await client.from('streams').select('*').eq('id', streamId).maybeSingle();
      if (error) throw toBackendError('Could not load the stream', error);
      return (data as StreamRow | null) ?? null;
    },

    async listLiveStreams(hostId) {
      requireUuid(hostId, 'host id');
      const { data, error } = await client.from('streams').select('*').eq('host_id', hostId).eq('status', 'live').order('started_at', { ascending: false });
      if (error) throw toBackendError('Could not look for your live streams', error);
      return (data as StreamRow[] | null) ?? [];
    },

    async prepareEndOnUnload(streamId) {
      requireUuid(streamId, 'stream id');
      if (!functionsUrl || !anonKey) throw new Error('ending the stream as the page goes away needs the functions URL and the anon key');
      let token = (await client.auth.getSession()).data.session?.access_token ?? null;
      const { data } = client.auth.onAuthStateChange((_event, session) => {
        token = session?.access_token ?? null;
      });
      let fired = false;
      return {
        fire() {
          if (fired || !token) return;
          fired = true;
          void fetch(`${functionsUrl}/end-live`, {
            method: 'POST',
            keepalive: true,
            headers: { Authorization: `Bearer ${token}`, apikey: anonKey, 'Content-Type': 'application/json' },
            body: JSON.stringify({ streamId }),
          }).catch(() => undefined);
        },
        dispose() {
          data.subscription.unsubscribe();
        },
      };
    },

    subscribeStream: async (streamId, onChange, onRejoin, onUnavailable) =>
      watchTable(client, 'stream', {
        table: 'streams',
        filter: `id=eq.${requireUuid(streamId, 'stream id')}`,
        events: ['UPDATE'],
        onRow: onChange,
        ...(onUnavailable ? { onUnavailable } : {}),
        ...(onRejoin ? { onRejoin } : {}),
      }),
  };
}

// The client was made from this config (see getSupabase): it is loaded already.
const page = pageService<LiveService>((client) =>
  loadConfig().then((config) => createLiveService(client, `${config.supabaseUrl.replace(/\/+$/, '')}/functions/v1`, config.supabaseAnonKey)),
);

export const startLive = pageMethod(page, 'startLive');
export const endLive = pageMethod(page, 'endLive');
export const getStream = pageMethod(page, 'getStream');
export const listLiveStreams = pageMethod(page, 'listLiveStreams');
export const subscribeStream = pageMethod(page, 'subscribeStream');
export const prepareEndOnUnload = pageMethod(page, 'prepareEndOnUnload');
