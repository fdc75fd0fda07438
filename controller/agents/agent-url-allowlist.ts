// Which agent URLs a DefensePolicy (or a BlockEvent's spec.agent) may name:
// the controller's --agent-url-allowlist (the chart's agent.host.url plus
// controller.agentUrlAllowlist). Agents found by agentSelector need no entry:
// they are pods of the namespace whose token Secret they get. With an empty
// list, no explicit URL is allowed. docs/trust-model.md says why.
//
// An entry is scheme://host[:port]:
//   scheme  http or https;
//   host    a DNS name ("host.docker.internal"), "*.suffix" (any name under
//           it), an IPv4 address or CIDR ("10.20.0.0/16"), or an IPv6 address
//           or CIDR in brackets ("[fd00::/8]");
//   port    a number, or "*" for any; omitted: the scheme's default (80, 443).
// e.g. http://host.docker.internal:12345, https://*.agents.example.com:12345,
// http://10.20.0.0/16:12345.
import { cidrContains, parseCidr, type ParsedCidr } from '../../lib/cidr.js';

interface Entry {
  text: string;
  scheme: 'http:' | 'https:';
  /** Exact name, "*.suffix" (stored as ".suffix"), or an address range. */
  host: { name: string } | { suffix: string } | { cidr: ParsedCidr };
  /** undefined: any port. */
  port?: number;
}

const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export class AgentUrlPatternError extends Error {}

function defaultPort(scheme: string): number {
  return scheme === 'https:' ? 443 : 80;
}

/** ::ffff:a.b.c.d is a.b.c.d: allowlists of IPv4 ranges apply to it. */
function unmapped(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

function parseEntry(raw: string): Entry {
  const text = raw.trim();
  const m = /^(https?):\/\/(\[[^\]]+\]|[^:/\s]+(?:\/\d{1,3})?)(?::(\d{1,5}|\*))?\/?$/i.exec(text);
  if (!m) throw new AgentUrlPatternError(`"${text}" is not an agent URL pattern such as http://host.docker.internal:12345, https://*.example.com:12345 or http://10.20.0.0/16:*`);
  const scheme = `${m[1]!.toLowerCase()}:` as Entry['scheme'];
  const hostText = m[2]!.toLowerCase();
  const portText = m[3];
  let port: number | undefined;
  if (portText === undefined) port = defaultPort(scheme);
  else if (portText !== '*') {
    port = Number(portText);
    if (port < 1 || port > 65535) throw new AgentUrlPatternError(`"${text}": port ${portText} is out of range`);
  }
  const bare = hostText.startsWith('[') ? hostText.slice(1, -1) : hostText;
  const cidr = parseCidr(unmapped(bare));
  if (cidr) return { text, scheme, host: { cidr }, port };
  if (hostText.startsWith('[')) throw new AgentUrlPatternError(`"${text}": ${bare} is not an IPv6 address or CIDR`);
  if (bare.startsWith('*.') && DNS_NAME.test(bare.slice(2))) return { text, scheme, host: { suffix: bare.slice(1) }, port };
  if (DNS_NAME.test(bare) && !/^[0-9.]+$/.test(bare)) return { text, scheme, host: { name: bare }, port };
  throw new AgentUrlPatternError(`"${text}": ${bare} is not a host name, *.domain, IP address or CIDR`);
}

export class AgentUrlAllowlist {
  private readonly entries: Entry[];

  /** Throws AgentUrlPatternError on an entry it cannot read (a controller flag: fail at start). */
  constructor(patterns: readonly string[]) {
    this.entries = patterns.map((p) => p.trim()).filter(Boolean).map(parseEntry);
  }

  get size(): number {
    return this.entries.length;
  }

  /** The entries as given, for messages. */
  describe(): string {
    return this.entries.map((e) => e.text).join(', ');
  }

  allows(url: URL): boolean {
    const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
    const port = url.port === '' ? defaultPort(url.protocol) : Number(url.port);
    const address = parseCidr(unmapped(host));
    return this.entries.some((e) => {
      if (e.scheme !== url.protocol) return false;
      if (e.port !== undefined && e.port !== port) return false;
      if ('cidr' in e.host) return address !== undefined && cidrContains(e.host.cidr, address);
      if (address) return false;
      if ('suffix' in e.host) return host.endsWith(e.host.suffix) && host.length > e.host.suffix.length;
      return host === e.host.name;
    });
  }
}
