import { describe, expect, it } from 'vitest';
import { portFromEnv } from './env';

describe('portFromEnv', () => {
  it('reads a port, and leaves an unset or empty one to the default', () => {
    expect(portFromEnv('API_PORT', { API_PORT: '54321' })).toBe(54321);
    expect(portFromEnv('API_PORT', { API_PORT: '0' })).toBe(0);
    expect(portFromEnv('API_PORT', {})).toBeUndefined();
    expect(portFromEnv('API_PORT', { API_PORT: ' ' })).toBeUndefined();
  });

  it('names the setting and the value when it is not a port', () => {
    expect(() => portFromEnv('RTMP_PORT', { RTMP_PORT: 'abc' })).toThrow('RTMP_PORT must be a port number (0 to 65535), got "abc"');
    expect(() => portFromEnv('RTMP_PORT', { RTMP_PORT: '70000' })).toThrow(/got "70000"/);
    expect(() => portFromEnv('RTMP_PORT', { RTMP_PORT: '19.5' })).toThrow(/got "19.5"/);
  });
});
