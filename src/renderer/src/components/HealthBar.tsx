import { NO_VIDEO_FROM_RENDERER, type EncoderStats } from '../../../shared/bridge';
import { broadcastHealth, type HealthCounter, type RenderingSlots } from '../../../shared/health';
import { useStore } from '../store';

/** A level said in a mark and in words, not by colour alone. */
export function LevelMark({ level }: { level: 'ok' | 'warn' | 'error' }) {
  if (level === 'ok') return null;
  return (
    <>
      <span aria-hidden="true">{level === 'error' ? '✖ ' : '⚠ '}</span>
      <span className="sr-only">{level === 'error' ? 'error: ' : 'warning: '}</span>
    </>
  );
}

function Counter({ label, title, c }: { label: string; title: string; c: HealthCounter }) {
  return (
    <span className={`counter ${c.level}`} title={title} data-level={c.level}>
      <LevelMark level={c.level} />
      {label} {c.count} ({c.percent.toFixed(1)}%)
    </span>
  );
}

/** Encoder health as OBS shows it: the three frame counters, render time against the budget, fps and bitrate. */
export function HealthBar({
  stats,
  encoder,
  renderMs,
  compositor,
  rendering,
  fps = 30,
}: {
  stats: EncoderStats | null;
  encoder: string | null;
  renderMs: number;
  /** The program clock's own count of slots it missed; without it, the output's repeats stand for lag. */
  rendering?: RenderingSlots;
  compositor?: { mode: 'gpu' | 'cpu' | null; renderer: string | null };
  fps?: number;
}) {
  if (!stats) return <div className="health muted">Encoder idle</div>;
  const health = broadcastHealth(stats, renderMs, fps, rendering);
  return (
    <div className={`health ${health.level}`} data-testid="health" data-level={health.level}>
      <span className={`pill state-${stats.state}`} data-testid="encoder-state" title={stats.error ?? undefined}>
        {stats.state}
      </span>
      <span title={stats.encoderNote ?? undefined} data-testid="encoder-name">
        {encoder ?? stats.encoder ?? '—'}
      </span>
      <span title="encoder CPU, % of one core">cpu {stats.encoderCpuPercent === null ? '—' : `${stats.encoderCpuPercent}%`}</span>
      <span title="output frames a second over the last two seconds" data-testid="output-fps">
        {stats.fps === null ? '—' : stats.fps.toFixed(0)} fps
      </span>
      <span>{stats.bitrateKbps === null ? '—' : stats.bitrateKbps.toFixed(0)} kbps</span>
      <Counter label="lagged" title="frames lagged by rendering: output frames the program did not make in time (a picture that did not change is not lag)" c={health.laggedByRendering} />
      <Counter label="skipped" title="frames skipped by encoding lag" c={health.skippedByEncoding} />
      <Counter label="network" title="frames dropped by the network (while reconnecting)" c={health.droppedByNetwork} />
      <span
        className={`counter ${health.render.level}`}
        data-testid="render"
        data-compositor={compositor?.mode ?? undefined}
        title={`render time per frame against the frame budget; program composited on the ${compositor?.mode === 'cpu' ? 'CPU (I420, WebGL is software here)' : 'GPU (WebGL2)'}${compositor?.renderer ? ` — WebGL renderer: ${compositor.renderer}` : ''}`}
      >
        <LevelMark level={health.render.level} />
        render {compositor?.mode ? `${compositor.mode} ` : ''}
        {health.render.ms.toFixed(1)} / {health.render.budgetMs.toFixed(1)} ms
      </span>
      {stats.restarts > 0 ? (
        <span className="counter warn" title={stats.lastExit ?? undefined}>
          restarted {stats.restarts}×
        </span>
      ) : null}
      {stats.mediaRejected ? (
        <span className="counter warn" data-testid="media-rejected" title={`latest: ${stats.mediaRejectedLast ?? 'unknown'}`}>
          rejected {stats.mediaRejected} media message{stats.mediaRejected === 1 ? '' : 's'}
        </span>
      ) : null}
      {health.audioRepaired.count > 0 ? (
        <span
          className={`counter ${health.audioRepaired.level}`}
          data-testid="audio-repaired"
          title={`audio the encoder had to repair: ${((stats.audioFilledMs ?? 0) / 1000).toFixed(1)} s of silence where the program's audio came late or not at all, ${((stats.audioTrimmedMs ?? 0) / 1000).toFixed(1)} s trimmed because it came after its place`}
        >
          audio gaps {(health.audioRepaired.count / 1000).toFixed(1)} s ({health.audioRepaired.percent.toFixed(1)}%)
        </span>
      ) : null}
      {stats.audioDroppedMs ? (
        <span className="counter warn" data-testid="audio-dropped" title="audio the encoder left unread for over 2 s (its output blocked), dropped">
          audio dropped {(stats.audioDroppedMs / 1000).toFixed(1)} s
        </span>
      ) : null}
      {stats.error ? (
        <details className="error-text encoder-error" data-testid="encoder-error" data-state={stats.state}>
          <summary>{errorHeadline(stats.state, stats.error)}</summary>
          {stats.error}
        </details>
      ) : null}
    </div>
  );
}

