import { useCallback, useEffect, useRef, useState } from 'react';
import Hls, { ErrorTypes, Events } from 'hls.js';
import { laterStreamRow, mergeEvents, type GuestEventRow, type StreamRow } from '../../../shared/domain';
import { EventsFeed } from '../components/studio/EventsFeed';
import { getStream, subscribeStream } from '../services/liveService';
import { listEvents, subscribeEvents } from '../services/streamGuestService';
import { REOPEN_DELAYS_MS, pollWhileUnavailable, requireUuid } from '../services/realtime';
import { freshRecovery, nextRecovery, statusMessage, type PlaybackFailure } from './watchPlayback';

const EVENTS_SHOWN = 50;

/**
 * The stream row and its guest events, kept current: live changes are
 * subscribed to before the rows are read (nothing falls between the two), and
 * read again when a dropped subscription comes back.
 */
function useWatchedStream(streamId: string | null) {
  const [stream, setStream] = useState<StreamRow | null>(null);
  const [events, setEvents] = useState<GuestEventRow[]>([]);
  /** Why the page cannot follow the stream (no id, no such stream, live updates refused): stays. */
  const [error, setError] = useState<string | null>(streamId ? null : 'No stream given: open this page with #/watch?stream=<id>.');
  /**
   * Why the last read of the stream, and of its events, failed: each cleared by a read of its own that works;
   * and why live updates of each are unavailable: cleared when they hold.
   */
  const [readErrors, setReadErrors] = useState<{ stream?: string; events?: string; liveStream?: string; liveEvents?: string }>({});

  useEffect(() => {
    if (!streamId) return;
    let cancelled = false;
    const offs: Array<() => void> = [];
    const timers = new Set<ReturnType<typeof setTimeout>>();
    const readStream = async () => {
      const row = await getStream(streamId);
      if (cancelled) return;
      if (!row) {
        setError('This stream does not exist (it may have been deleted).');
        return;
      }
      // A read answered after a live change is older than it: the change stays.
      setStream((held) => laterStreamRow(held, row));
      setReadErrors(({ stream: _, ...rest }) => rest);
    };
    const readEvents = async () => {
      const rows = await listEvents(streamId, { limit: EVENTS_SHOWN });
      if (cancelled) return;
      setEvents((held) => mergeEvents(held, rows, EVENTS_SHOWN));
      setReadErrors(({ events: _, ...rest }) => rest);
    };
    const fail = (err: Error) => {
      if (!cancelled) setError(err.message);
    };
    const readFailed = (what: 'stream' | 'events', err: Error) => {
      if (!cancelled) setReadErrors((held) => ({ ...held, [what]: err.message }));
    };
    // A read that fails is said and made again, with growing pauses, until one works. A newer read of the same rows
    // (live updates came back) takes over: the older one's failure, or its next try, no longer counts.
    const reads = { stream: readStream, events: readEvents };
    const latest = { stream: 0, events: 0 };
    const readUntilDone = (what: 'stream' | 'events', attempt = 0, chain = ++latest[what]): void => {
      reads[what]().catch((err: Error) => {
        if (cancelled || latest[what] !== chain) return;
        readFailed(what, err);
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (!cancelled && latest[what] === chain) readUntilDone(what, attempt + 1, chain);
        }, REOPEN_DELAYS_MS[Math.min(attempt, REOPEN_DELAYS_MS.length - 1)]);
        timers.add(timer);
      });
    };
    (async () => {
      requireUuid(streamId, 'The stream id in this link');
      // A subscription that completes after the page left is closed at once (the cleanup has already run).
      const keep = (off: () => void): void => {
        if (cancelled) off();
        else offs.push(off);
      };
      // Live updates that cannot start (or come back) are tried again by themselves; meanwhile the rows are read every
      // few seconds, and the page says changes may show late. A viewer who opened the page early still sees the show start.
      const following = (what: 'stream' | 'events') => {
        const key = what === 'stream' ? 'liveStream' : 'liveEvents';
        const poll = pollWhileUnavailable(() => readUntilDone(what));
        offs.push(() => poll.stop());
        return {
          rejoined: () => {
            poll.stop();
            if (!cancelled) setReadErrors(({ [key]: _, ...rest }) => rest);
            readUntilDone(what);
          },
          unavailable: (err: Error) => {
            if (cancelled) return;
            setReadErrors((held) => ({ ...held, [key]: `${err.message}; this page looks again every few seconds meanwhile.` }));
            poll.start();
          },
        };
      };
      const onStream = following('stream');
      const onEvents = following('events');
      try {
        keep(
          await subscribeStream(
            streamId,
            (row) => !cancelled && setStream((held) => laterStreamRow(held, row)),
            onStream.rejoined,
            onStream.unavailable,
          ),
        );
        if (cancelled) return;
        keep(
          await subscribeEvents(
            streamId,
            (row) => !cancelled && setEvents((held) => mergeEvents(held, [row], EVENTS_SHOWN)),
            onEvents.rejoined,
            onEvents.unavailable,
          ),
        );
      } catch (err) {
        // Without live updates the page still shows the stream as it is now; reloading picks up changes.
        fail(new Error(`${(err as Error).message}. Reload the page to see changes.`));
      }
      readUntilDone('stream');
      readUntilDone('events');
    })().catch(fail);
    return () => {
      cancelled = true;
      for (const timer of timers) clearTimeout(timer);
      for (const off of offs) off();
    };
  }, [streamId]);

  return { stream, events, error: error ?? readErrors.stream ?? readErrors.events ?? readErrors.liveStream ?? readErrors.liveEvents ?? null };
}

