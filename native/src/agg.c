#include "agg.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#ifdef __APPLE__
#include <sys/random.h> /* getentropy */
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

const char *const fg_counter_names[FG_C_N] = {
    "packetsUpperBound", "packets", "bytes", "tcp", "udp", "icmp", "other",
    "syn", "synAck", "ack", "rst", "fragments", "fin", "synEcn", "badFlags", "handshakes",
    "outPackets", "outBytes", "outSyn", "outSynAck", "outRst", "udpSrcPort", "udpSrcPortPackets", "tcpNull", "synFin", "psh"};

const char *const fg_total_names[FG_T_N] = {
    "packets", "bytes", "inboundPackets", "inboundBytes", "ipv4", "ipv6", "nonIp", "malformed",
    "tcp", "udp", "icmp", "other", "syn", "synAck", "ack", "rst", "fragments",
    "sourceEvictions", "destinationEvictions", "fin", "synEcn", "badFlags", "handshakes",
    "outPackets", "outBytes", "outSyn", "outSynAck", "outRst", "halfOpenEvictions", "tcpNull", "synFin", "psh"};

/* murmur3's 64-bit finaliser: a bijection with full avalanche, so the top
 * bits can feed HyperLogLog and the low bits pick the bucket. */
static inline uint64_t fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

/* Per-process secret keys of the address hash. Without them the bucket of an
 * address is public, and a flood from addresses chosen to share one bucket
 * would evict every other source there (a heavy hitter included) while the
 * rest of the table stays empty. */
static uint64_t hash_keys[5];
static pthread_once_t hash_once = PTHREAD_ONCE_INIT;

static int read_urandom(void *buf, size_t n) {
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  return got == n ? 0 : -1;
}

