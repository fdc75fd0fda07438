/* Turns capture files into fuzzer seeds: one file per packet, prefixed with the link-type selector byte. */
#include <pcap/pcap.h>
#include <stdio.h>

#include "../src/parse.h"

static int selector(int dlt) {
  static const int dlts[] = {FG_DLT_NULL, FG_DLT_EN10MB, FG_DLT_RAW_LINUX, FG_DLT_RAW_OPENBSD, FG_DLT_RAW,
                             FG_DLT_LOOP, FG_DLT_LINUX_SLL, FG_DLT_IPV4, FG_DLT_IPV6, FG_DLT_LINUX_SLL2};
  for (int i = 0; i < (int)(sizeof dlts / sizeof dlts[0]); i++)
    if (dlts[i] == dlt) return i;
  return -1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: make_seeds OUTDIR FILE...\n");
    return 2;
  }
  int written = 0;
  for (int a = 2; a < argc; a++) {
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(argv[a], err);
    if (!p) {
      fprintf(stderr, "skip %s: %s\n", argv[a], err);
      continue;
    }
    int sel = selector(pcap_datalink(p));
    struct pcap_pkthdr *h;
    const u_char *d;
    int i = 0;
    while (sel >= 0 && pcap_next_ex(p, &h, &d) == 1 && i < 64) {
      char path[4096];
      snprintf(path, sizeof path, "%s/seed-%d-%d", argv[1], a, i++);
      FILE *f = fopen(path, "wb");
      if (!f) continue;
      fputc(sel, f);
      fwrite(d, 1, h->caplen, f);
      fclose(f);
      written++;
    }
    pcap_close(p);
  }
  printf("%d seeds\n", written);
  return 0;
}
