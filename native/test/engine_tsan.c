/* Drives the engine over a capture file outside Node, for ThreadSanitizer:
 * the capture thread, the aggregator thread and this consumer thread share
 * the hand-off ring, the slot queue and the pool. With a third argument it
 * stops the engine after three slots, exercising the stop path under load.
 * Prints "slots=N packets=N processed=N". */
#include <stdio.h>
#include "engine.h"

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: engine_tsan FILE [stop]\n");
    return 2;
  }
  fg_engine_opts o = {0};
  o.slot_us = 100000;
  o.max_src = 1024;
  o.max_dst = 64;
  o.queue_depth = 2;
  o.pipeline = 1;
  fg_error_code code;
  char err[FG_ERR_LEN];
  fg_engine *e = fg_engine_open_offline(argv[1], &o, &code, err);
  if (!e) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  if (fg_engine_start(e, err) != 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  unsigned long slots = 0, packets = 0;
  fg_slot *s;
  while ((s = fg_engine_next(e, 1)) != NULL) {
    slots++;
    packets += s->totals[FG_T_PACKETS];
    fg_engine_release(e, s);
    if (argc > 2 && slots == 3) fg_engine_stop(e);
  }
  fg_stats st;
  fg_engine_get_stats(e, &st);
  printf("slots=%lu packets=%lu processed=%lu\n", slots, packets, (unsigned long)st.processed);
  fg_engine_close(e);
  return 0;
}
