/** WebRTC signaling over a stream's private Supabase Realtime channel. */
import { AppError } from '../../../shared/errors';

import type { RealtimeChannel } from '@supabase/supabase-js';
import { signalingChannelName } from '../../../shared/domain';
import { parseSignal, SIGNAL_EVENT, type SignalMessage } from '../../../shared/signaling';
import { getSupabase } from '../services/supabase';

export class SignalingError extends AppError {}

export interface SignalingJoin {
  streamId: string;
  /** The guest whose channel with the host this is. */
  guestId: string;
  /** Who joins: the host or that guest. */
  selfId: string;
  /** The other end: messages claiming to come from anyone else are dropped. */
  peerId: string;
}

/** How long a join may take before it counts as failed (the caller tries again). */
export const JOIN_TIMEOUT_MS = 20_000;

/**
 * Channels of this page being left, by topic. supabase-js hands a join the
 * channel of the same topic while it is still leaving, and a channel that is
 * leaving never confirms a new subscription: a join waits for the leave.
 */
const leaving = new Map<string, Promise<unknown>>();

export class SignalingChannel {
  private readonly listeners = new Set<(msg: SignalMessage) => void>();
  private readonly deadListeners = new Set<() => void>();
  private closed = false;
  /** The server closed the channel after it was joined: nothing goes through it any more. */
  dead = false;
  /** Messages that failed validation (ignored). */
  malformed = 0;
  /** Messages whose `from` was not the other end of this channel (ignored). */
  foreign = 0;

  private constructor(
    private readonly channel: RealtimeChannel,
    private readonly topic: string,
    readonly selfId: string,
    readonly peerId: string,
    private readonly log: (message: string) => void,
  ) {}

  /**
   * Joins the private channel between the host and one guest; refused unless
   * the caller is the stream's host or that guest while seated. Once joined, a
   * channel that drops (and rejoins) is logged: while it is down nothing sent
   * to this peer reaches it.
   */
  static async join(to: SignalingJoin, log: (message: string) => void = console.info): Promise<SignalingChannel> {
    const supabase = await getSupabase();
    const topic = signalingChannelName(to.streamId, to.guestId);
    await leaving.get(topic);
    const { data } = await supabase.auth.getSession();
    if (data.session) await supabase.realtime.setAuth(data.session.access_token);
    const channel = supabase.channel(topic, {
      config: { private: true, broadcast: { self: false, ack: true } },
    });
    const signaling = new SignalingChannel(channel, topic, to.selfId, to.peerId, log);
    channel.on('broadcast', { event: SIGNAL_EVENT }, ({ payload }) => signaling.dispatch(payload));
    let joined = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const joining = new Promise<void>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new SignalingError('signaling_timeout', `cannot join the stream's signaling channel: no answer within ${JOIN_TIMEOUT_MS / 1000} s`)),
        JOIN_TIMEOUT_MS,
      );
      channel.subscribe((status, err) => {
        if (joined) {
          if (signaling.closed) return;
          // Later changes: the channel dropped and joined again (the client does that by itself), or the server closed it for good.
          log(`signaling channel ${status}${err ? `: ${err.message}` : ''}`);
          if (status === 'CLOSED') signaling.died();
          return;
        }
        if (status === 'SUBSCRIBED') {
          joined = true;
          resolve();
        } else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT' || status === 'CLOSED') {
          reject(new SignalingError('signaling_refused', `cannot join the stream's signaling channel: ${err?.message ?? status}`));
        }
      });
    });
    try {
      await joining;
      clearTimeout(timer);
    } catch (err) {
      clearTimeout(timer);
      // Left behind, the channel would keep rejoining, and the next join of this topic would get it back already subscribed.
      signaling.closed = true;
      await supabase.removeChannel(channel).catch(() => undefined);
      throw err;
    }
    return signaling;
  }

  private dispatch(payload: unknown): void {
    const msg = parseSignal(payload);
    if (!msg) {
      this.malformed += 1;
      return;
    }
    if (msg.to !== this.selfId) return;
    if (msg.from !== this.peerId) {
      this.foreign += 1;
      return;
    }
    for (const l of this.listeners) l(msg);
  }

  async send(msg: SignalMessage): Promise<void> {
    if (this.closed) return;
    const result = await this.channel.send({ type: 'broadcast', event: SIGNAL_EVENT, payload: msg });
    if (result !== 'ok') throw new SignalingError('signaling_send_failed', `signaling ${msg.kind} not delivered (${result}; channel ${this.channel.state})`);
  }

  onMessage(listener: (msg: SignalMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called once if the server closes the channel after it was joined: its owner joins a new one. */
  onDead(listener: () => void): () => void {
    this.deadListeners.add(listener);
    return () => this.deadListeners.delete(listener);
  }

  private died(): void {
    if (this.dead || this.closed) return;
    this.dead = true;
    for (const l of [...this.deadListeners]) l();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.deadListeners.clear();
    // The server closed it: the client has dropped it already, and a leave would wait for an answer that does not come.
    if (this.dead) {
      this.channel.teardown();
      return;
    }
    const supabase = await getSupabase();
    const left = supabase.removeChannel(this.channel).catch(() => undefined);
    leaving.set(this.topic, left);
    try {
      await left;
    } finally {
      if (leaving.get(this.topic) === left) leaving.delete(this.topic);
    }
  }
}
