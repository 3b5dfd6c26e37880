/** The picture shown for a participant whose camera is off: their initials and name. */

export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0]![0]! + words[words.length - 1]![0]! : (words[0] ?? '?').slice(0, 2);
  return letters.toUpperCase();
}

function hue(name: string): number {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return h;
}

/** Draws (or redraws) an avatar tile into `canvas` (640x360). */
export function drawAvatarTile(canvas: HTMLCanvasElement, name: string, note = 'Camera off'): HTMLCanvasElement {
  canvas.width = 640;
  canvas.height = 360;
  const ctx = canvas.getContext('2d');
  if (!ctx) return canvas;
  const h = hue(name);
  ctx.fillStyle = `hsl(${h} 25% 14%)`;
  ctx.fillRect(0, 0, 640, 360);
  ctx.fillStyle = `hsl(${h} 55% 45%)`;
  ctx.beginPath();
  ctx.arc(320, 150, 70, 0, Math.PI * 2);
  ctx.fill();
  ctx.fillStyle = '#fff';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.font = 'bold 56px system-ui, sans-serif';
  ctx.fillText(initials(name), 320, 152);
  ctx.font = '600 30px system-ui, sans-serif';
  ctx.fillText(name.slice(0, 32), 320, 262);
  ctx.fillStyle = 'rgba(255,255,255,0.6)';
  ctx.font = '22px system-ui, sans-serif';
  ctx.fillText(note, 320, 302);
  return canvas;
}
