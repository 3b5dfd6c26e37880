import { afterEach, describe, expect, it, vi } from 'vitest';

/**
 * supabase-js as the channel sees it: `channel()` hands back the channel of
 * the same topic while it is still leaving (a channel that is leaving never
 * confirms a subscription), and a leave takes as long as the test says.
 */
const s = vi.hoisted(() => {
  interface FakeChannel {
    topic: string;
    state: 'closed' | 'joined' | 'leaving';
    status: ((status: string, err?: Error) => void) | null;
    finishLeave: (() => void) | null;
    tornDown: boolean;
  }
  const state = { channels: [] as FakeChannel[], removals: 0 };
  const client = {
    auth: { getSession: async () => ({ data: { session: { access_token: 'token' } } }) },
    realtime: { setAuth: async () => {} },
    channel(topic: string) {
      let ch = state.channels.find((c) => c.topic === topic);
      if (!ch) {
        ch = { topic, state: 'closed', status: null, finishLeave: null, tornDown: false };
        state.channels.push(ch);
      }
      const entry = ch;
      return {
        entry,
        on: function () {
          return this;
        },
        subscribe(cb: (status: string, err?: Error) => void) {
          // Only a closed channel joins: one still leaving ignores the call.
          if (entry.state === 'closed') entry.status = cb;
          return this;
        },
        teardown() {
          entry.tornDown = true;
        },
      };
    },
    async removeChannel(channel: { entry: FakeChannel }) {
      state.removals += 1;
      channel.entry.state = 'leaving';
      await new Promise<void>((resolve) => (channel.entry.finishLeave = resolve));
      state.channels = state.channels.filter((c) => c !== channel.entry);
      return 'ok';
    },
  };
  return { state, client };
});

vi.mock('../services/supabase', () => ({ getSupabase: async () => s.client }));

const { SignalingChannel, JOIN_TIMEOUT_MS } = await import('./signaling');

const to = { streamId: '11111111-1111-4111-8111-111111111111', guestId: 'guest-a', selfId: 'host', peerId: 'guest-a' };
const quiet = () => {};

async function joined() {
  const joining = SignalingChannel.join(to, quiet);
  await vi.waitFor(() => expect(s.state.channels.at(-1)?.status).toBeTruthy());
  s.state.channels.at(-1)!.status!('SUBSCRIBED');
  return joining;
}

afterEach(() => {
  vi.useRealTimers();
  for (const c of s.state.channels) c.finishLeave?.();
  s.state.channels = [];
  s.state.removals = 0;
});

describe('the signaling channel', () => {
  it('joins the same topic again only once the leave of the old channel is done (a leaving channel never confirms)', async () => {
    const first = await joined();
    const old = s.state.channels[0]!;
    const closing = first.close();
    const second = SignalingChannel.join(to, quiet);
    await new Promise((r) => setTimeout(r, 20));
    expect(s.state.channels).toEqual([old]);
    old.finishLeave!();
    await closing;
    await vi.waitFor(() => expect(s.state.channels.at(-1)?.status).toBeTruthy());
    expect(s.state.channels.at(-1)).not.toBe(old);
    s.state.channels.at(-1)!.status!('SUBSCRIBED');
    await expect(second).resolves.toBeInstanceOf(SignalingChannel);
  });

  it('gives up a join the server never answers, with a clear error, and leaves the channel', async () => {
    vi.useFakeTimers();
    const joining = SignalingChannel.join(to, quiet).catch((e: Error) => e);
    await vi.advanceTimersByTimeAsync(JOIN_TIMEOUT_MS);
    s.state.channels[0]?.finishLeave?.();
    const err = await joining;
    expect((err as Error).message).toBe("cannot join the stream's signaling channel: no answer within 20 s");
    expect(s.state.removals).toBe(1);
  });

  it('tells its owner once when the server closes it after the join, and closing it then sends no leave', async () => {
    const channel = await joined();
    let dead = 0;
    channel.onDead(() => (dead += 1));
    s.state.channels[0]!.status!('CLOSED');
    s.state.channels[0]!.status!('CLOSED');
    expect(dead).toBe(1);
    expect(channel.dead).toBe(true);
    await channel.close();
    expect(s.state.removals).toBe(0);
    expect(s.state.channels[0]!.tornDown).toBe(true);
  });

  it('is not dead when it only dropped and joined again by itself', async () => {
    const channel = await joined();
    let dead = 0;
    channel.onDead(() => (dead += 1));
    s.state.channels[0]!.status!('CHANNEL_ERROR', new Error('socket closed'));
    s.state.channels[0]!.status!('SUBSCRIBED');
    expect(dead).toBe(0);
    const closing = channel.close();
    s.state.channels[0]!.finishLeave?.();
    await vi.waitFor(() => expect(s.state.removals).toBe(1));
    s.state.channels[0]?.finishLeave?.();
    await closing;
  });
});
