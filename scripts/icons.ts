/** Renders the app icon (resources/icon.svg) to the PNG sizes electron-builder packages. */
import sharp from 'sharp';
import { mkdirSync } from 'node:fs';

mkdirSync('build/icons', { recursive: true });
await sharp('resources/icon.svg', { density: 512 }).resize(1024, 1024).png().toFile('build/icon.png');
for (const size of [16, 32, 48, 64, 128, 256, 512]) {
  await sharp('resources/icon.svg', { density: 512 }).resize(size, size).png().toFile(`build/icons/${size}x${size}.png`);
}
console.log('icons written to build/icon.png and build/icons/');
