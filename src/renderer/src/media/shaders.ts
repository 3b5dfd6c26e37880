/** Shader sources of the compositor. */

/** One quad per scene item; rect and crop in pixels / normalised units. */
export const ITEM_VERTEX = `#version 300 es
layout(location = 0) in vec2 a_pos;
uniform vec2 u_canvas;
uniform vec4 u_rect;  // x, y, w, h in pixels, origin top-left
uniform vec4 u_crop;  // x, y, w, h normalised in the source
out vec2 v_uv;
void main() {
  vec2 pixel = u_rect.xy + a_pos * u_rect.zw;
  // The composite target is stored top row first (row 0 = top), so that a
  // readback is already in image order.
  gl_Position = vec4(pixel / u_canvas * 2.0 - 1.0, 0.0, 1.0);
  v_uv = u_crop.xy + a_pos * u_crop.zw;
}`;

export const ITEM_FRAGMENT = `#version 300 es
precision mediump float;
in vec2 v_uv;
uniform sampler2D u_tex;
out vec4 outColor;
void main() { outColor = vec4(texture(u_tex, v_uv).rgb, 1.0); }`;

/** Full-canvas quad used by the preview and the I420 passes. */
export const FULL_VERTEX = `#version 300 es
layout(location = 0) in vec2 a_pos;
out vec2 v_pos;
void main() {
  v_pos = a_pos;
  gl_Position = vec4(a_pos * 2.0 - 1.0, 0.0, 1.0);
}`;

/** Shows the composite on the visible canvas (flipped back to screen order). */
export const PREVIEW_FRAGMENT = `#version 300 es
precision mediump float;
in vec2 v_pos;
uniform sampler2D u_tex;
out vec4 outColor;
void main() { outColor = texture(u_tex, vec2(v_pos.x, 1.0 - v_pos.y)); }`;

/**
 * RGBA → I420 (BT.601 limited range) packed into an RGBA target of
 * (W/4) x (H*3/2): each texel holds four consecutive bytes of the I420 buffer,
 * so one readPixels returns the frame exactly as ffmpeg expects it.
 */
export const I420_FRAGMENT = `#version 300 es
precision highp float;
uniform sampler2D u_tex;   // composite, row 0 = top, LINEAR filtering
uniform vec2 u_size;       // W, H of the composite
out vec4 outColor;

float lumaAt(vec2 pixel) {
  vec3 c = texture(u_tex, (pixel + 0.5) / u_size).rgb;
  return (16.0 + 65.481 * c.r + 128.553 * c.g + 24.966 * c.b) / 255.0;
}
vec3 blockAt(vec2 chromaPixel) {
  // The centre of the 2x2 block: LINEAR filtering averages its four pixels.
  return texture(u_tex, (chromaPixel * 2.0 + 1.0) / u_size).rgb;
}
float chromaU(vec3 c) { return (128.0 - 37.797 * c.r - 74.203 * c.g + 112.0 * c.b) / 255.0; }
float chromaV(vec3 c) { return (128.0 + 112.0 * c.r - 93.786 * c.g - 18.214 * c.b) / 255.0; }

void main() {
  float W = u_size.x;
  float H = u_size.y;
  float row = floor(gl_FragCoord.y);
  float x0 = floor(gl_FragCoord.x) * 4.0;   // first byte of this texel within its row
  if (row < H) {
    outColor = vec4(lumaAt(vec2(x0, row)), lumaAt(vec2(x0 + 1.0, row)), lumaAt(vec2(x0 + 2.0, row)), lumaAt(vec2(x0 + 3.0, row)));
    return;
  }
  float halfW = W * 0.5;
  bool isU = row < H + H * 0.25;
  float planeRow = isU ? row - H : row - H - H * 0.25;
  // Each row of W bytes holds two chroma rows of W/2 bytes.
  float cy = planeRow * 2.0 + (x0 >= halfW ? 1.0 : 0.0);
  float cx = mod(x0, halfW);
  vec4 o;
  for (int k = 0; k < 4; k++) {
    vec3 c = blockAt(vec2(cx + float(k), cy));
    o[k] = isU ? chromaU(c) : chromaV(c);
  }
  outColor = o;
}`;
