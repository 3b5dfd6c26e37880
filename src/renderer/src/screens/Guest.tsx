/**
 * The guest page: wait for an invitation, check camera and microphone while
 * its 20 s run, go on stage and watch the host's program live, with one's own
 * switches — and follow what the host does to the seat.
 */
import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { GuestInvitationRow, GuestSeatRow } from '../../../shared/domain';
import { Announcer, useAnnouncer } from '../components/Announcer';
import { FullscreenButton } from '../components/guest/FullscreenButton';
import { GuestControls } from '../components/guest/GuestControls';
import { InvitationCard } from '../components/guest/InvitationCard';
import { ModeratorInvites } from '../components/guest/ModeratorInvites';
import { ModeratorPanel } from '../components/guest/ModeratorPanel';
import { useProfileNames } from '../components/guest/useProfileNames';
import { PreJoin } from '../components/guest/PreJoin';
import {
  acceptInvitation,
  declineInvitation,
  getProfiles,
  leaveSeat,
  listActiveSeats,
  listMyActiveSeats,
  listPendingInvitations,
  readServerClock,
  subscribeInvitations,
  subscribeSeats,
} from '../services/streamGuestService';
import { getStream, subscribeStream } from '../services/liveService';
import { DeviceCheck, EXIT_MESSAGES, GuestSession, whySeatClosed, type GuestLinkState } from '../session/GuestSession';
import { ServerClock } from '../session/serverClock';
import { pollWhileUnavailable } from '../services/realtime';
import { mirrorsSelfView, stopStream } from '../media/capture';
import { lagInWords } from '../rtc/linkQuality';
import { useStore } from '../store';
import { SignIn } from './SignIn';
import { useRestoreSession } from './useRestoreSession';
import { noteOnNewInvitation, previewWanted, type Note } from './guestNotes';
import '../guest.css';

export function Guest() {
  const { ready, error } = useRestoreSession();
  const userId = useStore((s) => s.userId);
  if (!ready) return <main className="guest g-app g-centered">Loading…</main>;
  if (error) return <main className="guest g-app g-centered error-text">{error}</main>;
  if (!userId) {
    return (
      <main className="centered g-app">
        <SignIn role="guest" />
      </main>
    );
  }
  return <GuestHome userId={userId} />;
}

interface Stage {
  session: GuestSession;
  hostName: string | null;
}

/** A seat the guest still holds in a live stream (the page was reloaded, or closed and opened again, while on stage). */
/** Why the page holds a seat off stage: it says so on the card, and decides whether the camera opens by itself. */
type HeldWhy = 'reloaded' | 'leave_failed' | 'accepted';

interface HeldSeat {
  seat: GuestSeatRow;
  hostId: string;
  why: HeldWhy;
}

/** What the page says while live updates of its invitations are down (it reads them every few seconds meanwhile). */
const INVITATIONS_LATE = 'Invitations may arrive late: live updates are unavailable';

const HELD_WHY: Record<HeldWhy, string> = {
  reloaded: 'the page was closed or reloaded while you were live',
  leave_failed: 'you left the stage, but the seat could not be given up',
  accepted: 'the seat is already yours',
};


/** The database's clock as this page sees it (a phone's clock can be off): invitations expire by it. */
const serverClock = new ServerClock();

const isAlive = (inv: GuestInvitationRow, now = Date.now()) => inv.status === 'pending' && serverClock.local(inv.expires_at) > now;
/** Why the database refuses an invitation for good: answering it again could not work. */
const FINAL_ACCEPT_REFUSALS = new Set(['invitation_expired', 'invitation_not_pending', 'invitation_not_found', 'stream_ended', 'removed_from_stream', 'inviter_not_manager']);

