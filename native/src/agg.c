#include "agg.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

const char *const fg_counter_names[FG_C_N] = {
    "packetsUpperBound", "packets", "bytes", "tcp", "udp", "icmp", "other",
    "syn", "synAck", "ack", "rst", "fragments"};

const char *const fg_total_names[FG_T_N] = {
    "packets", "bytes", "inboundPackets", "inboundBytes", "ipv4", "ipv6", "nonIp", "malformed",
    "tcp", "udp", "icmp", "other", "syn", "synAck", "ack", "rst", "fragments",
    "sourceEvictions", "destinationEvictions"};

/* murmur3's 64-bit finaliser over both halves: cheap and well mixed, so the
 * top bits can feed HyperLogLog and the low bits pick the bucket. */
static inline uint64_t fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

uint64_t fg_hash_key(const fg_key *k) { return fmix64(k->lo ^ fmix64(k->hi + 0x9e3779b97f4a7c15ULL)); }

static inline void load_key(fg_key *k, const uint8_t a[16]) {
  memcpy(&k->hi, a, 8);
  memcpy(&k->lo, a + 8, 8);
}

static inline int key_eq(const fg_key *a, const fg_key *b) { return a->hi == b->hi && a->lo == b->lo; }

static uint32_t round_pow2(uint32_t v) {
  uint32_t p = 1;
  while (p < v && p < (1u << 30)) p <<= 1;
  return p;
}

int fg_table_init(fg_table *t, uint32_t max_entries, int with_ext) {
  memset(t, 0, sizeof(*t));
  uint32_t nb = round_pow2((max_entries + FG_WAYS - 1) / FG_WAYS);
  if (nb == 0) nb = 1;
  t->nbuckets = nb;
  t->buckets = calloc(nb, sizeof(fg_bucket));
  t->counters = calloc((size_t)nb * FG_WAYS, sizeof(fg_counters));
  if (with_ext) t->ext = calloc((size_t)nb * FG_WAYS, sizeof(fg_dst_ext));
  if (!t->buckets || !t->counters || (with_ext && !t->ext)) {
    fg_table_free(t);
    return -1;
  }
  return 0;
}

void fg_table_free(fg_table *t) {
  free(t->buckets);
  free(t->counters);
  free(t->ext);
  memset(t, 0, sizeof(*t));
}

void fg_table_reset(fg_table *t) {
  /* Counters and ext are re-initialised when an entry is claimed, so only the index is cleared. */
  memset(t->buckets, 0, (size_t)t->nbuckets * sizeof(fg_bucket));
  t->used = 0;
}

fg_slot *fg_slot_new(uint32_t max_src, uint32_t max_dst) {
  fg_slot *s = calloc(1, sizeof(fg_slot));
  if (!s) return NULL;
  if (fg_table_init(&s->src, max_src, 0) != 0 || fg_table_init(&s->dst, max_dst, 1) != 0) {
    fg_slot_free(s);
    return NULL;
  }
  return s;
}

void fg_slot_free(fg_slot *s) {
  if (!s) return;
  fg_table_free(&s->src);
  fg_table_free(&s->dst);
  free(s);
}

void fg_slot_reset(fg_slot *s) {
  s->start_us = 0;
  s->end_us = 0;
  memset(s->totals, 0, sizeof(s->totals));
  memset(s->hll, 0, sizeof(s->hll));
  fg_table_reset(&s->src);
  fg_table_reset(&s->dst);
}

/* Find or claim the entry for key; returns its flat index. *evicted is set when a lighter entry was replaced. */
static uint32_t table_touch(fg_table *t, const fg_key *k, uint64_t h, int *evicted) {
  fg_bucket *b = &t->buckets[h & (t->nbuckets - 1)];
  uint32_t base = (uint32_t)(h & (t->nbuckets - 1)) * FG_WAYS;
  int free_way = -1;
  int min_way = 0;
  uint32_t min_count = UINT32_MAX;
  for (int w = 0; w < FG_WAYS; w++) {
    uint32_t c = b->count[w];
    if (c == 0) {
      if (free_way < 0) free_way = w;
      continue;
    }
    if (key_eq(&b->key[w], k)) {
      b->count[w] = c + 1;
      return base + (uint32_t)w;
    }
    if (c < min_count) {
      min_count = c;
      min_way = w;
    }
  }
  uint32_t inherited = 0;
  int w = free_way;
  if (w < 0) {
    w = min_way;
    inherited = min_count;
    *evicted = 1;
  } else {
    t->used++;
  }
  b->key[w] = *k;
  b->count[w] = inherited + 1;
  uint32_t i = base + (uint32_t)w;
  fg_counters *c = &t->counters[i];
  memset(c, 0, sizeof(*c));
  if (t->ext) memset(&t->ext[i], 0, sizeof(fg_dst_ext));
  return i;
}

