import { describe, expect, it } from 'vitest';
import { MEDIA_RECOVERIES, MEDIA_WINDOW_MS, NETWORK_RETRY_FIRST_MS, NETWORK_RETRY_MAX_MS, NOT_READY_RETRIES, NOT_READY_RETRY_MS, freshRecovery, nextRecovery, playbackWords, statusMessage } from './watchPlayback';

describe('playback recovery on the viewer page', () => {
  it('retries a missing stream with growing pauses, for as long as it takes', () => {
    let state = freshRecovery();
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      const next = nextRecovery('network', state, i * 1000, 'manifestLoadError');
      expect(next.step.action).toBe('reload');
      if (next.step.action === 'reload') {
        delays.push(next.step.delayMs);
        expect(next.step.note).toMatch(/not reaching this page \(its playlist could not be loaded\); trying again/);
      }
      state = next.state;
    }
    expect(delays[0]).toBe(NETWORK_RETRY_FIRST_MS);
    expect(delays[1]).toBe(NETWORK_RETRY_FIRST_MS * 2);
    expect(Math.max(...delays)).toBe(NETWORK_RETRY_MAX_MS);
    expect(delays.at(-1)).toBe(NETWORK_RETRY_MAX_MS);
  });

  it('recovers the decoder a few times a minute, then says it cannot decode', () => {
    let state = freshRecovery();
    for (let i = 0; i < MEDIA_RECOVERIES; i++) {
      const next = nextRecovery('media', state, 1000 + i, 'bufferAppendError');
      expect(next.step.action).toBe('recover-media');
      state = next.state;
    }
    const third = nextRecovery('media', state, 2000, 'bufferAppendError');
    expect(third.step).toEqual({ action: 'give-up', message: expect.stringMatching(/could not decode the stream \(a piece of the video could not be decoded\)/) });
    // A minute later the decoder may be recovered again.
    expect(nextRecovery('media', third.state, 1000 + MEDIA_WINDOW_MS + 1, 'bufferAppendError').step.action).toBe('recover-media');
  });

  it('gives up at once on other failures, saying which', () => {
    const next = nextRecovery('other', freshRecovery(), 0, 'internalException');
    expect(next.step).toEqual({ action: 'give-up', message: 'Playback failed (an error inside the player).' });
  });

  it("looks for a playlist not there yet (a stream just gone live) every second a while, then with growing pauses", () => {
    let state = freshRecovery();
    const steps = [];
    for (let i = 0; i < NOT_READY_RETRIES + 2; i++) {
      const next = nextRecovery('network', state, i * 1000, 'manifestLoadError', 404);
      steps.push(next.step);
      state = next.state;
    }
    expect(steps[0]).toEqual({ action: 'reload', delayMs: NOT_READY_RETRY_MS, note: "Waiting for the stream's first seconds…" });
    expect(steps[NOT_READY_RETRIES - 1]).toMatchObject({ delayMs: NOT_READY_RETRY_MS });
    expect(steps[NOT_READY_RETRIES]).toMatchObject({ delayMs: NETWORK_RETRY_FIRST_MS, note: expect.stringMatching(/its playlist could not be loaded: HTTP 404/) });
    expect(steps[NOT_READY_RETRIES + 1]).toMatchObject({ delayMs: NETWORK_RETRY_FIRST_MS * 2 });
    // Any other failure to load it backs off at once.
    expect(nextRecovery('network', freshRecovery(), 0, 'manifestLoadError', 503).step).toMatchObject({ delayMs: NETWORK_RETRY_FIRST_MS });
  });

  it("says the player's errors in words, keeping a code it does not know", () => {
    expect(playbackWords('fragLoadTimeOut')).toBe('a piece of the video took too long to load');
    expect(playbackWords('levelLoadError', 500)).toBe('its playlist could not be refreshed: HTTP 500');
    expect(playbackWords('somethingNew')).toBe('the player\'s error "somethingNew"');
  });

  it('tells a viewer whether the stream is yet to start or over', () => {
    expect(statusMessage('live')).toBeNull();
    expect(statusMessage('idle')).toMatch(/not started yet.*as soon as it goes live/);
    expect(statusMessage('ended')).toMatch(/ended/);
  });
});
