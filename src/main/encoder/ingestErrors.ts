/**
 * What ffmpeg's last lines of stderr say about the ingest, in words a
 * streamer can act on. ffmpeg reports a refused connection, a wrong stream key
 * or a failed TLS handshake as a few cryptic lines ("[tcp @ 0x…] Connection to
 * tcp://…?tcp_nodelay=0 failed: Connection refused"); the studio shows the
 * sentence first and keeps the lines as details.
 */

interface Rule {
  test: RegExp;
  say: (address: string) => string;
}

const RULES: Rule[] = [
  {
    test: /Connection refused/i,
    say: (at) => `the ingest${at} refused the connection: nothing is taking streams there (is the RTMP server running, and is the address right?)`,
  },
  {
    test: /Failed to resolve hostname|Name or service not known|nodename nor servname|Temporary failure in name resolution|No address associated/i,
    say: (at) => `the ingest's address${at} could not be found: check the network connection and the RTMP address`,
  },
  {
    // Before any TLS rule: a server that refuses the key may close the secure session, and the key is what to fix.
    test: /NetStream\.Publish\.(BadName|Denied)|Unauthorized|Authentication|\b40[13]\b|Server error: .*(?:reject|denied|auth|expired|invalid)/i,
    say: () => 'the ingest refused the stream key: start the stream again to get a fresh key, or check the key in the stream settings',
  },
  {
    // The handshake happened and the certificate was not trusted: usually a wrong clock or an intercepting proxy.
    test: /certificate|verify failed|self[- ]signed|unknown ca\b/i,
    say: (at) => `a secure (RTMPS) connection to the ingest${at} could not be made: check the computer's date and time, and that the address starts with rtmps:// only where the ingest offers it`,
  },
  {
    // TCP connected, then the TLS layer above it failed or heard nothing back, and ffmpeg gave up opening tls://:
    // a server that does not speak TLS on that port.
    // OpenSSL's own words for plain RTMP answering a TLS hello: wrong version number, unexpected eof, packet length too long.
    test: /\[tls @ [^\]]*\][^\n]*(?:pull function|timed out|IO error|handshake|unexpected|wrong version number|packet length too long|record layer failure)[\s\S]*Cannot open connection tls:\/\//i,
    say: (at) =>
      `the ingest${at} took the connection but no secure (RTMPS) session could be made: check that this address offers RTMPS (usually rtmps://…:443), or use rtmp:// where it only offers RTMP`,
  },
  {
    test: /Connection timed out|Operation timed out|timed out after|did not accept the stream within/i,
    say: (at) => `the ingest${at} did not answer in time: check the network connection (a firewall may block RTMP on port 1935 or RTMPS on 443)`,
  },
  {
    test: /Network is unreachable|No route to host/i,
    say: (at) => `the ingest${at} cannot be reached from this computer: check the network connection`,
  },
  {
    test: /\b(TLS|SSL|handshake)\b/i,
    say: (at) => `a secure (RTMPS) connection to the ingest${at} could not be made: check the computer's date and time, and that the address starts with rtmps:// only where the ingest offers it`,
  },
  {
    test: /Connection reset by peer|Broken pipe|End of file/i,
    say: (at) => `the ingest${at} closed the connection`,
  },
];

/** The ingest's host and port as ffmpeg printed them (tcp://host:port or rtmp(s)://host[:port]), if any. */
function addressIn(lines: readonly string[]): string {
  for (const line of lines) {
    const m = /(?:tcp|rtmps?|tls):\/\/(\[[^\]]+\]|[^/:?\s]+)(?::(\d+))?/i.exec(line);
    if (m) return ` at ${m[1]}${m[2] ? `:${m[2]}` : ''}`;
  }
  return '';
}

/**
 * One sentence on why the ingest did not take the stream, or null when the
 * lines say nothing recognisable about it (the raw lines are then the message).
 */
export function describeIngestFailure(lines: readonly string[]): string | null {
  const text = lines.join('\n');
  for (const rule of RULES) if (rule.test.test(text)) return rule.say(addressIn(lines));
  return null;
}
