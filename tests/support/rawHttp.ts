/** Raw HTTP over a TCP socket, for requests fetch would never send (odd request targets, bare upgrades). */
import net from 'node:net';

/** Sends `request` as it is and resolves with everything the server answered before closing (or within `timeoutMs`). */
export function rawExchange(port: number, request: string, host = '127.0.0.1', timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host, () => socket.write(request));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => (answer += text));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      resolve(answer);
    });
  });
}

/** A GET of `target` that closes the connection after the answer. */
export function rawGet(target: string): string {
  return `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
}

/** A WebSocket upgrade request for `target`. */
export function rawUpgrade(target: string): string {
  return `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
}
