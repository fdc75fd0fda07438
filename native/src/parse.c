#include "parse.h"

#include <string.h>

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8
#define ETHERTYPE_QINQ_OLD 0x9100
#define MAX_VLAN_TAGS 4
#define MAX_IPV6_EXT 8

static const uint8_t V4_MAPPED_PREFIX[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t rd32be(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int fg_dlt_supported(int dlt) {
  switch (dlt) {
    case FG_DLT_NULL: case FG_DLT_EN10MB: case FG_DLT_RAW_LINUX: case FG_DLT_RAW_OPENBSD:
    case FG_DLT_RAW: case FG_DLT_LOOP: case FG_DLT_LINUX_SLL: case FG_DLT_IPV4:
    case FG_DLT_IPV6: case FG_DLT_LINUX_SLL2:
      return 1;
    default:
      return 0;
  }
}

/* L4 header parse, bounded by [p, end). Only called for unfragmented or first fragments. */
static fg_parse_result parse_l4(const uint8_t *p, const uint8_t *end, uint8_t proto, fg_packet *out) {
  size_t avail = (size_t)(end - p);
  out->proto = proto;
  switch (proto) {
    case 6: /* TCP: ports and flags need the fixed 20 bytes; options are never read. */
      if (avail < 20) return FG_PARSE_MALFORMED;
      if ((p[12] >> 4) < 5) return FG_PARSE_MALFORMED;
      out->l4 = FG_L4_TCP;
      out->sport = rd16(p);
      out->dport = rd16(p + 2);
      out->tcp_flags = p[13];
      out->seq = rd32be(p + 4);
      out->ack = rd32be(p + 8);
      out->has_ports = 1;
      return FG_PARSE_OK;
    case 17:
      if (avail < 8) return FG_PARSE_MALFORMED;
      out->l4 = FG_L4_UDP;
      out->sport = rd16(p);
      out->dport = rd16(p + 2);
      out->has_ports = 1;
      return FG_PARSE_OK;
    case 1:
    case 58:
      if (avail < 4) return FG_PARSE_MALFORMED;
      out->l4 = FG_L4_ICMP;
      return FG_PARSE_OK;
    default:
      out->l4 = FG_L4_OTHER;
      return FG_PARSE_OK;
  }
}

static fg_parse_result parse_ipv4(const uint8_t *p, const uint8_t *end, fg_packet *out) {
  size_t avail = (size_t)(end - p);
  if (avail < 20) return FG_PARSE_MALFORMED;
  if ((p[0] >> 4) != 4) return FG_PARSE_MALFORMED;
  size_t ihl = (size_t)(p[0] & 0x0f) * 4;
  if (ihl < 20 || ihl > avail) return FG_PARSE_MALFORMED;
  size_t total = rd16(p + 2);
  if (total < ihl) return FG_PARSE_MALFORMED;
  /* Ethernet pads short frames: the IP total length bounds L4, the capture bounds it too. */
  if (total < avail) end = p + total;

  out->family = 4;
  memcpy(out->src, V4_MAPPED_PREFIX, 12);
  memcpy(out->src + 12, p + 12, 4);
  memcpy(out->dst, V4_MAPPED_PREFIX, 12);
  memcpy(out->dst + 12, p + 16, 4);

  uint16_t frag = rd16(p + 6);
  uint16_t offset = frag & 0x1fff;
  int more = (frag & 0x2000) != 0;
  out->fragment = (offset != 0 || more) ? 1 : 0;
  if (offset != 0) { /* non-first fragment: no L4 header to read */
    out->proto = p[9];
    out->l4 = FG_L4_OTHER;
    return FG_PARSE_OK;
  }
  return parse_l4(p + ihl, end, p[9], out);
}

static fg_parse_result parse_ipv6(const uint8_t *p, const uint8_t *end, fg_packet *out) {
  size_t avail = (size_t)(end - p);
  if (avail < 40) return FG_PARSE_MALFORMED;
  if ((p[0] >> 4) != 6) return FG_PARSE_MALFORMED;
  size_t payload = rd16(p + 4);
  /* A zero payload length with data present is a jumbogram; otherwise bound by it. */
  if (payload != 0 && 40 + payload < avail) end = p + 40 + payload;

  out->family = 6;
  memcpy(out->src, p + 8, 16);
  memcpy(out->dst, p + 24, 16);

  uint8_t next = p[6];
  const uint8_t *h = p + 40;
  for (int i = 0; i <= MAX_IPV6_EXT; i++) {
    size_t left = (size_t)(end - h);
    switch (next) {
      case 0:   /* hop-by-hop */
      case 43:  /* routing */
      case 60:  /* destination options */
      case 135: /* mobility */
      case 139: /* HIP */
      case 140: /* shim6 */
      {
        if (left < 8) return FG_PARSE_MALFORMED;
        size_t len = ((size_t)h[1] + 1) * 8;
        if (len > left) return FG_PARSE_MALFORMED;
        next = h[0];
        h += len;
        break;
      }
      case 51: { /* AH: length in 4-octet units minus 2 */
        if (left < 8) return FG_PARSE_MALFORMED;
        size_t len = ((size_t)h[1] + 2) * 4;
        if (len > left) return FG_PARSE_MALFORMED;
        next = h[0];
        h += len;
        break;
      }
      case 44: { /* fragment header, fixed 8 bytes */
        if (left < 8) return FG_PARSE_MALFORMED;
        uint16_t off = (uint16_t)(rd16(h + 2) >> 3);
        int more = h[3] & 1;
        if (off != 0 || more) out->fragment = 1;
        next = h[0];
        h += 8;
        if (off != 0) {
          out->proto = next;
          out->l4 = FG_L4_OTHER;
          return FG_PARSE_OK;
        }
        break;
      }
      case 59: /* no next header */
        out->proto = 59;
        out->l4 = FG_L4_OTHER;
        return FG_PARSE_OK;
      default:
        return parse_l4(h, end, next, out);
    }
  }
  return FG_PARSE_MALFORMED; /* extension chain longer than any sane packet carries */
}

static fg_parse_result parse_ip_by_version(const uint8_t *p, const uint8_t *end, fg_packet *out) {
  if (p >= end) return FG_PARSE_MALFORMED;
  switch (p[0] >> 4) {
    case 4: return parse_ipv4(p, end, out);
    case 6: return parse_ipv6(p, end, out);
    default: return FG_PARSE_MALFORMED;
  }
}

static fg_parse_result parse_ethertype(uint16_t type, const uint8_t *p, const uint8_t *end, fg_packet *out) {
  for (int tags = 0; type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ || type == ETHERTYPE_QINQ_OLD; tags++) {
    if (tags >= MAX_VLAN_TAGS) return FG_PARSE_MALFORMED;
    if ((size_t)(end - p) < 4) return FG_PARSE_MALFORMED;
    type = rd16(p + 2);
    p += 4;
  }
  if (type == ETHERTYPE_IPV4) return parse_ipv4(p, end, out);
  if (type == ETHERTYPE_IPV6) return parse_ipv6(p, end, out);
  return FG_PARSE_NON_IP;
}

/* BSD loopback family values for IPv6 differ by OS: 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS). */
static fg_parse_result parse_null_family(uint32_t family, const uint8_t *p, const uint8_t *end, fg_packet *out) {
  switch (family) {
    case 2: return parse_ipv4(p, end, out);
    case 24: case 28: case 30: return parse_ipv6(p, end, out);
    default: return FG_PARSE_NON_IP;
  }
}

fg_parse_result fg_parse(int dlt, const uint8_t *data, uint32_t caplen, fg_packet *out) {
  memset(out, 0, sizeof(*out));
  if (data == NULL || caplen == 0) return FG_PARSE_MALFORMED;
  const uint8_t *end = data + caplen;

  switch (dlt) {
    case FG_DLT_EN10MB: {
      if (caplen < 14) return FG_PARSE_MALFORMED;
      uint16_t type = rd16(data + 12);
      if (type <= 1500) return FG_PARSE_NON_IP; /* 802.3 length field: LLC/SNAP, not IP here */
      return parse_ethertype(type, data + 14, end, out);
    }
    case FG_DLT_LINUX_SLL:
      if (caplen < 16) return FG_PARSE_MALFORMED;
      return parse_ethertype(rd16(data + 14), data + 16, end, out);
    case FG_DLT_LINUX_SLL2:
      if (caplen < 20) return FG_PARSE_MALFORMED;
      return parse_ethertype(rd16(data), data + 20, end, out);
    case FG_DLT_NULL: {
      if (caplen < 4) return FG_PARSE_MALFORMED;
      /* Host byte order of the capturing machine, which may not be ours: accept both. */
      uint32_t le = (uint32_t)data[0] | ((uint32_t)data[1] << 8) | ((uint32_t)data[2] << 16) | ((uint32_t)data[3] << 24);
      uint32_t be = rd32be(data);
      uint32_t family = (le & 0xffff0000u) == 0 ? le : be;
      return parse_null_family(family, data + 4, end, out);
    }
    case FG_DLT_LOOP:
      if (caplen < 4) return FG_PARSE_MALFORMED;
      return parse_null_family(rd32be(data), data + 4, end, out);
    case FG_DLT_RAW_LINUX:
    case FG_DLT_RAW_OPENBSD:
    case FG_DLT_RAW:
      return parse_ip_by_version(data, end, out);
    case FG_DLT_IPV4:
      return parse_ipv4(data, end, out);
    case FG_DLT_IPV6:
      return parse_ipv6(data, end, out);
    default:
      return FG_PARSE_NON_IP;
  }
}
