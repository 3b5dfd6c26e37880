/**
 * Whole lines out of a text stream that arrives in arbitrary chunks. ffmpeg
 * writes one log line with several write() calls (the "[tls @ 0x…] " prefix,
 * then the message), so a chunk may end mid-line: the part after the last
 * newline waits for the rest, and `flush` hands it over when the stream ends.
 */
export class LineBuffer {
  private pending = '';

  /** @param maxPendingChars a line without an end longer than this is handed over as it is. */
  constructor(private readonly maxPendingChars = 16 * 1024) {}

  /** The lines this chunk completes (without their line ends). */
  push(chunk: string): string[] {
    const lines = (this.pending + chunk).split(/\r?\n/);
    this.pending = lines.pop() ?? '';
    if (this.pending.length > this.maxPendingChars) lines.push(...this.flush());
    return lines;
  }

  /** The unfinished last line, if any, as a line of its own (the stream ended). */
  flush(): string[] {
    const rest = this.pending;
    this.pending = '';
    return rest === '' ? [] : [rest];
  }
}
