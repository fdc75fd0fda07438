// The nft ban sets of table inet floodgate: defined here because both the ban
// backend (nft-backend.ts, which fills them) and the signature chains
// (nft-signatures.ts, which let banned sources through to the ban chain) name them.

export const TABLE = 'inet floodgate';
/** Single addresses: hash sets. */
export const HOSTS4 = 'hosts4';
export const HOSTS6 = 'hosts6';
/** Networks: interval sets. */
export const NETS4 = 'blocked4';
export const NETS6 = 'blocked6';

/** The ban sets (idempotent `add`s: an existing set keeps its elements). */
export const NFT_BAN_SETS = `add set ${TABLE} ${HOSTS4} { type ipv4_addr; flags timeout; }
add set ${TABLE} ${HOSTS6} { type ipv6_addr; flags timeout; }
add set ${TABLE} ${NETS4} { type ipv4_addr; flags interval, timeout; }
add set ${TABLE} ${NETS6} { type ipv6_addr; flags interval, timeout; }
`;

/** Sources the ban chain drops skip the signature rules, so each ban counts its own drops (dropped4/6). */
export const NFT_BANNED_RETURN_RULES = [`ip saddr @${HOSTS4} return`, `ip saddr @${NETS4} return`, `ip6 saddr @${HOSTS6} return`, `ip6 saddr @${NETS6} return`];
