/**
 * The program compositor on the CPU, in I420 from end to end: decoded camera
 * frames are already I420, the encoder wants I420, so where WebGL is
 * software-rendered (SwiftShader, llvmpipe) going through RGBA textures only
 * costs time. Each source's newest picture is scaled straight into its tile;
 * when nothing overlaps, only the tiles whose source has a new picture are
 * redrawn. Pure (no DOM): the program worker feeds it pictures.
 */
import type { SceneItem } from '../../../shared/layout';
import { rgbToYuv601 } from '../../../shared/color';
import { drawPicture, fillRect, packedPicture, type I420Picture } from './i420';

interface SourceState {
  picture: I420Picture | null;
  /** Display size (the aspect used for layout), which may differ from the coded picture's. */
  size: { width: number; height: number };
  dirty: boolean;
}

/** The studio's background, as in the WebGL compositor (RGB 0.07, 0.07, 0.09). */
export const BACKGROUND_RGB: readonly [number, number, number] = [18, 18, 23];

const overlaps = (a: SceneItem['rect'], b: SceneItem['rect']) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

export class I420Compositor {
  readonly output: I420Picture;
  private readonly sources = new Map<string, SourceState>();
  private items: SceneItem[] = [];
  private sceneKey = '';
  /** The whole picture must be redrawn (scene or source set changed). */
  private full = true;
  private readonly background: [number, number, number];
  /** Tiles drawn by the last compose (for figures and tests). */
  lastDrawn = 0;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    if (width % 2 !== 0 || height % 2 !== 0 || width <= 0 || height <= 0) throw new RangeError(`program size must be even and positive, got ${width}x${height}`);
    this.output = packedPicture(width, height);
    this.background = rgbToYuv601(...BACKGROUND_RGB);
  }

  setSource(id: string): void {
    this.sources.set(id, { picture: null, size: { width: 0, height: 0 }, dirty: false });
    this.full = true;
  }

  hasSource(id: string): boolean {
    return this.sources.has(id);
  }

  /** The source's newest picture; kept (not copied) until the next one. */
  setPicture(id: string, picture: I420Picture, displayWidth = picture.width, displayHeight = picture.height): void {
    const state = this.sources.get(id);
    if (!state) return;
    state.picture = picture;
    state.size = { width: displayWidth, height: displayHeight };
    state.dirty = true;
  }

  /** The picture a source holds now (to reuse its buffer for the next one). */
  picture(id: string): I420Picture | null {
    return this.sources.get(id)?.picture ?? null;
  }

  removeSource(id: string): void {
    if (this.sources.delete(id)) this.full = true;
  }

  sourceSize(id: string): { width: number; height: number } {
    return this.sources.get(id)?.size ?? { width: 0, height: 0 };
  }

  setScene(items: SceneItem[]): void {
    const key = JSON.stringify(items);
    if (key === this.sceneKey) return;
    this.sceneKey = key;
    this.items = [...items].sort((a, b) => a.z - b.z);
    this.full = true;
  }

  invalidate(): void {
    this.full = true;
  }

  get hasChanges(): boolean {
    if (this.full) return true;
    for (const s of this.sources.values()) if (s.dirty) return true;
    return false;
  }

  /**
   * Draws what changed into `output`: everything after a scene change, else
   * the tiles with a new picture (and, where tiles overlap, every tile, in z
   * order, so nothing below paints over what is above).
   */
  compose(): I420Picture {
    const visible = this.items.filter((it) => it.visible);
    let redrawAll = this.full;
    if (!redrawAll) {
      for (let i = 0; i < visible.length && !redrawAll; i++) {
        for (let k = i + 1; k < visible.length; k++) {
          if (overlaps(visible[i]!.rect, visible[k]!.rect)) {
            redrawAll = true;
            break;
          }
        }
      }
    }
    if (redrawAll) fillRect(this.output, { x: 0, y: 0, width: this.width, height: this.height }, this.background);
    let drawn = 0;
    for (const item of visible) {
      const state = this.sources.get(item.sourceId);
      if (!state || (!redrawAll && !state.dirty)) continue;
      if (state.picture) {
        drawPicture(state.picture, item.crop, this.output, item.rect);
        drawn += 1;
      } else if (!redrawAll) {
        fillRect(this.output, item.rect, this.background);
      }
    }
    for (const s of this.sources.values()) s.dirty = false;
    this.full = false;
    this.lastDrawn = drawn;
    return this.output;
  }
}
