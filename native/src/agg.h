/* Per-slot aggregation with a fixed memory cap.
 *
 * Each table is set-associative Space-Saving: a key hashes to one bucket of
 * FG_WAYS entries; a miss in a full bucket evicts the bucket's lightest entry
 * and the newcomer inherits its count (so `count` over-estimates, `packets`
 * is what was really seen). Heavy hitters survive because they are never the
 * lightest in their bucket; a spoofed flood of millions of sources only churns
 * the light entries. Memory is fixed when the table is created. */
#ifndef FG_AGG_H
#define FG_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "parse.h"

#define FG_WAYS 8
#define FG_PORT_TOPK 8
#define FG_SLOT_HLL_BITS 12
#define FG_SLOT_HLL_REGS (1u << FG_SLOT_HLL_BITS)
#define FG_DST_HLL_BITS 8
#define FG_DST_HLL_REGS (1u << FG_DST_HLL_BITS)

/* Per-entry counters; exported to JS in this order (see fg_counter_names).
 * "in" counters are packets from the remote address to the protected one
 * (for a source entry: what it sent; for a destination entry: what the
 * protected address received); "out" counters are the protected side's
 * packets back (to the source / from the destination). */
enum {
  FG_C_COUNT = 0, /* Space-Saving estimate (upper bound) */
  FG_C_PACKETS,
  FG_C_BYTES,
  FG_C_TCP,
  FG_C_UDP,
  FG_C_ICMP,
  FG_C_OTHER,
  FG_C_SYN,
  FG_C_SYNACK,
  FG_C_ACK,
  FG_C_RST,
  FG_C_FRAG,
  FG_C_FIN,        /* FIN without SYN or RST (normal closes and FIN scans) */
  FG_C_SYN_ECN,    /* SYN without ACK that carries ECE or CWR */
  FG_C_BAD_FLAGS,  /* flag mixes no TCP stack sends: NULL, SYN+FIN, SYN+RST, FIN without ACK (XMAS) */
  FG_C_HANDSHAKES, /* handshakes completed: the third ACK of a SYN seen in this direction */
  FG_C_OUT_PACKETS,
  FG_C_OUT_BYTES,
  FG_C_OUT_SYN,    /* SYNs the protected side sent (it is the client) */
  FG_C_OUT_SYNACK, /* SYN+ACKs the protected side sent (it answered) */
  FG_C_OUT_RST,
  FG_C_UDP_SPORT,  /* the first UDP source port seen from this address (0: none) */
  FG_C_UDP_SPORT_PACKETS, /* inbound UDP packets from exactly that port */
  FG_C_TCP_NULL,   /* of bad_flags: no flag at all among FIN/SYN/RST/PSH/ACK/URG */
  FG_C_SYN_FIN,    /* of bad_flags: SYN with FIN or RST (the rest is FIN without ACK) */
  FG_C_PSH,        /* TCP with PSH: segments that end a write (requests, records) */
  FG_C_N
};

/* Slot totals; exported to JS in this order (see fg_total_names). Protocol
 * and flag totals count inbound packets; out* count the protected side's. */
enum {
  FG_T_PACKETS = 0,
  FG_T_BYTES,
  FG_T_IN_PACKETS,
  FG_T_IN_BYTES,
  FG_T_IPV4,
  FG_T_IPV6,
  FG_T_NON_IP,
  FG_T_MALFORMED,
  FG_T_TCP,
  FG_T_UDP,
  FG_T_ICMP,
  FG_T_OTHER,
  FG_T_SYN,
  FG_T_SYNACK,
  FG_T_ACK,
  FG_T_RST,
  FG_T_FRAG,
  FG_T_SRC_EVICT,
  FG_T_DST_EVICT,
  FG_T_FIN,
  FG_T_SYN_ECN,
  FG_T_BAD_FLAGS,
  FG_T_HANDSHAKES,
  FG_T_OUT_PACKETS,
  FG_T_OUT_BYTES,
  FG_T_OUT_SYN,
  FG_T_OUT_SYNACK,
  FG_T_OUT_RST,
  FG_T_HALF_OPEN_EVICT, /* SYNs whose half-open entry was overwritten before their handshake could complete */
  FG_T_TCP_NULL,
  FG_T_SYN_FIN,
  FG_T_PSH,
  FG_T_N
};

