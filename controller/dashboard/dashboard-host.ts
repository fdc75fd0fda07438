// The dashboard answers only the Host names it is known by: loopback names
// (kubectl port-forward), IP addresses, its Service's DNS names and names the
// operator configures (an Ingress host). A DNS-rebinding page (evil.example
// resolved to 127.0.0.1 while a port-forward is open) sends its own name and
// is refused before any route runs. IP literals are safe to accept: a page
// can only be rebound through a name.

import net from 'node:net';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { hostName } from '../../lib/host-header.js';
import { LogThrottle } from '../../lib/log-throttle.js';

export function hostAllowed(name: string, allowed: ReadonlySet<string>): boolean {
  if (name === 'localhost' || allowed.has(name)) return true;
  const bare = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
  return net.isIP(bare) !== 0 && (net.isIPv4(bare) ? !name.startsWith('[') : name.startsWith('['));
}

export function allowedHostsOnly(names: readonly string[], logger: Logger): RequestHandler {
  const allowed = new Set(names.map((n) => n.toLowerCase().replace(/\.$/, '')));
  const throttle = new LogThrottle();
  return (req, res, next) => {
    const name = hostName(req.headers.host);
    if (name !== undefined && hostAllowed(name, allowed)) return void next();
    throttle.hit((suppressed) =>
      logger.warn({ host: String(req.headers.host ?? '').slice(0, 100), remoteAddress: req.socket.remoteAddress, alsoRefused: suppressed }, 'dashboard: refused a request for an unknown Host'),
    );
    res.status(403).json({ error: 'Host not allowed: the dashboard answers its loopback, IP and configured names only (--dashboard-allowed-hosts, chart: dashboard.allowedHosts)' });
  };
}
