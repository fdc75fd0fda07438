/* Node-API binding: a thin layer that marshals options in and slots out.
 * All policy (defaults, validation messages, decoding) lives in the TS wrapper
 * native/lib/engine.ts; this file only checks what C needs to stay safe. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <node_api.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define CALL(env, call)                                      \
  do {                                                       \
    if ((call) != napi_ok) {                                 \
      const napi_extended_error_info *info_ = NULL;          \
      napi_get_last_error_info((env), &info_);               \
      bool pending_ = false;                                 \
      napi_is_exception_pending((env), &pending_);           \
      if (!pending_)                                         \
        napi_throw_error((env), "FG_NAPI",                   \
                         info_ && info_->error_message       \
                             ? info_->error_message          \
                             : "Node-API call failed");      \
      return NULL;                                           \
    }                                                        \
  } while (0)

typedef struct {
  fg_engine *e;
  int pending; /* async next() calls in flight; each holds a reference to the handle's external */
  int close_requested;
  int finalized; /* the external was collected while a next() was in flight: its completion frees */
  uint32_t keep_src; /* export at most this many entries per slot, heaviest first */
  uint32_t keep_dst;
} handle_t;

static const char *code_name(fg_error_code c) {
  switch (c) {
    case FG_E_NO_SUCH_DEVICE: return "FG_NO_SUCH_DEVICE";
    case FG_E_PERM_DENIED: return "FG_PERM_DENIED";
    case FG_E_NOT_CAPTURE_FILE: return "FG_NOT_CAPTURE_FILE";
    case FG_E_NO_SUCH_FILE: return "FG_NO_SUCH_FILE";
    case FG_E_BAD_FILTER: return "FG_BAD_FILTER";
    case FG_E_UNSUPPORTED_LINKTYPE: return "FG_UNSUPPORTED_LINKTYPE";
    case FG_E_IFACE_DOWN: return "FG_IFACE_DOWN";
    case FG_E_WRITE_FAILED: return "FG_WRITE_FAILED";
    case FG_E_INVALID: return "FG_INVALID";
    case FG_E_NOMEM: return "FG_NOMEM";
    default: return "FG_PCAP";
  }
}

/* ---- option helpers ---- */

static int get_prop(napi_env env, napi_value obj, const char *name, napi_value *out) {
  bool has = false;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return 0;
  if (napi_get_named_property(env, obj, name, out) != napi_ok) return 0;
  napi_valuetype t;
  napi_typeof(env, *out, &t);
  return t != napi_undefined && t != napi_null;
}

static int opt_int(napi_env env, napi_value obj, const char *name, int64_t def, int64_t lo, int64_t hi, int64_t *out) {
  napi_value v;
  *out = def;
  if (!get_prop(env, obj, name, &v)) return 0;
  int64_t x;
  if (napi_get_value_int64(env, v, &x) != napi_ok || x < lo || x > hi) {
    char msg[160];
    snprintf(msg, sizeof msg, "option %s must be an integer from %lld to %lld", name, (long long)lo, (long long)hi);
    napi_throw_range_error(env, "FG_INVALID", msg);
    return -1;
  }
  *out = x;
  return 0;
}

/* Optional boolean option: 0 and *out set (def when absent), or -1 with a TypeError thrown. */
static int opt_bool(napi_env env, napi_value obj, const char *name, int def, int *out) {
  napi_value v;
  *out = def;
  if (!get_prop(env, obj, name, &v)) return 0;
  bool b = false;
  if (napi_get_value_bool(env, v, &b) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "option %s must be a boolean", name);
    napi_throw_type_error(env, "FG_INVALID", msg);
    return -1;
  }
  *out = b ? 1 : 0;
  return 0;
}

static char *opt_string(napi_env env, napi_value obj, const char *name, int *failed) {
  napi_value v;
  *failed = 0;
  if (!get_prop(env, obj, name, &v)) return NULL;
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    char msg[128];
    snprintf(msg, sizeof msg, "option %s must be a string", name);
    napi_throw_type_error(env, "FG_INVALID", msg);
    *failed = 1;
    return NULL;
  }
  char *s = malloc(len + 1);
  if (!s) {
    *failed = 1;
    return NULL;
  }
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

typedef struct {
  fg_engine_opts o;
  uint32_t keep_src;
  uint32_t keep_dst;
  char *filter;
  char *write_path;
  fg_cidr *protect;
} parsed_opts;