static inline void hll_add(uint8_t *regs, unsigned bits, uint64_t h) {
  uint32_t idx = (uint32_t)(h >> (64 - bits));
  uint64_t rest = (h << bits) | (1ULL << (bits - 1)); /* sentinel bounds the rank */
  uint8_t rank = (uint8_t)(__builtin_clzll(rest) + 1);
  if (rank > regs[idx]) regs[idx] = rank;
}

/* Space-Saving over a handful of ports: cheap and exact while few ports dominate. */
static inline void port_add(fg_port_topk *pk, uint16_t port) {
  int min_i = 0;
  for (int i = 0; i < FG_PORT_TOPK; i++) {
    if (pk->count[i] != 0 && pk->port[i] == port) {
      pk->count[i]++;
      return;
    }
    if (pk->count[i] < pk->count[min_i]) min_i = i;
  }
  pk->port[min_i] = port;
  pk->count[min_i]++;
}

static inline void count_into(fg_counters *c, const fg_packet *p, uint32_t wire_len) {
  c->packets++;
  c->bytes += wire_len;
  switch (p->l4) {
    case FG_L4_TCP: {
      c->tcp++;
      uint8_t f = p->tcp_flags;
      if (f & FG_TCP_RST) c->rst++;
      else if ((f & (FG_TCP_SYN | FG_TCP_ACK)) == FG_TCP_SYN) c->syn++;
      else if ((f & (FG_TCP_SYN | FG_TCP_ACK)) == (FG_TCP_SYN | FG_TCP_ACK)) c->synack++;
      else if ((f & (FG_TCP_ACK | FG_TCP_FIN)) == FG_TCP_ACK) c->ack++;
      break;
    }
    case FG_L4_UDP: c->udp++; break;
    case FG_L4_ICMP: c->icmp++; break;
    default: c->other++; break;
  }
  if (p->fragment) c->frag++;
}

static inline void count_totals(uint64_t *t, const fg_packet *p) {
  switch (p->l4) {
    case FG_L4_TCP: {
      t[FG_T_TCP]++;
      uint8_t f = p->tcp_flags;
      if (f & FG_TCP_RST) t[FG_T_RST]++;
      else if ((f & (FG_TCP_SYN | FG_TCP_ACK)) == FG_TCP_SYN) t[FG_T_SYN]++;
      else if ((f & (FG_TCP_SYN | FG_TCP_ACK)) == (FG_TCP_SYN | FG_TCP_ACK)) t[FG_T_SYNACK]++;
      else if ((f & (FG_TCP_ACK | FG_TCP_FIN)) == FG_TCP_ACK) t[FG_T_ACK]++;
      break;
    }
    case FG_L4_UDP: t[FG_T_UDP]++; break;
    case FG_L4_ICMP: t[FG_T_ICMP]++; break;
    default: t[FG_T_OTHER]++; break;
  }
  if (p->fragment) t[FG_T_FRAG]++;
}

