// Raw TCP clients for the server-limit tests (slow and excess connections).
import net from 'node:net';

export function connect(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host, () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves when the server closes the socket (closedByServer) or after limitMs (false), with what it sent. */
export function untilClosed(socket: net.Socket, limitMs: number): Promise<{ closedByServer: boolean; data: string }> {
  return new Promise((resolve) => {
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closedByServer: false, data });
    }, limitMs);
    socket.on('data', (d) => (data += String(d)));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ closedByServer: true, data });
    });
  });
}