static void free_opts(parsed_opts *p) {
  free(p->filter);
  free(p->write_path);
  free(p->protect);
}

static int parse_opts(napi_env env, napi_value obj, parsed_opts *p) {
  memset(p, 0, sizeof(*p));
  int64_t v;
  if (opt_int(env, obj, "slotMs", 1000, 100, 60000, &v)) return -1;
  p->o.slot_us = v * 1000;
  if (opt_int(env, obj, "maxSources", 65536, 64, 1 << 24, &v)) return -1;
  p->o.max_src = (uint32_t)v;
  if (opt_int(env, obj, "maxDestinations", 4096, 8, 1 << 20, &v)) return -1;
  p->o.max_dst = (uint32_t)v;
  if (opt_int(env, obj, "queueDepth", 8, 1, 1024, &v)) return -1;
  p->o.queue_depth = (uint32_t)v;
  if (opt_int(env, obj, "keepSources", 1 << 24, 1, 1 << 24, &v)) return -1;
  p->keep_src = (uint32_t)v;
  if (opt_int(env, obj, "keepDestinations", 1 << 20, 1, 1 << 20, &v)) return -1;
  p->keep_dst = (uint32_t)v;
  if (opt_int(env, obj, "snaplen", 256, 64, 262144, &v)) return -1;
  p->o.snaplen = (int)v;
  if (opt_int(env, obj, "bufferSize", 32 << 20, 0, 1 << 30, &v)) return -1;
  p->o.buffer_size = (int)v;
  if (opt_int(env, obj, "timeoutMs", 50, 1, 10000, &v)) return -1;
  p->o.timeout_ms = (int)v;
  if (opt_bool(env, obj, "promiscuous", 0, &p->o.promisc)) return -1;
  if (opt_bool(env, obj, "pipeline", 1, &p->o.pipeline)) return -1;
  int failed = 0;
  p->filter = opt_string(env, obj, "filter", &failed);
  if (failed) return -1;
  p->write_path = opt_string(env, obj, "writeFile", &failed);
  if (failed) return -1;
  p->o.filter = p->filter;
  p->o.write_path = p->write_path;

  napi_value arr;
  if (get_prop(env, obj, "protect", &arr)) {
    bool is_arr = false;
    napi_is_array(env, arr, &is_arr);
    if (!is_arr) {
      napi_throw_type_error(env, "FG_INVALID", "option protect must be an array of addresses or CIDRs");
      return -1;
    }
    uint32_t n = 0;
    napi_get_array_length(env, arr, &n);
    if (n > 4096) {
      napi_throw_range_error(env, "FG_INVALID", "option protect holds at most 4096 entries");
      return -1;
    }
    p->protect = calloc(n ? n : 1, sizeof(fg_cidr));
    for (uint32_t i = 0; i < n; i++) {
      napi_value item;
      char buf[80];
      size_t len = 0;
      napi_get_element(env, arr, i, &item);
      if (napi_get_value_string_utf8(env, item, buf, sizeof buf, &len) != napi_ok || len >= sizeof buf - 1 ||
          fg_cidr_parse(buf, &p->protect[i]) != 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "invalid protected address or CIDR at index %u", i);
        napi_throw_type_error(env, "FG_INVALID", msg);
        return -1;
      }
    }
    p->o.protect = p->protect;
    p->o.nprotect = n;
  }
  return 0;
}

/* ---- handle ---- */

/* A next() in flight holds a reference to the external, so the collector
 * cannot finalize it then; only environment teardown still can. In that case
 * the engine is stopped and the free is left to the pending completion (which
 * may never run at exit: a leak, never a use after free). */
static void handle_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  handle_t *h = data;
  if (h->pending > 0) {
    h->finalized = 1;
    if (h->e) fg_engine_stop(h->e);
    return;
  }
  if (h->e) fg_engine_close(h->e);
  free(h);
}

static handle_t *get_handle(napi_env env, napi_value v) {
  void *data = NULL;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_external || napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "FG_INVALID", "expected a capture handle");
    return NULL;
  }
  handle_t *h = data;
  if (!h->e) {
    napi_throw_error(env, "FG_CLOSED", "capture handle is closed");
    return NULL;
  }
  return h;
}

