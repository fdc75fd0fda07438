/* Capture engine: one libpcap handle (live or file) read on its own thread,
 * packets parsed and aggregated into time slots, finished slots queued for
 * JS. Live and offline captures share this code path. */
#ifndef FG_ENGINE_H
#define FG_ENGINE_H

#include <pcap/pcap.h>
#include <pthread.h>
#include <stdint.h>

#include "agg.h"

#define FG_ERR_LEN 512
#define FG_MAX_WARNINGS 4

typedef struct {
  int64_t slot_us;
  uint32_t max_src;
  uint32_t max_dst;
  uint32_t queue_depth; /* finished slots held for JS */
  const char *filter;   /* BPF, may be NULL */
  const char *write_path;
  fg_cidr *protect;
  size_t nprotect;
  /* live only */
  int promisc;
  int snaplen;
  int buffer_size;
  int timeout_ms;
  int pipeline; /* 1: a second thread updates the tables while the capture thread reads and parses */
} fg_engine_opts;

typedef enum {
  FG_E_OK = 0,
  FG_E_NO_SUCH_DEVICE,
  FG_E_PERM_DENIED,
  FG_E_NOT_CAPTURE_FILE,
  FG_E_NO_SUCH_FILE,
  FG_E_BAD_FILTER,
  FG_E_UNSUPPORTED_LINKTYPE,
  FG_E_IFACE_DOWN,
  FG_E_WRITE_FAILED,
  FG_E_INVALID,
  FG_E_NOMEM,
  FG_E_PCAP
} fg_error_code;

typedef struct {
  uint64_t received, dropped, if_dropped;
  uint64_t processed, malformed, slots_dropped;
} fg_stats;

/* Reader → aggregator hand-off: parsed packets in blocks, and slot boundaries.
 * The reader thread reads and parses (libpcap, the parser, per-slot totals),
 * the aggregator thread updates the tables; on two cores they overlap. */
#define FG_HANDOFF_ITEMS 256
#define FG_HANDOFF_RING 8
typedef enum { FG_H_ITEMS, FG_H_PUBLISH, FG_H_END } fg_handoff_kind;
typedef struct {
  fg_handoff_kind kind;
  fg_slot *slot; /* ITEMS: the slot they belong to; PUBLISH: the finished slot */
  int n;
  fg_batch_item items[FG_HANDOFF_ITEMS];
} fg_handoff;

typedef struct fg_engine {
  pcap_t *pcap;
  pcap_dumper_t *dumper;
  int dlt;
  int live;
  int selectable_fd; /* live only; -1 where the platform has none */
  fg_engine_opts opts;
  fg_protect protect;

  pthread_t thread;
  int thread_started;
  pthread_mutex_t mu;
  pthread_cond_t cv_ready; /* a slot was queued, or the capture ended */
  pthread_cond_t cv_space; /* offline: JS took a slot, there is room again */
  fg_slot **queue;
  uint32_t qhead, qlen;
  fg_slot **pool;
  uint32_t npool;
  int stopping;
  int done;
  fg_error_code run_error;
  char run_errbuf[FG_ERR_LEN];

  /* Hand-off ring: entries rhead .. rhead+rlen-1 wait for the aggregator (under
   * hmu); ring[widx] is the block the reader fills (widx: reader only). */
  int pipelined; /* 0: the aggregator thread could not start, the reader applies inline */
  pthread_t agg_thread;
  pthread_mutex_t hmu;
  pthread_cond_t hcv_items, hcv_space;
  fg_handoff *ring;
  uint32_t rhead, rlen, widx;
  /* Half-open TCP connections across slots: used by whichever thread applies table updates. */
  fg_hs_table hs;
  /* Written by the capture (reader) thread only. */
  int64_t capture_start_us; /* live: when the capture thread started */
  fg_slot *cur;
  fg_batch batch; /* inline mode; its destination-hash memo serves both modes */
  int64_t last_dump_flush_us;
  /* Copied under mu for JS readers. */
  fg_stats stats;
  /* Live stats snapshot taken by the capture thread (pcap_stats is not thread-safe). */
  struct pcap_stat ps;
} fg_engine;

/* Open returns NULL on failure with code/message filled. warnings receives
 * pcap_activate warnings (up to FG_MAX_WARNINGS, each FG_ERR_LEN). */
fg_engine *fg_engine_open_live(const char *dev, const fg_engine_opts *o, fg_error_code *code, char *err,
                               char warnings[FG_MAX_WARNINGS][FG_ERR_LEN], int *nwarnings);
fg_engine *fg_engine_open_offline(const char *path, const fg_engine_opts *o, fg_error_code *code, char *err);

int fg_engine_start(fg_engine *e, char *err);
/* Async-signal-safe in spirit: only pcap_breakloop and a flag. */
void fg_engine_stop(fg_engine *e);
/* Wait for a finished slot (blocking). Returns the slot (caller must fg_engine_release it) or NULL when the capture is over. */
fg_slot *fg_engine_next(fg_engine *e, int block);
void fg_engine_release(fg_engine *e, fg_slot *s);
void fg_engine_get_stats(fg_engine *e, fg_stats *out);
/* Returns the error that ended the run, if any. */
fg_error_code fg_engine_run_error(fg_engine *e, char *err);
void fg_engine_close(fg_engine *e);

#endif
