import { useEffect, useRef, useState } from 'react';
import type { GuestInvitationRow, Profile } from '../../../../shared/domain';
import { Countdown, useSecondsLeft } from '../Countdown';

interface Props {
  enabled: boolean;
  invitations: GuestInvitationRow[];
  names: Record<string, string>;
  hostId: string;
  search: (text: string) => Promise<Profile[]>;
  invite: (userId: string) => Promise<void>;
  cancel: (invitationId: string) => Promise<void>;
  /** A pending invitation's countdown ran out here (the database is to be told). */
  onRanOut?: (invitationId: string) => void;
  /** A database time on this page's clock (the studio's correction, see ServerClock); as it is by default. */
  localTime?: (serverTime: string) => string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const nameOf = (p: Profile) => p.display_name ?? p.username ?? 'Guest';

/**
 * Who the Invite button (or Enter) invites for what is typed: a user id as
 * it is; a name only when it designates one person — the only match, or the
 * only one whose name or username is exactly what is typed. Display names are
 * not unique: with several matches the host picks one in the list. A name
 * whose search found nobody (or has not answered yet) says so.
 */
/** How many invitations the panel lists at least: every pending one, then the latest answered or ended. */
export const INVITATIONS_SHOWN = 6;

/**
 * The invitations the panel lists (newest first, as held): every pending one, whatever their number (each has its
 * countdown and its Cancel), then the latest decided ones up to INVITATIONS_SHOWN lines.
 */
export function invitationsShown(invitations: readonly GuestInvitationRow[]): GuestInvitationRow[] {
  const pending = invitations.filter((inv) => inv.status === 'pending');
  const room = Math.max(0, INVITATIONS_SHOWN - pending.length);
  const decided = new Set(invitations.filter((inv) => inv.status !== 'pending').slice(0, room));
  return invitations.filter((inv) => inv.status === 'pending' || decided.has(inv));
}

export function pickInvitee(query: string, results: readonly Profile[]): { id: string } | { error: string } {
  if (UUID.test(query)) return { id: query };
  if (query.length < 2) return { error: 'Type at least two letters of a name, or a user id.' };
  if (results.length === 0) return { error: `Nobody called “${query}” was found (yet): check the name, or paste their user id.` };
  if (results.length === 1) return { id: results[0]!.id };
  const wanted = query.toLowerCase();
  const exact = results.filter((p) => p.display_name?.toLowerCase() === wanted || p.username?.toLowerCase() === wanted);
  if (exact.length === 1) return { id: exact[0]!.id };
  return { error: `${exact.length > 1 ? exact.length : results.length} people match “${query}”: choose one in the list below (each shows the start of their id).` };
}

/** Invite by name (profile search) or by user id; pending invitations with their countdown, and what became of the others. */
export function InvitePanel({ enabled, invitations, names, hostId, search, invite, cancel, onRanOut, localTime = (t) => t }: Props) {
  const [text, setText] = useState('');
  /** The search's answer and the words it answers: results for what is no longer typed are not offered. */
  const [found, setFound] = useState<{ query: string; profiles: Profile[] }>({ query: '', profiles: [] });
  const [error, setError] = useState<string | null>(null);
  /** Why the last search failed (the network, the server), until a search works again: not the same as "nobody found". */
  const [searchError, setSearchError] = useState<string | null>(null);
  /** An invite or cancel under way: the buttons wait for it (a double click would invite twice). */
  const [busy, setBusy] = useState(false);
  const query = text.trim();
  const results = found.query === query ? found.profiles : [];

  useEffect(() => {
    if (!enabled || query.length < 2 || UUID.test(query)) {
      // Same state when already empty: no extra render. No search applies, so no failed one is shown either.
      setFound((current) => (current.profiles.length === 0 ? current : { query: '', profiles: [] }));
      setSearchError(null);
      return;
    }
    let cancelled = false;
    const timer = setTimeout(() => {
      search(query)
        .then((rows) => {
          if (cancelled) return;
          setSearchError(null);
          setFound({ query, profiles: rows.filter((p) => p.id !== hostId) });
        })
        .catch((err: Error) => !cancelled && setSearchError(err.message));
    }, 200);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [query, enabled, search, hostId]);

  // A broadcast that ends (or starts) takes the last one's failures with it.
  useEffect(() => {
    setError(null);
  }, [enabled]);

  const run = async (action: () => Promise<void>, clear = true) => {
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await action();
      if (clear) {
        setText('');
        setFound({ query: '', profiles: [] });
      }
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const submit = () => {
    const pick = pickInvitee(query, results);
    if ('id' in pick) void run(() => invite(pick.id));
    // A search that failed is not "nobody by that name": say what failed.
    else setError(searchError && results.length === 0 && query.length >= 2 ? searchError : pick.error);
  };

  return (
    <div className="card">
      <h3>Invite a guest</h3>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <input
          placeholder="Name or user id"
          value={text}
          onChange={(e) => setText(e.target.value)}
          disabled={!enabled}
          data-testid="invitee-id"
          aria-label="Guest name or user id"
        />
        <button disabled={!enabled || !query || busy} data-testid="invite">
          Invite
        </button>
      </form>
      {results.length > 0 ? (
        <ul className="list results" data-testid="search-results">
          {results.map((p) => (
            <li key={p.id}>
              <span>
                {nameOf(p)} <code className="small">{p.id.slice(0, 8)}</code>
              </span>
              <button type="button" onClick={() => void run(() => invite(p.id))} disabled={busy} aria-label={`Invite ${nameOf(p)}`}>
                Invite
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      {error ?? searchError ? (
        <p className="error-text" role="alert">
          {error ?? searchError}
        </p>
      ) : null}
      <ul className="list" data-testid="invitations">
        {invitationsShown(invitations).map((inv) => (
          <InvitationLine
            key={inv.id}
            invitation={inv}
            name={names[inv.invitee_id] ?? inv.invitee_id.slice(0, 8)}
            expiresAt={localTime(inv.expires_at)}
            busy={busy}
            onCancel={() => void run(() => cancel(inv.id), false)}
            onRanOut={onRanOut ? () => onRanOut(inv.id) : undefined}
          />
        ))}
      </ul>
    </div>
  );
}

/** One invitation; a pending one whose 20 s ran out shows as expired (the database treats it so too). */
function InvitationLine({
  invitation,
  name,
  expiresAt,
  busy,
  onCancel,
  onRanOut,
}: {
  invitation: GuestInvitationRow;
  name: string;
  expiresAt: string;
  busy: boolean;
  onCancel: () => void;
  onRanOut?: () => void;
}) {
  const left = useSecondsLeft(expiresAt);
  const ranOut = invitation.status === 'pending' && left === 0;
  const status = ranOut ? 'expired' : invitation.status;
  const ranOutRef = useRef(onRanOut);
  ranOutRef.current = onRanOut;
  useEffect(() => {
    if (ranOut) ranOutRef.current?.();
  }, [ranOut]);
  return (
    <li data-status={status}>
      <span>
        {name} — <span className={`status-${status}`}>{status}</span>
      </span>
      {status === 'pending' ? (
        <span className="row">
          <Countdown expiresAt={expiresAt} />
          <button type="button" onClick={onCancel} disabled={busy} data-testid="cancel-invitation" aria-label={`Cancel the invitation to ${name}`}>
            Cancel
          </button>
        </span>
      ) : null}
    </li>
  );
}
