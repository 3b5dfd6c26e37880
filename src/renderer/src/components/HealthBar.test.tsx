import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { EncoderStats } from '../../../shared/bridge';
import { liveEncoderStats } from '../../../../tests/support/encoderStats';
import { HealthBar, OffAirAlert } from './HealthBar';

const live: EncoderStats = liveEncoderStats();

const render = (stats: EncoderStats): string => renderToStaticMarkup(createElement(HealthBar, { stats, encoder: null, renderMs: 10 }));

describe('OffAirAlert', () => {
  const alert = (stats: EncoderStats | null) => renderToStaticMarkup(createElement(OffAirAlert, { stats }));

  it('says the stream is off the air, why and what to do, once the encoder gave up', () => {
    const html = alert({ ...live, state: 'error', error: 'the ingest refused the stream 20 times\nffmpeg: Connection refused' });
    expect(html).toContain('role="alert"');
    expect(html).toContain('The stream is off the air:');
    expect(html).toContain('(the ingest refused the stream 20 times)');
    expect(html).toContain('End live, then go live again.');
    expect(html).not.toContain('Connection refused');
  });

  it('says nothing while the encoder is live, reconnecting or not reporting', () => {
    expect(alert(live)).toBe('');
    expect(alert({ ...live, state: 'reconnecting', error: 'ffmpeg stalled' })).toBe('');
    expect(alert(null)).toBe('');
  });
});

describe('HealthBar', () => {
  it('says a warning or an error in a mark and in words, not by colour alone', () => {
    const quiet = render(live);
    expect(quiet).not.toContain('⚠');
    expect(quiet).not.toContain('✖');
    // One frame in ten dropped by the network: an error (5 % and more); a restart: a warning.
    const html = render({ ...live, framesWritten: 900, framesRepeated: 0, framesDropped: 0, framesDroppedNetwork: 100, restarts: 1, lastExit: 'ffmpeg exited' });
    expect(html).toMatch(/<span class="counter error"[^>]*data-level="error"><span aria-hidden="true">✖ <\/span><span class="sr-only">error: <\/span>network 100/);
    expect(html).toMatch(/<span class="counter warn" title="ffmpeg exited">/);
  });

  it('says how many media messages the native side refused, with the latest reason', () => {
    expect(render(live)).not.toContain('media-rejected');
    expect(render({ ...live, mediaRejected: 0, mediaRejectedLast: null })).not.toContain('media-rejected');
    const html = render({ ...live, mediaRejected: 42, mediaRejectedLast: 'video frame has 4 bytes; a 1280x720 I420 frame has 1382400 bytes' });
    expect(html).toContain('data-testid="media-rejected"');
    expect(html).toContain('rejected 42 media messages');
    expect(html).toContain('title="latest: video frame has 4 bytes; a 1280x720 I420 frame has 1382400 bytes"');
  });

  it('shows the audio the encoder had to repair, with what it was made of', () => {
    expect(render(live)).not.toContain('audio-repaired');
    const html = render({ ...live, audioFilledMs: 1200, audioTrimmedMs: 300 });
    expect(html).toContain('data-testid="audio-repaired"');
    expect(html).toContain('audio gaps 1.2 s');
    expect(html).toContain('1.2 s of silence where the program&#x27;s audio came late or not at all, 0.3 s trimmed because it came after its place');
  });

  it('shows the reconnecting state with the reason a stalled ingest gives', () => {
    const html = render({ ...live, state: 'reconnecting', error: 'ffmpeg stalled: no progress for 6 s (the ingest stopped taking the stream)' });
    expect(html).toContain('data-testid="encoder-state"');
    expect(html).toContain('>reconnecting<');
    expect(html).toContain('The connection to the ingest was lost: reconnecting by itself, the studio stays live.');
    expect(html).toContain('ffmpeg stalled: no progress for 6 s');
  });

  it('does not blame the ingest when the studio’s picture stopped coming, or ffmpeg itself stopped', () => {
    const quiet = render({ ...live, state: 'reconnecting', error: "no video from the renderer's encoder for 6 s; the stream goes on when it sends video again" });
    expect(quiet).toContain('The studio&#x27;s picture stopped reaching the encoder: the stream waits for it and goes on by itself.');
    expect(quiet).not.toContain('The connection to the ingest was lost');
    const crashed = render({ ...live, state: 'reconnecting', error: 'ffmpeg exited unexpectedly (killed by SIGKILL)' });
    expect(crashed).toContain('The encoder stopped: it is being started again, the studio stays live.');
    // An exit with a code is ffmpeg's answer to an ingest that dropped the connection.
    const dropped = render({ ...live, state: 'reconnecting', error: 'ffmpeg exited unexpectedly (code 1): Connection reset by peer' });
    expect(dropped).toContain('The connection to the ingest was lost');
  });

  it('shows the output rate, and a dash while a new encoder has no rate of its own yet', () => {
    expect(render({ ...live, fps: 29.6 })).toMatch(/data-testid="output-fps">30 fps</);
    expect(render({ ...live, fps: null })).toMatch(/data-testid="output-fps">— fps</);
  });
});
