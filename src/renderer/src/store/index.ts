/** One zustand store built from typed slices; actions are plain functions usable outside React. */
import { create, type StateCreator } from 'zustand';
import type { EncoderStats } from '../../../shared/bridge';
import { isSeatUpdate, mergeEvents, type GuestEventRow, type GuestInvitationRow, type GuestSeatRow, type StreamRow } from '../../../shared/domain';
import type { ProgramLayoutKind } from '../../../shared/layout';
import { DEFAULT_OUTPUT_FORMAT, isOutputFormatId, type OutputFormatId } from '../../../shared/outputFormats';
import type { FrameCount } from '../media/frameAudit';
import type { LinkQuality } from '../rtc/linkQuality';
import { recall, remember } from '../remembered';

/** A seated guest's link as the studio shows it; `away`: their page said goodbye (closed or left the call) and keeps the seat. */
export type SeatLinkState = RTCPeerConnectionState | 'away';

export interface SessionSlice {
  userId: string | null;
  displayName: string;
  setUser: (userId: string | null, displayName: string) => void;
}

export type BroadcastPhase = 'idle' | 'starting' | 'live' | 'ending' | 'ended' | 'error';

export interface PipelineState {
  framesSent: number;
  framesSkipped: number;
  /** Of those, skipped because the GPU's readbacks were all in flight (rendering behind, not encoding). */
  readbacksSkipped?: number;
  bridgeDropped: number;
  /** Of those, the ones since this broadcast went live (the bridge outlives a show). */
  bridgeDroppedThisShow?: number;
  /** 'gpu' (WebGL2) or 'cpu' (I420 compositor), once chosen. */
  compositor: 'gpu' | 'cpu' | null;
  glRenderer: string | null;
  /** Slots of the output rate since going live, and those the program did not serve in time (frames lagged by rendering). */
  outputSlots?: number;
  framesLagged?: number;
  /** Where the program worker's time went since it started (ms per step), for benchmarks. */
  workerBusyMs?: Record<string, number> | null;
  /** With the studio's `?auditFrames=1`: camera frames the program worker received, and those not closed yet. */
  frameAudit?: FrameCount | null;
}

export interface BroadcastSlice {
  phase: BroadcastPhase;
  stream: StreamRow | null;
  publishTarget: string | null;
  playbackUrl: string | null;
  encoder: string | null;
  /** The file the program is recorded to (the native side names it), while live and after. */
  recordingPath: string | null;
  stats: EncoderStats | null;
  error: string | null;
  /**
   * What went wrong with the program while it runs (an encoder rebuilt, the
   * program's video stopped, the compositor changed), the latest one, with
   * when it was heard (ms since the epoch); the streamer can dismiss it.
   */
  programProblem: { message: string; atMs: number } | null;
  /** Time the last program frame took to render, ms. */
  renderMs: number;
  /** Renderer side of the pipeline: frames sent, readbacks skipped, frames the bridge dropped, where the program is composited. */
  pipeline: PipelineState;
  /** The studio's periodic readings in one update (one round of selectors and renders, not three). */
  setMeters: (meters: { levels: Record<string, number>; renderMs: number; pipeline: PipelineState }) => void;
  setBroadcast: (patch: Partial<Pick<BroadcastSlice, 'phase' | 'stream' | 'publishTarget' | 'playbackUrl' | 'encoder' | 'recordingPath' | 'stats' | 'error' | 'programProblem'>>) => void;
}

export interface ProgramSlice {
  layout: ProgramLayoutKind;
  focusId: string | null;
  hostMicOn: boolean;
  hostCameraOn: boolean;
  sharingScreen: boolean;
  /** Why the host has no camera or no microphone now (a message a person can act on), per kind. */
  hostDeviceProblems: Partial<Record<'audio' | 'video', string>>;
  /** The output format of the next go-live (remembered on this computer). */
  outputFormat: OutputFormatId;
  setProgram: (patch: Partial<Pick<ProgramSlice, 'layout' | 'focusId' | 'hostMicOn' | 'hostCameraOn' | 'sharingScreen' | 'hostDeviceProblems' | 'outputFormat'>>) => void;
}

