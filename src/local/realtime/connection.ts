/**
 * One client WebSocket: Phoenix frames in, channel joins, broadcasts, presence
 * and token refreshes. Frames of one connection are handled one after another,
 * in arrival order, so a sender's messages reach the others in the order sent.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { WebSocket, type RawData } from 'ws';
import { tokenExpired, topicAllowed, unauthorizedTopic, type JwtClaims } from './auth.js';
import type { ChannelRegistry, Member, Subscriber } from './channels.js';
import { parseBindings, type ChangeListener, type ChangesHub } from './changes.js';
import { RealtimeError } from './errors.js';
import { decodeFrame, encodeMessage, type BroadcastBody, type FrameAddress, type PhoenixMessage, type Vsn } from './serializer.js';

export interface ConnectionContext {
  /** Where the checks run as the caller (connections that can only become the caller's role). */
  pool: pg.Pool;
  registry: ChannelRegistry;
  changes: ChangesHub;
  verify(token: string): Promise<JwtClaims>;
  log(msg: string): void;
  /** Closes a connection that sent nothing (not even a heartbeat) for this long. */
  idleTimeoutMs: number;
  /** Closes a connection whose unsent output grows past this many bytes. */
  maxBufferedBytes: number;
  /** Largest message handled; a bigger one (that the socket still took) is refused with a reply. */
  maxMessageBytes: number;
  /** Channels one connection may have joined at once (hosted Realtime: 100). */
  maxChannels: number;
  /** postgres_changes bindings one join may carry. */
  maxBindingsPerJoin: number;
  /** Closes a connection with more frames than this received and not yet handled. */
  maxWaitingFrames: number;
}

interface JoinedChannel extends Member {
  token: string;
  expiryTimer: NodeJS.Timeout | null;
  listener: ChangeListener | null;
  /** The last write authorization of a private channel and when it was decided (ms). */
  writeAuth: { allowed: boolean; at: number } | null;
  /** Broadcasts go out in the order they came, each after the one before. */
  writes: Promise<void>;
}

/**
 * How long a private channel's write authorization is reused. Hosted Realtime
 * decides once per join (until the token changes); re-checking every message
 * cost a database transaction per ICE candidate and, with nine peers
 * signaling at once, queued them past the client's 10 s reply timeout. A
 * short reuse keeps both: a guest removed from the stage loses write access
 * within this time, and a burst of signaling costs one check.
 */
export const WRITE_AUTH_TTL_MS = 5_000;

/** A write check slower than this is logged. */
const SLOW_WRITE_CHECK_MS = 1_000;

const TOPIC_PREFIX = 'realtime:';
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The largest presence meta a member may track (bytes of JSON): nine pages' worth of presence, not a store. */
export const MAX_PRESENCE_BYTES = 64 * 1024;
/** All the presence one connection may hold across its channels (bytes of JSON). */
export const MAX_CONNECTION_PRESENCE_BYTES = 256 * 1024;

/**
 * The JSON of a payload a client sent, or why it cannot be passed on. It was
 * parsed from the client's frame, but a value nested deep enough parses and
 * then overflows the stack when it is turned back into JSON for the others:
 * it is refused here, where it comes in, not thrown later in a send.
 */
