/** The check before going on stage: preview, device choice, microphone level, and what to do when a device fails. */
import { useEffect, useRef, useSyncExternalStore } from 'react';
import { describeDeviceErrors, mirrorsSelfView, pickableKinds } from '../../media/capture';
import type { DeviceCheck } from '../../session/GuestSession';
import { DevicePicker } from './DevicePicker';
import { CameraIcon, MicIcon } from './icons';
import { MicMeter } from './MicMeter';

export function PreJoin({ check }: { check: DeviceCheck }) {
  const state = useSyncExternalStore(check.subscribe, check.get);
  const videoRef = useRef<HTMLVideoElement>(null);
  const videoTrack = state.stream?.getVideoTracks()[0] ?? null;
  const audioTrack = state.stream?.getAudioTracks()[0] ?? null;

  useEffect(() => {
    const el = videoRef.current;
    if (!el) return;
    el.srcObject = videoTrack ? new MediaStream([videoTrack]) : null;
    if (videoTrack) void el.play().catch(() => {});
  }, [videoTrack]);

  const cover =
    state.status === 'opening' ? 'Starting your camera…' : !videoTrack ? 'No camera' : !state.cameraOn ? 'Your camera is off' : null;
  const problems = describeDeviceErrors(state.errors);
  // Another device cannot help where the browser refuses that kind: the other kind can still be chosen.
  const pickable = pickableKinds(problems);
  const noMedia = state.status === 'ready' && !videoTrack && !audioTrack;

  return (
    <section className="g-prejoin" data-testid="prejoin" data-status={state.status} aria-label="Camera and microphone check">
      <div className="g-preview">
        <video ref={videoRef} className={mirrorsSelfView(videoTrack) ? 'g-mirror' : undefined} autoPlay playsInline muted data-testid="prejoin-preview" />
        {cover ? <div className="g-preview-cover">{cover}</div> : null}
        <div className="g-preview-toggles">
          <button
            type="button"
            className={state.micOn && audioTrack ? 'g-round' : 'g-round off'}
            aria-label={state.micOn ? 'Turn microphone off' : 'Turn microphone on'}
            disabled={!audioTrack}
            onClick={() => check.setMicOn(!state.micOn)}
            data-testid="prejoin-mic-toggle"
          >
            <MicIcon off={!state.micOn || !audioTrack} />
          </button>
          <button
            type="button"
            className={state.cameraOn && videoTrack ? 'g-round' : 'g-round off'}
            aria-label={state.cameraOn ? 'Turn camera off' : 'Turn camera on'}
            disabled={!videoTrack}
            onClick={() => check.setCameraOn(!state.cameraOn)}
            data-testid="prejoin-camera-toggle"
          >
            <CameraIcon off={!state.cameraOn || !videoTrack} />
          </button>
        </div>
      </div>

      <div className="g-meter-row">
        <MicIcon off={!state.micOn || !audioTrack} />
        <MicMeter track={audioTrack} />
      </div>

      {problems.length > 0 ? (
        <div className="g-device-errors" role="alert">
          {problems.map((problem) => (
            <p key={problem.kinds.join('+')} className="error-text" data-testid="device-error" data-kinds={problem.kinds.join(' ')} data-reason={problem.reason}>
              {problem.message}
            </p>
          ))}
          <button type="button" className="g-link" onClick={() => void check.retry()} data-testid="device-retry">
            Try again
          </button>
        </div>
      ) : null}
      {noMedia ? <p className="muted small">You can still join: others will not see or hear you until a camera or microphone works.</p> : null}
      {!noMedia && state.status === 'ready' && (!state.micOn || !state.cameraOn) ? (
        <p className="muted small">
          You will join with your {!state.micOn && !state.cameraOn ? 'camera and microphone' : !state.micOn ? 'microphone' : 'camera'} off.
        </p>
      ) : null}

      {pickable.length > 0 ? (
        <DevicePicker
          devices={state.devices}
          cameraId={state.cameraId}
          microphoneId={state.microphoneId}
          kinds={pickable}
          disabled={state.status !== 'ready'}
          onChoose={(kind, deviceId) => void check.choose(kind, deviceId)}
        />
      ) : null}
    </section>
  );
}