export interface GuestsSlice {
  seats: GuestSeatRow[];
  events: GuestEventRow[];
  invitations: GuestInvitationRow[];
  /** Peer connection state per guest user id. */
  links: Record<string, SeatLinkState>;
  /** Connection quality per guest user id, while their link is connected and graded. */
  quality: Record<string, LinkQuality>;
  names: Record<string, string>;
  /** Program audio level per participant id, dBFS. */
  levels: Record<string, number>;
  /** Adds or replaces a seat row, unless the store holds a newer copy of it. */
  upsertSeat: (seat: GuestSeatRow) => void;
  addEvents: (rows: GuestEventRow[]) => void;
  upsertInvitation: (invitation: GuestInvitationRow) => void;
  setLink: (userId: string, state: SeatLinkState | null) => void;
  setQuality: (userId: string, quality: LinkQuality | null) => void;
  setNames: (names: Record<string, string>) => void;
}

export type StoreState = SessionSlice & BroadcastSlice & ProgramSlice & GuestsSlice;

const createSessionSlice: StateCreator<StoreState, [], [], SessionSlice> = (set) => ({
  userId: null,
  displayName: '',
  setUser: (userId, displayName) => set({ userId, displayName }),
});

const createBroadcastSlice: StateCreator<StoreState, [], [], BroadcastSlice> = (set) => ({
  phase: 'idle',
  stream: null,
  publishTarget: null,
  playbackUrl: null,
  encoder: null,
  recordingPath: null,
  stats: null,
  error: null,
  programProblem: null,
  renderMs: 0,
  pipeline: { framesSent: 0, framesSkipped: 0, bridgeDropped: 0, compositor: null, glRenderer: null },
  setMeters: (meters) => set(meters),
  setBroadcast: (patch) => set(patch),
});

const OUTPUT_FORMAT_KEY = 'roast.outputFormat';

/** The output format chosen last on this computer, else the default. */
function rememberedOutputFormat(): OutputFormatId {
  const saved = recall(OUTPUT_FORMAT_KEY);
  return isOutputFormatId(saved) ? saved : DEFAULT_OUTPUT_FORMAT;
}

const createProgramSlice: StateCreator<StoreState, [], [], ProgramSlice> = (set) => ({
  layout: 'grid',
  focusId: null,
  hostMicOn: true,
  hostCameraOn: true,
  sharingScreen: false,
  hostDeviceProblems: {},
  outputFormat: rememberedOutputFormat(),
  setProgram: (patch) => {
    if (patch.outputFormat) remember(OUTPUT_FORMAT_KEY, patch.outputFormat);
    set(patch);
  },
});

/** Newest first, without duplicates, at most this many. */
export const EVENTS_KEPT = 100;

const createGuestsSlice: StateCreator<StoreState, [], [], GuestsSlice> = (set) => ({
  seats: [],
  events: [],
  invitations: [],
  links: {},
  quality: {},
  names: {},
  levels: {},
  // A copy older than the one held (a list fetched before a change that arrived first) is ignored.
  upsertSeat: (seat) =>
    set((s) =>
      isSeatUpdate(
        s.seats.find((x) => x.id === seat.id),
        seat,
      )
        ? { seats: [...s.seats.filter((x) => x.id !== seat.id), seat].sort((a, b) => a.seat_index - b.seat_index) }
        : s,
    ),
  addEvents: (rows) => set((s) => ({ events: mergeEvents(s.events, rows, EVENTS_KEPT) })),
  // An invitation is decided once (accepted, declined, cancelled, expired): a pending copy read before the answer arrived changes nothing.
  upsertInvitation: (invitation) =>
    set((s) =>
      invitation.status === 'pending' && s.invitations.some((x) => x.id === invitation.id && x.status !== 'pending')
        ? s
        : { invitations: [invitation, ...s.invitations.filter((x) => x.id !== invitation.id)] },
    ),
  setLink: (userId, state) =>
    set((s) => {
      const links = { ...s.links };
      if (state) links[userId] = state;
      else delete links[userId];
      return { links };
    }),
  setQuality: (userId, quality) =>
    set((s) => {
      const next = { ...s.quality };
      if (quality) next[userId] = quality;
      else delete next[userId];
      return { quality: next };
    }),
  setNames: (names) => set((s) => ({ names: { ...s.names, ...names } })),
});

export const useStore = create<StoreState>()((...a) => ({
  ...createSessionSlice(...a),
  ...createBroadcastSlice(...a),
  ...createProgramSlice(...a),
  ...createGuestsSlice(...a),
}));

/** Active seats (guests on the program). */
export function activeSeats(seats: GuestSeatRow[]): GuestSeatRow[] {
  return seats.filter((s) => s.left_at === null);
}
