import type { EncoderStats } from '../../../shared/bridge';

/** Encoder health, as OBS shows it: state, fps, bitrate, dropped and repeated frames. */
export function HealthBar({ stats, encoder }: { stats: EncoderStats | null; encoder: string | null }) {
  if (!stats) return <div className="health muted">Encoder idle</div>;
  const total = Math.max(1, stats.framesIn + stats.framesRepeated);
  const dropPct = (stats.framesDropped / total) * 100;
  const level = dropPct >= 5 ? 'error' : dropPct >= 1 ? 'warn' : 'ok';
  return (
    <div className={`health ${level}`} data-testid="health">
      <span className={`pill state-${stats.state}`}>{stats.state}</span>
      <span>{encoder ?? stats.encoder ?? '—'}</span>
      <span>{stats.fps.toFixed(0)} fps</span>
      <span>{stats.bitrateKbps === null ? '—' : stats.bitrateKbps.toFixed(0)} kbps</span>
      <span title="frames dropped before the encoder">dropped {stats.framesDropped}</span>
      <span title="frames repeated to keep the output rate">repeated {stats.framesRepeated}</span>
      {stats.error ? <span className="error-text">{stats.error}</span> : null}
    </div>
  );
}
