/* libFuzzer target for the packet parser and the aggregation path.
 * Input: byte 0 picks the link type, the rest is one captured frame.
 * The frame is copied into an exact-size heap buffer so ASan catches any
 * read past caplen. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/agg.h"
#include "../src/parse.h"

static const int dlts[] = {FG_DLT_NULL,   FG_DLT_EN10MB, FG_DLT_RAW_LINUX, FG_DLT_RAW_OPENBSD, FG_DLT_RAW,
                           FG_DLT_LOOP,   FG_DLT_LINUX_SLL, FG_DLT_IPV4,    FG_DLT_IPV6,        FG_DLT_LINUX_SLL2};

static fg_slot *slot;
static fg_hs_table hs;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  if (!slot) {
    slot = fg_slot_new(256, 64); /* small tables so eviction paths run too */
    fg_hs_init(&hs, 64);
  }
  int dlt = dlts[data[0] % (sizeof dlts / sizeof dlts[0])];
  size_t n = size - 1;
  uint8_t *frame = malloc(n ? n : 1);
  if (!frame) return 0;
  if (n) memcpy(frame, data + 1, n);
  fg_packet p;
  fg_parse_result r = fg_parse(dlt, n ? frame : NULL, (uint32_t)n, &p);
  /* Alternate the protected set so inbound, outbound and handshake paths all run. */
  static const char *const protect_text[] = {"0.0.0.0/1", "8000::/1"};
  static fg_cidr protect_cidrs[2];
  static int parsed;
  if (!parsed) {
    for (int i = 0; i < 2; i++) fg_cidr_parse(protect_text[i], &protect_cidrs[i]);
    parsed = 1;
  }
  fg_protect none = {0};
  fg_protect some = {protect_cidrs, 2};
  fg_slot_account(slot, &hs, (data[0] & 0x80) ? &some : &none, r, &p, (uint32_t)n);
  free(frame);
  return 0;
}
