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

export class SignalingChannel {
  private readonly listeners = new Set<(msg: SignalMessage) => void>();
  private closed = false;
  /** Messages that failed validation (ignored). */
  malformed = 0;
  /** Messages whose `from` was not the other end of this channel (ignored). */
  foreign = 0;

  private constructor(
    private readonly channel: RealtimeChannel,
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
    const { data } = await supabase.auth.getSession();
    if (data.session) await supabase.realtime.setAuth(data.session.access_token);
    const channel = supabase.channel(signalingChannelName(to.streamId, to.guestId), {
      config: { private: true, broadcast: { self: false, ack: true } },
    });
    const signaling = new SignalingChannel(channel, to.selfId, to.peerId, log);
    channel.on('broadcast', { event: SIGNAL_EVENT }, ({ payload }) => signaling.dispatch(payload));
    let joined = false;
    const joining = new Promise<void>((resolve, reject) => {
      channel.subscribe((status, err) => {
        if (joined) {
          // Later changes: the channel dropped (socket lost, server closed it) or joined again.
          if (!signaling.closed) log(`signaling channel ${status}${err ? `: ${err.message}` : ''}`);
          return;
        }
        if (status === 'SUBSCRIBED') {
          joined = true;
          resolve();
        } else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') {
          reject(new SignalingError('signaling_refused', `cannot join the stream's signaling channel: ${err?.message ?? status}`));
        }
      });
    });
    try {
      await joining;
    } catch (err) {
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

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    const supabase = await getSupabase();
    await supabase.removeChannel(this.channel);
  }
}