/* Port lists per destination, exported in this order. OUT_UDP_DST: the UDP
 * destination ports the protected address itself sent to (its queries);
 * SYN_DST and SYNACK_SRC: the ports of SYNs and SYN-ACKs alone, so a flood's
 * port is not taken from the normal traffic beside it. */
enum { FG_P_UDP_SRC = 0, FG_P_TCP_SRC, FG_P_UDP_DST, FG_P_TCP_DST, FG_P_OUT_UDP_DST, FG_P_SYN_DST, FG_P_SYNACK_SRC, FG_P_N };

extern const char *const fg_counter_names[FG_C_N];
extern const char *const fg_total_names[FG_T_N];

typedef struct {
  uint64_t hi, lo;
} fg_key;

/* One entry: the full key and its counters in two cache lines (an aligned
 * pair, which the adjacent-line prefetcher brings in together). Inbound
 * updates touch the first line only, except for TCP flag detail and UDP
 * ports; outbound counters sit in the second. */
typedef struct {
  fg_key key;
  uint64_t bytes;
  uint32_t packets;
  uint32_t tcp, udp, icmp, other;
  uint32_t syn, synack, ack, rst, frag;
  /* second line */
  uint32_t fin, syn_ecn, bad_flags, handshakes;
  uint64_t out_bytes;
  uint32_t out_packets, out_syn, out_synack, out_rst;
  uint32_t udp_sport_packets;
  uint16_t udp_sport;
  uint16_t pad16;
  uint32_t tcp_null, syn_fin, psh;
  uint8_t pad[4];
} fg_entry;
_Static_assert(sizeof(fg_entry) == 128, "an entry is two cache lines");

typedef struct {
  uint16_t port[FG_PORT_TOPK];
  uint32_t count[FG_PORT_TOPK];
} fg_port_topk;

typedef struct {
  fg_port_topk ports[FG_P_N];
  uint8_t hll[FG_DST_HLL_REGS];
} fg_dst_ext;

/* A bucket header is one cache line: Space-Saving counts (0 = free way) and
 * 32-bit key fingerprints, so a lookup touches this line plus, on a match,
 * the entry's own line. */
typedef struct {
  uint32_t count[FG_WAYS];
  uint32_t fp[FG_WAYS];
} fg_bucket;

typedef struct {
  uint32_t nbuckets; /* power of two */
  uint32_t used;
  fg_bucket *buckets;
  fg_entry *entries; /* nbuckets * FG_WAYS */
  fg_dst_ext *ext;   /* destinations only, else NULL */
} fg_table;

typedef struct {
  int64_t start_us; /* 0 while the slot has not started */
  int64_t end_us;
  /* The time this slot's data really covers: a live capture's first slot
   * starts when the capture did, a file's first slot at its first packet and
   * its last slot at its last packet; rates divide by this, not the width. */
  int64_t cover_start_us;
  int64_t cover_end_us;
  int64_t first_us, last_us; /* first and last packet timestamps (0: none) */
  uint64_t totals[FG_T_N];
  uint8_t hll[FG_SLOT_HLL_REGS];
  fg_table src;
  fg_table dst;
  /* The destination entry used last, plus one (0: none). Floods aim at few
   * destinations, so most packets skip the destination hash and lookup. */
  uint32_t dst_memo;
} fg_slot;

/* Half-open TCP connections, shared by consecutive slots: a SYN towards a
 * protected address records the client's ISN+1, the protected side's
 * SYN+ACK its own ISN+1, and the client's ACK carrying both completes the
 * handshake. Set-associative and fixed in size: a SYN flood overwrites old
 * entries (counted), memory never grows. A blind spoofer cannot complete a
 * handshake once the SYN+ACK is visible, since it never learns the server's
 * ISN. */
#define FG_HS_WAYS 4
typedef struct {
  uint32_t fp[FG_HS_WAYS];        /* flow fingerprint, 0 = free */
  uint32_t client_isn1[FG_HS_WAYS];
  uint32_t server_isn1[FG_HS_WAYS];
  uint32_t next; /* round-robin replacement */
  uint32_t pad[3];
} fg_hs_bucket;
_Static_assert(sizeof(fg_hs_bucket) == 64, "a half-open bucket is one cache line");

