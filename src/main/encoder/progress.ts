/**
 * Parser of ffmpeg's `-progress` output: blocks of key=value lines, each
 * block ending with `progress=continue` (or `progress=end` on the last one).
 * Input arrives in arbitrary chunks; a line split across chunks is kept until
 * it is complete.
 */

export interface ProgressUpdate {
  frame: number | null;
  fps: number | null;
  /** Output bitrate in kbit/s (null while ffmpeg reports N/A). */
  bitrateKbps: number | null;
  totalSizeBytes: number | null;
  /** Output position in milliseconds. */
  outTimeMs: number | null;
  dupFrames: number | null;
  dropFrames: number | null;
  /** Encoding speed relative to real time (1 = real time). */
  speed: number | null;
  /** "end" on the last block ffmpeg writes before it exits. */
  progress: 'continue' | 'end';
}

/** Longest line kept while waiting for its end; anything longer is not progress output. */
const MAX_PENDING_CHARS = 4096;

export class ProgressParser {
  private pending = '';
  private block = new Map<string, string>();

  /** Feeds a chunk of ffmpeg's progress output; returns the blocks it completed. */
  push(chunk: string | Uint8Array): ProgressUpdate[] {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8');
    const lines = (this.pending + text).split('\n');
    this.pending = lines.pop() ?? '';
    if (this.pending.length > MAX_PENDING_CHARS) this.pending = '';
    const updates: ProgressUpdate[] = [];
    for (const raw of lines) {
      const line = raw.trim();
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      const key = line.slice(0, eq).trim();
      const value = line.slice(eq + 1).trim();
      if (key === 'progress') {
        updates.push(toUpdate(this.block, value === 'end' ? 'end' : 'continue'));
        this.block = new Map();
      } else {
        this.block.set(key, value);
      }
    }
    return updates;
  }

  reset(): void {
    this.pending = '';
    this.block = new Map();
  }
}

function toUpdate(block: ReadonlyMap<string, string>, progress: 'continue' | 'end'): ProgressUpdate {
  return {
    frame: integer(block.get('frame')),
    fps: decimal(block.get('fps')),
    bitrateKbps: bitrate(block.get('bitrate')),
    totalSizeBytes: integer(block.get('total_size')),
    outTimeMs: outTime(block),
    dupFrames: integer(block.get('dup_frames')),
    dropFrames: integer(block.get('drop_frames')),
    speed: decimal(block.get('speed')?.replace(/x$/, '')),
    progress,
  };
}

function decimal(value: string | undefined): number | null {
  if (value === undefined || value === '' || value === 'N/A') return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

function integer(value: string | undefined): number | null {
  const n = decimal(value);
  return n === null ? null : Math.trunc(n);
}

/** "1234.5kbits/s" → 1234.5 */
function bitrate(value: string | undefined): number | null {
  if (value === undefined) return null;
  const match = /^([\d.]+)\s*kbits\/s$/.exec(value);
  return match ? decimal(match[1]) : null;
}

/**
 * ffmpeg writes out_time_us and out_time_ms (both in microseconds: the "_ms"
 * name is historical) and out_time as HH:MM:SS.micro; the first one present wins.
 */
function outTime(block: ReadonlyMap<string, string>): number | null {
  const us = decimal(block.get('out_time_us')) ?? decimal(block.get('out_time_ms'));
  if (us !== null) return Math.max(0, us / 1000);
  const hms = /^(-)?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(block.get('out_time') ?? '');
  if (!hms) return null;
  if (hms[1]) return 0;
  return (Number(hms[2]) * 3600 + Number(hms[3]) * 60 + Number(hms[4])) * 1000;
}

/** How far back the output rate looks: long enough to smooth ffmpeg's half-second reports, short enough to show a stall. */
export const OUTPUT_RATE_WINDOW_MS = 2000;
/** The shortest span a rate is given for: one report apart is too noisy. */
const OUTPUT_RATE_MIN_SPAN_MS = 900;
/**
 * ffmpeg reports every 0.5 s (its default -stats_period): until a report is
 * this late, the rate is the one up to the last report. Counting the time
 * since it as frameless read a steady 30 fps as 23–30, by when the stats were read.
 */
const OUTPUT_RATE_REPORT_GRACE_MS = 750;

/**
 * Frames a second ffmpeg is putting out now, from its frame counter over the
 * last two seconds. ffmpeg's own `fps=` is the average since it started, which
 * reads high for a while after a start that fills the first slots at once (50
 * at a 30 fps output) and hides a stall behind the minutes before it.
 */
export class OutputRate {
  private samples: Array<{ at: number; frame: number }> = [];

  /** A progress report: ffmpeg's frame counter at `at` (ms). A counter that went back (a new run) starts over. */
  add(at: number, frame: number): void {
    const last = this.samples.at(-1);
    if (last && (frame < last.frame || at < last.at)) this.samples = [];
    this.samples.push({ at, frame });
    // Keep one sample at or before the window's start, so the span covers the whole window.
    while (this.samples.length > 2 && this.samples[1]!.at <= at - OUTPUT_RATE_WINDOW_MS) this.samples.shift();
  }

  /**
   * Frames a second over the window ending `now` (the last report when not
   * given), or null until the reports span enough time. Reports that stopped
   * coming (ffmpeg blocked on a network write stops reporting too) count, once
   * one is overdue, as a counter that did not move: the rate falls to 0
   * instead of holding.
   */
  perSecond(now?: number): number | null {
    const last = this.samples.at(-1);
    if (!last) return null;
    const end = now !== undefined && now - last.at > OUTPUT_RATE_REPORT_GRACE_MS ? now : last.at;
    // The newest report at or before the window's start, else the oldest kept.
    let start = this.samples[0]!;
    for (const sample of this.samples) if (sample.at <= end - OUTPUT_RATE_WINDOW_MS) start = sample;
    if (end - start.at < OUTPUT_RATE_MIN_SPAN_MS) return null;
    return Math.round(((last.frame - start.frame) * 10_000) / (end - start.at)) / 10;
  }
}
