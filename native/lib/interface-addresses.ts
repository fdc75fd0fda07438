// The addresses of a capture interface (all interfaces for "any"): what
// "inbound" means on this host. Taken from libpcap's list, which, unlike
// os.networkInterfaces(), includes interfaces without carrier.
import type { CaptureInterface } from './binding.js';

export function interfaceAddresses(iface: string, interfaces: CaptureInterface[]): string[] {
  const chosen = iface === 'any' ? interfaces : interfaces.filter((i) => i.name === iface);
  return [...new Set(chosen.flatMap((i) => i.addresses.map((a) => a.split('%')[0]!)))];
}
