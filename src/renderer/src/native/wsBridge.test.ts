import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FromWorker, ToWorker } from './bridgeWorker';
import { BRIDGE_CLOSED_MESSAGE, connectWsBridge, type WsBridge } from './wsBridge';

/** The bridge worker stand-in: keeps what the page posts, and the test answers for the socket. */
class FakeWorker {
  static made: FakeWorker[] = [];
  onmessage: ((event: MessageEvent<FromWorker>) => void) | null = null;
  onerror: ((event: ErrorEvent) => void) | null = null;
  readonly posted: ToWorker[] = [];
  terminated = false;
  constructor() {
    FakeWorker.made.push(this);
  }
  postMessage(msg: ToWorker): void {
    this.posted.push(msg);
  }
  terminate(): void {
    this.terminated = true;
  }
  emit(msg: FromWorker): void {
    this.onmessage?.({ data: msg } as MessageEvent<FromWorker>);
  }
  /** The requests the page sent, parsed. */
  requests(): Array<{ id: number; channel: string }> {
    return this.posted.filter((m) => m.type === 'json').map((m) => JSON.parse((m as { data: string }).data) as { id: number; channel: string });
  }
  connects(): number {
    return this.posted.filter((m) => m.type === 'connect').length;
  }
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

async function connected(): Promise<{ bridge: WsBridge; worker: FakeWorker }> {
  const promise = connectWsBridge('ws://127.0.0.1:9/bridge');
  const worker = FakeWorker.made.at(-1)!;
  worker.emit({ type: 'open' });
  return { bridge: await promise, worker };
}

beforeEach(() => {
  FakeWorker.made = [];
  vi.stubGlobal('Worker', FakeWorker);
});
afterEach(() => {
  vi.unstubAllGlobals();
});

describe('connectWsBridge', () => {
  it('closes its sockets saying so when the page goes away, so the studio stops the stream at once', async () => {
    const pagehide: Array<() => void> = [];
    vi.stubGlobal('addEventListener', (type: string, listener: () => void) => {
      if (type === 'pagehide') pagehide.push(listener);
    });
    const { worker } = await connected();
    expect(pagehide).toHaveLength(1);
    pagehide[0]!();
    expect(worker.posted.at(-1)).toEqual({ type: 'leave' });
  });

  it('answers a request with its reply', async () => {
    const { bridge, worker } = await connected();
    const reply = bridge.invoke('encoder:stop');
    await flush();
    const [request] = worker.requests();
    worker.emit({ type: 'json', data: JSON.stringify({ id: request!.id, ok: true, result: null }) });
    await expect(reply).resolves.toBeNull();
  });

  it('a reply it cannot read fails its request with why, is counted, and the bridge goes on', async () => {
    const { bridge, worker } = await connected();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const stop = bridge.invoke('encoder:stop');
    await flush();
    const [request] = worker.requests();
    worker.emit({ type: 'json', data: JSON.stringify({ id: request!.id, ok: false }) });
    await expect(stop).rejects.toMatchObject({ reason: 'bad_reply', message: expect.stringMatching(/cannot read \(a reply to request \d+ that says neither its result nor its error\)/) });
    for (const data of ['not json', 'null', '[1]', JSON.stringify({ event: 'encoder:stats', args: 'x' }), JSON.stringify({ ok: true })]) worker.emit({ type: 'json', data });
    expect(bridge.malformed).toBe(6);
    expect(warn).toHaveBeenCalledTimes(6);
    // The next request is answered as usual.
    const next = bridge.invoke('encoder:stop');
    await flush();
    worker.emit({ type: 'json', data: JSON.stringify({ id: worker.requests().at(-1)!.id, ok: true, result: null }) });
    await expect(next).resolves.toBeNull();
    warn.mockRestore();
  });

  it('an event listener that throws does not keep the event from the others', async () => {
    const { bridge, worker } = await connected();
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const heard: unknown[] = [];
    bridge.on('encoder:stats', () => {
      throw new Error('listener bug');
    });
    bridge.on('encoder:stats', (stats) => heard.push(stats));
    worker.emit({ type: 'json', data: JSON.stringify({ event: 'encoder:stats', args: [{ fps: 30 }] }) });
    expect(heard).toEqual([{ fps: 30 }]);
    expect(error).toHaveBeenCalledTimes(1);
    error.mockRestore();
  });

  it('fails the requests waiting when the socket closes, and tells its listeners', async () => {
    const { bridge, worker } = await connected();
    const heard: string[] = [];
    bridge.onClosed((e) => heard.push(e.message));
    const reply = bridge.invoke('encoder:start', { url: 'rtmp://x/y', width: 1280, height: 720, fps: 30, videoBitrateKbps: 3000, audioBitrateKbps: 128 } as never);
    await flush();
    worker.emit({ type: 'closed', code: 1006, reason: '' });
    await expect(reply).rejects.toThrow(`The connection to the studio's encoder closed (code 1006).`);
    expect(heard).toEqual([`The connection to the studio's encoder closed (code 1006).`]);
    expect(bridge.connected).toBe(false);
    expect(BRIDGE_CLOSED_MESSAGE).toBe("the connection to the studio's encoder closed");
  });

  it('drops media while closed, and connects again for the next request', async () => {
    const { bridge, worker } = await connected();
    worker.emit({ type: 'closed', code: 1001, reason: 'going away' });
    bridge.send('encoder:audio', new ArrayBuffer(8), 1);
    expect(worker.posted.filter((m) => m.type === 'media')).toEqual([]);
    const reply = bridge.invoke('encoder:stop');
    await flush();
    expect(worker.connects()).toBe(2);
    expect(worker.requests()).toEqual([]);
    worker.emit({ type: 'open' });
    await flush();
    const [request] = worker.requests();
    worker.emit({ type: 'json', data: JSON.stringify({ id: request!.id, ok: true, result: null }) });
    await expect(reply).resolves.toBeNull();
    expect(bridge.connected).toBe(true);
  });

  it('two requests while closed make one new connection; when it fails both say so clearly', async () => {
    const { bridge, worker } = await connected();
    worker.emit({ type: 'closed', code: 1006, reason: '' });
    const a = bridge.invoke('encoder:stop');
    const b = bridge.invoke('encoder:stop');
    await flush();
    expect(worker.connects()).toBe(2);
    worker.emit({ type: 'error', message: 'cannot reach the studio bridge at ws://127.0.0.1:9/bridge' });
    worker.emit({ type: 'closed', code: 1006, reason: '' });
    const expected = "The connection to the studio's encoder closed, and it could not be opened again: cannot reach the studio bridge at ws://127.0.0.1:9/bridge.";
    await expect(a).rejects.toThrow(expected);
    await expect(b).rejects.toThrow(expected);
  });

  it('a bridge worker that fails fails what waits and every later request at once', async () => {
    const { bridge, worker } = await connected();
    const reply = bridge.invoke('encoder:stop');
    await flush();
    worker.onerror?.({ message: 'out of memory' } as ErrorEvent);
    await expect(reply).rejects.toThrow(/bridge worker failed \(out of memory\)/);
    await expect(bridge.invoke('encoder:stop')).rejects.toThrow(/bridge worker failed/);
    expect(worker.connects()).toBe(1);
  });

  it('a first connection that fails rejects with its reason and lets the worker go', async () => {
    const promise = connectWsBridge('ws://127.0.0.1:9/bridge');
    const worker = FakeWorker.made.at(-1)!;
    worker.emit({ type: 'error', message: 'cannot reach the studio bridge at ws://127.0.0.1:9/bridge' });
    await expect(promise).rejects.toThrow('cannot reach the studio bridge at ws://127.0.0.1:9/bridge');
    expect(worker.terminated).toBe(true);
  });
});

describe('getNativeBridge', () => {
  async function freshModule() {
    vi.stubGlobal('window', { location: { href: 'http://127.0.0.1:5173/studio' } });
    vi.resetModules();
    return import('./index');
  }

  it('keeps one bridge (one worker) for the page: a socket that closed is opened again by it, not by a new worker', async () => {
    const { getNativeBridge } = await freshModule();
    const first = getNativeBridge();
    expect(getNativeBridge()).toBe(first);
    const worker = FakeWorker.made.at(-1)!;
    expect(worker.posted[0]).toEqual({ type: 'connect', url: 'ws://127.0.0.1:5173/bridge', studio: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    worker.emit({ type: 'open' });
    const bridge = await first;
    await flush();
    await expect(getNativeBridge()).resolves.toBe(bridge);

    // The studio server went away: the studio opened again asks for the bridge, which connects again.
    worker.emit({ type: 'closed', code: 1006, reason: '' });
    const again = getNativeBridge();
    await flush();
    expect(worker.connects()).toBe(2);
    // Under the same studio id: the server keeps a stream this page started for it to come back to.
    const ids = worker.posted.filter((m) => m.type === 'connect').map((m) => (m as { studio: string }).studio);
    expect(new Set(ids).size).toBe(1);
    worker.emit({ type: 'open' });
    await expect(again).resolves.toBe(bridge);
    expect(FakeWorker.made).toHaveLength(1);

    // Unreachable now: the call says so (the studio shows it), and the same bridge tries again on the next one.
    worker.emit({ type: 'closed', code: 1006, reason: '' });
    const unreachable = getNativeBridge();
    await flush();
    worker.emit({ type: 'error', message: 'cannot reach the studio bridge at ws://127.0.0.1:5173/bridge' });
    await expect(unreachable).rejects.toThrow(/could not be opened again: cannot reach the studio bridge/);
    const later = getNativeBridge();
    await flush();
    worker.emit({ type: 'open' });
    await expect(later).resolves.toBe(bridge);
    expect(FakeWorker.made).toHaveLength(1);
    expect(worker.terminated).toBe(false);
  });

  it('replaces a bridge whose worker failed, and one whose first connection failed', async () => {
    const { getNativeBridge } = await freshModule();
    const refused = getNativeBridge();
    FakeWorker.made.at(-1)!.emit({ type: 'error', message: 'cannot reach the studio bridge' });
    await expect(refused).rejects.toThrow('cannot reach the studio bridge');
    await flush();
    const first = getNativeBridge();
    expect(FakeWorker.made).toHaveLength(2);
    const worker = FakeWorker.made.at(-1)!;
    worker.emit({ type: 'open' });
    await first;
    await flush();
    worker.onerror?.({ message: 'out of memory' } as ErrorEvent);
    expect(worker.terminated).toBe(true);
    const second = getNativeBridge();
    expect(FakeWorker.made).toHaveLength(3);
    FakeWorker.made.at(-1)!.emit({ type: 'open' });
    await expect(second).resolves.not.toBe(await first);
  });
});
