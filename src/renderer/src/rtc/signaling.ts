/** WebRTC signaling over a stream's private Supabase Realtime channel. */
import { AppError } from '../../../shared/errors';

import type { RealtimeChannel } from '@supabase/supabase-js';
import { signalingChannelName } from '../../../shared/domain';
import { parseSignal, SIGNAL_EVENT, type SignalMessage } from '../../../shared/signaling';
import { getSupabase } from '../services/supabase';

export class SignalingError extends AppError {}

export class SignalingChannel {
  private readonly listeners = new Set<(msg: SignalMessage) => void>();
  private closed = false;
  /** Messages that failed validation (ignored). */
  malformed = 0;

  private constructor(
    private readonly channel: RealtimeChannel,
    readonly selfId: string,
  ) {}

  /** Joins the private channel; refused unless the caller is the host or a seated guest. */
  static async join(streamId: string, selfId: string): Promise<SignalingChannel> {
    const supabase = await getSupabase();
    const { data } = await supabase.auth.getSession();
    if (data.session) await supabase.realtime.setAuth(data.session.access_token);
    const channel = supabase.channel(signalingChannelName(streamId), {
      config: { private: true, broadcast: { self: false, ack: true } },
    });
    const signaling = new SignalingChannel(channel, selfId);
    channel.on('broadcast', { event: SIGNAL_EVENT }, ({ payload }) => signaling.dispatch(payload));
    await new Promise<void>((resolve, reject) => {
      channel.subscribe((status, err) => {
        if (status === 'SUBSCRIBED') resolve();
        else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') {
          reject(new SignalingError('signaling_refused', `cannot join the stream's signaling channel: ${err?.message ?? status}`));
        }
      });
    });
    return signaling;
  }

  private dispatch(payload: unknown): void {
    const msg = parseSignal(payload);
    if (!msg) {
      this.malformed += 1;
      return;
    }
    if (msg.to !== this.selfId) return;
    for (const l of this.listeners) l(msg);
  }

  async send(msg: SignalMessage): Promise<void> {
    if (this.closed) return;
    const result = await this.channel.send({ type: 'broadcast', event: SIGNAL_EVENT, payload: msg });
    if (result !== 'ok') throw new SignalingError('signaling_send_failed', `signaling message not delivered (${result})`);
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