/** A player that has not moved for this long after the stream ended has played what there was. */
const ENDING_STILL_MS = 3000;
/** However the player behaves, the end of a show plays for a minute at most. */
const ENDING_MAX_MS = 60_000;

/**
 * Plays a live HLS stream: retries while the stream's playlist or segments are
 * missing (the ingest reconnecting), recovers the decoder a couple of times,
 * and otherwise says what failed, with a button to start over.
 */
function Player({ src, ending = false, onDone }: { src: string; ending?: boolean; onDone?: () => void }) {
  const videoRef = useRef<HTMLVideoElement>(null);
  const [note, setNote] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const retry = useCallback(() => {
    setFailure(null);
    setNote(null);
    setAttempt((n) => n + 1);
  }, []);
  // Autoplay starts muted (browsers allow no more): one tap turns the sound on.
  const [muted, setMuted] = useState(true);
  useEffect(() => {
    const video = videoRef.current;
    if (!video) return;
    const follow = () => setMuted(video.muted);
    video.addEventListener('volumechange', follow);
    return () => video.removeEventListener('volumechange', follow);
  }, []);
  const unmute = () => {
    const video = videoRef.current;
    if (!video) return;
    video.muted = false;
    void video.play().catch(() => {});
  };
  // The stream ended: the player is some seconds behind it, and plays what it has until it runs out (it stops
  // moving for 3 s, or the media ends), a minute at most, so that the show's last words are heard.
  const done = useRef(onDone);
  done.current = onDone;
  useEffect(() => {
    const video = videoRef.current;
    if (!ending) return;
    if (!video) return done.current?.();
    const began = performance.now();
    let position = video.currentTime;
    let movedAt = began;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      done.current?.();
    };
    const timer = setInterval(() => {
      const now = performance.now();
      if (video.currentTime !== position) {
        position = video.currentTime;
        movedAt = now;
      }
      if (video.ended || now - movedAt > ENDING_STILL_MS || now - began > ENDING_MAX_MS) finish();
    }, 250);
    video.addEventListener('ended', finish);
    return () => {
      clearInterval(timer);
      video.removeEventListener('ended', finish);
    };
  }, [ending]);

  useEffect(() => {
    const video = videoRef.current;
    if (!video) return;
    if (!Hls.isSupported()) {
      if (video.canPlayType('application/vnd.apple.mpegurl')) {
        // The browser plays HLS itself (Safari, iOS): a playlist not there yet (the stream just went live) or an ingest
        // that dropped fails the element, which is loaded again with growing pauses, as hls.js's network errors are.
        let recovery = freshRecovery();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const onError = () => {
          const code = video.error?.code;
          const kind: PlaybackFailure = code === MediaError.MEDIA_ERR_DECODE ? 'media' : code === MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED || code === MediaError.MEDIA_ERR_NETWORK ? 'network' : 'other';
          const next = nextRecovery(kind, recovery, performance.now(), nativePlaybackCode(code));
          recovery = next.state;
          const { step } = next;
          if (step.action === 'give-up') {
            setNote(null);
            setFailure(step.message);
            return;
          }
          setNote(step.note);
          clearTimeout(timer);
          timer = setTimeout(() => {
            video.src = src;
            video.load();
          }, step.action === 'reload' ? step.delayMs : 0);
        };
        const onPlaying = () => {
          recovery = { ...recovery, networkFailures: 0 };
          setNote(null);
        };
        video.addEventListener('error', onError);
        video.addEventListener('playing', onPlaying);
        video.src = src;
        return () => {
          clearTimeout(timer);
          video.removeEventListener('error', onError);
          video.removeEventListener('playing', onPlaying);
          video.removeAttribute('src');
        };
      }
      setFailure('This browser cannot play HLS streams.');
      return;
    }
    // hls.js retries a playlist that could not be fetched, not one the server said is not there (no 4xx): a stream just
    // gone live has none until its first seconds are cut, and nextRecovery looks for it again.
    const hls = new Hls({ liveSyncDurationCount: 2, manifestLoadingMaxRetry: 30, manifestLoadingRetryDelay: 1000 });
    let recovery = freshRecovery();
    let timer: ReturnType<typeof setTimeout> | undefined;
    hls.on(Events.FRAG_BUFFERED, () => {
      recovery = { ...recovery, networkFailures: 0 };
      setNote(null);
    });
    hls.on(Events.ERROR, (_event, data) => {
      if (!data.fatal) return;
      const kind: PlaybackFailure = data.type === ErrorTypes.NETWORK_ERROR ? 'network' : data.type === ErrorTypes.MEDIA_ERROR ? 'media' : 'other';
      const next = nextRecovery(kind, recovery, performance.now(), data.details, data.response?.code);
      recovery = next.state;
      const { step } = next;
      if (step.action === 'reload') {
        setNote(step.note);
        clearTimeout(timer);
        timer = setTimeout(() => {
          hls.loadSource(src);
          hls.startLoad();
        }, step.delayMs);
      } else if (step.action === 'recover-media') {
        setNote(step.note);
        hls.recoverMediaError();
      } else {
        setNote(null);
        setFailure(step.message);
        clearTimeout(timer);
        hls.destroy();
      }
    });
    hls.loadSource(src);
    hls.attachMedia(video);
    return () => {
      clearTimeout(timer);
      hls.destroy();
    };
  }, [src, attempt]);

  return (
    <div className="player">
      <video ref={videoRef} autoPlay playsInline controls muted data-testid="player" data-ending={ending ? 'yes' : undefined} />
      {muted && !failure ? (
        <button type="button" className="player-unmute" onClick={unmute} data-testid="player-unmute">
          Tap to unmute
        </button>
      ) : null}
      {note ? (
        <p className="muted small" role="status" data-testid="player-note">
          {note}
        </p>
      ) : null}
      {failure ? (
        <div className="error-text" role="alert" data-testid="player-error">
          <p>{failure}</p>
          <button type="button" onClick={retry} data-testid="player-retry">
            Try again
          </button>
        </div>
      ) : null}
    </div>
  );
}

