// The scenarios' L2 view: the victim server behind one router, seen on the
// server's Ethernet port. Inbound frames come from the router's MAC.
import { ethernetFrame } from './link-layer.js';

export const ROUTER_MAC = '02:00:5e:00:00:01';
export const SERVER_MAC = '02:00:5e:00:00:10';

/** Frame an IP packet arriving at the server. */
export function toServer(ip: Uint8Array): Buffer {
  return ethernetFrame({ payload: ip, src: ROUTER_MAC, dst: SERVER_MAC });
}

/** Frame an IP packet the server sends. */
export function fromServer(ip: Uint8Array): Buffer {
  return ethernetFrame({ payload: ip, src: SERVER_MAC, dst: ROUTER_MAC });
}
