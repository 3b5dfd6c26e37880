import { describe, expect, it } from 'vitest';
import { describeIngestFailure } from './ingestErrors';

describe("ffmpeg's words about the ingest, for a streamer", () => {
  it('names a refused connection and where', () => {
    const lines = [
      'Guessed Channel Layout for Input Stream #1.0 : stereo',
      '[tcp @ 0x561625394a40] Connection to tcp://127.0.0.1:44017?tcp_nodelay=0 failed: Connection refused',
      '[rtmp @ 0x561625394300] Cannot open connection tcp://127.0.0.1:44017?tcp_nodelay=0',
      'rtmp://127.0.0.1:44017/live/***: Connection refused',
    ];
    expect(describeIngestFailure(lines)).toBe(
      'the ingest at 127.0.0.1:44017 refused the connection: nothing is taking streams there (is the RTMP server running, and is the address right?)',
    );
  });

  it('tells an unknown host, a timeout, a refused key and a failed TLS handshake apart', () => {
    expect(describeIngestFailure(['[tcp @ 0x1] Failed to resolve hostname live.example.invalid: Name or service not known'])).toMatch(/address could not be found/);
    expect(describeIngestFailure(['[tcp @ 0x1] Connection to tcp://10.9.9.9:1935 failed: Connection timed out'])).toMatch(/at 10\.9\.9\.9:1935 did not answer in time/);
    expect(describeIngestFailure(['[rtmp @ 0x1] Server error: Publishing is rejected (auth)'])).toMatch(/refused the stream key/);
    expect(describeIngestFailure(['[tls @ 0x1] error:0A000086:SSL routines::certificate verify failed'])).toMatch(/secure \(RTMPS\) connection/);
    // ffmpeg 5.1 against a plain RTMP port: TCP connects, the TLS layer waits in vain.
    expect(
      describeIngestFailure([
        '[tls @ 0x5584] Error in the pull function.',
        '[tls @ 0x5584] IO error: Connection timed out',
        '[rtmps @ 0x5584] Cannot open connection tls://127.0.0.1:40625',
      ]),
    ).toBe(
      'the ingest at 127.0.0.1:40625 took the connection but no secure (RTMPS) session could be made: check that this address offers RTMPS (usually rtmps://…:443), or use rtmp:// where it only offers RTMP',
    );
    // A refused key over RTMPS: the secure session closes afterwards, but the key is what to fix.
    expect(
      describeIngestFailure([
        '[rtmps @ 0x1] Server error: Publishing is rejected (auth)',
        '[tls @ 0x1] IO error: Connection reset by peer',
      ]),
    ).toMatch(/refused the stream key/);
    // A certificate that is not trusted is not "use rtmp://", even when the TLS layer then times out.
    expect(
      describeIngestFailure([
        '[tls @ 0x1] error:0A000086:SSL routines::certificate verify failed',
        '[tls @ 0x1] IO error: Connection timed out',
        '[rtmps @ 0x1] Cannot open connection tls://live.example.com:443',
      ]),
    ).toMatch(/check the computer's date and time/);
    // OpenSSL errors that mean plain RTMP answered on that port are not a certificate problem.
    for (const reason of ['unexpected eof while reading', 'wrong version number', 'packet length too long']) {
      expect(
        describeIngestFailure([`[tls @ 0x1] error:0A00010B:SSL routines::${reason}`, '[rtmps @ 0x1] Cannot open connection tls://127.0.0.1:1935']),
      ).toMatch(/took the connection but no secure \(RTMPS\) session could be made/);
    }
    // A key the server calls expired is the key's problem, not the clock's.
    expect(describeIngestFailure(['[rtmp @ 0x1] Server error: Stream key expired'])).toMatch(/refused the stream key/);
    // TLS trouble that never reached "Cannot open connection tls://" is not called a plain-RTMP port.
    expect(describeIngestFailure(['[tls @ 0x1] IO error: Connection timed out'])).toMatch(/did not answer in time/);
    // A connection that never opened stays a timeout, whatever the protocol.
    expect(describeIngestFailure(['[tcp @ 0x1] Connection to tcp://10.0.0.1:443 failed: Connection timed out'])).toMatch(/did not answer in time/);
    expect(describeIngestFailure(['the ingest did not accept the stream within 15000 ms (no progress from ffmpeg: is the RTMP address reachable?)'])).toMatch(
      /did not answer in time/,
    );
  });

  it('says nothing when the lines are not about the ingest', () => {
    expect(describeIngestFailure(['Unknown encoder h264_foo'])).toBeNull();
    expect(describeIngestFailure([])).toBeNull();
  });
});
