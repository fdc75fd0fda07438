// UDP services abused for reflection/amplification, keyed by the source port
// the reflected traffic arrives from. A victim whose UDP traffic comes from
// one of these ports without having asked (it sent no query to that port) is
// being hit by reflectors, and a "udp sport N" rule stops it whatever the
// number of reflectors.
//
// Sources (docs/detection.md lists them with links):
//  - US-CERT/CISA alert TA14-017A "UDP-Based Amplification Attacks" (DNS,
//    NTP, SNMP, NetBIOS, SSDP, CharGEN, QOTD, BitTorrent, Kad, Quake, Steam,
//    mDNS, RIPv1, Portmap, LDAP/CLDAP, TFTP, memcached, WS-Discovery, ARD, ...);
//  - C. Rossow, "Amplification Hell", NDSS 2014 (the protocol survey);
//  - public DDoS reports and advisories since (Akamai SIRT, NETSCOUT ASERT,
//    Cloudflare): CoAP, Plex, Jenkins, SLP, MS-SQL (SSRP), Ubiquiti
//    discovery, IPMI/RMCP, STUN, Mitel TP-240, OpenVPN, Crestron CIP,
//    Lantronix discovery, DHCPDiscover on Dahua DVRs (37810), and BACnet
//    (47808), the latter two seen together in the public capture issue 10
//    started from.

export const AMPLIFICATION_PORTS: ReadonlyMap<number, string> = new Map([
  [17, 'QOTD'],
  [19, 'CharGEN'],
  [53, 'DNS'],
  [69, 'TFTP'],
  [111, 'Portmap'],
  [123, 'NTP'],
  [137, 'NetBIOS'],
  [161, 'SNMP'],
  [389, 'CLDAP'],
  [427, 'SLP'],
  [500, 'ISAKMP'],
  [520, 'RIPv1'],
  [623, 'IPMI'],
  [1194, 'OpenVPN'],
  [1434, 'MS-SQL'],
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
  [10074, 'TP240'],
  [11211, 'memcached'],
  [27015, 'Steam'],
  [27960, 'Quake'],
  [30718, 'Lantronix'],
  [32414, 'Plex'],
  [33848, 'Jenkins'],
  [37810, 'DVR/IoT'],
  [41794, 'Crestron'],
  [47808, 'BACnet'],
]);

/** Service name when `port` is a known amplification source port. */
export function amplificationService(port: number): string | undefined {
  return AMPLIFICATION_PORTS.get(port);
}
