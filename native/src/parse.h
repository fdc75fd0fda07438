/* Bounds-checked packet parser: link layer -> IP -> L4 header fields.
 * Pure and allocation-free so it can be fuzzed on its own (native/fuzz). */
#ifndef FG_PARSE_H
#define FG_PARSE_H

#include <stdint.h>

/* DLT values as libpcap reports them from pcap_datalink(). */
#define FG_DLT_NULL 0
#define FG_DLT_EN10MB 1
#define FG_DLT_RAW_LINUX 12
#define FG_DLT_RAW_OPENBSD 14
#define FG_DLT_RAW 101
#define FG_DLT_LOOP 108
#define FG_DLT_LINUX_SLL 113
#define FG_DLT_IPV4 228
#define FG_DLT_IPV6 229
#define FG_DLT_LINUX_SLL2 276

#define FG_TCP_FIN 0x01
#define FG_TCP_SYN 0x02
#define FG_TCP_RST 0x04
#define FG_TCP_PSH 0x08
#define FG_TCP_ACK 0x10
#define FG_TCP_URG 0x20
#define FG_TCP_ECE 0x40
#define FG_TCP_CWR 0x80

typedef enum {
  FG_PARSE_OK = 0,
  FG_PARSE_NON_IP = 1,   /* well-formed frame without IP (ARP, LLDP, ...) */
  FG_PARSE_MALFORMED = 2 /* headers do not fit in caplen, or are invalid */
} fg_parse_result;

typedef struct {
  /* IPv4 addresses are stored v4-mapped (::ffff:a.b.c.d) so one key type serves both families. */
  uint8_t src[16];
  uint8_t dst[16];
  uint8_t family;     /* 4 or 6 */
  uint8_t proto;      /* IP protocol number after IPv6 extension headers */
  uint8_t l4;         /* FG_L4_* class */
  uint8_t tcp_flags;
  uint8_t fragment;   /* 1 for any fragment (first or not) */
  uint8_t has_ports;
  uint16_t sport;
  uint16_t dport;
  uint32_t seq; /* TCP sequence and acknowledgement numbers (0 for other protocols) */
  uint32_t ack;
} fg_packet;

enum { FG_L4_OTHER = 0, FG_L4_TCP = 1, FG_L4_UDP = 2, FG_L4_ICMP = 3 };

/* Parse one captured frame. Never reads data[caplen] or beyond. */
fg_parse_result fg_parse(int dlt, const uint8_t *data, uint32_t caplen, fg_packet *out);

/* 1 if libpcap's DLT is one the parser understands. */
int fg_dlt_supported(int dlt);

#endif
