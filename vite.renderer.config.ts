/** Builds the renderer alone for the browser studio, the guest and the viewer pages. */
import { resolve } from 'node:path';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  root: resolve('src/renderer'),
  base: './',
  plugins: [react()],
  build: { outDir: resolve('out/renderer'), emptyOutDir: true, chunkSizeWarningLimit: 1500 },
});
