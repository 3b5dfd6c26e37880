import { useEffect, useRef, useState } from 'react';
import { SEAT_COUNT, type GuestSeatRow } from '../../../../shared/domain';
import { gridShape } from '../../../../shared/layout';
import { describeQuality } from '../../rtc/linkQuality';
import { type SeatLinkState, useStore } from '../../store';
import { useSecondTap } from '../useSecondTap';

export type SeatAction =
  | { kind: 'mute' | 'unmute' | 'camera-off' | 'camera-release' | 'remove' | 'make-moderator' | 'revoke-moderator'; userId: string }
  | { kind: 'volume'; userId: string; volume: number }
  | { kind: 'lock' | 'unlock'; seatIndex: number }
  | { kind: 'spotlight'; userId: string };

export interface SeatTile {
  index: number;
  seat: GuestSeatRow | null;
  locked: boolean;
}

export function seatTiles(seats: GuestSeatRow[], lockedSeats: number[]): SeatTile[] {
  return Array.from({ length: SEAT_COUNT }, (_, index) => ({
    index,
    seat: seats.find((s) => s.seat_index === index && s.left_at === null) ?? null,
    locked: lockedSeats.includes(index),
  }));
}

interface Props {
  hostName: string;
  hostMicOn: boolean;
  hostCameraOn: boolean;
  seats: GuestSeatRow[];
  lockedSeats: number[];
  names: Record<string, string>;
  links: Record<string, SeatLinkState>;
  hostId: string;
  disabled: boolean;
  /** A volume change may answer whether it was applied (false: the slider goes back to the seat's volume). */
  onAction: (action: SeatAction) => void | Promise<boolean>;
}

/** Host + nine seats, in the grid the program uses (1x1 … 3x3 by the number of people), plus empty and locked seats. */
/** Above this level (dBFS) a participant counts as speaking. */
const SPEAKING_DB = -45;

/**
 * A participant's program level, subscribed on its own: the levels change
 * several times a second, and only the meters (not the whole studio) redraw,
 * each only when its rounded width or speaking state changes.
 */
function Meter({ userId }: { userId: string }) {
  const percent = useStore((s) => Math.round(Math.max(0, Math.min(1, ((s.levels[userId] ?? -100) + 60) / 60)) * 20) * 5);
  const speaking = useStore((s) => (s.levels[userId] ?? -100) > SPEAKING_DB);
  return (
    <span className={speaking ? 'meter speaking' : 'meter'} aria-hidden="true" data-speaking={speaking}>
      <span style={{ width: `${percent}%` }} />
    </span>
  );
}

/**
 * A guest's connection grade (good, fair, poor), subscribed on its own like
 * the meters; the figures in its tooltip, the first reason on the tile when
 * it is not good (a touch screen has no tooltip).
 */
function Quality({ userId }: { userId: string }) {
  const quality = useStore((s) => s.quality[userId]);
  if (!quality) return null;
  return (
    <span className={`grade grade-${quality.grade}`} data-testid="link-quality" data-grade={quality.grade} title={describeQuality(quality)}>
      {quality.grade}
      {quality.reasons.length ? <span className="grade-why">: {quality.reasons[0]}</span> : null}
    </span>
  );
}

/**
 * Where a seat's menu opens: at the pointer, or — opened from the keyboard
 * (Enter, Space, the context-menu key: no pointer position) — over the seat.
 */
function menuPoint(e: { clientX: number; clientY: number; detail: number; currentTarget: Element }): [number, number] {
  if (e.detail > 0 || e.clientX !== 0 || e.clientY !== 0) return [e.clientX, e.clientY];
  const r = e.currentTarget.getBoundingClientRect();
  return [Math.round(r.left + r.width / 2), Math.round(r.top + r.height / 2)];
}

