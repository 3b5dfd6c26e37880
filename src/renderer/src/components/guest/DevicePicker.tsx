/** Camera and microphone choice from the devices the browser lists. */
import type { DeviceLists, MediaKind } from '../../media/capture';

export function DevicePicker({
  devices,
  cameraId,
  microphoneId,
  disabled = false,
  kinds = ['video', 'audio'],
  onChoose,
}: {
  devices: DeviceLists;
  cameraId: string | null;
  microphoneId: string | null;
  disabled?: boolean;
  /** Which devices can be chosen (a kind the browser refuses has nothing to choose from). */
  kinds?: readonly MediaKind[];
  onChoose: (kind: MediaKind, deviceId: string) => void;
}) {
  const rows: Array<{ kind: MediaKind; label: string; none: string; list: DeviceLists['cameras']; value: string | null; testId: string }> = [
    {
      kind: 'video',
      label: 'Camera',
      none: devices.blocked?.includes('video') ? 'Camera access is blocked (site settings)' : 'No camera found',
      list: devices.cameras,
      value: cameraId,
      testId: 'camera-select',
    },
    {
      kind: 'audio',
      label: 'Microphone',
      none: devices.blocked?.includes('audio') ? 'Microphone access is blocked (site settings)' : 'No microphone found',
      list: devices.microphones,
      value: microphoneId,
      testId: 'mic-select',
    },
  ];
  return (
    <div className="g-devices">
      {rows.filter((row) => kinds.includes(row.kind)).map((row) => (
        <label key={row.kind} className="g-field">
          {row.label}
          <select
            data-testid={row.testId}
            value={row.value && row.list.some((d) => d.deviceId === row.value) ? row.value : ''}
            disabled={disabled || row.list.length === 0}
            onChange={(e) => e.target.value && onChoose(row.kind, e.target.value)}
          >
            {row.list.length === 0 ? <option value="">{row.none}</option> : null}
            {row.list.length > 0 && !(row.value && row.list.some((d) => d.deviceId === row.value)) ? <option value="">Choose…</option> : null}
            {row.list.map((d) => (
              <option key={d.deviceId} value={d.deviceId}>
                {d.label}
              </option>
            ))}
          </select>
        </label>
      ))}
    </div>
  );
}
