import { describe, expect, it } from 'vitest';
import { MEDIA_RECOVERIES, MEDIA_WINDOW_MS, NETWORK_RETRY_FIRST_MS, NETWORK_RETRY_MAX_MS, freshRecovery, nextRecovery, statusMessage } from './watchPlayback';

describe('playback recovery on the viewer page', () => {
  it('retries a missing stream with growing pauses, for as long as it takes', () => {
    let state = freshRecovery();
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      const next = nextRecovery('network', state, i * 1000, 'manifestLoadError');
      expect(next.step.action).toBe('reload');
      if (next.step.action === 'reload') {
        delays.push(next.step.delayMs);
        expect(next.step.note).toMatch(/manifestLoadError.*trying again/);
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
    expect(third.step).toEqual({ action: 'give-up', message: expect.stringMatching(/could not decode the stream \(bufferAppendError\)/) });
    // A minute later the decoder may be recovered again.
    expect(nextRecovery('media', third.state, 1000 + MEDIA_WINDOW_MS + 1, 'bufferAppendError').step.action).toBe('recover-media');
  });

  it('gives up at once on other failures, saying which', () => {
    const next = nextRecovery('other', freshRecovery(), 0, 'internalException');
    expect(next.step).toEqual({ action: 'give-up', message: 'Playback failed (internalException).' });
  });

  it('tells a viewer whether the stream is yet to start or over', () => {
    expect(statusMessage('live')).toBeNull();
    expect(statusMessage('idle')).toMatch(/not started yet.*as soon as it goes live/);
    expect(statusMessage('ended')).toMatch(/ended/);
  });
});