export function GuestSeatGrid({ hostName, hostId, hostMicOn, hostCameraOn, seats, lockedSeats, names, links, disabled, onAction }: Props) {
  const tiles = seatTiles(seats, lockedSeats);
  const occupied = tiles.filter((t) => t.seat).length;
  const { cols } = gridShape(Math.min(10, occupied + 1));
  /** The seat whose menu is open, and who sat there then: the menu shows the seat as it is now, and goes when they leave. */
  const [menu, setMenu] = useState<{ index: number; userId: string | null; x: number; y: number } | null>(null);
  const longPress = useRef<ReturnType<typeof setTimeout> | null>(null);
  /** What had the focus when the menu opened (its tile): the keyboard goes back there when the menu closes by key or action. */
  const opener = useRef<HTMLElement | null>(null);
  const closeToOpener = () => {
    setMenu(null);
    opener.current?.focus();
  };
  const menuTile = menu ? tiles.find((t) => t.index === menu.index) : undefined;
  const menuStale = !!menu && (disabled || !menuTile || (menuTile.seat?.user_id ?? null) !== menu.userId);

  // The seat changed under the menu (the guest left, the show ended): a keyboard inside it goes back to the tile, not
  // to the top of the page. Whether it was inside is read now, while the menu is still on the page: this render
  // takes the menu away before the effect below runs.
  const focusWasInMenu = useRef(false);
  if (menuStale && typeof document !== 'undefined' && document.activeElement?.closest('[data-testid="seat-menu"]')) focusWasInMenu.current = true;
  useEffect(() => {
    if (!menuStale) return;
    setMenu(null);
    if (focusWasInMenu.current) opener.current?.focus();
    focusWasInMenu.current = false;
  }, [menuStale]);

  useEffect(() => {
    if (!menu) return;
    // A click outside or Escape closes it; other keys (Tab, Enter, the volume's arrows) work inside it.
    const close = () => setMenu(null);
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && closeToOpener();
    window.addEventListener('click', close);
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('click', close);
      window.removeEventListener('keydown', onKey);
    };
  }, [menu]);

  const cancelLongPress = () => {
    if (longPress.current) clearTimeout(longPress.current);
    longPress.current = null;
  };

  const open = (tile: SeatTile, x: number, y: number) => {
    if (disabled) return;
    opener.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    setMenu({ index: tile.index, userId: tile.seat?.user_id ?? null, x, y });
  };

  return (
    <div className="seat-grid-wrap">
      <div className="seat-grid" style={{ gridTemplateColumns: `repeat(${Math.min(cols, 3)}, 1fr)` }} data-testid="seat-grid">
        <div className="seat host" data-testid="seat-host">
          <strong>{hostName}</strong>
          <span className="muted small">Host</span>
          <span className="icons">
            <span className={hostMicOn ? 'on' : 'off'}>{hostMicOn ? 'mic' : 'muted'}</span>
            <span className={hostCameraOn ? 'on' : 'off'}>{hostCameraOn ? 'cam' : 'cam off'}</span>
          </span>
          <Meter userId={hostId} />
        </div>
        {tiles
          .filter((t) => t.seat || t.locked || occupied < SEAT_COUNT)
          .map((tile) => {
            const seat = tile.seat;
            const name = seat ? (names[seat.user_id] ?? 'Guest') : null;
            const link = seat ? (links[seat.user_id] ?? 'connecting') : null;
            return (
              <button
                key={tile.index}
                type="button"
                className={`seat ${seat ? 'occupied' : 'empty'} ${tile.locked ? 'locked' : ''}`}
                data-testid={`seat-${tile.index}`}
                data-user={seat?.user_id ?? ''}
                data-locked={tile.locked}
                // The whole state in words (a screen reader reads the name, not the tile's small print), and that it opens a menu.
                aria-label={
                  seat
                    ? [
                        `Seat ${tile.index + 1}: ${name}`,
                        ...(seat.is_moderator ? ['moderator'] : []),
                        seat.muted_by_host ? 'muted by host' : seat.mic_enabled ? 'mic on' : 'muted',
                        seat.camera_disabled_by_host ? 'camera off by host' : seat.camera_enabled ? 'camera on' : 'camera off',
                        link === 'away' ? 'away (page closed)' : link,
                        ...(tile.locked ? ['seat locked'] : []),
                      ].join(', ')
                    : `Seat ${tile.index + 1}: ${tile.locked ? 'locked' : 'empty'}`
                }
                aria-haspopup="menu"
                onClick={(e) => {
                  e.stopPropagation();
                  open(tile, ...menuPoint(e));
                }}
                onContextMenu={(e) => {
                  e.preventDefault();
                  e.stopPropagation();
                  open(tile, ...menuPoint(e));
                }}
                onTouchStart={(e) => {
                  const t = e.touches[0]!;
                  cancelLongPress();
                  longPress.current = setTimeout(() => open(tile, t.clientX, t.clientY), 500);
                }}
                // A finger that scrolls or lifts is not a long press.
                onTouchMove={cancelLongPress}
                onTouchCancel={cancelLongPress}
                onTouchEnd={cancelLongPress}
              >
                <span className="seat-no">{tile.index + 1}</span>
                {seat ? (
                  <>
                    <strong>
                      {name}
                      {seat.is_moderator ? <span className="badge">mod</span> : null}
                    </strong>
                    <span className="icons">
                      <span className={seat.mic_enabled ? 'on' : 'off'} data-testid="mic-state">
                        {seat.muted_by_host ? 'muted by host' : seat.mic_enabled ? 'mic' : 'muted'}
                      </span>
                      <span className={seat.camera_enabled ? 'on' : 'off'} data-testid="camera-state">
                        {seat.camera_disabled_by_host ? 'cam off by host' : seat.camera_enabled ? 'cam' : 'cam off'}
                      </span>
                    </span>
                    <span className="quality-line">
                      <span className={`quality q-${link}`} data-testid="link-state" title={link === 'away' ? 'Their page closed or left the call; the seat is kept until they come back or are removed' : undefined}>
                        {link === 'away' ? 'away (page closed)' : link}
                      </span>
                      {link === 'connected' ? <Quality userId={seat.user_id} /> : null}
                    </span>
                    <Meter userId={seat.user_id} />
                  </>
                ) : (
                  <span className="muted">{tile.locked ? 'Locked' : 'Empty'}</span>
                )}
              </button>
            );
          })}
      </div>
      {menu && menuTile && !menuStale ? (
        <SeatMenu
          // One menu per guest: another guest's menu starts from their own volume, not the slider as the last one left it.
          key={`${menu.index}:${menu.userId ?? ''}`}
          tile={menuTile}
          x={menu.x}
          y={menu.y}
          onAction={(action) => {
            if (action.kind === 'volume') return onAction(action);
            onAction(action);
            closeToOpener();
          }}
        />
      ) : null}
    </div>
  );
}