typedef struct {
  uint32_t nbuckets; /* power of two */
  fg_hs_bucket *buckets;
  int seen_outbound; /* the protected side's packets are visible (then a handshake needs the SYN+ACK) */
} fg_hs_table;

int fg_hs_init(fg_hs_table *t, uint32_t entries);
void fg_hs_free(fg_hs_table *t);

/* Inbound packets wait here briefly so their table lines can be prefetched
 * together: random sources miss the cache, and overlapping those misses is
 * most of the engine's speed. `remote` is the source of an inbound packet
 * and the destination of an outbound one; `local` the protected address. */
#define FG_BATCH 16
typedef struct {
  fg_key remote, local;
  uint64_t hr, hl;
  uint32_t wire_len;
  uint32_t seq, ack;
  uint16_t rport, lport;
  uint8_t l4, tcp_flags, fragment, has_ports, outbound;
} fg_batch_item;

/* The last local address and its hash: floods hit few destinations. */
typedef struct {
  fg_key key;
  uint64_t hash;
  int valid;
} fg_dst_hash_memo;

typedef struct {
  fg_batch_item items[FG_BATCH];
  int n;
  fg_dst_hash_memo memo;
  fg_hs_table *hs; /* may be NULL: no handshake tracking */
} fg_batch;

typedef struct {
  fg_key net;
  fg_key mask;
} fg_cidr;

typedef struct {
  fg_cidr *items;
  size_t n;
} fg_protect;

int fg_table_init(fg_table *t, uint32_t max_entries, int with_ext);
void fg_table_free(fg_table *t);
void fg_table_reset(fg_table *t);

fg_slot *fg_slot_new(uint32_t max_src, uint32_t max_dst);
void fg_slot_free(fg_slot *s);
void fg_slot_reset(fg_slot *s);

/* Account one captured frame (parse result already known); wire_len is the on-the-wire length.
 * Totals are updated at once; table updates are queued in the batch and
 * applied by fg_batch_flush, which must run before the slot is read or changed. */
void fg_batch_add(fg_batch *b, fg_slot *s, const fg_protect *prot, fg_parse_result r, const fg_packet *pkt,
                  uint32_t wire_len);
void fg_batch_flush(fg_batch *b, fg_slot *s);

/* The two halves of fg_batch_add, for a pipeline where one thread reads and
 * parses and another updates the tables. prepare updates s's totals at once and
 * returns 1 when p holds a table update (an IP packet to or from a protected
 * address), which fg_items_apply later applies to the same slot. */
int fg_item_prepare(fg_batch_item *p, fg_slot *s, const fg_protect *prot, fg_parse_result r, const fg_packet *pkt,
                    uint32_t wire_len, fg_dst_hash_memo *memo);
void fg_items_apply(fg_slot *s, fg_hs_table *hs, const fg_batch_item *items, int n);

/* Unbatched form (fuzzer, tests); hs may be NULL. */
void fg_slot_account(fg_slot *s, fg_hs_table *hs, const fg_protect *prot, fg_parse_result r, const fg_packet *pkt,
                     uint32_t wire_len);

/* Parse "a.b.c.d[/len]" or an IPv6 equivalent into a CIDR. 0 on success. */
int fg_cidr_parse(const char *text, fg_cidr *out);
int fg_protect_contains(const fg_protect *prot, const uint8_t addr[16]);

/* The indices of the `limit` heaviest used entries, heaviest first. Returns how many.
 * idx_out must hold the table capacity. */
uint32_t fg_table_top(const fg_table *t, uint32_t limit, uint32_t *idx_out);
static inline uint32_t fg_table_count(const fg_table *t, uint32_t i) {
  return t->buckets[i / FG_WAYS].count[i % FG_WAYS];
}

/* Keyed with a per-process secret; fg_hash_init (idempotent) must run first. */
void fg_hash_init(void);
uint64_t fg_hash_key(const fg_key *k);

#endif
