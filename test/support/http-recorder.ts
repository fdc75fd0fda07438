// A throw-away HTTP server on all interfaces that records every request it
// gets (method, path, Authorization header) and answers with `handler`: a
// stand-in for a hostile or broken "agent", or a canary that must never be
// called, in the contract and security tests.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordingServer {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  /** "<METHOD> <path> <authorization or ->", in order. */
  requests: string[];
  close(): Promise<void>;
}

export async function recordingServer(handler: http.RequestListener, host = '0.0.0.0'): Promise<RecordingServer> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'}`);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
