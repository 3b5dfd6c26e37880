import { useEffect, useRef, useState } from 'react';
import Hls from 'hls.js';
import type { GuestEventRow, StreamRow } from '../../../shared/domain';
import { getSupabase, toBackendError } from '../services/supabase';

const EVENT_TEXT: Partial<Record<GuestEventRow['event_type'], string>> = {
  stream_started: 'went live',
  stream_ended: 'ended the stream',
  invited: 'was invited',
  joined_live: 'joined the stream',
  left_live: 'left the stream',
  removed: 'was removed',
  muted_mic: 'was muted',
  unmuted_mic: 'was unmuted',
  camera_off: 'turned the camera off',
  camera_on: 'turned the camera on',
};

/** The viewer page: the stream from the ingest (HLS) and the stream's guest events. */
export function Watch() {
  const streamId = new URLSearchParams(window.location.hash.split('?')[1] ?? '').get('stream');
  const videoRef = useRef<HTMLVideoElement>(null);
  const [stream, setStream] = useState<StreamRow | null>(null);
  const [events, setEvents] = useState<GuestEventRow[]>([]);
  const [error, setError] = useState<string | null>(streamId ? null : 'No stream given: open this page with #/watch?stream=<id>.');

  useEffect(() => {
    if (!streamId) return;
    let cancelled = false;
    let off = () => {};
    (async () => {
      const supabase = await getSupabase();
      const { data, error: readError } = await supabase.from('streams').select('*').eq('id', streamId).maybeSingle();
      if (readError) throw toBackendError('Could not load the stream', readError);
      if (!data) throw new Error('This stream does not exist.');
      if (cancelled) return;
      setStream(data as StreamRow);
      const { data: rows } = await supabase.from('stream_guest_events').select('*').eq('stream_id', streamId).order('id', { ascending: false }).limit(50);
      if (!cancelled) setEvents((rows ?? []) as GuestEventRow[]);
      const channel = supabase
        .channel(`events:${streamId}`)
        .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'stream_guest_events', filter: `stream_id=eq.${streamId}` }, (payload) =>
          setEvents((list) => [payload.new as GuestEventRow, ...list].slice(0, 50)),
        )
        .subscribe();
      off = () => void supabase.removeChannel(channel);
    })().catch((err: Error) => setError(err.message));
    return () => {
      cancelled = true;
      off();
    };
  }, [streamId]);

  useEffect(() => {
    const video = videoRef.current;
    const src = stream?.playback_url;
    if (!video || !src || stream?.status !== 'live') return;
    if (Hls.isSupported()) {
      const hls = new Hls({ liveSyncDurationCount: 2, manifestLoadingMaxRetry: 30, manifestLoadingRetryDelay: 1000 });
      hls.on(Hls.Events.ERROR, (_event, data) => {
        if (data.fatal) setError(`Playback failed: ${data.details}`);
      });
      hls.loadSource(src);
      hls.attachMedia(video);
      return () => hls.destroy();
    }
    if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = src;
      return () => video.removeAttribute('src');
    }
    setError('This browser cannot play HLS streams.');
  }, [stream]);

  return (
    <main className="watch" data-testid="watch">
      <header className="topbar">
        <strong>
          <span className="brand-dot" /> {stream?.title || 'Roast Live'}
        </strong>
        {stream ? <span className={`pill phase-${stream.status}`}>{stream.status === 'live' ? 'LIVE' : stream.status}</span> : null}
      </header>
      <section className="watch-body">
        <video ref={videoRef} autoPlay playsInline controls muted data-testid="player" />
        <ul className="list feed" data-testid="events">
          {events.map((e) => (
            <li key={e.id}>
              <strong>{e.display_name ?? e.actor_display_name ?? 'Someone'}</strong> {EVENT_TEXT[e.event_type] ?? e.event_type.replace(/_/g, ' ')}
            </li>
          ))}
        </ul>
      </section>
      {error ? <p className="error-text" role="alert">{error}</p> : null}
    </main>
  );
}