function GuestHome({ userId }: { userId: string }) {
  const displayName = useStore((s) => s.displayName);
  const [invitations, setInvitations] = useState<GuestInvitationRow[]>([]);
  const invitationsRef = useRef<GuestInvitationRow[]>([]);
  /** Hosts' names by id, as their profiles give them (null: the profile has none). */
  const [hostNames, setHostNames] = useState<Record<string, string | null>>({});
  const hostNamesRef = useRef<Record<string, string | null>>({});
  const [stage, setStage] = useState<Stage | null>(null);
  const stageRef = useRef<Stage | null>(null);
  const [note, setNote] = useState<Note | null>(null);
  const [busyId, setBusyId] = useState<string | null>(null);
  /** The invitation whose accept is on its way: the server, not the page's clock, decides whether it came in time. */
  const acceptingRef = useRef<string | null>(null);
  const [checking, setChecking] = useState(false);
  const [check] = useState(() => new DeviceCheck());
  const [held, setHeld] = useState<HeldSeat | null>(null);
  /** Bumped to look for a held seat again (a leave that could not give the seat up). */
  const [seatCheck, setSeatCheck] = useState(0);
  /** Why the next look for a held seat is made (a page just loaded finds one left by a reload). */
  const seatCheckWhyRef = useRef<HeldWhy>('reloaded');
  const checkSeat = (why: HeldWhy) => {
    seatCheckWhyRef.current = why;
    setSeatCheck((n) => n + 1);
  };
  /** A held seat that went while offered (removed, or the stream ended): a rejoin on its way stops. */
  const goneSeatRef = useRef<string | null>(null);
  /** The held seat the guest is giving up: its closing is their own doing, not the host's. */
  const leavingSeatRef = useRef<string | null>(null);
  /** False once the page is gone: an accept or rejoin that completes later does not go on stage unseen. */
  const mountedRef = useRef(true);

  const showInvitations = (list: GuestInvitationRow[]) => {
    invitationsRef.current = list;
    setInvitations(list);
  };
  // A screen reader says each invitation as it arrives (the card itself is not a live region: its countdown would
  // speak every second), with the host's name once it is known.
  const [announcement, announce] = useAnnouncer();
  /** Invitations said (or about to be: one whose host's name is not known yet waits a moment for it). */
  const announcedRef = useRef(new Map<string, ReturnType<typeof setTimeout> | null>());
  useEffect(() => {
    const say = (inv: GuestInvitationRow) => {
      announcedRef.current.set(inv.id, null);
      if (!invitationsRef.current.some((x) => x.id === inv.id)) return;
      const seconds = Math.max(0, Math.round((serverClock.local(inv.expires_at) - Date.now()) / 1000));
      announce(`${hostNamesRef.current[inv.host_id] ?? 'A host'} invites you to go live. ${seconds} seconds to answer.`);
    };
    for (const inv of invitations) {
      const pending = announcedRef.current.get(inv.id);
      if (pending === null) continue;
      if (inv.host_id in hostNames) {
        if (pending) clearTimeout(pending);
        say(inv);
      } else if (pending === undefined) announcedRef.current.set(inv.id, setTimeout(() => say(inv), 1500));
    }
  }, [invitations, hostNames, announce]);
  useEffect(() => () => announcedRef.current.forEach((timer) => timer && clearTimeout(timer)), []);
  /** The host's name inside a sentence. */
  const hostLabel = (hostId: string) => hostNamesRef.current[hostId] ?? 'the host';
  const expiredText = (hostId: string) => `The invitation from ${hostLabel(hostId)} expired.`;
  /** An invitation ran out: said, unless a refusal of its accept is on screen, whose reason stays (the expiry is added). */
  const sayExpired = (hostId: string) =>
    setNote((n) => {
      const text = expiredText(hostId);
      if (n?.tone !== 'error') return { tone: 'info', text };
      return n.text.endsWith(text) ? n : { tone: 'error', text: `${n.text} ${text}` };
    });

  // Invitations as they arrive, change and run out.
  useEffect(() => {
    let unsubscribe = () => {};
    let cancelled = false;
    const learnNames = (rows: GuestInvitationRow[]) => {
      const unknown = rows.map((r) => r.host_id).filter((id) => !(id in hostNamesRef.current));
      if (unknown.length === 0) return;
      void getProfiles(unknown)
        .then((profiles) => {
          const names = { ...hostNamesRef.current };
          for (const p of profiles) names[p.id] = p.display_name ?? p.username ?? null;
          hostNamesRef.current = names;
          if (!cancelled) setHostNames(names);
        })
        .catch(() => {});
    };
    // A cancelled invitation: the stream ended (ending a stream cancels its invitations), the moderator who sent it
    // stopped moderating, or the host withdrew it.
    const sayWithdrawn = async (row: GuestInvitationRow) => {
      const stream = await getStream(row.stream_id).catch(() => null);
      // Invited again meanwhile: the new card is the news.
      if (cancelled || invitationsRef.current.some((x) => x.host_id === row.host_id)) return;
      const name = hostNamesRef.current[row.host_id];
      let text: string;
      if (stream?.status === 'ended') text = `${name ? `${name}'s stream` : 'The stream'} has ended: the invitation is void.`;
      else if (row.invited_by && row.invited_by !== row.host_id) text = `The invitation to ${name ? `${name}'s` : 'the'} stream was withdrawn.`;
      else text = `${name ?? 'The host'} withdrew the invitation.`;
      setNote({ tone: 'info', text });
    };
    const onRow = (row: GuestInvitationRow) => {
      const known = invitationsRef.current.some((x) => x.id === row.id);
      // A pending invitation arriving live was just made: it tells how far this page's clock is off the database's.
      // One that disagrees with the last reading (a late delivery, or the clock set since) has the clock read again.
      if (!known && row.status === 'pending' && serverClock.learn(row.created_at)) {
        void readServerClock()
          .then(({ serverTime, sentAt, receivedAt }) => {
            serverClock.learnFromRead(serverTime, sentAt, receivedAt);
            // The countdowns follow the corrected clock.
            if (!cancelled) showInvitations([...invitationsRef.current]);
          })
          .catch(() => undefined);
      }
      const rest = invitationsRef.current.filter((x) => x.id !== row.id);
      if (isAlive(row)) {
        showInvitations([row, ...rest]);
        learnNames([row]);
        // A new invitation (or the same host's again, the old one replaced): the card says it all; what the note said of
        // earlier invitations or the last stage is old news.
        if (!known) setNote(noteOnNewInvitation);
        return;
      }
      if (!known) return;
      // The one being accepted stays, "Joining…", until the stage opens (accept() lets it go): its live "accepted"
      // may arrive while a permission prompt is still open.
      if (row.id === acceptingRef.current) return;
      showInvitations(rest);
      if (row.status === 'expired') sayExpired(row.host_id);
      else if (row.status === 'cancelled') void sayWithdrawn(row);
    };
    // The pending invitations as the database lists them, added to those held: after subscribing, and again when live
    // updates come back after a drop (an invitation sent meanwhile was not delivered). One held stays even when the list
    // does not have it: it may have arrived live after the list was read; it goes when it expires (the timer below).
    const relist = () =>
      listPendingInvitations(userId).then((rows) => {
        if (cancelled) return;
        const ids = new Set(invitationsRef.current.map((x) => x.id));
        showInvitations([...invitationsRef.current, ...rows.filter((r) => !ids.has(r.id))].filter((r) => isAlive(r) || r.id === acceptingRef.current));
        learnNames(rows);
      });
    // Live updates that could not start are tried again; until they hold, the list is read every few seconds (an
    // invitation lasts 20 s), and the page says invitations may come late.
    const poll = pollWhileUnavailable(() => void relist().catch(() => {}));
    const unavailable = (err: Error) => {
      if (cancelled) return;
      setNote({ tone: 'error', text: `${INVITATIONS_LATE} (${err.message}); trying again.` });
      poll.start();
    };
    const rejoined = () => {
      poll.stop();
      setNote((n) => (n?.text.startsWith(INVITATIONS_LATE) ? null : n));
      void relist().catch((err: Error) => !cancelled && setNote({ tone: 'error', text: `Could not read your invitations again: ${err.message}` }));
    };
    // The database's clock first: a page just loaded on a phone whose clock is off has no live row to learn it from,
    // and would take the invitations listed for expired. Without an answer the page's own clock is used.
    const clockRead = readServerClock()
      .then(({ serverTime, sentAt, receivedAt }) => serverClock.learnFromRead(serverTime, sentAt, receivedAt))
      .catch(() => undefined);
    subscribeInvitations(userId, onRow, rejoined, unavailable)
      .then((off) => (cancelled ? off() : (unsubscribe = off)))
      .then(() => clockRead)
      .then(relist)
      .catch((err: Error) => !cancelled && setNote({ tone: 'error', text: err.message }));
    // An invitation whose time ran out goes away with a note, whether or not the database said so yet.
    const timer = setInterval(() => {
      const now = Date.now();
      const expired = invitationsRef.current.filter((inv) => inv.id !== acceptingRef.current && !isAlive(inv, now));
      if (expired.length === 0) return;
      showInvitations(invitationsRef.current.filter((inv) => !expired.includes(inv)));
      sayExpired(expired[0]!.host_id);
    }, 250);
    return () => {
      cancelled = true;
      clearInterval(timer);
      poll.stop();
      unsubscribe();
    };
  }, [userId]);

  // A seat still held from before this page loaded (a reload on stage, a tab closed and opened again): offered to rejoin or leave.
  useEffect(() => {
    let cancelled = false;
    void (async () => {
      for (const seat of await listMyActiveSeats(userId)) {
        const stream = await getStream(seat.stream_id);
        if (cancelled || stageRef.current) return;
        if (stream?.status !== 'live') continue;
        if (!(stream.host_id in hostNamesRef.current)) {
          const profile = (await getProfiles([stream.host_id]).catch(() => []))[0];
          if (profile) hostNamesRef.current[stream.host_id] = profile.display_name ?? profile.username ?? null;
        }
        if (cancelled || stageRef.current) return;
        setHostNames({ ...hostNamesRef.current });
        setHeld({ seat, hostId: stream.host_id, why: seatCheckWhyRef.current });
        return;
      }
    })().catch((err: Error) => !cancelled && setNote({ tone: 'error', text: `Could not check for a seat you hold: ${err.message}` }));
    return () => {
      cancelled = true;
    };
  }, [userId, seatCheck]);

  // The held seat follows the database while it is offered: a removal by the host, or the stream's end, takes it away
  // with a note (the card would otherwise offer a seat that is gone).
  const heldSeatId = held?.seat.id ?? null;
  const heldStreamId = held?.seat.stream_id ?? null;
  useEffect(() => {
    if (!heldSeatId || !heldStreamId) return;
    let cancelled = false;
    const offs: Array<() => void> = [];
    const gone = (exit: 'removed' | 'stream_ended') => {
      // The guest's own "Leave the seat" closes the row too: that says so itself.
      if (cancelled || leavingSeatRef.current === heldSeatId) return;
      cancelled = true;
      // A rejoin on its way (waiting for the camera) must not go on stage with the seat that is gone.
      goneSeatRef.current = heldSeatId;
      setHeld(null);
      setNote({ tone: 'info', text: EXIT_MESSAGES[exit] });
    };
    const closed = async (row: GuestSeatRow | undefined) => {
      if (row && row.left_at === null) return;
      gone(await whySeatClosed(row, heldStreamId));
    };
    // Read again after subscribing, and when live updates come back after a drop: a change meanwhile was not delivered.
    const reread = () =>
      void listActiveSeats(heldStreamId)
        .then((rows) => closed(rows.find((r) => r.id === heldSeatId)))
        .catch(() => {});
    const keep = (off: () => void) => (cancelled ? off() : offs.push(off));
    void Promise.all([
      subscribeSeats(heldStreamId, (row) => void (row.id === heldSeatId && closed(row).catch(() => {})), reread).then(keep),
      subscribeStream(heldStreamId, (row) => row.status === 'ended' && gone('stream_ended'), reread).then(keep),
    ])
      .then(reread)
      .catch(
        (err: Error) =>
          !cancelled && setNote({ tone: 'error', text: `Could not follow your seat (${err.message}): rejoin or leave it to find out whether it is still yours.` }),
      );
    return () => {
      cancelled = true;
      for (const off of offs.splice(0)) off();
    };
  }, [heldSeatId, heldStreamId]);

  // The camera and microphone are open only while there is something to check them for (or they are being
  // handed to the stage: the accepted invitation may leave the list before the stage takes them). A seat held after
  // the guest left the stage opens nothing by itself, nor does an invitation then: they turned their camera off by
  // leaving, and the seat's card says so (previewWanted).
  const heldWantsPreview = held !== null && held.why !== 'leave_failed';
  // Giving a seat up (busy too) opens nothing either.
  const handingOver = busyId !== null && busyId !== leavingSeatRef.current;
  const wantPreview = previewWanted({ onStage: stage !== null, invitations: invitations.length, held: held?.why ?? null, checking, handingOver });
  useEffect(() => {
    if (wantPreview) void check.open();
    else if (!stageRef.current) check.stop();
  }, [wantPreview, check]);

  useEffect(() => {
    mountedRef.current = true;
    // A page closed or reloaded on stage says goodbye (the host drops the call at once, and the seat waits for a rejoin).
    const onPageHide = () => void stageRef.current?.session.close();
    // Back to a page kept in the browser's memory after that goodbye: it starts afresh (and finds the seat to rejoin).
    const onPageShow = (e: PageTransitionEvent) => {
      if (e.persisted && stageRef.current) window.location.reload();
    };
    window.addEventListener('pagehide', onPageHide);
    window.addEventListener('pageshow', onPageShow);
    return () => {
      mountedRef.current = false;
      window.removeEventListener('pagehide', onPageHide);
      window.removeEventListener('pageshow', onPageShow);
      check.dispose();
      void stageRef.current?.session.close();
    };
  }, [check]);

  // Back to the waiting view when the stage ends, for whatever reason.
  useEffect(() => {
    if (!stage) return;
    const { session } = stage;
    const onChange = () => {
      const state = session.get();
      if (!state.exit) return;
      stageRef.current = null;
      setStage(null);
      setChecking(false);
      if (state.exit === 'left' && state.leaveError) {
        // The seat could not be given up (the request failed): it is still the guest's, offered again below.
        setNote({ tone: 'error', text: `You left the stage, but your seat could not be given up (${state.leaveError}): rejoin, or leave it below.` });
        checkSeat('leave_failed');
      } else setNote({ tone: state.exit === 'left' ? 'info' : 'error', text: EXIT_MESSAGES[state.exit] });
    };
    onChange();
    return session.subscribe(onChange);
  }, [stage]);

  const accept = async (inv: GuestInvitationRow) => {
    setBusyId(inv.id);
    acceptingRef.current = inv.id;
    setNote(null);
    let accepted = false;
    try {
      const seat = await acceptInvitation(inv.id);
      accepted = true;
      // The card stays, "Joining…", while the devices are handed over (a permission prompt can take a while).
      await goOnStage(seat, inv.host_id);
    } catch (err) {
      // An invitation that can no longer be accepted goes; one refused for now (seats full) stays for another try.
      const reason = (err as { reason?: string }).reason ?? '';
      if (FINAL_ACCEPT_REFUSALS.has(reason)) showInvitations(invitationsRef.current.filter((x) => x.id !== inv.id));
      setNote({ tone: 'error', text: (err as Error).message });
      // The seat may be ours even so (the answer was lost on the way, or the stage failed after it): look, so it is offered to rejoin or leave.
      if (!FINAL_ACCEPT_REFUSALS.has(reason) || reason === 'already_seated') checkSeat('accepted');
    } finally {
      if (accepted) showInvitations(invitationsRef.current.filter((x) => x.id !== inv.id));
      acceptingRef.current = null;
      setBusyId(null);
    }
  };

  /** On stage with a seat the guest holds: the checked camera and microphone go to the call. */
  const goOnStage = async (seat: GuestSeatRow, hostId: string) => {
    if (!mountedRef.current) {
      // The page went away while the seat was being taken: nobody would see this stage, so the seat is given back.
      await leaveSeat(seat.stream_id).catch(() => {});
      return;
    }
    const media = await check.release();
    if (!mountedRef.current) {
      // The page went away while the devices were being handed over: nothing is left capturing, and the seat is given back.
      stopStream(media.stream);
      await leaveSeat(seat.stream_id).catch(() => {});
      return;
    }
    if (goneSeatRef.current === seat.id) {
      // The held seat went (removed, or the stream ended) while the camera was being handed over: the note says so.
      stopStream(media.stream);
      return;
    }
    const session = new GuestSession({ streamId: seat.stream_id, hostId, userId, seat, media });
    const next: Stage = { session, hostName: hostNamesRef.current[hostId] ?? null };
    stageRef.current = next;
    setHeld(null);
    setStage(next);
    // A failure shows on the stage (link `failed`, with the reason and a way to try again).
    session.start().catch(() => {});
  };

  const rejoin = async ({ seat, hostId }: HeldSeat) => {
    setBusyId(seat.id);
    setNote(null);
    try {
      await goOnStage(seat, hostId);
    } catch (err) {
      setNote({ tone: 'error', text: (err as Error).message });
    } finally {
      setBusyId(null);
    }
  };

  const giveUpSeat = async ({ seat }: HeldSeat) => {
    setBusyId(seat.id);
    leavingSeatRef.current = seat.id;
    try {
      await leaveSeat(seat.stream_id);
      setHeld(null);
      setNote({ tone: 'info', text: EXIT_MESSAGES.left });
    } catch (err) {
      if ((err as { reason?: string }).reason === 'not_seated') {
        // The seat went meanwhile (the host removed the guest, or the stream ended): there is nothing left to leave.
        setHeld(null);
        setNote({ tone: 'info', text: 'That seat is no longer yours: the host took it back, or the stream ended.' });
      } else setNote({ tone: 'error', text: `Could not leave the seat: ${(err as Error).message}` });
    } finally {
      leavingSeatRef.current = null;
      setBusyId(null);
    }
  };

  const decline = async (inv: GuestInvitationRow) => {
    showInvitations(invitationsRef.current.filter((x) => x.id !== inv.id));
    await declineInvitation(inv.id).catch((err: Error & { reason?: string }) => {
      // Still open for the host (the request failed): the invitation comes back, to decline again or accept.
      if (!FINAL_ACCEPT_REFUSALS.has(err.reason ?? '') && isAlive(inv, Date.now()) && !invitationsRef.current.some((x) => x.id === inv.id)) {
        showInvitations([...invitationsRef.current, inv]);
        setNote({ tone: 'error', text: `${err.message}: the invitation is still open.` });
      } else setNote({ tone: 'error', text: err.message });
    });
  };

  if (stage) return <GuestStage stage={stage} />;

  return (
    <main className="guest g-app" data-testid="guest">
      <Announcer message={announcement} />
      <header className="g-top">
        <strong>
          <span className="brand-dot" /> Roast Live
        </strong>
        <span className="muted g-top-name">{displayName}</span>
      </header>
      <section className="g-body">
        {note ? (
          <p className={note.tone === 'error' ? 'g-note error' : 'g-note'} role={note.tone === 'error' ? 'alert' : 'status'} data-testid="guest-message">
            {note.text}
            <button type="button" className="g-link" aria-label="Dismiss" onClick={() => setNote(null)}>
              ✕
            </button>
          </p>
        ) : null}
        {held ? (
          <article className="card invitation g-invitation" data-testid="held-seat" aria-label="Your seat on stage">
            <header className="g-invitation-head">
              <div>
                <h2>You are still on stage with {hostNames[held.hostId] ?? 'the host'}</h2>
                <p className="muted small" data-testid="held-why">
                  Seat {held.seat.seat_index + 1} · {HELD_WHY[held.why]}
                </p>
              </div>
            </header>
            {heldWantsPreview || checking ? (
              <PreJoin check={check} />
            ) : (
              <p className="muted" data-testid="held-devices-off">
                Your camera and microphone are off. They open when you rejoin.
              </p>
            )}
            <div className="g-actions">
              <button type="button" className="primary g-big" onClick={() => void rejoin(held)} disabled={busyId !== null} data-testid="rejoin">
                {busyId === held.seat.id ? 'Joining…' : 'Rejoin the stage'}
              </button>
              <button type="button" className="g-big" onClick={() => void giveUpSeat(held)} disabled={busyId !== null} data-testid="leave-seat">
                Leave the seat
              </button>
            </div>
          </article>
        ) : null}
        {invitations.map((inv, i) => (
          <InvitationCard
            key={inv.id}
            invitation={inv}
            hostName={hostNames[inv.host_id] ?? null}
            expiresAt={serverClock.localIso(inv.expires_at)}
            busy={busyId === inv.id}
            disabled={busyId !== null}
            onAccept={() => void accept(inv)}
            onDecline={() => void decline(inv)}
            takeFocus={i === 0}
          >
            {/* Accepted, the preview goes: the devices are being handed to the stage ("Joining…"). */}
            {i === 0 && !held && busyId !== inv.id ? <PreJoin check={check} /> : null}
          </InvitationCard>
        ))}
        <WaitingCard userId={userId} hasInvitations={invitations.length > 0 || held !== null} checking={checking} onCheck={setChecking} />
        {checking && invitations.length === 0 && !held ? (
          <div className="card">
            <PreJoin check={check} />
          </div>
        ) : null}
      </section>
    </main>
  );
}

