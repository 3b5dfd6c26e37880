import { defineConfig } from 'vitest/config';

/** Integration tests: real PostgreSQL, Deno, ffmpeg and RTMP server on 127.0.0.1. */
export default defineConfig({
  test: {
    include: ['tests/integration/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
