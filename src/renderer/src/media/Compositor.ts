/**
 * WebGL2 program compositor: sources → scene items → one picture, shown on a
 * canvas (preview and the feed sent back to guests) and converted to I420 on
 * the GPU, read back asynchronously (PBO + fence) for the encoder.
 *
 * Runs on the page (canvas, video elements) or in a worker (OffscreenCanvas,
 * VideoFrames pushed by the caller, ImageBitmaps): see programWorker.ts.
 */
import type { SceneItem } from '../../../shared/layout';
import { i420Size } from '../../../shared/color';
import { createProgram, createTarget, createTexture, GlError } from './gl';
import { FULL_VERTEX, I420_FRAGMENT, ITEM_FRAGMENT, ITEM_VERTEX, PREVIEW_FRAGMENT } from './shaders';

/** A picture the compositor can draw: a page element, or (in a worker) a bitmap or canvas. */
export type SourceElement = HTMLVideoElement | HTMLCanvasElement | OffscreenCanvas | ImageBitmap;

export interface VideoSource {
  id: string;
  /** Absent for a source fed frame by frame with pushFrame(). */
  element?: SourceElement;
}

interface SourceState {
  source: VideoSource;
  texture: WebGLTexture;
  dirty: boolean;
  uploaded: boolean;
  /** Newest frame pushed and not yet uploaded (closed once uploaded or replaced). */
  pending: VideoFrame | null;
  size: { width: number; height: number };
  cancelFrameCallback: () => void;
}

const isVideoElement = (el: unknown): el is HTMLVideoElement => typeof HTMLVideoElement !== 'undefined' && el instanceof HTMLVideoElement;

interface Readback {
  buffer: WebGLBuffer;
  sync: WebGLSync | null;
  timestampMs: number;
}

export class Compositor {
  readonly width: number;
  readonly height: number;
  private readonly gl: WebGL2RenderingContext;
  private readonly quad: WebGLBuffer;
  private readonly vao: WebGLVertexArrayObject;
  private readonly itemProgram: WebGLProgram;
  private readonly previewProgram: WebGLProgram;
  private readonly i420Program: WebGLProgram;
  private readonly composite: { texture: WebGLTexture; framebuffer: WebGLFramebuffer };
  private readonly i420: { texture: WebGLTexture; framebuffer: WebGLFramebuffer };
  private readonly readbacks: Readback[] = [];
  private readonly sources = new Map<string, SourceState>();
  private items: SceneItem[] = [];
  private sceneKey = '';
  /** Something changed since the last compose (a new frame, a source, the scene). */
  private changed = true;
  private disposed = false;
  private readonly loc: {
    item: { canvas: WebGLUniformLocation | null; rect: WebGLUniformLocation | null; crop: WebGLUniformLocation | null; tex: WebGLUniformLocation | null };
    i420: { size: WebGLUniformLocation | null; tex: WebGLUniformLocation | null };
    preview: { tex: WebGLUniformLocation | null };
  };

  constructor(readonly canvas: HTMLCanvasElement | OffscreenCanvas, width: number, height: number) {
    if (width % 8 !== 0 || height % 4 !== 0) throw new GlError('gl_size', `program size must be a multiple of 8x4, got ${width}x${height}`);
    this.width = width;
    this.height = height;
    canvas.width = width;
    canvas.height = height;
    const gl = canvas.getContext('webgl2', { alpha: false, antialias: false, depth: false, stencil: false, preserveDrawingBuffer: false }) as WebGL2RenderingContext | null;
    if (!gl) throw new GlError('gl_unavailable', 'WebGL2 is not available in this browser');
    this.gl = gl;
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.pixelStorei(gl.PACK_ALIGNMENT, 4);

    this.itemProgram = createProgram(gl, ITEM_VERTEX, ITEM_FRAGMENT, 'scene item');
    this.previewProgram = createProgram(gl, FULL_VERTEX, PREVIEW_FRAGMENT, 'preview');
    this.i420Program = createProgram(gl, FULL_VERTEX, I420_FRAGMENT, 'RGBA to I420');
    this.loc = {
      item: {
        canvas: gl.getUniformLocation(this.itemProgram, 'u_canvas'),
        rect: gl.getUniformLocation(this.itemProgram, 'u_rect'),
        crop: gl.getUniformLocation(this.itemProgram, 'u_crop'),
        tex: gl.getUniformLocation(this.itemProgram, 'u_tex'),
      },
      i420: { size: gl.getUniformLocation(this.i420Program, 'u_size'), tex: gl.getUniformLocation(this.i420Program, 'u_tex') },
      preview: { tex: gl.getUniformLocation(this.previewProgram, 'u_tex') },
    };

    const quad = gl.createBuffer();
    const vao = gl.createVertexArray();
    if (!quad || !vao) throw new GlError('gl_buffer', 'could not create the quad');
    this.quad = quad;
    this.vao = vao;
    gl.bindVertexArray(vao);
    gl.bindBuffer(gl.ARRAY_BUFFER, quad);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([0, 0, 1, 0, 0, 1, 1, 1]), gl.STATIC_DRAW);
    // a_pos is at location 0 in every program (layout qualifier).
    gl.enableVertexAttribArray(0);
    gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
    gl.bindVertexArray(null);