function WaitingCard({ userId, hasInvitations, checking, onCheck }: { userId: string; hasInvitations: boolean; checking: boolean; onCheck: (on: boolean) => void }) {
  const [copied, setCopied] = useState(false);
  const copy = () => {
    void navigator.clipboard
      ?.writeText(userId)
      .then(() => {
        setCopied(true);
        setTimeout(() => setCopied(false), 2000);
      })
      .catch(() => {});
  };
  return (
    <div className="card g-waiting">
      {hasInvitations ? null : (
        <>
          <h2>Waiting for an invitation</h2>
          <p className="muted">When a host invites you to go live, it appears here at once. Give them your id:</p>
        </>
      )}
      <div className="g-id">
        <span className="muted small">Your id</span>
        <code data-testid="user-id">{userId}</code>
        <button type="button" onClick={copy} data-testid="copy-id">
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
      {hasInvitations ? null : (
        <button type="button" className="g-big" onClick={() => onCheck(!checking)} data-testid="check-devices">
          {checking ? 'Done checking' : 'Check camera and microphone'}
        </button>
      )}
    </div>
  );
}

const LINK_LABELS: Record<GuestLinkState, string> = {
  new: 'connecting',
  connecting: 'connecting',
  connected: 'connected',
  disconnected: 'reconnecting',
  failed: 'not connected',
  closed: 'waiting for the host',
};

