import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';
import react from '@vitejs/plugin-react';
import { withBuiltPagePolicy } from './src/main/csp';

export default defineConfig({
  main: {
    build: {
      rollupOptions: { input: { index: resolve('src/main/index.ts') } },
    },
  },
  preload: {
    build: {
      // A sandboxed preload cannot be an ES module.
      rollupOptions: {
        input: { index: resolve('src/preload/index.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve('src/renderer'),
    base: './',
    // The window loads the built page from a file, where no response header carries its Content-Security-Policy:
    // the page carries it itself (in development the dev server's header does, see src/main/index.ts).
    plugins: [react(), { name: 'studio-page-policy', apply: 'build', transformIndexHtml: (html: string) => withBuiltPagePolicy(html) }],
    build: { outDir: resolve('out/renderer'), rollupOptions: { input: resolve('src/renderer/index.html') } },
  },
});
