/** Pure layout geometry for the program picture (OBS-style scene items). */

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Normalised crop of the source (0..1 on each axis). */
export interface Crop {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface SceneItem {
  sourceId: string;
  rect: Rect;
  crop: Crop;
  z: number;
  visible: boolean;
}

/** Most sources a program shows: the host, nine guests and a shared screen. */
export const MAX_PROGRAM_SOURCES = 11;

/** Rows x columns for n sources: 1x1, 1x2, 2x2, 2x3, 3x3, then 3x4 (ten people, or nine and a shared screen). */
export function gridShape(count: number): { rows: number; cols: number } {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`participant count must be a non-negative integer, got ${count}`);
  if (count > MAX_PROGRAM_SOURCES) throw new RangeError(`at most ${MAX_PROGRAM_SOURCES} sources (host + 9 guests + a shared screen), got ${count}`);
  if (count <= 1) return { rows: 1, cols: 1 };
  if (count === 2) return { rows: 1, cols: 2 };
  if (count <= 4) return { rows: 2, cols: 2 };
  if (count <= 6) return { rows: 2, cols: 3 };
  return { rows: 3, cols: 3 + (count > 9 ? 1 : 0) };
}

/**
 * The crop of a source of size (sw x sh) that fills a tile of size (tw x th)
 * without distortion ("cover"), centred.
 */
export function coverCrop(sw: number, sh: number, tw: number, th: number): Crop {
  if (sw <= 0 || sh <= 0 || tw <= 0 || th <= 0) return { x: 0, y: 0, width: 1, height: 1 };
  const sourceAspect = sw / sh;
  const tileAspect = tw / th;
  if (sourceAspect > tileAspect) {
    const width = tileAspect / sourceAspect;
    return { x: (1 - width) / 2, y: 0, width, height: 1 };
  }
  const height = sourceAspect / tileAspect;
  return { x: 0, y: (1 - height) / 2, width: 1, height };
}

export interface GridSource {
  id: string;
  width: number;
  height: number;
}

/**
 * The nearest even pixel. Every tile edge falls on one: the program is I420,
 * whose chroma samples cover two pixels each way, so a tile from an odd edge
 * would share a chroma column (or row) with its neighbour and tint it with
 * its colour. The canvas (even-sized) is still tiled exactly.
 */
export const evenEdge = (n: number): number => 2 * Math.round(n / 2);

/**
 * Lays sources out as an even grid over the canvas, in order, with integer
 * pixel rects (edges on even pixels) that tile the canvas exactly. A last row with fewer tiles is centred.
 */
export function gridLayout(sources: readonly GridSource[], canvasWidth: number, canvasHeight: number): SceneItem[] {
  const { rows, cols } = gridShape(sources.length);
  const items: SceneItem[] = [];
  sources.forEach((source, index) => {
    const row = Math.floor(index / cols);
    const inRow = row === rows - 1 ? sources.length - row * cols : cols;
    const col = index % cols;
    const offset = ((cols - inRow) * canvasWidth) / cols / 2;
    const x0 = evenEdge(offset + (col * canvasWidth) / cols);
    const x1 = evenEdge(offset + ((col + 1) * canvasWidth) / cols);
    const y0 = evenEdge((row * canvasHeight) / rows);
    const y1 = evenEdge(((row + 1) * canvasHeight) / rows);
    const rect = { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
    items.push({ sourceId: source.id, rect, crop: coverCrop(source.width, source.height, rect.width, rect.height), z: index, visible: true });
  });
  return items;
}

export type ProgramLayoutKind = 'grid' | 'side-by-side' | 'pip' | 'spotlight';
export const PROGRAM_LAYOUTS: readonly ProgramLayoutKind[] = ['grid', 'side-by-side', 'pip', 'spotlight'];

function item(source: GridSource, rect: Rect, z: number): SceneItem {
  return { sourceId: source.id, rect, crop: coverCrop(source.width, source.height, rect.width, rect.height), z, visible: true };
}

/** Moves the focused source (if any) to the front of the list. */
function focusFirst(sources: readonly GridSource[], focusId: string | null | undefined): GridSource[] {
  const focused = sources.find((s) => s.id === focusId);
  return focused ? [focused, ...sources.filter((s) => s !== focused)] : [...sources];
}

/**
 * The program layouts a host picks live:
 * - grid: everyone in an even grid (1x1 … 3x3);
 * - side-by-side: the first two (focus first) in two halves;
 * - pip: the focus full frame, the next one small in the bottom-right corner;
 * - spotlight: the focus large on the left, the others in a strip on the right.
 */
/** The sources a program layout shows (picture-in-picture and side-by-side show two of many; grid and spotlight all). */
export function shownSourceIds(kind: ProgramLayoutKind, ids: readonly string[], focusId?: string | null): Set<string> {
  const items = programLayout(kind, ids.map((id) => ({ id, width: 16, height: 9 })), 1280, 720, focusId);
  return new Set(items.filter((i) => i.visible).map((i) => i.sourceId));
}

export function programLayout(
  kind: ProgramLayoutKind,
  sources: readonly GridSource[],
  width: number,
  height: number,
  focusId?: string | null,
): SceneItem[] {
  const ordered = focusFirst(sources, focusId);
  if (ordered.length <= 1 || kind === 'grid') return gridLayout(ordered, width, height);
  if (kind === 'side-by-side') {
    const half = evenEdge(width / 2);
    return [item(ordered[0]!, { x: 0, y: 0, width: half, height }, 0), item(ordered[1]!, { x: half, y: 0, width: width - half, height }, 1)];
  }
  if (kind === 'pip') {
    const w = evenEdge(width / 4);
    const h = evenEdge(height / 4);
    const margin = evenEdge(height / 24);
    return [
      item(ordered[0]!, { x: 0, y: 0, width, height }, 0),
      item(ordered[1]!, { x: width - w - margin, y: height - h - margin, width: w, height: h }, 1),
    ];
  }
  // spotlight: 3/4 width for the focus, the rest stacked in a strip.
  const mainWidth = evenEdge((width * 3) / 4);
  const rest = ordered.slice(1);
  const items = [item(ordered[0]!, { x: 0, y: 0, width: mainWidth, height }, 0)];
  rest.forEach((source, i) => {
    const y0 = evenEdge((i * height) / rest.length);
    const y1 = evenEdge(((i + 1) * height) / rest.length);
    items.push(item(source, { x: mainWidth, y: y0, width: width - mainWidth, height: y1 - y0 }, i + 1));
  });
  return items;
}