function SeatMenu({ tile, x, y, onAction }: { tile: SeatTile; x: number; y: number; onAction: (a: SeatAction) => void | Promise<boolean> }) {
  const seat = tile.seat;
  const items: Array<[string, SeatAction]> = [];
  if (seat) {
    const userId = seat.user_id;
    items.push(seat.muted_by_host ? ['Release mic', { kind: 'unmute', userId }] : ['Mute mic', { kind: 'mute', userId }]);
    items.push(
      seat.camera_disabled_by_host ? ['Release camera', { kind: 'camera-release', userId }] : ['Turn camera off', { kind: 'camera-off', userId }],
    );
    items.push(seat.is_moderator ? ['Revoke moderator', { kind: 'revoke-moderator', userId }] : ['Make moderator', { kind: 'make-moderator', userId }]);
    items.push(['Spotlight', { kind: 'spotlight', userId }]);
    items.push(['Remove from stage', { kind: 'remove', userId }]);
  }
  items.push(tile.locked ? ['Unlock seat', { kind: 'unlock', seatIndex: tile.index }] : ['Lock seat', { kind: 'lock', seatIndex: tile.index }]);
  // The keyboard starts in the menu, on its first item.
  const first = useRef<HTMLButtonElement>(null);
  useEffect(() => first.current?.focus(), []);
  // Removing takes a guest off air (they need a new invitation to come back): a first click asks to be sure, a
  // second removes; the question lapses after a while.
  const [confirmRemove, setConfirmRemove] = useSecondTap<true>();
  return (
    <div
      className="context-menu"
      role="menu"
      style={{ left: Math.min(x, window.innerWidth - 220), top: Math.min(y, window.innerHeight - 320) }}
      onClick={(e) => e.stopPropagation()}
      onKeyDown={(e) => {
        // Arrow keys move between the menu's items, as in any menu (Tab still reaches the volume, whose own arrows
        // change the volume).
        if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
        if ((e.target as HTMLElement).getAttribute('role') !== 'menuitem') return;
        const entries = [...e.currentTarget.querySelectorAll<HTMLElement>('[role="menuitem"]')];
        if (entries.length === 0) return;
        e.preventDefault();
        const at = entries.indexOf(document.activeElement as HTMLElement);
        const next = e.key === 'ArrowDown' ? (at + 1) % entries.length : (at <= 0 ? entries.length : at) - 1;
        entries[next]!.focus();
      }}
      data-testid="seat-menu"
    >
      {items.map(([label, action], i) =>
        action.kind === 'remove' ? (
          <button
            key="remove"
            role="menuitem"
            type="button"
            className={confirmRemove ? 'danger confirm' : 'danger'}
            aria-label={confirmRemove ? 'Sure? Remove from stage (click again)' : label}
            data-state={confirmRemove ? 'confirm' : 'ready'}
            onClick={() => (confirmRemove ? onAction(action) : setConfirmRemove(true))}
          >
            {confirmRemove ? 'Sure? Remove' : label}
          </button>
        ) : (
          <button key={label} ref={i === 0 ? first : undefined} role="menuitem" type="button" onClick={() => onAction(action)}>
            {label}
          </button>
        ),
      )}
      {seat ? <VolumeSlider userId={seat.user_id} volume={seat.volume} onAction={onAction} /> : null}
    </div>
  );
}

/**
 * A guest's volume: where it is dragged while the change is on its way, then
 * the seat's volume as the database has it (a change refused or lost puts the
 * slider back; one made elsewhere moves it).
 */
function VolumeSlider({ userId, volume, onAction }: { userId: string; volume: number; onAction: (a: SeatAction) => void | Promise<boolean> }) {
  const [shown, setShown] = useState(volume);
  const applied = useRef(volume);
  applied.current = volume;
  /** Changes on their way: meanwhile the slider stays where it was dragged, not at each one applied on the way. */
  const pending = useRef(0);
  useEffect(() => {
    if (pending.current === 0) setShown(volume);
  }, [volume]);
  return (
    <label className="volume">
      Volume
      <input
        type="range"
        min={0}
        max={2}
        step={0.1}
        value={shown}
        onChange={(e) => {
          const next = Number(e.target.value);
          setShown(next);
          const sent = onAction({ kind: 'volume', userId, volume: next });
          if (!sent) return;
          pending.current += 1;
          void sent.then((ok) => {
            pending.current -= 1;
            // The last change decides (they settle in order): kept where it was dragged, or back at the seat's volume.
            if (pending.current === 0 && !ok) setShown(applied.current);
          });
        }}
        data-testid="volume"
      />
    </label>
  );
}
