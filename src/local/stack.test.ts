import { describe, expect, it } from 'vitest';
import { externalIngest } from './stack';

describe('externalIngest: an RTMP server of your own instead of the embedded ingest', () => {
  it('takes rtmp:// and rtmps:// URLs, without a trailing slash, and fills the playback template', () => {
    const ingest = externalIngest('rtmp://127.0.0.1:1936/live/', 'http://127.0.0.1:8080/hls/{id}.m3u8');
    expect(ingest.rtmpBaseUrl).toBe('rtmp://127.0.0.1:1936/live');
    expect(ingest.playbackUrl('abc')).toBe('http://127.0.0.1:8080/hls/abc.m3u8');
    expect(externalIngest('rtmps://live.example.com:443/live').rtmpBaseUrl).toBe('rtmps://live.example.com:443/live');
  });

  it('has no playback without a template', () => {
    expect(externalIngest('rtmp://127.0.0.1/live').playbackUrl('abc')).toBeNull();
  });

  it('refuses what is not an RTMP URL, and a template without {id} or naming the stream key, with a clear reason', () => {
    expect(() => externalIngest('127.0.0.1:1935')).toThrow(expect.objectContaining({ reason: 'invalid_ingest_url', message: expect.stringContaining('give rtmp://host:port/app') }));
    expect(() => externalIngest('http://127.0.0.1/live')).toThrow(expect.objectContaining({ reason: 'invalid_ingest_url', message: expect.stringContaining('is not RTMP') }));
    expect(() => externalIngest('rtmp://127.0.0.1/live', 'http://x/hls.m3u8')).toThrow(expect.objectContaining({ reason: 'invalid_playback_template' }));
    // A playback URL is public: one with the key in it would let any viewer publish.
    expect(() => externalIngest('rtmp://127.0.0.1/live', 'http://x/{key}/{id}.m3u8')).toThrow(
      expect.objectContaining({ reason: 'invalid_playback_template', message: expect.stringContaining('never the stream key') }),
    );
  });
});
