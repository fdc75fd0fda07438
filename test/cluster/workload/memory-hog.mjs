// The cluster test's workload: memory that grows when asked, so the kubelet's
// Summary API sees a pod pass its DefensePolicy's threshold.
import http from 'node:http';

const held = [];
const heldMb = () => held.length;

http
  .createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://workload');
    if (req.method === 'POST' && url.pathname === '/grow') {
      const mb = Number(url.searchParams.get('mb'));
      if (!Number.isInteger(mb) || mb < 1 || mb > 1024) {
        res.writeHead(400).end('mb must be an integer in 1..1024\n');
        return;
      }
      // One touched buffer per MB: resident, not just reserved.
      for (let i = 0; i < mb; i++) held.push(Buffer.alloc(1024 * 1024, 1));
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ heldMb: heldMb(), rss: process.memoryUsage().rss }) + '\n');
  })
  .listen(8080, () => console.log('memory-hog listening on :8080'));