function GuestStage({ stage }: { stage: Stage }) {
  const { session, hostName } = stage;
  const state = useSyncExternalStore(session.subscribe, session.get);
  const programRef = useRef<HTMLVideoElement>(null);
  const selfRef = useRef<HTMLVideoElement>(null);
  const [needsTap, setNeedsTap] = useState(false);
  const [leaving, setLeaving] = useState(false);

  useEffect(() => {
    const el = programRef.current;
    if (!el || el.srcObject === state.program) return;
    el.srcObject = state.program;
    if (state.program) void el.play().then(() => setNeedsTap(false), () => setNeedsTap(true));
  }, [state.program]);

  useEffect(() => {
    if (selfRef.current) selfRef.current.srcObject = state.local;
  }, [state.local]);

  // Keep a phone's screen on while on stage. The browser lets the lock go whenever the page is hidden (another app, the
  // lock screen): it is asked for again each time the page is shown.
  useEffect(() => {
    let lock: WakeLockSentinel | null = null;
    let released = false;
    const acquire = () => {
      if (released || document.visibilityState !== 'visible' || (lock && !lock.released)) return;
      navigator.wakeLock
        ?.request('screen')
        .then((l) => (released ? void l.release() : (lock = l)))
        .catch(() => {});
    };
    acquire();
    document.addEventListener('visibilitychange', acquire);
    return () => {
      released = true;
      document.removeEventListener('visibilitychange', acquire);
      void lock?.release().catch(() => {});
    };
  }, []);

  const leave = () => {
    setLeaving(true);
    void session.leave();
  };

  // A moderator's list shows the other guests by name.
  const moderator = state.seat.is_moderator;
  const names = useProfileNames(moderator ? state.others.map((s) => s.user_id) : []);

  // The seat says who switched it off (the host's switch only the host releases); one set by the service names nobody.
  const whoSwitched = (by: string | null): string =>
    by === session.hostId ? 'The host' : by ? 'A moderator' : state.others.some((s) => s.is_moderator) ? 'The host or a moderator' : 'The host';

  const cameraShown = state.cameraOn && !state.seat.camera_disabled_by_host && state.local.getVideoTracks().length > 0;
  const connected = state.link === 'connected';

  // What changes on stage is said to a screen reader as it happens (the banners below appear already filled, which
  // many skip); the keyboard starts on the stage's title.
  const [announcement, announce] = useAnnouncer();
  const title = useRef<HTMLElement>(null);
  useEffect(() => {
    title.current?.focus();
    announce(`You are on stage, seat ${state.seat.seat_index + 1}${hostName ? `, with ${hostName}` : ''}.`);
    // Once, as the stage opens.
  }, []);
  const said = useRef({ muted: state.seat.muted_by_host, cameraOff: state.seat.camera_disabled_by_host, link: state.link, lost: false });
  useEffect(() => {
    const was = said.current;
    const lost = state.link === 'connected' ? false : was.lost || state.link === 'failed' || state.link === 'disconnected';
    const now = { muted: state.seat.muted_by_host, cameraOff: state.seat.camera_disabled_by_host, link: state.link, lost };
    said.current = now;
    const news: string[] = [];
    if (now.muted !== was.muted) news.push(now.muted ? `${whoSwitched(state.seat.mic_muted_by)} muted your microphone.` : 'Your microphone was released: you can unmute.');
    if (now.cameraOff !== was.cameraOff) news.push(now.cameraOff ? `${whoSwitched(state.seat.camera_disabled_by)} turned your camera off.` : 'Your camera was released: you can turn it on.');
    if (now.link !== was.link && now.link === 'failed') news.push('Could not reach the host.');
    if (now.link !== was.link && now.link === 'connected' && was.lost) news.push('Connected to the host again.');
    if (news.length > 0) announce(news.join(' '));
  });

  return (
    <main className="guest g-app g-live" data-testid="guest-stage" data-link={state.link}>
      <Announcer message={announcement} />
      <header className="g-top">
        <strong className="g-on-air" ref={title} tabIndex={-1}>
          <span className="g-live-badge">LIVE</span>
          <span className="g-on-air-text">
            Seat {state.seat.seat_index + 1}
            {hostName ? <span className="muted"> · with {hostName}</span> : null}
          </span>
        </strong>
        <span className={`pill link-${state.link}`} data-testid="link-state">
          {LINK_LABELS[state.link]}
        </span>
        <FullscreenButton />
      </header>

      <section className="g-program">
        <div className="g-program-frame">
          <video ref={programRef} autoPlay playsInline data-testid="program-view" />
          {!connected ? (
            <div className="g-program-cover">
              {state.link === 'failed' ? (
                <>
                  <p>Could not reach the host.</p>
                  <button type="button" className="g-big primary" onClick={() => session.reconnect()} disabled={leaving} data-testid="reconnect">
                    Try again
                  </button>
                </>
              ) : (
                <p>{state.link === 'closed' ? 'Waiting for the host…' : 'Connecting to the host…'}</p>
              )}
            </div>
          ) : null}
          {needsTap && connected ? (
            <button
              type="button"
              className="g-big primary g-tap-sound"
              onClick={() => void programRef.current?.play().then(() => setNeedsTap(false), () => {})}
            >
              Tap to hear the host and the other guests
            </button>
          ) : null}
        </div>
        <div className={cameraShown ? 'g-self' : 'g-self off'}>
          <video ref={selfRef} className={mirrorsSelfView(state.local.getVideoTracks()[0]) ? 'g-mirror' : undefined} autoPlay playsInline muted data-testid="self-view" />
          {cameraShown ? null : <span>Your camera is off</span>}
          <em className="g-self-label">You</em>
        </div>
      </section>

      <div className="g-middle">
        <div className="g-status">
          {state.seat.muted_by_host ? (
            <p className="g-banner" role="status" data-testid="host-muted">
              {whoSwitched(state.seat.mic_muted_by)} muted your microphone. You can unmute once they allow it.
            </p>
          ) : null}
          {state.seat.camera_disabled_by_host ? (
            <p className="g-banner" role="status" data-testid="host-camera-off">
              {whoSwitched(state.seat.camera_disabled_by)} turned your camera off. You can turn it on once they allow it.
            </p>
          ) : null}
          {connected && state.viewBehindMs > 0 ? (
            <p className="g-banner" role="status" data-testid="view-behind">
              Your view of the show runs {lagInWords(state.viewBehindMs)} behind: this device is too busy to show the video as it comes. Closing other apps or
              tabs can help.
            </p>
          ) : null}
          {state.notice ? (
            <p className="g-note error" role="alert" data-testid="stage-notice">
              {state.notice}
              <button type="button" className="g-link" aria-label="Dismiss" onClick={() => session.clearNotice()}>
                ✕
              </button>
            </p>
          ) : null}
        </div>

        {moderator ? (
          <ModeratorPanel others={state.others} names={names} hostId={session.hostId} onAction={(action, userId) => session.moderate(action, userId)}>
            <ModeratorInvites streamId={session.streamId} hostId={session.hostId} localTime={(t) => serverClock.localIso(t)} />
          </ModeratorPanel>
        ) : null}
      </div>

      <GuestControls state={state} session={session} onLeave={leave} leaving={leaving} />
    </main>
  );
}
