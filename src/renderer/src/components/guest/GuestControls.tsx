/** The guest's own switches on stage: microphone, camera, devices, leave — thumb-sized, at the bottom on a phone. */
import { useRef, useState } from 'react';
import { useSecondTap } from '../useSecondTap';
import type { GuestSession, GuestStageState } from '../../session/GuestSession';
import { DevicePicker } from './DevicePicker';
import { CameraIcon, DevicesIcon, LeaveIcon, MicIcon } from './icons';
import { MicMeter } from './MicMeter';

type SwitchState = 'on' | 'off' | 'host';

export function GuestControls({ state, session, onLeave, leaving }: { state: GuestStageState; session: GuestSession; onLeave: () => void; leaving: boolean }) {
  const [showDevices, setShowDevices] = useState(false);
  const devicesButton = useRef<HTMLButtonElement>(null);
  /** The sheet closes with its Done button, which goes with it: the keyboard goes back to the Devices button. */
  const closeDevices = () => {
    setShowDevices(false);
    requestAnimationFrame(() => devicesButton.current?.focus());
  };
  /** Leave was tapped once: a second tap leaves (a pocket or a stray thumb does not end the guest's turn); it lapses after a while. */
  const [confirmLeave, setConfirmLeave] = useSecondTap<true>();
  /** The controls whose change is on its way, each on its own (a mic tap does not free the camera's button). */
  const [busy, setBusy] = useState<ReadonlySet<'mic' | 'camera' | 'device'>>(new Set());
  const mic: SwitchState = state.seat.muted_by_host ? 'host' : state.micOn ? 'on' : 'off';
  const camera: SwitchState = state.seat.camera_disabled_by_host ? 'host' : state.cameraOn ? 'on' : 'off';
  const audioTrack = state.local.getAudioTracks()[0] ?? null;
  // Who turned a switch off, as the seat records it (one set by the service names nobody: the host's, as before).
  const byWhom = (by: string | null): string => (by && by !== session.hostId ? 'moderator' : 'host');

  const run = (what: 'mic' | 'camera' | 'device', action: () => Promise<void>) => {
    setBusy((held) => new Set(held).add(what));
    // The session shows what went wrong (a refusal from the database, a failed device) as its notice.
    action()
      .catch(() => {})
      .finally(() =>
        setBusy((held) => {
          const next = new Set(held);
          next.delete(what);
          return next;
        }),
      );
  };

  return (
    <>
      {showDevices ? (
        <div className="g-sheet" role="dialog" aria-label="Camera and microphone" data-testid="device-sheet">
          <DevicePicker
            devices={state.devices}
            cameraId={state.cameraId}
            microphoneId={state.microphoneId}
            disabled={busy.has('device') || leaving}
            onChoose={(kind, deviceId) => run('device', () => session.switchDevice(kind, deviceId))}
          />
          <button type="button" className="g-big" onClick={closeDevices}>
            Done
          </button>
        </div>
      ) : null}
      <nav className="g-controls" aria-label="Your controls">
        <button
          type="button"
          className={`g-control ${mic}`}
          disabled={busy.has('mic') || leaving}
          onClick={() => run('mic', () => session.setMic(mic !== 'on'))}
          data-testid="mic-toggle"
          data-state={mic}
        >
          <MicIcon off={mic !== 'on'} />
          <span>{mic === 'host' ? `Muted by ${byWhom(state.seat.mic_muted_by)}` : mic === 'on' ? 'Mute' : 'Unmute'}</span>
          <MicMeter track={mic === 'on' ? audioTrack : null} compact testId="stage-mic-meter" />
        </button>
        <button
          type="button"
          className={`g-control ${camera}`}
          disabled={busy.has('camera') || leaving}
          onClick={() => run('camera', () => session.setCamera(camera !== 'on'))}
          data-testid="camera-toggle"
          data-state={camera}
        >
          <CameraIcon off={camera !== 'on'} />
          <span>{camera === 'host' ? `Camera off by ${byWhom(state.seat.camera_disabled_by)}` : camera === 'on' ? 'Stop video' : 'Start video'}</span>
        </button>
        <button
          type="button"
          className={showDevices ? 'g-control active' : 'g-control'}
          aria-expanded={showDevices}
          onClick={() => (showDevices ? closeDevices() : setShowDevices(true))}
          disabled={leaving}
          ref={devicesButton}
          data-testid="devices-toggle"
        >
          <DevicesIcon />
          <span>Devices</span>
        </button>
        <button
          type="button"
          className={confirmLeave ? 'g-control leave confirm' : 'g-control leave'}
          onClick={() => {
            if (!confirmLeave) return setConfirmLeave(true);
            setConfirmLeave(null);
            onLeave();
          }}
          disabled={leaving}
          aria-label={confirmLeave ? 'Tap again to leave the stage' : 'Leave the stage'}
          data-testid="leave"
          data-state={confirmLeave ? 'confirm' : 'ready'}
        >
          <LeaveIcon />
          <span>{leaving ? 'Leaving…' : confirmLeave ? 'Sure? Leave' : 'Leave'}</span>
        </button>
      </nav>
    </>
  );
}