static napi_value make_opened(napi_env env, fg_engine *e, const parsed_opts *po, char warnings[][FG_ERR_LEN],
                              int nwarn) {
  handle_t *h = calloc(1, sizeof(handle_t));
  if (!h) {
    fg_engine_close(e);
    napi_throw_error(env, "FG_NOMEM", "out of memory");
    return NULL;
  }
  h->e = e;
  h->keep_src = po->keep_src;
  h->keep_dst = po->keep_dst;
  napi_value obj, ext, lt, ltname, warr;
  CALL(env, napi_create_object(env, &obj));
  CALL(env, napi_create_external(env, h, handle_finalize, NULL, &ext));
  CALL(env, napi_create_int32(env, e->dlt, &lt));
  const char *name = pcap_datalink_val_to_name(e->dlt);
  CALL(env, napi_create_string_utf8(env, name ? name : "unknown", NAPI_AUTO_LENGTH, &ltname));
  CALL(env, napi_create_array_with_length(env, (size_t)nwarn, &warr));
  for (int i = 0; i < nwarn; i++) {
    napi_value w;
    CALL(env, napi_create_string_utf8(env, warnings[i], NAPI_AUTO_LENGTH, &w));
    CALL(env, napi_set_element(env, warr, (uint32_t)i, w));
  }
  CALL(env, napi_set_named_property(env, obj, "handle", ext));
  CALL(env, napi_set_named_property(env, obj, "linktype", lt));
  CALL(env, napi_set_named_property(env, obj, "linktypeName", ltname));
  CALL(env, napi_set_named_property(env, obj, "warnings", warr));
  return obj;
}

static napi_value js_open_live(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, "FG_INVALID", "openLive(interface, options) takes two arguments");
    return NULL;
  }
  char dev[256];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], dev, sizeof dev, &len) != napi_ok || len == 0 || len >= sizeof dev - 1) {
    napi_throw_type_error(env, "FG_INVALID", "interface must be a non-empty string");
    return NULL;
  }
  parsed_opts po;
  if (parse_opts(env, argv[1], &po) != 0) {
    free_opts(&po);
    return NULL;
  }
  fg_error_code code = FG_E_OK;
  char err[FG_ERR_LEN] = {0};
  char warnings[FG_MAX_WARNINGS][FG_ERR_LEN];
  int nwarn = 0;
  fg_engine *e = fg_engine_open_live(dev, &po.o, &code, err, warnings, &nwarn);
  free_opts(&po);
  if (!e) {
    napi_throw_error(env, code_name(code), err);
    return NULL;
  }
  return make_opened(env, e, &po, warnings, nwarn);
}

static napi_value js_open_offline(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, "FG_INVALID", "openOffline(path, options) takes two arguments");
    return NULL;
  }
  int failed = 0;
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok || len == 0) failed = 1;
  char *path = failed ? NULL : malloc(len + 1);
  if (!path) {
    napi_throw_type_error(env, "FG_INVALID", "path must be a non-empty string");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[0], path, len + 1, &len);
  parsed_opts po;
  if (parse_opts(env, argv[1], &po) != 0) {
    free_opts(&po);
    free(path);
    return NULL;
  }
  fg_error_code code = FG_E_OK;
  char err[FG_ERR_LEN] = {0};
  fg_engine *e = fg_engine_open_offline(path, &po.o, &code, err);
  free_opts(&po);
  free(path);
  if (!e) {
    napi_throw_error(env, code_name(code), err);
    return NULL;
  }
  return make_opened(env, e, &po, NULL, 0);
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = get_handle(env, argv[0]);
  if (!h) return NULL;
  char err[FG_ERR_LEN];
  if (fg_engine_start(h->e, err) != 0) {
    napi_throw_error(env, "FG_PCAP", err);
    return NULL;
  }
  return NULL;
}

static napi_value js_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = get_handle(env, argv[0]);
  if (!h) return NULL;
  fg_engine_stop(h->e);
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *data = NULL;
  if (napi_get_value_external(env, argv[0], &data) != napi_ok || !data) {
    napi_throw_type_error(env, "FG_INVALID", "expected a capture handle");
    return NULL;
  }
  handle_t *h = data;
  if (!h->e) return NULL; /* idempotent */
  if (h->pending > 0) {
    /* A next() is waiting in the thread pool: stop now, free when it completes. */
    h->close_requested = 1;
    fg_engine_stop(h->e);
    return NULL;
  }
  fg_engine_close(h->e);
  h->e = NULL;
  return NULL;
}

