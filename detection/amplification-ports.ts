// UDP services abused for reflection/amplification, keyed by the source port
// the reflected traffic arrives from. Sources: US-CERT TA14-017A and the
// vectors seen in public DDoS reports (CLDAP, memcached, WS-Discovery, ARD,
// DVR, ...). A victim whose UDP traffic mostly comes from one of these ports
// is being hit by reflectors, and a "udp sport N" rule stops it whatever the
// number of reflectors.

export const AMPLIFICATION_PORTS: ReadonlyMap<number, string> = new Map([
  [17, 'QOTD'],
  [19, 'chargen'],
  [53, 'DNS'],
  [69, 'TFTP'],
  [111, 'portmap'],
  [123, 'NTP'],
  [137, 'NetBIOS'],
  [161, 'SNMP'],
  [389, 'CLDAP'],
  [427, 'SLP'],
  [500, 'ISAKMP'],
  [520, 'RIPv1'],
  [1434, 'MSSQL'],
  [1900, 'SSDP'],
  [3283, 'ARD'],
  [3389, 'RDP'],
  [3478, 'STUN'],
  [3702, 'WS-Discovery'],
  [5351, 'NAT-PMP'],
  [5353, 'mDNS'],
  [5683, 'CoAP'],
  [6881, 'BitTorrent'],
  [10001, 'Ubiquiti'],
  [11211, 'memcached'],
  [27015, 'Steam'],
  [27960, 'Quake'],
  [32414, 'Plex'],
  [33848, 'Jenkins'],
  [37810, 'DVR'],
]);

/** Service name when `port` is a known amplification source port. */
export function amplificationService(port: number): string | undefined {
  return AMPLIFICATION_PORTS.get(port);
}
