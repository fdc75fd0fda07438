// "Is this source already banned?" for every source of every analysis: the
// shared CIDR matcher (lib/cidr-match.ts), which keeps IPv4 host bans in a Set.
export { CidrMatcher as BlockedMatcher } from '../../lib/cidr-match.js';
