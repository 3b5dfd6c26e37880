import { useEffect, useState } from 'react';
import type { StreamRow } from '../../../../shared/domain';
import { endLive, listLiveStreams } from '../../services/liveService';

/**
 * The host's streams still live while this studio is not: another studio's
 * show, or one whose studio went away without ending it (a crash, a machine
 * that lost power or its network). Go live carries such a stream on here;
 * "End it" takes it off air. Read again each time this studio's broadcast
 * changes phase.
 */
export function StillLive({ userId, phase, ownStreamId }: { userId: string; phase: string; ownStreamId: string | null }) {
  const [streams, setStreams] = useState<StreamRow[]>([]);
  const [ending, setEnding] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const busy = phase === 'starting' || phase === 'live' || phase === 'ending';

  useEffect(() => {
    if (busy) {
      setStreams([]);
      return;
    }
    let cancelled = false;
    listLiveStreams(userId).then(
      (rows) => !cancelled && setStreams(rows.filter((row) => row.id !== ownStreamId)),
      // Only a hint: a studio that cannot look still goes live (and carries such a stream on).
      () => {},
    );
    return () => {
      cancelled = true;
    };
  }, [userId, busy, phase, ownStreamId]);

  const end = async (stream: StreamRow) => {
    setEnding(stream.id);
    setProblem(null);
    try {
      await endLive(stream.id);
      setStreams((held) => held.filter((row) => row.id !== stream.id));
    } catch (err) {
      setProblem(`“${stream.title}” could not be ended: ${(err as Error).message}`);
    } finally {
      setEnding(null);
    }
  };

  if (streams.length === 0 && !problem) return null;
  return (
    <div className="still-live" role="status" data-testid="still-live">
      {streams.map((stream) => (
        <p key={stream.id}>
          “{stream.title}” is still live{stream.started_at ? ` (since ${new Date(stream.started_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })})` : ''}: from
          another studio, or one that closed without ending it. Go live carries it on here.{' '}
          <button type="button" className="danger" disabled={ending !== null} onClick={() => void end(stream)} data-testid="still-live-end">
            {ending === stream.id ? 'Ending…' : 'End it'}
          </button>
        </p>
      ))}
      {problem ? <p className="error-text">{problem}</p> : null}
    </div>
  );
}