/** The viewer page: the stream from the ingest (HLS) while it is live, and the stream's guest events. */
export function Watch({ streamId }: { streamId: string | null }) {
  const { stream, events, error } = useWatchedStream(streamId);
  // The stream that was playing on this page when it ended plays on to its end (the player is behind it). Worked out
  // as the page renders, so that the same player (its place in the stream, its sound turned on) goes on playing.
  const liveUrl = stream?.status === 'live' ? stream.playback_url : null;
  const [kept, setKept] = useState<{ streamId: string | null; url: string } | null>(null);
  if (liveUrl && (kept?.url !== liveUrl || kept.streamId !== streamId)) setKept({ streamId, url: liveUrl });
  const finishing = !liveUrl && stream && kept?.streamId === streamId ? kept.url : null;
  const playing = liveUrl ?? finishing;
  const waiting = stream && !finishing ? statusMessage(stream.status) : null;

  return (
    <main className="watch" data-testid="watch">
      <header className="topbar">
        <strong>
          <span className="brand-dot" /> {stream?.title || 'Roast Live'}
        </strong>
        {stream ? (
          <span className={`pill phase-${stream.status}`} data-testid="stream-status">
            {stream.status === 'live' ? 'LIVE' : stream.status}
          </span>
        ) : null}
      </header>
      <section className="watch-body">
        <div>
          {playing ? <Player key={playing} src={playing} ending={!liveUrl} onDone={() => setKept(null)} /> : null}
          {finishing && !liveUrl ? (
            <p className="muted" role="status" data-testid="watch-finishing">
              The stream has ended: its last seconds play out.
            </p>
          ) : null}
          {stream?.status === 'live' && !stream.playback_url ? <p className="muted">This stream is live, but has no playback address yet.</p> : null}
          {waiting ? (
            <p className="muted" role="status" data-testid="watch-waiting">
              {waiting}
            </p>
          ) : null}
        </div>
        <EventsFeed events={events} />
      </section>
      {error ? (
        <p className="error-text" role="alert" data-testid="watch-error">
          {error}
        </p>
      ) : null}
    </main>
  );
}

/** A media element's error code (the browser playing HLS itself) as the player code nextRecovery words. */
function nativePlaybackCode(code: number | undefined): string {
  switch (code) {
    case MediaError.MEDIA_ERR_NETWORK:
      return 'fragLoadError';
    case MediaError.MEDIA_ERR_DECODE:
      return 'bufferAppendError';
    case MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED:
      return 'manifestLoadError';
    default:
      return 'internalException';
  }
}