void fg_slot_account(fg_slot *s, const fg_protect *prot, fg_parse_result r, const fg_packet *pkt, uint32_t wire_len) {
  uint64_t *t = s->totals;
  t[FG_T_PACKETS]++;
  t[FG_T_BYTES] += wire_len;
  if (r == FG_PARSE_MALFORMED) {
    t[FG_T_MALFORMED]++;
    return;
  }
  if (r == FG_PARSE_NON_IP) {
    t[FG_T_NON_IP]++;
    return;
  }
  t[pkt->family == 4 ? FG_T_IPV4 : FG_T_IPV6]++;
  if (prot->n > 0 && !fg_protect_contains(prot, pkt->dst)) return; /* outbound or transit */

  t[FG_T_IN_PACKETS]++;
  t[FG_T_IN_BYTES] += wire_len;
  count_totals(t, pkt);

  fg_key sk, dk;
  load_key(&sk, pkt->src);
  load_key(&dk, pkt->dst);
  uint64_t sh = fg_hash_key(&sk);
  uint64_t dh = fg_hash_key(&dk);
  hll_add(s->hll, FG_SLOT_HLL_BITS, sh);

  int ev = 0;
  uint32_t si = table_touch(&s->src, &sk, sh, &ev);
  if (ev) t[FG_T_SRC_EVICT]++;
  count_into(&s->src.counters[si], pkt, wire_len);

  ev = 0;
  uint32_t di = table_touch(&s->dst, &dk, dh, &ev);
  if (ev) t[FG_T_DST_EVICT]++;
  count_into(&s->dst.counters[di], pkt, wire_len);
  fg_dst_ext *x = &s->dst.ext[di];
  hll_add(x->hll, FG_DST_HLL_BITS, sh);
  if (pkt->has_ports) {
    if (pkt->l4 == FG_L4_UDP) {
      port_add(&x->ports[FG_P_UDP_SRC], pkt->sport);
      port_add(&x->ports[FG_P_UDP_DST], pkt->dport);
    } else if (pkt->l4 == FG_L4_TCP) {
      port_add(&x->ports[FG_P_TCP_SRC], pkt->sport);
      port_add(&x->ports[FG_P_TCP_DST], pkt->dport);
    }
  }
}

int fg_cidr_parse(const char *text, fg_cidr *out) {
  char buf[64];
  size_t n = strlen(text);
  if (n == 0 || n >= sizeof(buf)) return -1;
  memcpy(buf, text, n + 1);
  int prefix = -1;
  char *slash = strchr(buf, '/');
  if (slash) {
    *slash = '\0';
    char *endp = NULL;
    long v = strtol(slash + 1, &endp, 10);
    if (endp == slash + 1 || *endp != '\0' || v < 0 || v > 128) return -1;
    prefix = (int)v;
  }
  uint8_t a[16] = {0};
  struct in_addr v4;
  struct in6_addr v6;
  if (inet_pton(AF_INET, buf, &v4) == 1) {
    if (prefix > 32) return -1;
    a[10] = a[11] = 0xff;
    memcpy(a + 12, &v4, 4);
    prefix = (prefix < 0 ? 32 : prefix) + 96;
  } else if (inet_pton(AF_INET6, buf, &v6) == 1) {
    memcpy(a, &v6, 16);
    if (prefix < 0) prefix = 128;
  } else {
    return -1;
  }
  uint8_t m[16] = {0};
  for (int i = 0; i < 16; i++) {
    int bits = prefix - i * 8;
    m[i] = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
    a[i] &= m[i];
  }
  load_key(&out->net, a);
  load_key(&out->mask, m);
  return 0;
}

int fg_protect_contains(const fg_protect *prot, const uint8_t addr[16]) {
  fg_key k;
  load_key(&k, addr);
  for (size_t i = 0; i < prot->n; i++) {
    const fg_cidr *c = &prot->items[i];
    if ((k.hi & c->mask.hi) == c->net.hi && (k.lo & c->mask.lo) == c->net.lo) return 1;
  }
  return 0;
}

static const fg_table *sort_table;
static int cmp_desc(const void *a, const void *b) {
  uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b;
  uint32_t ca = sort_table->buckets[ia / FG_WAYS].count[ia % FG_WAYS];
  uint32_t cb = sort_table->buckets[ib / FG_WAYS].count[ib % FG_WAYS];
  return ca < cb ? 1 : ca > cb ? -1 : (ia < ib ? -1 : ia > ib);
}

uint32_t fg_table_sorted(const fg_table *t, uint32_t *idx_out) {
  uint32_t n = 0;
  uint32_t total = t->nbuckets * FG_WAYS;
  for (uint32_t i = 0; i < total; i++)
    if (t->buckets[i / FG_WAYS].count[i % FG_WAYS] != 0) idx_out[n++] = i;
  /* qsort has no context argument in C99; sorting happens on the JS thread only, one table at a time. */
  sort_table = t;
  qsort(idx_out, n, sizeof(uint32_t), cmp_desc);
  sort_table = NULL;
  return n;
}
