/**
 * Channel membership, broadcast fan-out and presence. A channel is a topic
 * (`realtime:<name>`) and a privacy flag: a private and a public channel of the
 * same name never see each other's messages.
 */
import { randomBytes } from 'node:crypto';
import type { JwtClaims } from '../jwt.js';
import { tokenExpired } from './auth.js';
import { encodeUserBroadcast, fitsBinaryFrame, type BroadcastBody, type PhoenixMessage, type Vsn } from './serializer.js';

/** One WebSocket connection as the registry sees it. */
export interface Subscriber {
  readonly id: number;
  readonly vsn: Vsn;
  sendMessage(msg: PhoenixMessage): void;
  sendBinary(data: Uint8Array): void;
}

/** A joined channel on one connection. */
export interface Member {
  readonly conn: Subscriber;
  /** Full topic, `realtime:<name>`. */
  readonly topic: string;
  /** The channel name without `realtime:`. */
  readonly subTopic: string;
  readonly isPrivate: boolean;
  readonly joinRef: string | null;
  broadcastSelf: boolean;
  broadcastAck: boolean;
  presenceKey: string;
  presenceEnabled: boolean;
  claims: JwtClaims;
  presence: TrackedPresence | null;
}

export interface TrackedPresence {
  ref: string;
  meta: Record<string, unknown>;
}

export interface Broadcast {
  event: string;
  body: BroadcastBody;
  /** Keys of a JSON broadcast beside type/event/payload, passed on as they came. */
  extra?: Record<string, unknown>;
}

type PresenceMetas = Record<string, { metas: Record<string, unknown>[] }>;
export interface PresenceDiff {
  joins: PresenceMetas;
  leaves: PresenceMetas;
}

export function channelKey(topic: string, isPrivate: boolean): string {
  return `${isPrivate ? 'private' : 'public'}|${topic}`;
}

function presenceRef(): string {
  return randomBytes(9).toString('base64url');
}

function metaWithRef(p: TrackedPresence, prevRef?: string): Record<string, unknown> {
  return prevRef === undefined ? { ...p.meta, phx_ref: p.ref } : { ...p.meta, phx_ref: p.ref, phx_ref_prev: prevRef };
}

export class ChannelRegistry {
  private readonly channels = new Map<string, Set<Member>>();

  constructor(private readonly log: (msg: string) => void) {}

  add(member: Member): void {
    const key = channelKey(member.topic, member.isPrivate);
    let members = this.channels.get(key);
    if (!members) {
      members = new Set();
      this.channels.set(key, members);
    }
    members.add(member);
  }

  /** Removes a member; its presence leaves (a presence_diff to the others). */
  remove(member: Member): void {
    const key = channelKey(member.topic, member.isPrivate);
    const members = this.channels.get(key);
    if (!members || !members.delete(member)) return;
    if (members.size === 0) this.channels.delete(key);
    if (member.presence) {
      const left = member.presence;
      member.presence = null;
      this.sendDiff(key, { joins: {}, leaves: { [member.presenceKey]: { metas: [metaWithRef(left)] } } });
    }
  }

  /** Number of joined members of a channel (for tests and logs). */
  size(topic: string, isPrivate: boolean): number {
    return this.channels.get(channelKey(topic, isPrivate))?.size ?? 0;
  }

  /** Sends a broadcast to every member of the channel; the sender only with `self`. */
  broadcast(topic: string, isPrivate: boolean, msg: Broadcast, sender: Member | null): void {
    const members = this.channels.get(channelKey(topic, isPrivate));
    if (!members) return;
    for (const member of members) {
      if (member === sender && !member.broadcastSelf) continue;
      // A member whose token expired gets nothing more, even before its channel's closing comes round.
      if (tokenExpired(member.claims)) continue;
      this.deliverBroadcast(member, msg);
    }
  }

  private deliverBroadcast(member: Member, msg: Broadcast): void {
    const { conn } = member;
    const hasExtra = msg.extra !== undefined && Object.keys(msg.extra).length > 0;
    const binaryFrame =
      conn.vsn === '2.0.0' &&
      !hasExtra &&
      fitsBinaryFrame(member.topic, msg.event) &&
      (msg.body.encoding === 'binary' || msg.body.value !== undefined);
    if (binaryFrame) {
      conn.sendBinary(encodeUserBroadcast({ topic: member.topic, event: msg.event, body: msg.body }));
      return;
    }
    if (msg.body.encoding === 'binary') {
      this.log(`realtime: binary broadcast "${msg.event}" on ${member.topic} not delivered to a vsn ${conn.vsn} connection`);
      return;
    }
    const payload: Record<string, unknown> = { ...msg.extra, type: 'broadcast', event: msg.event };
    if (msg.body.value !== undefined) payload.payload = msg.body.value;
    conn.sendMessage({ joinRef: null, ref: null, topic: member.topic, event: 'broadcast', payload });
  }

  /** The channel's presences: `{key: {metas: [{phx_ref, …}]}}`. */
  presenceState(topic: string, isPrivate: boolean): PresenceMetas {
    const state: PresenceMetas = {};
    for (const member of this.channels.get(channelKey(topic, isPrivate)) ?? []) {
      if (!member.presence) continue;
      (state[member.presenceKey] ??= { metas: [] }).metas.push(metaWithRef(member.presence));
    }
    return state;
  }

  sendPresenceState(member: Member): void {
    member.conn.sendMessage({
      joinRef: member.joinRef,
      ref: null,
      topic: member.topic,
      event: 'presence_state',
      payload: this.presenceState(member.topic, member.isPrivate),
    });
  }

  /** Tracks (or updates) the member's presence. */
  track(member: Member, meta: Record<string, unknown>): void {
    if (!member.presenceEnabled) {
      // Tracking turns presence on for this member: it first gets the state it missed.
      member.presenceEnabled = true;
      this.sendPresenceState(member);
    }
    const key = channelKey(member.topic, member.isPrivate);
    const previous = member.presence;
    const next: TrackedPresence = { ref: presenceRef(), meta };
    member.presence = next;
    const diff: PresenceDiff = { joins: { [member.presenceKey]: { metas: [metaWithRef(next, previous?.ref)] } }, leaves: {} };
    if (previous) diff.leaves[member.presenceKey] = { metas: [metaWithRef(previous)] };
    this.sendDiff(key, diff);
  }

  untrack(member: Member): void {
    const previous = member.presence;
    if (!previous) return;
    member.presence = null;
    this.sendDiff(channelKey(member.topic, member.isPrivate), {
      joins: {},
      leaves: { [member.presenceKey]: { metas: [metaWithRef(previous)] } },
    });
  }

  private sendDiff(key: string, diff: PresenceDiff): void {
    for (const member of this.channels.get(key) ?? []) {
      if (!member.presenceEnabled) continue;
      member.conn.sendMessage({ joinRef: member.joinRef, ref: null, topic: member.topic, event: 'presence_diff', payload: diff });
    }
  }
}