static napi_value make_f64(napi_env env, size_t n, double **data) {
  napi_value ab, ta;
  void *raw = NULL;
  if (napi_create_arraybuffer(env, n * sizeof(double), &raw, &ab) != napi_ok) return NULL;
  if (napi_create_typedarray(env, napi_float64_array, n, ab, 0, &ta) != napi_ok) return NULL;
  *data = raw;
  return ta;
}

static napi_value make_u8(napi_env env, size_t n, uint8_t **data) {
  napi_value ab, ta;
  void *raw = NULL;
  if (napi_create_arraybuffer(env, n, &raw, &ab) != napi_ok) return NULL;
  if (napi_create_typedarray(env, napi_uint8_array, n, ab, 0, &ta) != napi_ok) return NULL;
  *data = raw;
  return ta;
}

static napi_value make_u32(napi_env env, size_t n, uint32_t **data) {
  napi_value ab, ta;
  void *raw = NULL;
  if (napi_create_arraybuffer(env, n * sizeof(uint32_t), &raw, &ab) != napi_ok) return NULL;
  if (napi_create_typedarray(env, napi_uint32_array, n, ab, 0, &ta) != napi_ok) return NULL;
  *data = raw;
  return ta;
}

static void fill_counters(double *d, const fg_table *t, uint32_t i) {
  const fg_entry *c = &t->entries[i];
  d[FG_C_COUNT] = fg_table_count(t, i);
  d[FG_C_PACKETS] = c->packets;
  d[FG_C_BYTES] = (double)c->bytes;
  d[FG_C_TCP] = c->tcp;
  d[FG_C_UDP] = c->udp;
  d[FG_C_ICMP] = c->icmp;
  d[FG_C_OTHER] = c->other;
  d[FG_C_SYN] = c->syn;
  d[FG_C_SYNACK] = c->synack;
  d[FG_C_ACK] = c->ack;
  d[FG_C_RST] = c->rst;
  d[FG_C_FRAG] = c->frag;
  d[FG_C_FIN] = c->fin;
  d[FG_C_SYN_ECN] = c->syn_ecn;
  d[FG_C_BAD_FLAGS] = c->bad_flags;
  d[FG_C_HANDSHAKES] = c->handshakes;
  d[FG_C_OUT_PACKETS] = c->out_packets;
  d[FG_C_OUT_BYTES] = (double)c->out_bytes;
  d[FG_C_OUT_SYN] = c->out_syn;
  d[FG_C_OUT_SYNACK] = c->out_synack;
  d[FG_C_OUT_RST] = c->out_rst;
  d[FG_C_UDP_SPORT] = c->udp_sport;
  d[FG_C_UDP_SPORT_PACKETS] = c->udp_sport_packets;
  d[FG_C_TCP_NULL] = c->tcp_null;
  d[FG_C_SYN_FIN] = c->syn_fin;
  d[FG_C_PSH] = c->psh;
}

/* One table as {count, keys: Uint8Array(n*16), counters: Float64Array(n*FG_C_N)[, ports, sketches]}. */
static napi_value table_to_js(napi_env env, const fg_table *t, uint32_t limit) {
  uint32_t cap = t->nbuckets * FG_WAYS;
  uint32_t *idx = malloc((size_t)cap * sizeof(uint32_t));
  if (!idx) {
    napi_throw_error(env, "FG_NOMEM", "out of memory exporting a slot");
    return NULL;
  }
  uint32_t n = fg_table_top(t, limit, idx);
  napi_value obj, count, keys, counters;
  uint8_t *kd = NULL;
  double *cd = NULL;
  napi_create_object(env, &obj);
  napi_create_uint32(env, n, &count);
  keys = make_u8(env, (size_t)n * 16, &kd);
  counters = make_f64(env, (size_t)n * FG_C_N, &cd);
  if (!keys || !counters) {
    free(idx);
    return NULL;
  }
  napi_value ports = NULL, sketches = NULL;
  uint32_t *pd = NULL;
  uint8_t *sd = NULL;
  if (t->ext) {
    ports = make_u32(env, (size_t)n * FG_P_N * FG_PORT_TOPK * 2, &pd);
    sketches = make_u8(env, (size_t)n * FG_DST_HLL_REGS, &sd);
    if (!ports || !sketches) {
      free(idx);
      return NULL;
    }
  }
  for (uint32_t j = 0; j < n; j++) {
    uint32_t i = idx[j];
    const fg_key *k = &t->entries[i].key;
    memcpy(kd + (size_t)j * 16, &k->hi, 8);
    memcpy(kd + (size_t)j * 16 + 8, &k->lo, 8);
    fill_counters(cd + (size_t)j * FG_C_N, t, i);
    if (t->ext) {
      const fg_dst_ext *x = &t->ext[i];
      uint32_t *o = pd + (size_t)j * FG_P_N * FG_PORT_TOPK * 2;
      for (int p = 0; p < FG_P_N; p++)
        for (int q = 0; q < FG_PORT_TOPK; q++) {
          *o++ = x->ports[p].port[q];
          *o++ = x->ports[p].count[q];
        }
      memcpy(sd + (size_t)j * FG_DST_HLL_REGS, x->hll, FG_DST_HLL_REGS);
    }
  }
  free(idx);
  napi_set_named_property(env, obj, "count", count);
  napi_set_named_property(env, obj, "keys", keys);
  napi_set_named_property(env, obj, "counters", counters);
  if (t->ext) {
    napi_set_named_property(env, obj, "ports", ports);
    napi_set_named_property(env, obj, "sketches", sketches);
  }
  return obj;
}

