/**
 * Row shapes the functions read and write (see supabase/migrations). They mirror
 * src/shared/domain.ts; deployed functions cannot import from outside supabase/functions.
 */
export type StreamStatus = 'idle' | 'live' | 'ended';
export type IngestProvider = 'local' | 'cloudflare';
export type CallProvider = 'p2p' | 'cloudflare';

export interface StreamRow {
  id: string;
  host_id: string;
  title: string;
  status: StreamStatus;
  ingest_provider: IngestProvider;
  live_input_id: string | null;
  playback_url: string | null;
  locked_seats: number[];
  started_at: string | null;
  ended_at: string | null;
  created_at: string;
}

export interface StreamIngestRow {
  stream_id: string;
  rtmp_url: string;
  stream_key: string;
  /** The name viewers play the local ingest's stream under (never the key); null for Cloudflare. */
  playback_id: string | null;
}

export interface CallSessionRow {
  id: string;
  stream_id: string;
  host_id: string;
  provider: CallProvider;
  cf_session_id: string | null;
  created_at: string;
  ended_at: string | null;
}

/** Where the host's encoder publishes. */
export interface IngestInfo {
  provider: IngestProvider;
  rtmpUrl: string;
  streamKey: string;
  /** The full URL an RTMP client connects to: server URL and stream key. */
  publishUrl: string;
}

/** The browser's RTCIceServer. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}
