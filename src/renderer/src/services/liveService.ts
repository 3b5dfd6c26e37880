import type { StreamRow } from '../../../shared/domain';
import { functionError, getSupabase } from './supabase';

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

/** Creates (or resumes) the caller's live stream and returns where to publish. */
export async function startLive(title: string): Promise<StartLiveResult> {
  const supabase = await getSupabase();
  const { data, error } = await supabase.functions.invoke<StartLiveResult>('start-live', { body: { title } });
  if (error || !data) throw await functionError('Could not go live', error);
  return data;
}

export async function endLive(streamId: string): Promise<StreamRow> {
  const supabase = await getSupabase();
  const { data, error } = await supabase.functions.invoke<{ stream: StreamRow }>('end-live', { body: { streamId } });
  if (error || !data) throw await functionError('Could not end the stream', error);
  return data.stream;
}