static napi_value slot_to_js(napi_env env, const fg_slot *s, const handle_t *h) {
  napi_value obj, start, end, cover_start, cover_end, first, last, totals, sketch, src, dst;
  double *td = NULL;
  uint8_t *hd = NULL;
  CALL(env, napi_create_object(env, &obj));
  CALL(env, napi_create_double(env, (double)s->start_us / 1000.0, &start));
  CALL(env, napi_create_double(env, (double)s->end_us / 1000.0, &end));
  CALL(env, napi_create_double(env, (double)s->cover_start_us / 1000.0, &cover_start));
  CALL(env, napi_create_double(env, (double)s->cover_end_us / 1000.0, &cover_end));
  CALL(env, napi_create_double(env, (double)s->first_us / 1000.0, &first));
  CALL(env, napi_create_double(env, (double)s->last_us / 1000.0, &last));
  totals = make_f64(env, FG_T_N, &td);
  sketch = make_u8(env, FG_SLOT_HLL_REGS, &hd);
  if (!totals || !sketch) return NULL;
  for (int i = 0; i < FG_T_N; i++) td[i] = (double)s->totals[i];
  memcpy(hd, s->hll, FG_SLOT_HLL_REGS);
  src = table_to_js(env, &s->src, h->keep_src);
  if (!src) return NULL;
  dst = table_to_js(env, &s->dst, h->keep_dst);
  if (!dst) return NULL;
  CALL(env, napi_set_named_property(env, obj, "start", start));
  CALL(env, napi_set_named_property(env, obj, "end", end));
  CALL(env, napi_set_named_property(env, obj, "coverStart", cover_start));
  CALL(env, napi_set_named_property(env, obj, "coverEnd", cover_end));
  CALL(env, napi_set_named_property(env, obj, "firstPacket", first));
  CALL(env, napi_set_named_property(env, obj, "lastPacket", last));
  CALL(env, napi_set_named_property(env, obj, "totals", totals));
  CALL(env, napi_set_named_property(env, obj, "sketch", sketch));
  CALL(env, napi_set_named_property(env, obj, "sources", src));
  CALL(env, napi_set_named_property(env, obj, "destinations", dst));
  return obj;
}

/* poll(handle): a finished slot or null, without waiting. */
static napi_value js_poll(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = get_handle(env, argv[0]);
  if (!h) return NULL;
  fg_slot *s = fg_engine_next(h->e, 0);
  if (!s) {
    napi_value nul;
    napi_get_null(env, &nul);
    return nul;
  }
  napi_value out = slot_to_js(env, s, h);
  fg_engine_release(h->e, s);
  return out;
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref handle_ref; /* keeps the handle's external (and so h) alive until next_complete */
  handle_t *h;
  fg_slot *slot;
} next_req;

static void next_execute(napi_env env, void *data) {
  (void)env;
  next_req *r = data;
  r->slot = fg_engine_next(r->h->e, 1);
}

