/** Going live and off air (edge functions start-live / end-live) and the stream row itself. */
import type { SupabaseClient } from '@supabase/supabase-js';
import type { StreamRow } from '../../../shared/domain';
import { functionError, toBackendError } from './errors';
import { requireUuid, watchTable, type Unsubscribe } from './realtime';
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
}

export interface LiveService {
  /** Creates (or resumes) the caller's live stream and returns where to publish. */
  startLive(title?: string): Promise<StartLiveResult>;
  /** Takes the stream off air: closes its seats, cancels open invitations, ends its calls. Host only. */
  endLive(streamId: string): Promise<StreamRow>;
  /** The stream, or null when there is none with that id. */
  getStream(streamId: string): Promise<StreamRow | null>;
  /** Changes of the stream row (status, locked seats, playback URL). */
  subscribeStream(streamId: string, onChange: (row: StreamRow) => void, onRejoin?: () => void): Promise<Unsubscribe>;
}

export function createLiveService(client: SupabaseClient): LiveService {
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

    subscribeStream: async (streamId, onChange, onRejoin) =>
      watchTable(client, 'stream', {
        table: 'streams',
        filter: `id=eq.${requireUuid(streamId, 'stream id')}`,
        events: ['UPDATE'],
        onRow: onChange,
        ...(onRejoin ? { onRejoin } : {}),
      }),
  };
}

const page = pageService(createLiveService);

export const startLive = pageMethod(page, 'startLive');
export const endLive = pageMethod(page, 'endLive');
export const getStream = pageMethod(page, 'getStream');
export const subscribeStream = pageMethod(page, 'subscribeStream');