/**
 * The encoder gave up (it could not restart the stream) while the studio is still live with its guests: said where
 * the streamer looks, with what to do. The stream's row stays live until End live; viewers meanwhile see nothing.
 */
export function OffAirAlert({ stats }: { stats: EncoderStats | null }) {
  if (stats?.state !== 'error') return null;
  return (
    <div className="error-text" role="alert" data-testid="off-air">
      <p>
        <strong>The stream is off the air:</strong> the encoder stopped and could not start it again
        {stats.error ? ` (${stats.error.split('\n')[0]})` : ''}. Viewers see nothing; your guests still see and hear you. End live, then go live again.
      </p>
    </div>
  );
}

/** What a streamer needs to know first; ffmpeg's own words follow under it. */
function errorHeadline(state: EncoderStats['state'], error: string): string {
  // Not every wait is the ingest's: the studio's own picture may have stopped, or ffmpeg itself.
  if (state === 'reconnecting' && error.startsWith(NO_VIDEO_FROM_RENDERER)) {
    return "The studio's picture stopped reaching the encoder: the stream waits for it and goes on by itself.";
  }
  // Killed by a signal (a crash, the system out of memory): the encoder itself. An exit with a code is what ffmpeg
  // does when the ingest drops the connection: the ingest's, below.
  if (state === 'reconnecting' && error.startsWith('ffmpeg exited unexpectedly (killed by')) return 'The encoder stopped: it is being started again, the studio stays live.';
  if (state === 'reconnecting') return 'The connection to the ingest was lost: reconnecting by itself, the studio stays live.';
  if (state === 'error') return 'The stream stopped and could not be restarted.';
  return 'The encoder reported a problem.';
}

/** The health bar with the render time read from the store here: it changes several times a second, the studio around it need not redraw. */
export function LiveHealthBar(props: Omit<Parameters<typeof HealthBar>[0], 'renderMs' | 'rendering'>) {
  const renderMs = useStore((s) => Math.round(s.renderMs));
  const slots = useStore((s) => s.pipeline.outputSlots ?? 0);
  const lagged = useStore((s) => s.pipeline.framesLagged ?? 0);
  // Skipped for the encoder or the bridge; a GPU readback that could not start is rendering behind, not encoding.
  const skipped = useStore((s) => s.pipeline.framesSkipped - (s.pipeline.readbacksSkipped ?? 0) + (s.pipeline.bridgeDroppedThisShow ?? 0));
  return <HealthBar {...props} renderMs={renderMs} {...(slots > 0 ? { rendering: { slots, lagged, skipped } } : {})} />;
}