static void next_complete(napi_env env, napi_status status, void *data) {
  next_req *r = data;
  handle_t *h = r->h;
  h->pending--;
  napi_value result = NULL;
  if (status == napi_ok && r->slot) {
    if (!h->finalized) result = slot_to_js(env, r->slot, h);
    fg_engine_release(h->e, r->slot);
  }
  if (result) {
    napi_resolve_deferred(env, r->deferred, result);
  } else {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_reject_deferred(env, r->deferred, exc);
    } else {
      napi_value nul;
      napi_get_null(env, &nul);
      napi_resolve_deferred(env, r->deferred, nul);
    }
  }
  napi_delete_async_work(env, r->work);
  if (r->handle_ref) napi_delete_reference(env, r->handle_ref);
  free(r);
  if ((h->close_requested || h->finalized) && h->pending == 0 && h->e) {
    fg_engine_close(h->e);
    h->e = NULL;
  }
  if (h->finalized && h->pending == 0) free(h);
}

/* next(handle): Promise of the next finished slot, or null when the capture has ended. */
static napi_value js_next(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = get_handle(env, argv[0]);
  if (!h) return NULL;
  next_req *r = calloc(1, sizeof(next_req));
  if (!r) {
    napi_throw_error(env, "FG_NOMEM", "out of memory");
    return NULL;
  }
  r->h = h;
  napi_value promise, name;
  /* While the work is in the thread pool nothing else may keep the handle
   * reachable (the caller may drop the capture): hold it ourselves. */
  if (napi_create_reference(env, argv[0], 1, &r->handle_ref) != napi_ok ||
      napi_create_promise(env, &r->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "floodgate.next", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, next_execute, next_complete, r, &r->work) != napi_ok ||
      napi_queue_async_work(env, r->work) != napi_ok) {
    if (r->work) napi_delete_async_work(env, r->work);
    if (r->handle_ref) napi_delete_reference(env, r->handle_ref);
    free(r);
    napi_throw_error(env, "FG_NAPI", "cannot queue next()");
    return NULL;
  }
  h->pending++;
  return promise;
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle_t *h = get_handle(env, argv[0]);
  if (!h) return NULL;
  fg_stats st;
  fg_engine_get_stats(h->e, &st);
  char err[FG_ERR_LEN] = {0};
  fg_error_code ec = fg_engine_run_error(h->e, err);
  napi_value obj, v;
  CALL(env, napi_create_object(env, &obj));
#define SETN(name, val)                                       \
  CALL(env, napi_create_double(env, (double)(val), &v));      \
  CALL(env, napi_set_named_property(env, obj, name, v));
  SETN("received", st.received);
  SETN("dropped", st.dropped);
  SETN("ifDropped", st.if_dropped);
  SETN("processed", st.processed);
  SETN("malformed", st.malformed);
  SETN("slotsDropped", st.slots_dropped);
#undef SETN
  if (ec != FG_E_OK) {
    CALL(env, napi_create_string_utf8(env, err, NAPI_AUTO_LENGTH, &v));
    CALL(env, napi_set_named_property(env, obj, "error", v));
  }
  return obj;
}

/* parse(linktype, buffer): one frame through the C parser, for tests and diagnostics. */
static napi_value js_parse(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t dlt;
  void *data = NULL;
  size_t len = 0;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &dlt) != napi_ok ||
      napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, "FG_INVALID", "parse(linktype, buffer)");
    return NULL;
  }
  fg_packet p;
  fg_parse_result r = fg_parse(dlt, data, (uint32_t)len, &p);
  napi_value obj, v;
  CALL(env, napi_create_object(env, &obj));
  const char *rs = r == FG_PARSE_OK ? "ok" : r == FG_PARSE_NON_IP ? "non-ip" : "malformed";
  CALL(env, napi_create_string_utf8(env, rs, NAPI_AUTO_LENGTH, &v));
  CALL(env, napi_set_named_property(env, obj, "result", v));
  if (r == FG_PARSE_OK) {
    napi_value src, dst;
    uint8_t *sd = NULL, *dd = NULL;
    src = make_u8(env, 16, &sd);
    dst = make_u8(env, 16, &dd);
    if (!src || !dst) return NULL;
    memcpy(sd, p.src, 16);
    memcpy(dd, p.dst, 16);
    CALL(env, napi_set_named_property(env, obj, "src", src));
    CALL(env, napi_set_named_property(env, obj, "dst", dst));
#define SETI(name, val)                                  \
  CALL(env, napi_create_uint32(env, (uint32_t)(val), &v)); \
  CALL(env, napi_set_named_property(env, obj, name, v));
    SETI("family", p.family);
    SETI("proto", p.proto);
    SETI("tcpFlags", p.tcp_flags);
    SETI("fragment", p.fragment);
    SETI("hasPorts", p.has_ports);
    SETI("sport", p.sport);
    SETI("dport", p.dport);
#undef SETI
  }
  return obj;
}

