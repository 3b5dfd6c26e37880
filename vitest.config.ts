import { defineConfig } from 'vitest/config';

/** Unit tests: fast, no services. Integration tests have their own config. */
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
    environment: 'node',
    testTimeout: 20_000,
  },
});