    this.composite = createTarget(gl, width, height, gl.LINEAR);
    this.i420 = createTarget(gl, width / 4, (height * 3) / 2, gl.NEAREST);
  }

  /** Adds or replaces a source; its texture is uploaded only when it has a new frame. */
  setSource(source: VideoSource): void {
    this.removeSource(source.id);
    const state: SourceState = {
      source,
      texture: createTexture(this.gl, this.gl.LINEAR),
      dirty: source.element !== undefined,
      uploaded: false,
      pending: null,
      size: { width: 0, height: 0 },
      cancelFrameCallback: () => {},
    };
    const el = source.element;
    if (isVideoElement(el) && 'requestVideoFrameCallback' in el) {
      let handle = 0;
      const onFrame = () => {
        state.dirty = true;
        this.changed = true;
        handle = el.requestVideoFrameCallback(onFrame);
      };
      handle = el.requestVideoFrameCallback(onFrame);
      state.cancelFrameCallback = () => el.cancelVideoFrameCallback(handle);
    }
    this.sources.set(source.id, state);
    this.changed = true;
  }

  /**
   * A new frame for a source without an element: uploaded on the next render,
   * then closed. A frame not yet uploaded is closed when a newer one comes, so
   * a slow render never holds more than one frame per source.
   */
  pushFrame(id: string, frame: VideoFrame): void {
    const state = this.sources.get(id);
    if (!state || this.disposed) {
      frame.close();
      return;
    }
    state.pending?.close();
    state.pending = frame;
    this.changed = true;
    state.size = { width: frame.displayWidth, height: frame.displayHeight };
  }

  /** A canvas source was redrawn: upload it on the next render. Video sources track this themselves. */
  markDirty(id: string): void {
    const state = this.sources.get(id);
    if (state) state.dirty = true;
    this.changed = true;
  }

  removeSource(id: string): void {
    const state = this.sources.get(id);
    if (!state) return;
    state.cancelFrameCallback();
    state.pending?.close();
    state.pending = null;
    this.gl.deleteTexture(state.texture);
    this.sources.delete(id);
    this.changed = true;
  }

  setScene(items: SceneItem[]): void {
    const key = JSON.stringify(items);
    if (key === this.sceneKey) return;
    this.sceneKey = key;
    this.items = [...items].sort((a, b) => a.z - b.z);
    this.changed = true;
  }

  /** Forces the next compose() (e.g. a composed picture could not be read back). */
  invalidate(): void {
    this.changed = true;
  }

  /** Whether compose() would draw a different picture than last time (video elements without frame callbacks always count). */
  get hasChanges(): boolean {
    if (this.changed) return true;
    for (const state of this.sources.values()) {
      if (isVideoElement(state.source.element) && !('requestVideoFrameCallback' in state.source.element)) return true;
    }
    return false;
  }

  /** Size of a source's current picture, for layout (0x0 until it has one). */
  sourceSize(id: string): { width: number; height: number } {
    const state = this.sources.get(id);
    const el = state?.source.element;
    if (!state) return { width: 0, height: 0 };
    if (!el) return state.size;
    if (isVideoElement(el)) return { width: el.videoWidth, height: el.videoHeight };
    return { width: el.width, height: el.height };
  }

  /** Draws the program into the composite target and onto the visible canvas. */
  render(): void {
    this.compose();
    this.present();
  }

  /** Draws the program into the composite target (what the encoder reads back). */
  compose(): void {
    if (this.disposed) return;
    this.changed = false;
    const gl = this.gl;
    gl.bindVertexArray(this.vao);
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.composite.framebuffer);
    gl.viewport(0, 0, this.width, this.height);
    gl.clearColor(0.07, 0.07, 0.09, 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.useProgram(this.itemProgram);
    gl.uniform2f(this.loc.item.canvas, this.width, this.height);
    gl.uniform1i(this.loc.item.tex, 0);
    gl.activeTexture(gl.TEXTURE0);
    for (const item of this.items) {
      if (!item.visible) continue;
      const state = this.sources.get(item.sourceId);
      if (!state || !this.upload(state)) continue;
      gl.bindTexture(gl.TEXTURE_2D, state.texture);
      gl.uniform4f(this.loc.item.rect, item.rect.x, item.rect.y, item.rect.width, item.rect.height);
      gl.uniform4f(this.loc.item.crop, item.crop.x, item.crop.y, item.crop.width, item.crop.height);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    }
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.bindVertexArray(null);
  }

  /**
   * Copies the last composite onto the visible canvas (the preview, and the
   * feed captured for guests). In a worker, each present commits a frame to
   * the page's canvas; call it from requestAnimationFrame there, or the
   * worker waits on the page's compositor.
   */
  present(): void {
    if (this.disposed) return;
    const gl = this.gl;
    gl.bindVertexArray(this.vao);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.viewport(0, 0, this.width, this.height);
    gl.useProgram(this.previewProgram);
    gl.uniform1i(this.loc.preview.tex, 0);
    gl.bindTexture(gl.TEXTURE_2D, this.composite.texture);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    gl.bindVertexArray(null);
  }

  private upload(state: SourceState): boolean {
    const gl = this.gl;
    if (state.pending) {
      gl.bindTexture(gl.TEXTURE_2D, state.texture);
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, state.pending);
      state.pending.close();
      state.pending = null;
      state.uploaded = true;
      return true;
    }
    const el = state.source.element;
    if (!el) return state.uploaded;
    if (isVideoElement(el) && (el.readyState < 2 || el.videoWidth === 0)) return state.uploaded;
    const tracksFrames = isVideoElement(el) && 'requestVideoFrameCallback' in el;
    if (state.dirty || (isVideoElement(el) && !tracksFrames)) {
      gl.bindTexture(gl.TEXTURE_2D, state.texture);
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, el);
      state.dirty = false;
      state.uploaded = true;
    }
    return state.uploaded;
  }

  /**
   * Converts the last rendered composite to I420 and starts an asynchronous
   * readback; `collect` returns finished frames without stalling.
   */
  beginReadback(timestampMs: number, maxInFlight = 3): boolean {
    if (this.disposed) return false;
    if (this.readbacksInFlight >= maxInFlight) return false;
    const gl = this.gl;
    gl.bindVertexArray(this.vao);
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.i420.framebuffer);
    gl.viewport(0, 0, this.width / 4, (this.height * 3) / 2);
    gl.useProgram(this.i420Program);
    gl.uniform2f(this.loc.i420.size, this.width, this.height);
    gl.uniform1i(this.loc.i420.tex, 0);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, this.composite.texture);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);

    let slot = this.readbacks.find((r) => !r.sync);
    if (!slot) {
      const buffer = gl.createBuffer();
      if (!buffer) throw new GlError('gl_buffer', 'could not create a readback buffer');
      gl.bindBuffer(gl.PIXEL_PACK_BUFFER, buffer);
      gl.bufferData(gl.PIXEL_PACK_BUFFER, i420Size(this.width, this.height), gl.STREAM_READ);
      slot = { buffer, sync: null, timestampMs: 0 };
      this.readbacks.push(slot);
    }
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, slot.buffer);
    gl.readPixels(0, 0, this.width / 4, (this.height * 3) / 2, gl.RGBA, gl.UNSIGNED_BYTE, 0);
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, null);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.bindVertexArray(null);
    slot.sync = gl.fenceSync(gl.SYNC_GPU_COMMANDS_COMPLETE, 0);
    slot.timestampMs = timestampMs;
    gl.flush();
    return true;
  }

  /** Readbacks started and not yet collected. */
  get readbacksInFlight(): number {
    return this.readbacks.filter((r) => r.sync).length;
  }

  /** Frames whose readback has finished, oldest first. `alloc` supplies the destination. */
  collect(alloc: (bytes: number) => Uint8Array): Array<{ frame: Uint8Array; timestampMs: number }> {
    const gl = this.gl;
    const done: Array<{ frame: Uint8Array; timestampMs: number }> = [];
    const ready = this.readbacks.filter((r) => r.sync).sort((a, b) => a.timestampMs - b.timestampMs);
    for (const slot of ready) {
      const status = gl.clientWaitSync(slot.sync!, 0, 0);
      if (status !== gl.ALREADY_SIGNALED && status !== gl.CONDITION_SATISFIED) break;
      gl.deleteSync(slot.sync);
      slot.sync = null;
      const frame = alloc(i420Size(this.width, this.height));
      gl.bindBuffer(gl.PIXEL_PACK_BUFFER, slot.buffer);
      gl.getBufferSubData(gl.PIXEL_PACK_BUFFER, 0, frame);
      gl.bindBuffer(gl.PIXEL_PACK_BUFFER, null);
      done.push({ frame, timestampMs: slot.timestampMs });
    }
    return done;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const gl = this.gl;
    for (const id of [...this.sources.keys()]) this.removeSource(id);
    for (const r of this.readbacks) {
      if (r.sync) gl.deleteSync(r.sync);
      gl.deleteBuffer(r.buffer);
    }
    this.readbacks.length = 0;
    for (const t of [this.composite, this.i420]) {
      gl.deleteFramebuffer(t.framebuffer);
      gl.deleteTexture(t.texture);
    }
    gl.deleteBuffer(this.quad);
    gl.deleteVertexArray(this.vao);
    gl.deleteProgram(this.itemProgram);
    gl.deleteProgram(this.previewProgram);
    gl.deleteProgram(this.i420Program);
  }
}