static void hash_init(void) {
  uint64_t k[5];
  if (getentropy(k, sizeof k) != 0 && read_urandom(k, sizeof k) != 0) {
    /* No entropy source at all: still differ per process and per start. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)&ts;
    for (int i = 0; i < 5; i++) k[i] = x = fmix64(x + 0x9e3779b97f4a7c15ULL);
  }
  memcpy(hash_keys, k, sizeof k);
}

void fg_hash_init(void) { pthread_once(&hash_once, hash_init); }

/* Multilinear hashing over the key's four 32-bit words with 64-bit secret
 * keys (strongly universal in its top 32 bits: Lemire and Kaser, "Strongly
 * universal string hashing is fast", 2014), then fmix64 so every output bit
 * depends on all of them. fg_hash_init must have run (fg_slot_new does it). */
uint64_t fg_hash_key(const fg_key *k) {
  const uint64_t *s = hash_keys;
  uint64_t h = s[0] + s[1] * (uint32_t)k->hi + s[2] * (k->hi >> 32) + s[3] * (uint32_t)k->lo + s[4] * (k->lo >> 32);
  return fmix64(h);
}

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

/* Cache-line aligned and zeroed. */
static void *alloc_lines(size_t n, size_t size) {
  size_t bytes = n * size;
  bytes = (bytes + 63) & ~(size_t)63;
  void *p = aligned_alloc(64, bytes ? bytes : 64);
  if (p) memset(p, 0, bytes);
  return p;
}

int fg_table_init(fg_table *t, uint32_t max_entries, int with_ext) {
  memset(t, 0, sizeof(*t));
  uint32_t nb = round_pow2((max_entries + FG_WAYS - 1) / FG_WAYS);
  if (nb == 0) nb = 1;
  t->nbuckets = nb;
  t->buckets = alloc_lines(nb, sizeof(fg_bucket));
  /* Entries are written when claimed, so untouched pages stay unbacked.
   * 128-byte alignment keeps each entry's two lines one aligned pair. */
  t->entries = aligned_alloc(128, (size_t)nb * FG_WAYS * sizeof(fg_entry));
  if (with_ext) t->ext = malloc((size_t)nb * FG_WAYS * sizeof(fg_dst_ext));
  if (!t->buckets || !t->entries || (with_ext && !t->ext)) {
    fg_table_free(t);
    return -1;
  }
  return 0;
}

void fg_table_free(fg_table *t) {
  free(t->buckets);
  free(t->entries);
  free(t->ext);
  memset(t, 0, sizeof(*t));
}

void fg_table_reset(fg_table *t) {
  /* Entries and ext are re-initialised when claimed, so only the headers are cleared. */
  memset(t->buckets, 0, (size_t)t->nbuckets * sizeof(fg_bucket));
  t->used = 0;
}

int fg_hs_init(fg_hs_table *t, uint32_t entries) {
  memset(t, 0, sizeof(*t));
  uint32_t nb = round_pow2((entries + FG_HS_WAYS - 1) / FG_HS_WAYS);
  t->nbuckets = nb ? nb : 1;
  t->buckets = alloc_lines(t->nbuckets, sizeof(fg_hs_bucket));
  return t->buckets ? 0 : -1;
}

void fg_hs_free(fg_hs_table *t) {
  free(t->buckets);
  memset(t, 0, sizeof(*t));
}

fg_slot *fg_slot_new(uint32_t max_src, uint32_t max_dst) {
  fg_hash_init();
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
  s->cover_start_us = 0;
  s->cover_end_us = 0;
  s->first_us = 0;
  s->last_us = 0;
  memset(s->totals, 0, sizeof(s->totals));
  memset(s->hll, 0, sizeof(s->hll));
  s->dst_memo = 0;
  fg_table_reset(&s->src);
  fg_table_reset(&s->dst);
}

static inline uint32_t fingerprint(uint64_t h) { return (uint32_t)(h >> 32); }

/* Bit w set when way w is used and carries fingerprint fp. */
static inline unsigned fp_matches(const fg_bucket *b, uint32_t fp) {
#if defined(__SSE2__)
  /* Eight fingerprints and counts compared in two 128-bit steps: this scan runs twice per packet. */
  __m128i want = _mm_set1_epi32((int)fp), zero = _mm_setzero_si128();
  __m128i f0 = _mm_load_si128((const __m128i *)b->fp), f1 = _mm_load_si128((const __m128i *)b->fp + 1);
  __m128i c0 = _mm_load_si128((const __m128i *)b->count), c1 = _mm_load_si128((const __m128i *)b->count + 1);
  __m128i m0 = _mm_andnot_si128(_mm_cmpeq_epi32(c0, zero), _mm_cmpeq_epi32(f0, want));
  __m128i m1 = _mm_andnot_si128(_mm_cmpeq_epi32(c1, zero), _mm_cmpeq_epi32(f1, want));
  return (unsigned)_mm_movemask_ps(_mm_castsi128_ps(m0)) | ((unsigned)_mm_movemask_ps(_mm_castsi128_ps(m1)) << 4);
#else
  unsigned m = 0;
  for (int w = 0; w < FG_WAYS; w++)
    if (b->count[w] != 0 && b->fp[w] == fp) m |= 1u << w;
  return m;
#endif
}

/* The way holding k, else -1. Touches entry lines only on a fingerprint match. */
static inline int find_way(const fg_table *t, const fg_bucket *b, uint32_t base, const fg_key *k, uint32_t fp) {
  for (unsigned m = fp_matches(b, fp); m; m &= m - 1) {
    int w = __builtin_ctz(m);
    if (key_eq(&t->entries[base + (uint32_t)w].key, k)) return w;
  }
  return -1;
}

/* The way a new key would take: a free one, else the lightest (Space-Saving). */
static inline int victim_way(const fg_bucket *b) {
  int min_way = 0;
  for (int w = 0; w < FG_WAYS; w++) {
    if (b->count[w] == 0) return w;
    if (b->count[w] < b->count[min_way]) min_way = w;
  }
  return min_way;
}

/* Find or claim the entry for k; returns its flat index. *evicted is set when a lighter entry was replaced. */
static uint32_t table_touch(fg_table *t, const fg_key *k, uint64_t h, int *evicted) {
  uint32_t bi = (uint32_t)(h & (t->nbuckets - 1));
  fg_bucket *b = &t->buckets[bi];
  uint32_t base = bi * FG_WAYS;
  uint32_t fp = fingerprint(h);
  int w = find_way(t, b, base, k, fp);
  if (w >= 0) {
    b->count[w]++;
    return base + (uint32_t)w;
  }
  w = victim_way(b);
  uint32_t inherited = b->count[w];
  if (inherited) *evicted = 1;
  else t->used++;
  b->count[w] = inherited + 1;
  b->fp[w] = fp;
  uint32_t i = base + (uint32_t)w;
  fg_entry *e = &t->entries[i];
  memset(e, 0, sizeof(*e));
  e->key = *k;
  if (t->ext) memset(&t->ext[i], 0, sizeof(fg_dst_ext));
  return i;
}

/* The entry holding k, or UINT32_MAX; never claims one and never counts (outbound packets). */
static inline uint32_t table_find(const fg_table *t, const fg_key *k, uint64_t h) {
  uint32_t bi = (uint32_t)(h & (t->nbuckets - 1));
  int w = find_way(t, &t->buckets[bi], bi * FG_WAYS, k, fingerprint(h));
  return w < 0 ? UINT32_MAX : bi * FG_WAYS + (uint32_t)w;
}

/* Bring in the lines of the entry this key will update, found from the (already prefetched) header. */
static inline void prefetch_entry(const fg_table *t, uint64_t h) {
  uint32_t bi = (uint32_t)(h & (t->nbuckets - 1));
  const fg_bucket *b = &t->buckets[bi];
  unsigned m = fp_matches(b, fingerprint(h));
  int w = m ? __builtin_ctz(m) : victim_way(b);
  const fg_entry *e = &t->entries[bi * FG_WAYS + (uint32_t)w];
  __builtin_prefetch(e, 1);
  __builtin_prefetch((const char *)e + 64, 1);
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

/* Which of syn/synack/ack/rst a TCP flag byte counts as (-1: none, e.g. FIN+ACK). RST wins. */
static inline int flag_class(uint8_t f) {
  if (f & FG_TCP_RST) return 3;
  switch (f & (FG_TCP_SYN | FG_TCP_ACK)) {
    case FG_TCP_SYN: return 0;
    case FG_TCP_SYN | FG_TCP_ACK: return 1;
    case FG_TCP_ACK: return (f & FG_TCP_FIN) ? -1 : 2;
    default: return -1;
  }
}

/* Flag mixes no TCP stack sends: NULL (none of FIN/SYN/RST/PSH/ACK/URG),
 * SYN with FIN or RST, FIN without ACK (FIN scans, XMAS = FIN+PSH+URG). */
static inline int tcp_null(uint8_t f) { return (f & 0x3f) == 0; }
static inline int syn_fin(uint8_t f) { return (f & FG_TCP_SYN) && (f & (FG_TCP_FIN | FG_TCP_RST)); }
static inline int bad_flags(uint8_t f) {
  return tcp_null(f) || syn_fin(f) || ((f & FG_TCP_FIN) && !(f & FG_TCP_ACK));
}

static inline int is_fin(uint8_t f) { return (f & FG_TCP_FIN) && !(f & (FG_TCP_SYN | FG_TCP_RST)); }

static inline int is_syn_ecn(uint8_t f) {
  return flag_class(f) == 0 && (f & (FG_TCP_ECE | FG_TCP_CWR));
}

static inline void count_into(fg_entry *c, const fg_batch_item *p) {
  c->packets++;
  c->bytes += p->wire_len;
  switch (p->l4) {
    case FG_L4_TCP: {
      uint8_t f = p->tcp_flags;
      c->tcp++;
      switch (flag_class(f)) {
        case 0: c->syn++; break;
        case 1: c->synack++; break;
        case 2: c->ack++; break;
        case 3: c->rst++; break;
        default: break;
      }
      c->fin += (uint32_t)is_fin(f);
      c->psh += (uint32_t)((f & FG_TCP_PSH) != 0);
      c->syn_ecn += (uint32_t)is_syn_ecn(f);
      if (bad_flags(f)) {
        c->bad_flags++;
        c->tcp_null += (uint32_t)tcp_null(f);
        c->syn_fin += (uint32_t)syn_fin(f);
      }
      break;
    }
    case FG_L4_UDP:
      c->udp++;
      if (p->has_ports) {
        if (c->pad16 == 0) { /* the first UDP packet fixes the port this entry follows */
          c->pad16 = 1;
          c->udp_sport = p->rport;
        }
        c->udp_sport_packets += (uint32_t)(c->udp_sport == p->rport);
      }
      break;
    case FG_L4_ICMP: c->icmp++; break;
    default: c->other++; break;
  }
  if (p->fragment) c->frag++;
}

static inline void count_out(fg_entry *c, const fg_batch_item *p) {
  c->out_packets++;
  c->out_bytes += p->wire_len;
  if (p->l4 == FG_L4_TCP) {
    switch (flag_class(p->tcp_flags)) {
      case 0: c->out_syn++; break;
      case 1: c->out_synack++; break;
      case 3: c->out_rst++; break;
      default: break;
    }
  }
}

static inline void count_totals(uint64_t *t, const fg_packet *p) {
  switch (p->l4) {
    case FG_L4_TCP: {
      uint8_t f = p->tcp_flags;
      t[FG_T_TCP]++;
      switch (flag_class(f)) {
        case 0: t[FG_T_SYN]++; break;
        case 1: t[FG_T_SYNACK]++; break;
        case 2: t[FG_T_ACK]++; break;
        case 3: t[FG_T_RST]++; break;
        default: break;
      }
      t[FG_T_FIN] += (uint64_t)is_fin(f);
      t[FG_T_PSH] += (uint64_t)((f & FG_TCP_PSH) != 0);
      t[FG_T_SYN_ECN] += (uint64_t)is_syn_ecn(f);
      if (bad_flags(f)) {
        t[FG_T_BAD_FLAGS]++;
        t[FG_T_TCP_NULL] += (uint64_t)tcp_null(f);
        t[FG_T_SYN_FIN] += (uint64_t)syn_fin(f);
      }
      break;
    }
    case FG_L4_UDP: t[FG_T_UDP]++; break;
    case FG_L4_ICMP: t[FG_T_ICMP]++; break;
    default: t[FG_T_OTHER]++; break;
  }
  if (p->fragment) t[FG_T_FRAG]++;
}

static inline void count_out_totals(uint64_t *t, const fg_packet *p, uint32_t wire_len) {
  t[FG_T_OUT_PACKETS]++;
  t[FG_T_OUT_BYTES] += wire_len;
  if (p->l4 == FG_L4_TCP) {
    switch (flag_class(p->tcp_flags)) {
      case 0: t[FG_T_OUT_SYN]++; break;
      case 1: t[FG_T_OUT_SYNACK]++; break;
      case 3: t[FG_T_OUT_RST]++; break;
      default: break;
    }
  }
}

/* ---- half-open connections ---- */

/* The flow's hash from its endpoints' (keyed) hashes and ports, oriented client -> server. */
static inline uint64_t flow_hash(const fg_batch_item *p) {
  uint64_t ports = ((uint64_t)p->rport << 16) | p->lport;
  return fmix64(p->hr ^ ((p->hl << 23) | (p->hl >> 41)) ^ (ports * 0x9e3779b97f4a7c15ULL));
}

static inline fg_hs_bucket *hs_bucket(fg_hs_table *t, uint64_t f) { return &t->buckets[f & (t->nbuckets - 1)]; }
static inline uint32_t hs_fp(uint64_t f) { return (uint32_t)(f >> 32) | 1u; }

static inline int hs_way(const fg_hs_bucket *b, uint32_t fp) {
  for (int w = 0; w < FG_HS_WAYS; w++)
    if (b->fp[w] == fp) return w;
  return -1;
}

/* A SYN: remember the client's ISN+1 (a retransmission overwrites its own entry). Returns 1 if an entry was evicted. */
static int hs_syn(fg_hs_table *t, const fg_batch_item *p) {
  uint64_t f = flow_hash(p);
  fg_hs_bucket *b = hs_bucket(t, f);
  uint32_t fp = hs_fp(f);
  int w = hs_way(b, fp), evicted = 0;
  if (w < 0) w = hs_way(b, 0);
  if (w < 0) {
    w = (int)(b->next++ % FG_HS_WAYS);
    evicted = 1;
  }
  b->fp[w] = fp;
  b->client_isn1[w] = p->seq + 1;
  b->server_isn1[w] = 0;
  return evicted;
}

/* The protected side's SYN+ACK: remember its ISN+1. */
static void hs_synack(fg_hs_table *t, const fg_batch_item *p) {
  uint64_t f = flow_hash(p);
  fg_hs_bucket *b = hs_bucket(t, f);
  int w = hs_way(b, hs_fp(f));
  if (w >= 0 && b->client_isn1[w] == p->ack) b->server_isn1[w] = p->seq + 1;
}

/* The client's ACK: 1 when it completes a recorded handshake (then the entry is freed). */
static int hs_ack(fg_hs_table *t, const fg_batch_item *p) {
  uint64_t f = flow_hash(p);
  fg_hs_bucket *b = hs_bucket(t, f);
  int w = hs_way(b, hs_fp(f));
  if (w < 0 || b->client_isn1[w] != p->seq) return 0;
  /* Where the protected side's answers are visible, only an ACK of its own ISN completes. */
  if (b->server_isn1[w] ? b->server_isn1[w] != p->ack : t->seen_outbound) return 0;
  b->fp[w] = 0;
  return 1;
}

/* The destination entry used last if it still holds k, else UINT32_MAX. `count` adds to its Space-Saving count. */
static inline uint32_t memo_dst(fg_slot *s, const fg_key *k, int count) {
  if (s->dst_memo == 0) return UINT32_MAX;
  uint32_t i = s->dst_memo - 1;
  fg_bucket *b = &s->dst.buckets[i / FG_WAYS];
  if (b->count[i % FG_WAYS] == 0 || !key_eq(&s->dst.entries[i].key, k)) return UINT32_MAX;
  b->count[i % FG_WAYS] += (uint32_t)count;
  return i;
}

static void apply_outbound(fg_slot *s, fg_hs_table *hs, const fg_batch_item *p) {
  uint32_t si = table_find(&s->src, &p->remote, p->hr);
  if (si != UINT32_MAX) count_out(&s->src.entries[si], p);
  uint32_t di = memo_dst(s, &p->local, 0);
  if (di == UINT32_MAX) {
    di = table_find(&s->dst, &p->local, p->hl);
    if (di != UINT32_MAX) s->dst_memo = di + 1;
  }
  if (di != UINT32_MAX) {
    count_out(&s->dst.entries[di], p);
    if (p->l4 == FG_L4_UDP && p->has_ports) port_add(&s->dst.ext[di].ports[FG_P_OUT_UDP_DST], p->rport);
  }
  if (hs) {
    hs->seen_outbound = 1;
    if (p->l4 == FG_L4_TCP && flag_class(p->tcp_flags) == 1) hs_synack(hs, p);
  }
}

static void apply_item(fg_slot *s, fg_hs_table *hs, const fg_batch_item *p) {
  if (p->outbound) {
    apply_outbound(s, hs, p);
    return;
  }
  uint64_t *t = s->totals;
  hll_add(s->hll, FG_SLOT_HLL_BITS, p->hr);
  int ev = 0;
  uint32_t si = table_touch(&s->src, &p->remote, p->hr, &ev);
  if (ev) t[FG_T_SRC_EVICT]++;
  fg_entry *src = &s->src.entries[si];
  count_into(src, p);

  uint32_t di = memo_dst(s, &p->local, 1);
  if (di == UINT32_MAX) {
    ev = 0;
    di = table_touch(&s->dst, &p->local, p->hl, &ev);
    if (ev) t[FG_T_DST_EVICT]++;
    s->dst_memo = di + 1;
  }
  fg_entry *dst = &s->dst.entries[di];
  count_into(dst, p);
  fg_dst_ext *x = &s->dst.ext[di];
  hll_add(x->hll, FG_DST_HLL_BITS, p->hr);
  if (p->has_ports) {
    if (p->l4 == FG_L4_UDP) {
      port_add(&x->ports[FG_P_UDP_SRC], p->rport);
      port_add(&x->ports[FG_P_UDP_DST], p->lport);
    } else if (p->l4 == FG_L4_TCP) {
      port_add(&x->ports[FG_P_TCP_SRC], p->rport);
      port_add(&x->ports[FG_P_TCP_DST], p->lport);
      int cls = flag_class(p->tcp_flags);
      if (cls == 0) port_add(&x->ports[FG_P_SYN_DST], p->lport);
      else if (cls == 1) port_add(&x->ports[FG_P_SYNACK_SRC], p->rport);
    }
  }
  if (hs && p->l4 == FG_L4_TCP) {
    int cls = flag_class(p->tcp_flags);
    if (cls == 0) {
      if (hs_syn(hs, p)) t[FG_T_HALF_OPEN_EVICT]++;
    } else if ((p->tcp_flags & FG_TCP_ACK) && !(p->tcp_flags & (FG_TCP_SYN | FG_TCP_RST))) {
      if (hs_ack(hs, p)) {
        src->handshakes++;
        dst->handshakes++;
        t[FG_T_HANDSHAKES]++;
      }
    }
  }
}

void fg_items_apply(fg_slot *s, fg_hs_table *hs, const fg_batch_item *items, int n) {
  for (int base = 0; base < n; base += FG_BATCH) {
    const fg_batch_item *it = items + base;
    int m = n - base < FG_BATCH ? n - base : FG_BATCH;
    /* Three passes: headers in flight, then entry lines in flight, then the updates. */
    for (int i = 0; i < m; i++) {
      const fg_batch_item *p = &it[i];
      __builtin_prefetch(&s->src.buckets[p->hr & (s->src.nbuckets - 1)], 1);
      __builtin_prefetch(&s->dst.buckets[p->hl & (s->dst.nbuckets - 1)], 1);
    }
    for (int i = 0; i < m; i++) {
      const fg_batch_item *p = &it[i];
      prefetch_entry(&s->src, p->hr);
      prefetch_entry(&s->dst, p->hl);
    }
    for (int i = 0; i < m; i++) apply_item(s, hs, &it[i]);
  }
}

void fg_batch_flush(fg_batch *b, fg_slot *s) {
  if (b->n == 0) return;
  fg_items_apply(s, b->hs, b->items, b->n);
  b->n = 0;
}

int fg_item_prepare(fg_batch_item *p, fg_slot *s, const fg_protect *prot, fg_parse_result r, const fg_packet *pkt,
                    uint32_t wire_len, fg_dst_hash_memo *memo) {
  uint64_t *t = s->totals;
  t[FG_T_PACKETS]++;
  t[FG_T_BYTES] += wire_len;
  if (r == FG_PARSE_MALFORMED) {
    t[FG_T_MALFORMED]++;
    return 0;
  }
  if (r == FG_PARSE_NON_IP) {
    t[FG_T_NON_IP]++;
    return 0;
  }
  t[pkt->family == 4 ? FG_T_IPV4 : FG_T_IPV6]++;
  int inbound = prot->n == 0 || fg_protect_contains(prot, pkt->dst);
  if (!inbound && !fg_protect_contains(prot, pkt->src)) return 0; /* transit */

  const uint8_t *remote = inbound ? pkt->src : pkt->dst, *local = inbound ? pkt->dst : pkt->src;
  if (inbound) {
    t[FG_T_IN_PACKETS]++;
    t[FG_T_IN_BYTES] += wire_len;
    count_totals(t, pkt);
  } else {
    count_out_totals(t, pkt, wire_len);
  }
  load_key(&p->remote, remote);
  load_key(&p->local, local);
  p->hr = fg_hash_key(&p->remote);
  /* Floods hit few destinations: reuse the last protected address's hash. */
  if (!memo->valid || !key_eq(&memo->key, &p->local)) {
    memo->key = p->local;
    memo->hash = fg_hash_key(&p->local);
    memo->valid = 1;
  }
  p->hl = memo->hash;
  p->wire_len = wire_len;
  p->rport = inbound ? pkt->sport : pkt->dport;
  p->lport = inbound ? pkt->dport : pkt->sport;
  p->seq = pkt->seq;
  p->ack = pkt->ack;
  p->l4 = pkt->l4;
  p->tcp_flags = pkt->tcp_flags;
  p->fragment = pkt->fragment;
  p->has_ports = pkt->has_ports;
  p->outbound = (uint8_t)!inbound;
  return 1;
}

void fg_batch_add(fg_batch *b, fg_slot *s, const fg_protect *prot, fg_parse_result r, const fg_packet *pkt,
                  uint32_t wire_len) {
  if (!fg_item_prepare(&b->items[b->n], s, prot, r, pkt, wire_len, &b->memo)) return;
  if (++b->n == FG_BATCH) fg_batch_flush(b, s);
}

void fg_slot_account(fg_slot *s, fg_hs_table *hs, const fg_protect *prot, fg_parse_result r, const fg_packet *pkt,
                     uint32_t wire_len) {
  fg_batch b;
  b.n = 0;
  b.memo.valid = 0;
  b.hs = hs;
  fg_batch_add(&b, s, prot, r, pkt, wire_len);
  fg_batch_flush(&b, s);
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

typedef struct {
  uint32_t count;
  uint32_t idx;
} ranked;

static int cmp_ranked_desc(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  if (x->count != y->count) return x->count < y->count ? 1 : -1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static inline int lighter(const ranked *a, const ranked *b) {
  return a->count < b->count || (a->count == b->count && a->idx > b->idx);
}

/* Min-heap sift-down over h[0..n). */
static void sift_down(ranked *h, uint32_t n, uint32_t i) {
  for (;;) {
    uint32_t l = 2 * i + 1, m = i;
    if (l < n && lighter(&h[l], &h[m])) m = l;
    if (l + 1 < n && lighter(&h[l + 1], &h[m])) m = l + 1;
    if (m == i) return;
    ranked tmp = h[i];
    h[i] = h[m];
    h[m] = tmp;
    i = m;
  }
}

uint32_t fg_table_top(const fg_table *t, uint32_t limit, uint32_t *idx_out) {
  uint32_t total = t->nbuckets * FG_WAYS;
  uint32_t k = limit < t->used ? limit : t->used;
  if (k == 0) return 0;
  /* Keep the k heaviest in a min-heap: O(n log k), no pass over n entries twice. */
  ranked *h = malloc((size_t)k * sizeof(ranked));
  if (!h) return 0;
  uint32_t n = 0;
  for (uint32_t i = 0; i < total; i++) {
    uint32_t c = fg_table_count(t, i);
    if (!c) continue;
    ranked r = {c, i};
    if (n < k) {
      h[n++] = r;
      if (n == k)
        for (uint32_t j = k / 2; j-- > 0;) sift_down(h, k, j);
    } else if (lighter(&h[0], &r)) {
      h[0] = r;
      sift_down(h, k, 0);
    }
  }
  qsort(h, n, sizeof(ranked), cmp_ranked_desc);
  for (uint32_t i = 0; i < n; i++) idx_out[i] = h[i].idx;
  free(h);
  return n;
}
