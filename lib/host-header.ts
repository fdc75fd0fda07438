// The name a request was sent to, from its Host header, for the checks that
// refuse DNS-rebinding pages (agent without a token, dashboard).

/** The host part of a Host header, lower-case, without a trailing dot ("[::1]:8080" → "[::1]"); undefined when malformed. */
export function hostName(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]/\s]+)(?::\d{1,5})?$/.exec(header);
  return m?.[1]?.toLowerCase().replace(/\.$/, '');
}
