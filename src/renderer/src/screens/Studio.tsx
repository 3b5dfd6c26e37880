import { useEffect, useMemo, useRef, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { LiveHealthBar, OffAirAlert } from '../components/HealthBar';
import { recall, remember } from '../remembered';
import { OUTPUT_FORMATS, OUTPUT_FORMAT_IDS } from '../../../shared/outputFormats';
import { EventsFeed } from '../components/studio/EventsFeed';
import { PanelBoundary } from '../components/PanelBoundary';
import { GuestSeatGrid, type SeatAction } from '../components/studio/GuestSeatGrid';
import { InvitePanel } from '../components/studio/InvitePanel';
import { LayoutPicker } from '../components/studio/LayoutPicker';
import { StillLive } from '../components/studio/StillLive';
import { hostDeviceMessage, listDevices, onDevicesChanged, openHostMedia, rememberedDevice, type DeviceLists, type MediaKind } from '../media/capture';
import { DevicePicker } from '../components/guest/DevicePicker';
import { getNativeBridge } from '../native';
import {
  cancelInvitation,
  disableGuestCamera,
  enableGuestCamera,
  inviteGuest,
  lockSeat,
  muteGuest,
  readServerClock,
  removeGuest,
  searchProfiles,
  setGuestVolume,
  setModerator,
  unlockSeat,
  unmuteGuest,
} from '../services/streamGuestService';
import { HostSession } from '../session/HostSession';
import { latestOnly } from '../services/latestOnly';
import { ServerClock } from '../session/serverClock';
import { laterStreamRow, type GuestSeatRow, type StreamRow } from '../../../shared/domain';
import { activeSeats, useStore } from '../store';
import { SignIn } from './SignIn';
import { loadConfig } from '../config';
import { guestPageLink, watchPageLink } from '../../../shared/appLinks';
import { useRestoreSession } from './useRestoreSession';

export function Studio() {
  const { ready, error: restoreError } = useRestoreSession();
  const userId = useStore((s) => s.userId);
  if (!ready) return <main className="studio">Loading…</main>;
  if (restoreError) return <main className="studio error-text">{restoreError}</main>;
  if (!userId) {
    return (
      <main className="centered">
        <SignIn role="host" />
      </main>
    );
  }
  return <StudioLive userId={userId} />;
}

type RecordChoice = 'off' | 'mkv' | 'mp4';
const RECORD_KEY = 'roast.record';
/** The database's clock as the studio sees it, learnt from each invitation's answer: the countdowns end when the database's do. */
const studioClock = new ServerClock();
/** The streamer's last choice of recording, kept on this computer. */
function savedRecordChoice(): RecordChoice {
  const saved = recall(RECORD_KEY);
  return saved === 'mkv' || saved === 'mp4' ? saved : 'off';
}

function StudioLive({ userId }: { userId: string }) {
  const programRef = useRef<HTMLDivElement>(null);
  const sessionRef = useRef<HostSession | null>(null);
  const [deviceError, setDeviceError] = useState<string | null>(null);
  /** Bumped by "Try again" after the camera or the encoder could not start: the studio starts again. */
  const [startAttempt, setStartAttempt] = useState(0);
  const [sessionReady, setSessionReady] = useState(false);
  const [title, setTitle] = useState('Roast night');
  const [record, setRecord] = useState<RecordChoice>(savedRecordChoice);
  const outputFormat = useStore((s) => s.outputFormat);
  const [devices, setDevices] = useState<DeviceLists>({ cameras: [], microphones: [] });
  const [deviceIds, setDeviceIds] = useState<{ cameraId: string | null; microphoneId: string | null }>({ cameraId: null, microphoneId: null });
  const recordingPath = useStore((s) => s.recordingPath);
  const [actionError, setActionError] = useState<string | null>(null);
  const displayName = useStore((s) => s.displayName);
  const { phase, stream, stats, encoder, error, playbackUrl, programProblem } = useStore(
    useShallow((s) => ({
      phase: s.phase,
      stream: s.stream,
      stats: s.stats,
      encoder: s.encoder,
      error: s.error,
      playbackUrl: s.playbackUrl,
      programProblem: s.programProblem,
    })),
  );
  // A new broadcast starts without the last one's failed actions on screen.
  useEffect(() => {
    if (phase === 'starting') setActionError(null);
  }, [phase]);
  const { layout, focusId, hostMicOn, hostCameraOn, sharingScreen } = useStore(
    useShallow((s) => ({ layout: s.layout, focusId: s.focusId, hostMicOn: s.hostMicOn, hostCameraOn: s.hostCameraOn, sharingScreen: s.sharingScreen })),
  );
  const hostDeviceProblems = useStore((s) => s.hostDeviceProblems);
  const seats = useStore(useShallow((s) => activeSeats(s.seats)));
  const invitations = useStore((s) => s.invitations);
  const events = useStore((s) => s.events);
  const links = useStore((s) => s.links);
  const names = useStore((s) => s.names);
  const compositor = useStore(useShallow((s) => ({ mode: s.pipeline.compositor, renderer: s.pipeline.glRenderer })));
  const live = phase === 'live';
  /**
   * Where guests and viewers open the app: the links below start there
   * (relative where nobody said, which only the browser studio can open).
   */
  const [appLinks, setAppLinks] = useState<{ webAppUrl?: string; canOpen: boolean }>({ canOpen: true });
  useEffect(() => {
    let cancelled = false;
    loadConfig()
      .then((config) => !cancelled && setAppLinks({ webAppUrl: config.webAppUrl, canOpen: !!config.webAppUrl || config.shell === 'browser' }))
      .catch(() => {});
    return () => {
      cancelled = true;
    };
  }, []);

  useEffect(() => {
    let disposed = false;
    let session: HostSession | null = null;
    // A closed tab or window, or a reload, unmounts nothing: the stream is ended as the page goes (see pageHidden).
    const onPageHide = () => session?.pageHidden();
    window.addEventListener('pagehide', onPageHide);
    setDeviceError(null);
    (async () => {
      let camera: MediaStream | null = null;
      try {
        // A camera or a microphone alone is enough to go live: what is missing is said, and can be picked later.
        const opened = openHostMedia({ cameraId: rememberedDevice('host', 'video'), microphoneId: rememberedDevice('host', 'audio') });
        const bridgeReady = getNativeBridge().catch(async (err: unknown) => {
          // The camera that did open is let go: its light does not stay on behind an error.
          (await opened.catch(() => null))?.stream.getTracks().forEach((t) => t.stop());
          throw err;
        });
        const [media, bridge] = await Promise.all([opened, bridgeReady]);
        camera = media.stream;
        const errors = media.errors;
        if (disposed) {
          camera.getTracks().forEach((t) => t.stop());
          return;
        }
        const problems: Partial<Record<MediaKind, string>> = {};
        for (const kind of ['video', 'audio'] as const) {
          const problem = errors[kind];
          if (problem) problems[kind] = hostDeviceMessage(kind, problem);
        }
        useStore.getState().setProgram({ hostDeviceProblems: problems });
        session = new HostSession(programRef.current!, bridge, userId, displayName, camera);
        sessionRef.current = session;
        setSessionReady(true);
      } catch (err) {
        // No session took the camera (a browser that cannot composite, say): its light does not stay on behind the error.
        if (!session) camera?.getTracks().forEach((t) => t.stop());
        setDeviceError((err as Error).message);
      }
    })();
    return () => {
      disposed = true;
      window.removeEventListener('pagehide', onPageHide);
      void session?.dispose();
      sessionRef.current = null;
      setSessionReady(false);
      useStore.getState().setProgram({ hostDeviceProblems: {} });
    };
  }, [userId, displayName, startAttempt]);

  // The database's clock, read once: invitations count down by it (a moderator's invitation may come before any of the
  // host's own answers teach it). Without an answer the page's own clock is used.
  useEffect(() => {
    void readServerClock()
      .then(({ serverTime, sentAt, receivedAt }) => studioClock.learnFromRead(serverTime, sentAt, receivedAt))
      .catch(() => undefined);
  }, []);

  // The cameras and microphones to choose from, kept current as devices come and go (and as one stops or comes back).
  useEffect(() => {
    if (!sessionReady) return;
    let cancelled = false;
    const refresh = () =>
      void listDevices()
        .then((lists) => {
          if (cancelled) return;
          setDevices(lists);
          if (sessionRef.current) setDeviceIds(sessionRef.current.devices());
        })
        .catch(() => {});
    refresh();
    const off = onDevicesChanged(refresh);
    return () => {
      cancelled = true;
      off();
    };
  }, [sessionReady, hostDeviceProblems]);

  const chooseDevice = (kind: MediaKind, deviceId: string) =>
    void act(async () => {
      try {
        await sessionRef.current!.switchDevice(kind, deviceId);
      } finally {
        if (sessionRef.current) setDeviceIds(sessionRef.current.devices());
      }
    });

  const goLive = () => void sessionRef.current?.goLive(title.trim(), record === 'off' ? null : record).catch(() => {});
  const chooseRecord = (choice: RecordChoice) => {
    setRecord(choice);
    remember(RECORD_KEY, choice);
  };
  const endLive = () => void sessionRef.current?.end().catch((err: Error) => useStore.getState().setBroadcast({ error: err.message }));
  // Go live and End live take each other's place: the keyboard follows to the one shown (once it can be pressed),
  // instead of falling to the top of the page with the button that went.
  const goLiveButton = useRef<HTMLButtonElement>(null);
  const endLiveButton = useRef<HTMLButtonElement>(null);
  const formShown = phase === 'idle' || phase === 'error' || phase === 'ended';
  const swapped = useRef<boolean | null>(null);
  useEffect(() => {
    // Not as the page opens (a stray key would go live): only after the buttons swapped.
    const first = swapped.current === null;
    swapped.current = formShown;
    if (first) return;
    const focusLost = document.activeElement === null || document.activeElement === document.body;
    if (focusLost) (formShown ? goLiveButton : endLiveButton).current?.focus();
  }, [formShown, live]);

  /** Runs a host action; its error shows under the grid. Answers whether it succeeded. */
  const act = async (action: () => Promise<unknown>): Promise<boolean> => {
    setActionError(null);
    try {
      await action();
      return true;
    } catch (err) {
      setActionError((err as Error).message);
      return false;
    }
  };

  // A dragged volume slider: one request at a time per guest, the latest value last (see latestOnly).
  const sendVolume = useMemo(
    () =>
      latestOnly((userId: string, { streamId, volume }: { streamId: string; volume: number }) =>
        setGuestVolume(streamId, userId, volume).then((row) => void sessionRef.current?.applySeat(row)),
      ),
    [],
  );

  const onSeatAction = (a: SeatAction) => {
    if (!stream) return;
    const id = stream.id;
    // The changed row is shown at once (Realtime delivers it too, maybe later; the older copy is then ignored).
    const seat = (change: Promise<GuestSeatRow>) => act(() => change.then((row) => sessionRef.current?.applySeat(row)));
    // A lock's answer is shown only on the stream it was for, and only when no later change of the row came first.
    const locks = (change: Promise<StreamRow>) =>
      act(() =>
        change.then((row) => {
          const held = useStore.getState().stream;
          if (held?.id === row.id) useStore.getState().setBroadcast({ stream: laterStreamRow(held, row) });
        }),
      );
    switch (a.kind) {
      case 'mute':
        return void seat(muteGuest(id, a.userId));
      case 'unmute':
        return void seat(unmuteGuest(id, a.userId));
      case 'camera-off':
        return void seat(disableGuestCamera(id, a.userId));
      case 'camera-release':
        return void seat(enableGuestCamera(id, a.userId));
      case 'remove':
        return void seat(removeGuest(id, a.userId));
      case 'make-moderator':
        return void seat(setModerator(id, a.userId, true));
      case 'revoke-moderator':
        return void seat(setModerator(id, a.userId, false));
      case 'volume':
        return act(() => sendVolume(a.userId, { streamId: id, volume: a.volume }));
      case 'lock':
        return void locks(lockSeat(id, a.seatIndex));
      case 'unlock':
        return void locks(unlockSeat(id, a.seatIndex));
      case 'spotlight':
        return sessionRef.current?.setLayout('spotlight', a.userId);
    }
  };

  return (
    <main className="studio" data-testid="studio" data-phase={phase}>
      <header className="topbar">
        <strong>
          <span className="brand-dot" /> Roast Live Studio
        </strong>
        {live && stats?.state === 'error' ? (
          <span className="pill phase-error" data-testid="phase" title="the encoder stopped: the studio is live with its guests, the stream is not">
            OFF AIR
          </span>
        ) : (
          <span className={`pill phase-${phase}`} data-testid="phase">
            {live ? 'LIVE' : phase}
          </span>
        )}
        <span className="muted">
          {displayName} · <code data-testid="user-id">{userId}</code>
        </span>
      </header>
      <section className="stage">
        <div className="program-column">
          <div className="program">
            <div ref={programRef} className="program-canvas" />
            {deviceError ? (
              <div className="error-text overlay" role="alert" data-testid="device-error">
                <p>{deviceError}</p>
                <button type="button" onClick={() => setStartAttempt((n) => n + 1)} data-testid="device-retry">
                  Try again
                </button>
              </div>
            ) : null}
          </div>
          <div className="row wrap controls">
            <OwnDeviceButton on={hostMicOn} problem={hostDeviceProblems.audio} labels={['Mute me', 'Unmute me']} onToggle={(on) => sessionRef.current?.setOwnMic(on)} testId="host-mic" />
            <OwnDeviceButton
              on={hostCameraOn}
              problem={hostDeviceProblems.video}
              labels={['Camera off', 'Camera on']}
              onToggle={(on) => sessionRef.current?.setOwnCamera(on)}
              testId="host-camera"
            />
            <button
              type="button"
              onClick={() => (sharingScreen ? sessionRef.current?.stopScreenShare() : void act(() => sessionRef.current!.startScreenShare()))}
              className={sharingScreen ? 'engaged' : undefined}
              data-state={sharingScreen ? 'on' : 'off'}
              disabled={!sessionReady}
              data-testid="share-screen"
            >
              {sharingScreen ? 'Stop sharing' : 'Share screen'}
            </button>
            <LayoutPicker value={layout} onChange={(kind) => sessionRef.current?.setLayout(kind, kind === 'grid' ? null : focusId)} />
          </div>
          {(['video', 'audio'] as const).map((kind) =>
            hostDeviceProblems[kind] ? (
              <p key={kind} className="warn-text device-notice" role="status" data-testid="host-device-missing" data-kind={kind}>
                <span data-testid="host-device-message">{hostDeviceProblems[kind]}</span>{' '}
                <button type="button" className="link-button" onClick={() => void act(() => sessionRef.current!.reopenDevice(kind))} disabled={!sessionReady} data-testid="host-device-retry">
                  Try again
                </button>
              </p>
            ) : null,
          )}
          <div className="host-devices" data-testid="host-devices">
            <DevicePicker devices={devices} cameraId={deviceIds.cameraId} microphoneId={deviceIds.microphoneId} disabled={!sessionReady} onChoose={chooseDevice} />
          </div>
          <PanelBoundary name="The seat grid">
            <GuestSeatGrid
              hostName={displayName}
              hostMicOn={hostMicOn && !hostDeviceProblems.audio}
              hostCameraOn={hostCameraOn && !hostDeviceProblems.video}
              seats={seats}
              lockedSeats={stream?.locked_seats ?? []}
              names={names}
              links={links}
              hostId={userId}
              disabled={!live}
              onAction={onSeatAction}
            />
          </PanelBoundary>
          {actionError ? (
            <p className="error-text" role="alert" data-testid="action-error">
              {actionError}
            </p>
          ) : null}
        </div>
        <aside className="panel">
          <div className="card">
            <h3>Broadcast</h3>
            {phase === 'idle' || phase === 'error' || phase === 'ended' ? (
              <>
                <label>
                  Title
                  <input value={title} onChange={(e) => setTitle(e.target.value)} maxLength={120} data-testid="title" />
                </label>
                <label>
                  Record a copy on this computer
                  <select value={record} onChange={(e) => chooseRecord(e.target.value as RecordChoice)} data-testid="record">
                    <option value="off">No</option>
                    <option value="mkv">Yes, MKV (safe if the app stops)</option>
                    <option value="mp4">Yes, MP4</option>
                  </select>
                </label>
                <label>
                  Output
                  <select
                    value={outputFormat}
                    onChange={(e) => void act(() => sessionRef.current!.setOutputFormat(e.target.value))}
                    disabled={!sessionReady}
                    data-testid="output-format"
                  >
                    {OUTPUT_FORMAT_IDS.map((id) => (
                      <option key={id} value={id}>
                        {OUTPUT_FORMATS[id].label} · {(OUTPUT_FORMATS[id].videoBitrateKbps / 1000).toFixed(1)} Mbps
                      </option>
                    ))}
                  </select>
                </label>
                <button ref={goLiveButton} className="primary" onClick={goLive} disabled={!!deviceError || !sessionReady || !title.trim()} title={title.trim() ? undefined : 'Give the stream a title first'} data-testid="go-live">
                  {sessionReady || deviceError ? 'Go live' : 'Starting camera…'}
                </button>
                {phase === 'error' && stream?.status === 'live' ? (
                  <button className="danger" onClick={endLive} data-testid="end-live">
                    End live
                  </button>
                ) : null}
              </>
            ) : (
              <button ref={endLiveButton} className="danger" onClick={endLive} disabled={!live} data-testid="end-live">
                End live
              </button>
            )}
            {/* In the error phase a stream of this studio's that stays live has End live above. */}
            <StillLive userId={userId} phase={phase} ownStreamId={phase === 'error' && stream?.status === 'live' ? stream.id : null} />
            {error ? <ErrorWithDetails text={error} /> : null}
            {live ? <OffAirAlert stats={stats} /> : null}
            {programProblem ? <ProgramProblem problem={programProblem} onDismiss={() => useStore.getState().setBroadcast({ programProblem: null })} /> : null}
            {recordingPath ? (
              <p className="muted small" data-testid="recording">
                {phase === 'ended' ? 'Recording saved to' : phase === 'error' ? 'Recorded to' : 'Recording to'} <code>{recordingPath}</code>
              </p>
            ) : null}
            {recordingPath && stats?.recordingError ? (
              <p className="error-text small" role="alert" data-testid="recording-error">
                {stats.recordingError[0]!.toUpperCase() + stats.recordingError.slice(1)}.
              </p>
            ) : null}
            {playbackUrl && stream ? (
              <p className="muted small">
                Viewers:{' '}
                {appLinks.canOpen ? (
                  <a href={watchPageLink(appLinks.webAppUrl, stream.id)} target="_blank" rel="noreferrer" data-testid="watch-link">
                    watch page
                  </a>
                ) : null}{' '}
                · <code>{playbackUrl}</code>
              </p>
            ) : null}
            {appLinks.canOpen ? (
              <p className="muted small">
                Guests join at{' '}
                <a href={guestPageLink(appLinks.webAppUrl)} target="_blank" rel="noreferrer" data-testid="guest-link">
                  the guest page
                </a>
              </p>
            ) : (
              <p className="muted small" data-testid="links-unset">
                Links for guests and viewers appear once ROAST_WEB_APP_URL says where the web app is served.
              </p>
            )}
            <PanelBoundary name="Stream health">
              <LiveHealthBar stats={stats} encoder={encoder} compositor={compositor} fps={OUTPUT_FORMATS[outputFormat].fps} />
            </PanelBoundary>
          </div>
          <PanelBoundary name="Invitations">
            <InvitePanel
              enabled={live}
              invitations={invitations}
              names={names}
              hostId={userId}
              search={searchProfiles}
              invite={async (inviteeId) => {
                if (!stream) return;
                const sentAt = Date.now();
                const invitation = await inviteGuest(stream.id, inviteeId);
                // The database made it between the request and the answer: its clock against this computer's.
                studioClock.learnFromRead(invitation.created_at, sentAt, Date.now());
                useStore.getState().upsertInvitation(invitation);
              }}
              localTime={(t) => studioClock.localIso(t)}
              onRanOut={(id) => void sessionRef.current?.invitationRanOut(id)}
              cancel={async (invitationId) => {
                useStore.getState().upsertInvitation(await cancelInvitation(invitationId));
              }}
            />
          </PanelBoundary>
          <div className="card">
            <h3>Activity</h3>
            <PanelBoundary name="The activity feed">
              <EventsFeed events={events} />
            </PanelBoundary>
          </div>
        </aside>
      </section>
    </main>
  );
}

/** A problem the program ran into while it runs (the latest), with its time, until the streamer dismisses it. */
function ProgramProblem({ problem, onDismiss }: { problem: { message: string; atMs: number }; onDismiss: () => void }) {
  return (
    <div className="warn-text" role="status" data-testid="program-problem">
      <p>
        <time dateTime={new Date(problem.atMs).toISOString()}>{new Date(problem.atMs).toLocaleTimeString()}</time> · {problem.message}
      </p>
      <button type="button" className="small" onClick={onDismiss} data-testid="program-problem-dismiss">
        Dismiss
      </button>
    </div>
  );
}

/** An error's first line is what to act on; the lines after it (ffmpeg's own words) fold away under "Details". */
function ErrorWithDetails({ text }: { text: string }) {
  const [headline, ...details] = text.split('\n');
  return (
    <div className="error-text" role="alert" data-testid="broadcast-error">
      <p>{headline}</p>
      {details.length > 0 ? (
        <details>
          <summary>Details</summary>
          <code className="small">{details.join('\n')}</code>
        </details>
      ) : null}
    </div>
  );
}

/** The host's own mic or camera switch: pressed while off, unusable (saying why) without the device. */
function OwnDeviceButton({
  on,
  problem,
  labels,
  onToggle,
  testId,
}: {
  on: boolean;
  problem: string | undefined;
  labels: [whenOn: string, whenOff: string];
  onToggle: (on: boolean) => void;
  testId: string;
}) {
  return (
    <button type="button" onClick={() => onToggle(!on)} className={on ? undefined : 'engaged'} data-state={on ? 'on' : 'off'} disabled={!!problem} title={problem} data-testid={testId}>
      {on ? labels[0] : labels[1]}
    </button>
  );
}