function jsonOf(value: unknown): { text: string } | { error: string } {
  try {
    return { text: JSON.stringify(value) ?? 'null' };
  } catch {
    return { error: 'the payload cannot be sent on as JSON (nested too deep)' };
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

let nextConnectionId = 1;

export class Connection implements Subscriber {
  readonly id = nextConnectionId++;
  private readonly joined = new Map<string, JoinedChannel>();
  /** The size of the presence each channel holds (bytes of JSON), against MAX_CONNECTION_PRESENCE_BYTES. */
  private readonly presenceBytes = new Map<JoinedChannel, number>();
  private queue: Promise<void> = Promise.resolve();
  /** Frames received and not yet handled (a broadcast until it went out). */
  private waiting = 0;
  private closed = false;
  private readonly idleTimer: NodeJS.Timeout;

  constructor(
    private readonly ws: WebSocket,
    readonly vsn: Vsn,
    /** The connection's apikey: the token of joins that bring none. */
    private readonly apiToken: string,
    private readonly ctx: ConnectionContext,
  ) {
    ws.on('message', (data, isBinary) => this.receive(data, isBinary));
    ws.on('close', (code, reason) => {
      // A client that gives up on the connection (e.g. "heartbeat timeout" on a page too busy to read) says why.
      if (!this.closed && reason.length > 0) ctx.log(`realtime: connection ${this.id} closed by the client (${code} ${reason.toString()})`);
      this.teardown();
    });
    ws.on('error', (err) => ctx.log(`realtime: connection ${this.id}: ${err.message}`));
    this.idleTimer = setTimeout(() => this.close(1000, 'heartbeat timeout'), ctx.idleTimeoutMs);
  }

  sendMessage(msg: PhoenixMessage): void {
    if (!this.writable()) return;
    let frame: ReturnType<typeof encodeMessage>;
    try {
      frame = encodeMessage(msg, this.vsn);
    } catch (err) {
      // Nothing one client sent may take the server down: the message is dropped, and said.
      this.ctx.log(`realtime: connection ${this.id}: a ${msg.event} on ${msg.topic} could not be encoded (${(err as Error).message}); dropped`);
      return;
    }
    this.ws.send(frame);
  }

  sendBinary(data: Uint8Array): void {
    if (this.writable()) this.ws.send(data, { binary: true });
  }

  /** Closes the socket; its channels leave (presence included). Idempotent. */
  close(code: number, reason: string): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, reason);
    this.teardown();
  }

  /** Closes the socket and waits (at most `graceMs`) for the client's close; then cuts it. */
  async closeGracefully(code: number, reason: string, graceMs: number): Promise<void> {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.CLOSED) {
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      this.close(code, reason);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([closed, timeout]);
      clearTimeout(timer);
      if ((ws.readyState as number) !== WebSocket.CLOSED) ws.terminate();
    }
    this.teardown();
    await this.queue;
  }

  /** Resolves when every frame received so far has been handled. */
  idle(): Promise<void> {
    return this.queue;
  }

  private writable(): boolean {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return false;
    if (this.ws.bufferedAmount > this.ctx.maxBufferedBytes) {
      this.ctx.log(`realtime: connection ${this.id} reads too slowly; closing it`);
      this.close(1013, 'client too slow');
      return false;
    }
    return true;
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    for (const ch of [...this.joined.values()]) this.removeChannel(ch, false);
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (this.closed) return;
    this.idleTimer.refresh();
    let msg: PhoenixMessage;
    const bytes = toBuffer(data);
    try {
      msg = decodeFrame(bytes, isBinary, this.vsn);
    } catch (err) {
      this.ctx.log(`realtime: connection ${this.id}: ignored a frame: ${reasonOf(err)}`);
      // Where the frame's ref and topic could be read, its sender hears why (a push waiting for its reply would
      // otherwise time out with no reason).
      const address = (err as { address?: FrameAddress }).address;
      if (address) this.sendMessage({ ...address, event: 'phx_reply', payload: { status: 'error', response: { reason: reasonOf(err) } } });
      return;
    }
    if (bytes.length > this.ctx.maxMessageBytes) {
      this.ctx.log(`realtime: connection ${this.id}: refused a ${bytes.length}-byte message on ${msg.topic}`);
      this.reply(msg, 'error', { reason: `message of ${bytes.length} bytes is over the ${this.ctx.maxMessageBytes} a message may carry` });
      return;
    }
    // A heartbeat needs nothing from the database: answered at once, never behind a join or a check that waits on it
    // (the client drops a connection whose heartbeat goes unanswered for 25 s).
    if (msg.topic === 'phoenix') {
      if (msg.event === 'heartbeat') this.reply(msg, 'ok', {});
      else this.reply(msg, 'error', { reason: `unknown event "${msg.event}"` });
      return;
    }
    if (this.waiting >= this.ctx.maxWaitingFrames) {
      this.ctx.log(`realtime: connection ${this.id} sent more than ${this.ctx.maxWaitingFrames} frames that wait to be handled; closing it`);
      this.close(1008, `too many messages waiting: more than ${this.ctx.maxWaitingFrames} sent and not yet handled`);
      return;
    }
    this.waiting += 1;
    const handled = (): void => {
      this.waiting -= 1;
    };
    this.enqueue(async () => {
      let running: Promise<void> | undefined;
      try {
        running = (await this.dispatch(msg))?.running;
      } finally {
        if (running) void running.then(handled);
        else handled();
      }
    }, msg);
  }

  private enqueue(task: () => Promise<void> | void, msg?: PhoenixMessage): void {
    this.queue = this.queue
      .then(task)
      .catch((err: unknown) => {
        this.ctx.log(`realtime: connection ${this.id}: ${msg ? `${msg.event} on ${msg.topic} failed: ` : ''}${reasonOf(err)}`);
        if (msg) this.reply(msg, 'error', { reason: reasonOf(err) });
      });
  }

  private reply(msg: PhoenixMessage, status: 'ok' | 'error', response: Record<string, unknown>): void {
    if (msg.ref === null) return;
    this.sendMessage({ joinRef: msg.joinRef, ref: msg.ref, topic: msg.topic, event: 'phx_reply', payload: { status, response } });
  }

  /** Handles a frame; a broadcast waiting for the channel's earlier ones is handed back as `running`. */
  private async dispatch(msg: PhoenixMessage): Promise<{ running: Promise<void> } | void> {
    if (this.closed) return;
    if (msg.event === 'phx_join') return this.join(msg);
    const ch = this.joined.get(msg.topic);
    if (!ch || (msg.joinRef !== null && msg.joinRef !== ch.joinRef)) {
      this.reply(msg, 'error', { reason: 'unmatched topic' });
      return;
    }
    switch (msg.event) {
      case 'phx_leave':
        this.removeChannel(ch, false);
        this.reply(msg, 'ok', {});
        return;
      case 'access_token':
        return this.refreshToken(ch, msg);
      case 'broadcast': {
        const next = ch.writes.then(() => this.broadcast(ch, msg));
        ch.writes = next.catch((err: unknown) => this.ctx.log(`realtime: connection ${this.id}: broadcast failed: ${reasonOf(err)}`));
        return { running: ch.writes };
      }
      case 'presence':
        return this.presence(ch, msg);
      default:
        this.reply(msg, 'error', { reason: `unknown event "${msg.event}"` });
    }
  }

  private async join(msg: PhoenixMessage): Promise<void> {
    const refuse = (err: unknown): void => {
      this.ctx.log(`realtime: connection ${this.id}: join ${msg.topic} refused: ${reasonOf(err)}`);
      this.reply(msg, 'error', { reason: reasonOf(err) });
    };
    try {
      if (!msg.topic.startsWith(TOPIC_PREFIX) || msg.topic.length === TOPIC_PREFIX.length) {
        throw new RealtimeError('invalid_join', `topic must be "${TOPIC_PREFIX}<channel name>"`);
      }
      const payload = isObject(msg.payload) ? msg.payload : {};
      const config = payload.config === undefined || payload.config === null ? {} : payload.config;
      if (!isObject(config)) throw new RealtimeError('invalid_join', 'config must be an object');
      const broadcast = isObject(config.broadcast) ? config.broadcast : {};
      const presence = isObject(config.presence) ? config.presence : {};
      const bindings = parseBindings(config.postgres_changes, this.ctx.maxBindingsPerJoin);
      const isPrivate = config.private === true;
      const presenceKey = typeof presence.key === 'string' || typeof presence.key === 'number' ? String(presence.key) : '';
      const subTopic = msg.topic.slice(TOPIC_PREFIX.length);

      const token = typeof payload.access_token === 'string' && payload.access_token !== '' ? payload.access_token : this.apiToken;
      const claims = await this.ctx.verify(token);

      const previous = this.joined.get(msg.topic);
      if (!previous && this.joined.size >= this.ctx.maxChannels) {
        throw new RealtimeError('too_many_channels', `Too many channels: one connection may join at most ${this.ctx.maxChannels}`);
      }
      if (previous) this.removeChannel(previous, true);

      if (isPrivate && !(await topicAllowed(this.ctx.pool, claims, subTopic))) throw unauthorizedTopic(subTopic, 'read from');

      const ch: JoinedChannel = {
        conn: this,
        topic: msg.topic,
        subTopic,
        isPrivate,
        joinRef: msg.joinRef,
        broadcastSelf: broadcast.self === true,
        broadcastAck: broadcast.ack === true,
        presenceKey: presenceKey === '' ? randomUUID() : presenceKey,
        presenceEnabled: presence.enabled === true,
        claims,
        presence: null,
        token,
        expiryTimer: null,
        listener: null,
        // Joining just checked read access with the same function: it answers for writes too.
        writeAuth: isPrivate ? { allowed: true, at: Date.now() } : null,
        writes: Promise.resolve(),
      };
      let ids: number[] = [];
      if (bindings.length > 0) {
        const listener: ChangeListener = {
          get claims() {
            return ch.claims;
          },
          deliver: (changePayload) => {
            // A token past its expiry gets nothing more, even before its channel's closing comes round.
            if (tokenExpired(ch.claims)) return;
            this.sendMessage({ joinRef: ch.joinRef, ref: null, topic: ch.topic, event: 'postgres_changes', payload: changePayload });
          },
          interrupted: (message) => this.enqueue(() => this.fail(ch, message)),
        };
        ids = await this.ctx.changes.subscribe(listener, bindings);
        ch.listener = listener;
      }
      if (this.closed) {
        if (ch.listener) this.ctx.changes.unsubscribe(ch.listener);
        return;
      }
      this.joined.set(msg.topic, ch);
      this.ctx.registry.add(ch);
      this.scheduleExpiry(ch);
      this.reply(msg, 'ok', { postgres_changes: bindings.map((b, i) => ({ ...b.raw, id: ids[i] })) });
      if (ch.presenceEnabled) this.ctx.registry.sendPresenceState(ch);
      if (bindings.length > 0) this.systemMessage(ch, 'postgres_changes', 'ok', 'Subscribed to PostgreSQL');
    } catch (err) {
      refuse(err);
    }
  }

  private systemMessage(ch: JoinedChannel, extension: string, status: 'ok' | 'error', message: string): void {
    this.sendMessage({
      joinRef: ch.joinRef,
      ref: null,
      topic: ch.topic,
      event: 'system',
      payload: { extension, status, message, channel: ch.subTopic },
    });
  }

  /** Leaves a channel; with `notify`, tells the client with phx_close. */
  private removeChannel(ch: JoinedChannel, notify: boolean): void {
    if (this.joined.get(ch.topic) === ch) this.joined.delete(ch.topic);
    if (ch.expiryTimer) clearTimeout(ch.expiryTimer);
    ch.expiryTimer = null;
    if (ch.listener) this.ctx.changes.unsubscribe(ch.listener);
    this.presenceBytes.delete(ch);
    this.ctx.registry.remove(ch);
    if (notify) this.sendMessage({ joinRef: ch.joinRef, ref: ch.joinRef, topic: ch.topic, event: 'phx_close', payload: {} });
  }

  /** Closes a channel from the server side: a system error message, then phx_close. */
  private shutdown(ch: JoinedChannel, message: string): void {
    if (this.joined.get(ch.topic) !== ch) return;
    this.ctx.log(`realtime: connection ${this.id}: closing ${ch.topic}: ${message}`);
    this.systemMessage(ch, 'system', 'error', message);
    this.removeChannel(ch, true);
  }

  /**
   * The channel broke on the server side (its change feed was interrupted): a
   * system error message, then `phx_error`, on which the client rejoins by
   * itself, as when a hosted Realtime channel fails.
   */
  private fail(ch: JoinedChannel, message: string): void {
    if (this.joined.get(ch.topic) !== ch) return;
    this.ctx.log(`realtime: connection ${this.id}: ${ch.topic} fails: ${message}`);
    this.systemMessage(ch, 'postgres_changes', 'error', message);
    this.removeChannel(ch, false);
    this.sendMessage({ joinRef: ch.joinRef, ref: ch.joinRef, topic: ch.topic, event: 'phx_error', payload: {} });
  }

  private scheduleExpiry(ch: JoinedChannel): void {
    if (ch.expiryTimer) clearTimeout(ch.expiryTimer);
    ch.expiryTimer = null;
    if (this.closed || this.joined.get(ch.topic) !== ch) return;
    const exp = ch.claims.exp;
    if (typeof exp !== 'number') return;
    const ms = exp * 1000 - Date.now();
    // Beyond what one timer can wait: looked at again then.
    ch.expiryTimer =
      ms > MAX_TIMER_MS
        ? setTimeout(() => this.scheduleExpiry(ch), MAX_TIMER_MS)
        : setTimeout(() => this.enqueue(() => this.expireIfDue(ch)), Math.max(0, ms));
    ch.expiryTimer.unref();
  }

  /**
   * Closes a channel whose token has expired, in the connection's order (after a refresh already
   * on its way). A token refreshed meanwhile keeps its channel; a timer that fired a moment early
   * (timers may, against the wall clock) is set again.
   */
  private expireIfDue(ch: JoinedChannel): void {
    if (this.closed || this.joined.get(ch.topic) !== ch) return;
    if (tokenExpired(ch.claims)) this.shutdown(ch, 'Token has expired');
    else this.scheduleExpiry(ch);
  }

  private async refreshToken(ch: JoinedChannel, msg: PhoenixMessage): Promise<void> {
    const token = isObject(msg.payload) ? msg.payload.access_token : undefined;
    if (typeof token !== 'string' || token === '') {
      this.reply(msg, 'error', { reason: 'access_token must be a non-empty string' });
      return;
    }
    let claims: JwtClaims;
    try {
      claims = await this.ctx.verify(token);
    } catch (err) {
      const expired = err instanceof RealtimeError && err.reason === 'token_expired';
      this.shutdown(ch, expired ? 'Token has expired' : `Received an invalid access token from client: ${reasonOf(err)}`);
      return;
    }
    if (ch.isPrivate) {
      let allowed: boolean;
      try {
        allowed = await topicAllowed(this.ctx.pool, claims, ch.subTopic);
      } catch (err) {
        this.shutdown(ch, reasonOf(err));
        return;
      }
      if (!allowed) {
        this.shutdown(ch, unauthorizedTopic(ch.subTopic, 'read from').message);
        return;
      }
    }
    // Left or closed while the token was checked: nothing left to refresh.
    if (this.closed || this.joined.get(ch.topic) !== ch) return;
    ch.claims = claims;
    ch.token = token;
    ch.writeAuth = null;
    this.scheduleExpiry(ch);
    this.reply(msg, 'ok', {});
  }

  /** For private channels: may the channel's token owner still write to it? Replies the refusal. */
  private async mayWrite(ch: JoinedChannel, msg: PhoenixMessage): Promise<boolean> {
    if (!ch.isPrivate) return true;
    let allowed: boolean;
    if (ch.writeAuth && Date.now() - ch.writeAuth.at < WRITE_AUTH_TTL_MS) {
      allowed = ch.writeAuth.allowed;
    } else {
      const started = Date.now();
      try {
        allowed = await topicAllowed(this.ctx.pool, ch.claims, ch.subTopic);
      } catch (err) {
        this.reply(msg, 'error', { reason: reasonOf(err) });
        return false;
      }
      ch.writeAuth = { allowed, at: Date.now() };
      // The channel's broadcasts wait for this check: a slow one delays signaling (clients time out after 10 s).
      const took = ch.writeAuth.at - started;
      if (took >= SLOW_WRITE_CHECK_MS) this.ctx.log(`realtime: connection ${this.id}: write check on ${ch.subTopic} took ${took} ms`);
    }
    if (!allowed) {
      const err = unauthorizedTopic(ch.subTopic, 'write to');
      this.ctx.log(`realtime: connection ${this.id}: ${err.message}`);
      this.reply(msg, 'error', { reason: err.message });
    }
    return allowed;
  }

  /**
   * After a wait (a write check): whether the channel is still this connection's and its token
   * still good. A message whose channel was left or closed meanwhile goes nowhere; one whose token
   * expired meanwhile is refused and the channel closed.
   */
  private stillJoined(ch: JoinedChannel, msg: PhoenixMessage): boolean {
    if (this.closed || this.joined.get(ch.topic) !== ch) return false;
    if (tokenExpired(ch.claims)) {
      this.reply(msg, 'error', { reason: 'Token has expired' });
      // Closed in the connection's order: a refresh already on its way is handled first and keeps the channel.
      this.enqueue(() => this.expireIfDue(ch));
      return false;
    }
    return true;
  }

  private async broadcast(ch: JoinedChannel, msg: PhoenixMessage): Promise<void> {
    const p = msg.payload;
    if (!isObject(p) || typeof p.event !== 'string' || p.event === '') {
      this.reply(msg, 'error', { reason: 'a broadcast needs {type: "broadcast", event, payload}' });
      return;
    }
    if (!(p.payload instanceof Uint8Array)) {
      const json = jsonOf(p.payload);
      if ('error' in json) {
        this.reply(msg, 'error', { reason: json.error });
        return;
      }
    }
    if (!(await this.mayWrite(ch, msg))) return;
    if (!this.stillJoined(ch, msg)) return;
    const body: BroadcastBody = p.payload instanceof Uint8Array ? { encoding: 'binary', bytes: p.payload } : { encoding: 'json', value: p.payload };
    const extra: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(p)) if (!['type', 'event', 'payload', 'meta'].includes(k)) extra[k] = v;
    this.ctx.registry.broadcast(ch.topic, ch.isPrivate, { event: p.event, body, extra }, ch);
    if (ch.broadcastAck) this.reply(msg, 'ok', {});
  }

  private async presence(ch: JoinedChannel, msg: PhoenixMessage): Promise<void> {
    const p = isObject(msg.payload) ? msg.payload : {};
    if (p.event === 'track') {
      const meta = p.payload === undefined || p.payload === null ? {} : p.payload;
      if (!isObject(meta)) {
        this.reply(msg, 'error', { reason: 'presence payload must be an object' });
        return;
      }
      const json = jsonOf(meta);
      if ('error' in json || json.text.length > MAX_PRESENCE_BYTES) {
        this.reply(msg, 'error', { reason: 'error' in json ? json.error : `presence payload is over ${MAX_PRESENCE_BYTES} bytes of JSON` });
        return;
      }
      let held = json.text.length;
      for (const [other, bytes] of this.presenceBytes) if (other !== ch) held += bytes;
      if (held > MAX_CONNECTION_PRESENCE_BYTES) {
        this.reply(msg, 'error', { reason: `presence on this connection would be over ${MAX_CONNECTION_PRESENCE_BYTES} bytes of JSON across its channels` });
        return;
      }
      if (!(await this.mayWrite(ch, msg))) return;
      if (!this.stillJoined(ch, msg)) return;
      this.presenceBytes.set(ch, json.text.length);
      this.ctx.registry.track(ch, meta);
      this.reply(msg, 'ok', {});
    } else if (p.event === 'untrack') {
      this.presenceBytes.delete(ch);
      this.ctx.registry.untrack(ch);
      this.reply(msg, 'ok', {});
    } else {
      this.reply(msg, 'error', { reason: 'presence event must be "track" or "untrack"' });
    }
  }
}
