/* fopencookie (glibc) for mapped capture files. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "engine.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#ifdef __GLIBC__
#include <fcntl.h>
#include <stdio_ext.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define DUMP_FLUSH_US 1000000
/* Half-open TCP connections tracked at once (1 MB): at 400k SYN/s a benign
 * handshake's entry still survives a 40 ms round trip most of the time. */
#define FG_HALF_OPEN_ENTRIES 65536

static int64_t now_us(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void set_err(fg_error_code *code, char *err, fg_error_code c, const char *fmt, const char *a, const char *b) {
  if (code) *code = c;
  if (err) snprintf(err, FG_ERR_LEN, fmt, a ? a : "", b ? b : "");
}

static fg_engine *engine_alloc(const fg_engine_opts *o) {
  fg_engine *e = calloc(1, sizeof(fg_engine));
  if (!e) return NULL;
  e->opts = *o;
  if (e->opts.queue_depth < 1) e->opts.queue_depth = 1;
  e->queue = calloc(e->opts.queue_depth, sizeof(fg_slot *));
  /* Current slot + queue + slots JS may hold while converting. */
  e->pool = calloc(e->opts.queue_depth + 3, sizeof(fg_slot *));
  if (o->nprotect > 0) {
    e->protect.items = calloc(o->nprotect, sizeof(fg_cidr));
    if (e->protect.items) {
      memcpy(e->protect.items, o->protect, o->nprotect * sizeof(fg_cidr));
      e->protect.n = o->nprotect;
    }
  }
  e->opts.protect = NULL;
  e->opts.filter = NULL;     /* borrowed strings are not kept past open */
  e->opts.write_path = NULL;
  if (!e->queue || !e->pool || (o->nprotect > 0 && !e->protect.items)) {
    free(e->queue);
    free(e->pool);
    free(e->protect.items);
    free(e);
    return NULL;
  }
  e->ring = calloc(FG_HANDOFF_RING, sizeof(fg_handoff));
  if (!e->ring || fg_hs_init(&e->hs, FG_HALF_OPEN_ENTRIES) != 0) {
    free(e->ring);
    fg_hs_free(&e->hs);
    free(e->queue);
    free(e->pool);
    free(e->protect.items);
    free(e);
    return NULL;
  }
  e->batch.hs = &e->hs;
  pthread_mutex_init(&e->mu, NULL);
  pthread_cond_init(&e->cv_ready, NULL);
  pthread_cond_init(&e->cv_space, NULL);
  pthread_mutex_init(&e->hmu, NULL);
  pthread_cond_init(&e->hcv_items, NULL);
  pthread_cond_init(&e->hcv_space, NULL);
  return e;
}

static void engine_free(fg_engine *e) {
  if (e->dumper) pcap_dump_close(e->dumper);
  if (e->pcap) pcap_close(e->pcap);
  for (uint32_t i = 0; i < e->npool; i++) fg_slot_free(e->pool[i]);
  for (uint32_t i = 0; i < e->qlen; i++) fg_slot_free(e->queue[(e->qhead + i) % e->opts.queue_depth]);
  fg_slot_free(e->cur);
  free(e->queue);
  free(e->pool);
  free(e->protect.items);
  free(e->ring);
  fg_hs_free(&e->hs);
  pthread_mutex_destroy(&e->mu);
  pthread_cond_destroy(&e->cv_ready);
  pthread_cond_destroy(&e->cv_space);
  pthread_mutex_destroy(&e->hmu);
  pthread_cond_destroy(&e->hcv_items);
  pthread_cond_destroy(&e->hcv_space);
  free(e);
}

/* Filter and dump file setup shared by live and offline handles. */
static int finish_setup(fg_engine *e, const fg_engine_opts *o, fg_error_code *code, char *err) {
  e->dlt = pcap_datalink(e->pcap);
  if (!fg_dlt_supported(e->dlt)) {
    const char *name = pcap_datalink_val_to_name(e->dlt);
    set_err(code, err, FG_E_UNSUPPORTED_LINKTYPE, "unsupported link type %s%s", name ? name : "unknown", "");
    return -1;
  }
  if (o->filter && o->filter[0]) {
    struct bpf_program prog;
    if (pcap_compile(e->pcap, &prog, o->filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
      set_err(code, err, FG_E_BAD_FILTER, "invalid BPF filter \"%s\": %s", o->filter, pcap_geterr(e->pcap));
      return -1;
    }
    int rc = pcap_setfilter(e->pcap, &prog);
    pcap_freecode(&prog);
    if (rc != 0) {
      set_err(code, err, FG_E_BAD_FILTER, "cannot apply BPF filter: %s%s", pcap_geterr(e->pcap), "");
      return -1;
    }
  }
  if (o->write_path && o->write_path[0]) {
    e->dumper = pcap_dump_open(e->pcap, o->write_path);
    if (!e->dumper) {
      set_err(code, err, FG_E_WRITE_FAILED, "cannot write %s: %s", o->write_path, pcap_geterr(e->pcap));
      return -1;
    }
  }
  e->cur = fg_slot_new(o->max_src, o->max_dst);
  if (!e->cur) {
    set_err(code, err, FG_E_NOMEM, "out of memory allocating the aggregation tables%s%s", "", "");
    return -1;
  }
  return 0;
}

/* Each pcap_set_* is checked, as tcpdump does: a silent failure would capture with the wrong settings. */
#define CHECK_SET(call, what)                                                                     \
  do {                                                                                            \
    int rc_ = (call);                                                                             \
    if (rc_ != 0) {                                                                               \
      set_err(code, err, FG_E_PCAP, "cannot set " what " on %s: %s", dev, pcap_statustostr(rc_)); \
      goto fail;                                                                                  \
    }                                                                                             \
  } while (0)

fg_engine *fg_engine_open_live(const char *dev, const fg_engine_opts *o, fg_error_code *code, char *err,
                               char warnings[FG_MAX_WARNINGS][FG_ERR_LEN], int *nwarnings) {
  char ebuf[PCAP_ERRBUF_SIZE] = {0};
  *nwarnings = 0;
  fg_engine *e = engine_alloc(o);
  if (!e) {
    set_err(code, err, FG_E_NOMEM, "out of memory%s%s", "", "");
    return NULL;
  }
  e->live = 1;
  e->pcap = pcap_create(dev, ebuf);
  if (!e->pcap) {
    set_err(code, err, FG_E_PCAP, "cannot open %s: %s", dev, ebuf);
    goto fail;
  }
  CHECK_SET(pcap_set_snaplen(e->pcap, o->snaplen), "snaplen");
  CHECK_SET(pcap_set_promisc(e->pcap, o->promisc), "promiscuous mode");
  CHECK_SET(pcap_set_timeout(e->pcap, o->timeout_ms), "timeout");
  if (o->buffer_size > 0) CHECK_SET(pcap_set_buffer_size(e->pcap, o->buffer_size), "buffer size");

  int rc = pcap_activate(e->pcap);
  if (rc > 0) {
    /* Warnings: capture works, but the user should know (e.g. promiscuous mode unsupported). */
    const char *detail = (rc == PCAP_WARNING || rc == PCAP_WARNING_PROMISC_NOTSUP) ? pcap_geterr(e->pcap) : "";
    snprintf(warnings[0], FG_ERR_LEN, "%s: %s%s%s", dev, pcap_statustostr(rc), detail[0] ? ": " : "", detail);
    *nwarnings = 1;
  } else if (rc < 0) {
    const char *detail = pcap_geterr(e->pcap);
    switch (rc) {
      case PCAP_ERROR_NO_SUCH_DEVICE:
        set_err(code, err, FG_E_NO_SUCH_DEVICE, "no such interface: %s%s", dev, "");
        break;
      case PCAP_ERROR_PERM_DENIED:
      case PCAP_ERROR_PROMISC_PERM_DENIED:
        set_err(code, err, FG_E_PERM_DENIED,
                "permission denied capturing on %s: run as root or grant CAP_NET_RAW (and CAP_NET_ADMIN) (%s)", dev,
                detail);
        break;
      case PCAP_ERROR_IFACE_NOT_UP:
        set_err(code, err, FG_E_IFACE_DOWN, "interface %s is down%s", dev, "");
        break;
      default: {
        char msg[256];
        snprintf(msg, sizeof msg, "%s%s%s", pcap_statustostr(rc), detail && detail[0] ? ": " : "", detail ? detail : "");
        set_err(code, err, FG_E_PCAP, "cannot capture on %s: %s", dev, msg);
      }
    }
    goto fail;
  }
  if (finish_setup(e, o, code, err) != 0) goto fail;
  e->selectable_fd = pcap_get_selectable_fd(e->pcap);
  if (e->selectable_fd >= 0 && pcap_setnonblock(e->pcap, 1, ebuf) != 0) {
    set_err(code, err, FG_E_PCAP, "cannot set non-blocking mode on %s: %s", dev, ebuf);
    goto fail;
  }
  return e;
fail:
  engine_free(e);
  return NULL;
}

#ifdef __GLIBC__
/* A regular capture file is read through a mapping: libpcap's two freads per
 * packet then become two memcpys straight from the page cache, instead of a
 * read() into stdio's buffer and a copy out of it. Consumed pages are dropped
 * from the mapping as we go, so RSS does not grow with the file. */
#define FG_MAP_RELEASE (8u << 20)

typedef struct {
  const uint8_t *base;
  size_t len, pos, released;
} fg_mapped_file;

static ssize_t mapped_read(void *cookie, char *buf, size_t n) {
  fg_mapped_file *m = cookie;
  size_t left = m->len - m->pos;
  if (n > left) n = left;
  memcpy(buf, m->base + m->pos, n);
  m->pos += n;
  if (m->pos - m->released >= FG_MAP_RELEASE) {
    size_t upto = m->pos & ~((size_t)sysconf(_SC_PAGESIZE) - 1);
    madvise((void *)(m->base + m->released), upto - m->released, MADV_DONTNEED);
    m->released = upto;
  }
  return (ssize_t)n;
}

static int mapped_seek(void *cookie, off64_t *off, int whence) {
  fg_mapped_file *m = cookie;
  off64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (off64_t)m->pos : (off64_t)m->len;
  off64_t to = base + *off;
  if (to < 0 || to > (off64_t)m->len) return -1;
  m->pos = (size_t)to;
  if (m->pos < m->released) m->released = m->pos & ~((size_t)sysconf(_SC_PAGESIZE) - 1);
  *off = to;
  return 0;
}

static int mapped_close(void *cookie) {
  fg_mapped_file *m = cookie;
  munmap((void *)m->base, m->len);
  free(m);
  return 0;
}

/* NULL when path is not a non-empty regular file that can be mapped (errno from open kept for the caller). */
static FILE *open_mapped(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  FILE *f = NULL;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    void *base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    fg_mapped_file *m = base == MAP_FAILED ? NULL : calloc(1, sizeof(*m));
    if (m) {
      madvise(base, (size_t)st.st_size, MADV_SEQUENTIAL);
      m->base = base;
      m->len = (size_t)st.st_size;
      cookie_io_functions_t io = {.read = mapped_read, .write = NULL, .seek = mapped_seek, .close = mapped_close};
      f = fopencookie(m, "rb", io);
      if (f) {
        /* A small buffer that stays in cache: refills are memcpys from the mapping, no syscalls. */
        setvbuf(f, NULL, _IOFBF, 64 << 10);
      } else {
        munmap(base, m->len);
        free(m);
      }
    } else if (base != MAP_FAILED) {
      munmap(base, (size_t)st.st_size);
    }
  }
  int saved = errno;
  close(fd);
  errno = saved;
  return f;
}
#endif

fg_engine *fg_engine_open_offline(const char *path, const fg_engine_opts *o, fg_error_code *code, char *err) {
  char ebuf[PCAP_ERRBUF_SIZE] = {0};
  fg_engine *e = engine_alloc(o);
  if (!e) {
    set_err(code, err, FG_E_NOMEM, "out of memory%s%s", "", "");
    return NULL;
  }
  FILE *f = NULL;
#ifdef __GLIBC__
  f = open_mapped(path);
#endif
  if (!f) {
    f = fopen(path, "rb");
    if (!f) {
      set_err(code, err, errno == ENOENT ? FG_E_NO_SUCH_FILE : FG_E_PCAP, "cannot open %s: %s", path, strerror(errno));
      goto fail;
    }
    /* A large stdio buffer: libpcap does two freads per packet, and 4 KiB refills cost a syscall every ~60 packets. */
    setvbuf(f, NULL, _IOFBF, 1 << 20);
  }
#ifdef __GLIBC__
  /* Only the capture thread reads f. In a multi-threaded process (Node) glibc
   * otherwise takes the stream lock on each of those two freads per packet. */
  __fsetlocking(f, FSETLOCKING_BYCALLER);
#endif
  /* pcap_fopen_offline takes ownership of f and reads pcap and pcapng alike. */
  e->pcap = pcap_fopen_offline(f, ebuf);
  if (!e->pcap) {
    fclose(f);
    set_err(code, err, FG_E_NOT_CAPTURE_FILE, "%s is not a pcap or pcapng capture: %s", path, ebuf);
    goto fail;
  }
  if (finish_setup(e, o, code, err) != 0) goto fail;
  return e;
fail:
  engine_free(e);
  return NULL;
}

static fg_slot *take_pooled(fg_engine *e) {
  fg_slot *s = NULL;
  pthread_mutex_lock(&e->mu);
  if (e->npool > 0) s = e->pool[--e->npool];
  pthread_mutex_unlock(&e->mu);
  if (s) {
    fg_slot_reset(s);
    return s;
  }
  return fg_slot_new(e->opts.max_src, e->opts.max_dst);
}

/* Queue a finished slot for JS (aggregator thread, or the reader when not pipelined). */
static void publish(fg_engine *e, fg_slot *done) {
  pthread_mutex_lock(&e->mu);
  if (!e->live) {
    /* Files: never drop a slot, wait for JS instead. */
    while (e->qlen == e->opts.queue_depth && !e->stopping) pthread_cond_wait(&e->cv_space, &e->mu);
  }
  if (e->qlen == e->opts.queue_depth) {
    /* Live and JS is behind: drop the oldest finished slot and count it. */
    fg_slot *old = e->queue[e->qhead];
    e->qhead = (e->qhead + 1) % e->opts.queue_depth;
    e->qlen--;
    e->stats.slots_dropped++;
    if (e->npool < e->opts.queue_depth + 3) e->pool[e->npool++] = old;
    else fg_slot_free(old);
  }
  e->queue[(e->qhead + e->qlen) % e->opts.queue_depth] = done;
  e->qlen++;
  pthread_cond_broadcast(&e->cv_ready);
  pthread_mutex_unlock(&e->mu);
}

/* Reader: the block being filled. widx is the reader's own, so no lock is needed. */
static inline fg_handoff *fill_block(fg_engine *e) {
  return &e->ring[e->widx];
}

/* Reader: hand the block being filled to the aggregator and wait for room for the next. */
static void commit_block(fg_engine *e, fg_handoff_kind kind, fg_slot *slot) {
  pthread_mutex_lock(&e->hmu);
  fg_handoff *h = fill_block(e);
  h->kind = kind;
  h->slot = slot;
  e->rlen++;
  e->widx = (e->widx + 1) % FG_HANDOFF_RING;
  pthread_cond_signal(&e->hcv_items);
  /* The next block must be free before the reader fills it; the aggregator never waits on us. */
  while (e->rlen == FG_HANDOFF_RING) pthread_cond_wait(&e->hcv_space, &e->hmu);
  pthread_mutex_unlock(&e->hmu);
  fill_block(e)->n = 0;
}

/* Reader: pass on what was parsed for the current slot. */
static void flush_items(fg_engine *e) {
  if (!e->pipelined) {
    fg_batch_flush(&e->batch, e->cur);
    return;
  }
  if (fill_block(e)->n > 0) commit_block(e, FG_H_ITEMS, e->cur);
}

static void *aggregator_thread(void *arg) {
  fg_engine *e = (fg_engine *)arg;
  for (;;) {
    pthread_mutex_lock(&e->hmu);
    while (e->rlen == 0) pthread_cond_wait(&e->hcv_items, &e->hmu);
    fg_handoff *h = &e->ring[e->rhead];
    pthread_mutex_unlock(&e->hmu);
    /* The reader does not touch committed blocks: work on h without the lock. */
    fg_handoff_kind kind = h->kind;
    if (kind == FG_H_ITEMS) fg_items_apply(h->slot, &e->hs, h->items, h->n);
    else if (kind == FG_H_PUBLISH) publish(e, h->slot);
    pthread_mutex_lock(&e->hmu);
    e->rhead = (e->rhead + 1) % FG_HANDOFF_RING;
    e->rlen--;
    pthread_cond_signal(&e->hcv_space);
    pthread_mutex_unlock(&e->hmu);
    if (kind == FG_H_END) return NULL;
  }
}

static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Start slot s at `start_us`. Its data covers from there, except for a live
 * capture's first slot (from when the capture started) and a file's first
 * slot (from its first packet, `first_ts`; 0 when not known). */
static void begin_slot(fg_engine *e, fg_slot *s, int64_t start_us, int64_t first_ts) {
  s->start_us = start_us;
  s->end_us = start_us + e->opts.slot_us;
  s->cover_start_us = e->live ? max64(start_us, e->capture_start_us) : (first_ts > 0 ? first_ts : start_us);
}

/* Hand the current slot to JS and start a new one at start_us (0: on the next
 * packet, i.e. this is the last slot: a file's ends at its last packet, a
 * stopped live capture's when it stopped). */
static void rotate(fg_engine *e, int64_t start_us) {
  fg_slot *fresh = take_pooled(e);
  if (!fresh) { /* out of memory: keep aggregating into the same slot rather than crash */
    return;
  }
  fg_slot *done = e->cur;
  if (start_us > 0) done->cover_end_us = done->end_us;
  else if (e->live) done->cover_end_us = min64(done->end_us, max64(now_us(), done->cover_start_us));
  else done->cover_end_us = done->last_us > 0 ? done->last_us : done->cover_start_us;
  flush_items(e);
  if (e->pipelined) commit_block(e, FG_H_PUBLISH, done); /* after its items, in order */
  else publish(e, done);
  e->cur = fresh;
  if (start_us > 0) begin_slot(e, fresh, start_us, 0);
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes) {
  fg_engine *e = (fg_engine *)user;
  int64_t ts = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
  fg_slot *s = e->cur;
  if (s->start_us == 0) {
    begin_slot(e, s, ts - (ts % e->opts.slot_us), ts);
  } else if (ts >= s->end_us) {
    /* Files skip empty gaps; live captures emit empty slots from the wall-clock check instead. */
    rotate(e, ts - (ts % e->opts.slot_us));
    s = e->cur;
  }
  if (s->first_us == 0) s->first_us = ts;
  s->last_us = ts;
  fg_packet pkt;
  fg_parse_result r = fg_parse(e->dlt, bytes, h->caplen, &pkt);
  if (e->pipelined) {
    fg_handoff *blk = fill_block(e);
    if (fg_item_prepare(&blk->items[blk->n], s, &e->protect, r, &pkt, h->len, &e->batch.memo) &&
        ++blk->n == FG_HANDOFF_ITEMS)
      commit_block(e, FG_H_ITEMS, s);
  } else {
    fg_batch_add(&e->batch, s, &e->protect, r, &pkt, h->len);
  }
  e->stats.processed++; /* single writer; readers copy under mu and tolerate a stale value */
  if (r == FG_PARSE_MALFORMED) e->stats.malformed++;
  if (e->dumper) pcap_dump((u_char *)e->dumper, h, bytes);
}

/* Live: wait for the capture fd ourselves. With TPACKET_V3 libpcap's own poll
 * never times out on an idle link, and slots must close on time regardless. */
static int wait_readable(fg_engine *e) {
  if (e->selectable_fd < 0) return 1;
  struct pollfd pfd = {.fd = e->selectable_fd, .events = POLLIN};
  int rc = poll(&pfd, 1, e->opts.timeout_ms);
  return rc != 0;
}

static void *capture_thread(void *arg) {
  fg_engine *e = (fg_engine *)arg;
  e->capture_start_us = now_us();
  for (;;) {
    if (e->live && !wait_readable(e)) goto housekeeping;
    int rc = pcap_dispatch(e->pcap, -1, on_packet, (u_char *)e);
    if (rc == PCAP_ERROR_BREAK) break;
    if (rc == PCAP_ERROR) {
      pthread_mutex_lock(&e->mu);
      e->run_error = FG_E_PCAP;
      snprintf(e->run_errbuf, FG_ERR_LEN, "capture failed: %s", pcap_geterr(e->pcap));
      pthread_mutex_unlock(&e->mu);
      break;
    }
    if (!e->live) {
      if (rc == 0) break; /* end of file */
      continue;
    }
  housekeeping:;
    flush_items(e);
    int64_t now = now_us();
    struct pcap_stat ps;
    if (pcap_stats(e->pcap, &ps) == 0) {
      pthread_mutex_lock(&e->mu);
      e->ps = ps;
      pthread_mutex_unlock(&e->mu);
    }
    if (e->cur->start_us == 0) {
      begin_slot(e, e->cur, now - (now % e->opts.slot_us), 0);
    } else if (now >= e->cur->end_us) {
      /* Close the slot on time even when no packet arrives, so a quiet link still yields a series. */
      int64_t next = now - (now % e->opts.slot_us);
      rotate(e, next);
    }
    if (e->dumper && now - e->last_dump_flush_us > DUMP_FLUSH_US) {
      pcap_dump_flush(e->dumper);
      e->last_dump_flush_us = now;
    }
    pthread_mutex_lock(&e->mu);
    int stop = e->stopping;
    pthread_mutex_unlock(&e->mu);
    if (stop) break;
  }
  /* Deliver what was aggregated so far. */
  flush_items(e);
  if (e->cur->start_us != 0 && e->cur->totals[FG_T_PACKETS] > 0) rotate(e, 0);
  if (e->pipelined) {
    commit_block(e, FG_H_END, NULL);
    pthread_join(e->agg_thread, NULL);
  }
  if (e->dumper) pcap_dump_flush(e->dumper);
  pthread_mutex_lock(&e->mu);
  e->done = 1;
  pthread_cond_broadcast(&e->cv_ready);
  pthread_mutex_unlock(&e->mu);
  return NULL;
}

int fg_engine_start(fg_engine *e, char *err) {
  if (e->thread_started) return 0;
  /* Without the aggregator thread the reader applies updates itself: slower, still correct. */
  e->pipelined = e->opts.pipeline;
  if (e->pipelined && pthread_create(&e->agg_thread, NULL, aggregator_thread, e) != 0) e->pipelined = 0;
  int rc = pthread_create(&e->thread, NULL, capture_thread, e);
  if (rc != 0) {
    snprintf(err, FG_ERR_LEN, "cannot start capture thread: %s", strerror(rc));
    if (e->pipelined) { /* the aggregator is waiting for blocks: end it */
      commit_block(e, FG_H_END, NULL);
      pthread_join(e->agg_thread, NULL);
      e->pipelined = 0;
    }
    return -1;
  }
  e->thread_started = 1;
  return 0;
}

void fg_engine_stop(fg_engine *e) {
  pthread_mutex_lock(&e->mu);
  e->stopping = 1;
  pthread_cond_broadcast(&e->cv_space);
  pthread_mutex_unlock(&e->mu);
  pcap_breakloop(e->pcap);
}

fg_slot *fg_engine_next(fg_engine *e, int block) {
  fg_slot *s = NULL;
  pthread_mutex_lock(&e->mu);
  while (block && e->qlen == 0 && !e->done && e->thread_started) pthread_cond_wait(&e->cv_ready, &e->mu);
  if (e->qlen > 0) {
    s = e->queue[e->qhead];
    e->qhead = (e->qhead + 1) % e->opts.queue_depth;
    e->qlen--;
    pthread_cond_broadcast(&e->cv_space);
  }
  pthread_mutex_unlock(&e->mu);
  return s;
}

void fg_engine_release(fg_engine *e, fg_slot *s) {
  pthread_mutex_lock(&e->mu);
  if (e->npool < e->opts.queue_depth + 3) {
    e->pool[e->npool++] = s;
    s = NULL;
  }
  pthread_mutex_unlock(&e->mu);
  fg_slot_free(s);
}

void fg_engine_get_stats(fg_engine *e, fg_stats *out) {
  pthread_mutex_lock(&e->mu);
  *out = e->stats;
  if (e->live) {
    out->received = e->ps.ps_recv;
    out->dropped = e->ps.ps_drop;
    out->if_dropped = e->ps.ps_ifdrop;
  }
  pthread_mutex_unlock(&e->mu);
}

fg_error_code fg_engine_run_error(fg_engine *e, char *err) {
  pthread_mutex_lock(&e->mu);
  fg_error_code c = e->run_error;
  if (c != FG_E_OK) snprintf(err, FG_ERR_LEN, "%s", e->run_errbuf);
  pthread_mutex_unlock(&e->mu);
  return c;
}

void fg_engine_close(fg_engine *e) {
  if (!e) return;
  if (e->thread_started) {
    fg_engine_stop(e);
    pthread_join(e->thread, NULL);
  }
  engine_free(e);
}
