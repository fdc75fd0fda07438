// One benchmark run of the native engine over a capture file, in its own
// process so its peak RSS is its own. Prints one JSON line. Mode "pipeline"
// (the default, as the agent runs it) reads and parses on the capture thread
// and updates the tables on a second thread; "single-thread" does both on one.
import { Capture } from '../native/lib/capture.js';
import { loadBinding } from '../native/lib/binding.js';

const file = process.argv[2];
const mode = process.argv[3] ?? 'pipeline';
if (!file || (mode !== 'pipeline' && mode !== 'single-thread')) {
  console.error('usage: engine-run FILE [pipeline|single-thread]');
  process.exit(2);
}
loadBinding(); // loading the addon is start-up, not parsing
const t0 = process.hrtime.bigint();
// Decode only the heavy end into JS, as the agent does; the C tables still see every packet.
const cap = Capture.openFile(file, { keepSources: 1000, pipeline: mode === 'pipeline' });
let slots = 0;
let topPackets = 0;
for await (const slot of cap.slots()) {
  slots++;
  topPackets += slot.sources[0]?.packets ?? 0;
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const stats = cap.stats();
cap.close();
console.log(JSON.stringify({ packets: stats.processed, seconds, slots, topPackets, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
