/** Bundles a browser-side harness into one IIFE script for page.addScriptTag. */
import { resolve } from 'node:path';
import { build } from 'vite';

export async function bundleHarness(entry: string, name: string): Promise<string> {
  const result = await build({
    configFile: false,
    logLevel: 'silent',
    build: { write: false, minify: false, lib: { entry: resolve(entry), formats: ['iife'], name, fileName: 'harness' } },
  });
  const outputs = Array.isArray(result) ? result : [result];
  const chunk = (outputs[0] as { output: Array<{ type: string; code?: string }> }).output.find((o) => o.type === 'chunk');
  if (!chunk?.code) throw new Error(`bundling ${entry} produced no code`);
  return chunk.code;
}