static napi_value js_interfaces(napi_env env, napi_callback_info info) {
  (void)info;
  pcap_if_t *all = NULL;
  char ebuf[PCAP_ERRBUF_SIZE] = {0};
  if (pcap_findalldevs(&all, ebuf) != 0) {
    napi_throw_error(env, "FG_PCAP", ebuf);
    return NULL;
  }
  napi_value arr;
  CALL(env, napi_create_array(env, &arr));
  uint32_t i = 0;
  for (pcap_if_t *d = all; d; d = d->next) {
    napi_value o, v;
    CALL(env, napi_create_object(env, &o));
    CALL(env, napi_create_string_utf8(env, d->name, NAPI_AUTO_LENGTH, &v));
    CALL(env, napi_set_named_property(env, o, "name", v));
    CALL(env, napi_get_boolean(env, (d->flags & PCAP_IF_LOOPBACK) != 0, &v));
    CALL(env, napi_set_named_property(env, o, "loopback", v));
    CALL(env, napi_get_boolean(env, (d->flags & PCAP_IF_UP) != 0, &v));
    CALL(env, napi_set_named_property(env, o, "up", v));
    /* Addresses regardless of carrier state, unlike os.networkInterfaces(). */
    napi_value addrs;
    CALL(env, napi_create_array(env, &addrs));
    uint32_t j = 0;
    for (pcap_addr_t *a = d->addresses; a; a = a->next) {
      char text[INET6_ADDRSTRLEN] = {0};
      if (!a->addr) continue;
      if (a->addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)a->addr)->sin_addr, text, sizeof text);
      else if (a->addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)a->addr)->sin6_addr, text, sizeof text);
      else
        continue;
      CALL(env, napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &v));
      CALL(env, napi_set_element(env, addrs, j++, v));
    }
    CALL(env, napi_set_named_property(env, o, "addresses", addrs));
    CALL(env, napi_set_element(env, arr, i++, o));
  }
  pcap_freealldevs(all);
  return arr;
}

static napi_value string_array(napi_env env, const char *const *names, uint32_t n) {
  napi_value arr, v;
  CALL(env, napi_create_array_with_length(env, n, &arr));
  for (uint32_t i = 0; i < n; i++) {
    CALL(env, napi_create_string_utf8(env, names[i], NAPI_AUTO_LENGTH, &v));
    CALL(env, napi_set_element(env, arr, i, v));
  }
  return arr;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"openLive", NULL, js_open_live, NULL, NULL, NULL, napi_default, NULL},
      {"openOffline", NULL, js_open_offline, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"next", NULL, js_next, NULL, NULL, NULL, napi_default, NULL},
      {"poll", NULL, js_poll, NULL, NULL, NULL, napi_default, NULL},
      {"stop", NULL, js_stop, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"parse", NULL, js_parse, NULL, NULL, NULL, napi_default, NULL},
      {"interfaces", NULL, js_interfaces, NULL, NULL, NULL, napi_default, NULL},
  };
  CALL(env, napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns));
  napi_value v;
  v = string_array(env, fg_counter_names, FG_C_N);
  CALL(env, napi_set_named_property(env, exports, "counterNames", v));
  v = string_array(env, fg_total_names, FG_T_N);
  CALL(env, napi_set_named_property(env, exports, "totalNames", v));
  CALL(env, napi_create_uint32(env, FG_PORT_TOPK, &v));
  CALL(env, napi_set_named_property(env, exports, "portTopK", v));
  CALL(env, napi_create_uint32(env, FG_P_N, &v));
  CALL(env, napi_set_named_property(env, exports, "portLists", v));
  CALL(env, napi_create_uint32(env, FG_SLOT_HLL_REGS, &v));
  CALL(env, napi_set_named_property(env, exports, "slotSketchRegisters", v));
  CALL(env, napi_create_uint32(env, FG_DST_HLL_REGS, &v));
  CALL(env, napi_set_named_property(env, exports, "destSketchRegisters", v));
  CALL(env, napi_create_string_utf8(env, pcap_lib_version(), NAPI_AUTO_LENGTH, &v));
  CALL(env, napi_set_named_property(env, exports, "libpcapVersion", v));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
