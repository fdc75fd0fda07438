// One variant of `npm run bench:kube-client`, in its own process: load a
// Kubernetes client, then LIST every BlockEvent of a namespace (pages of 500,
// as the informer does) `rounds` times and GET 200 of them one by one.
// Prints one JSON line: modules loaded, memory after loading and after the
// work (after a full GC), peak RSS, times.
//   node --expose-gc variant.js <own|client-node-config|client-node> <kubeconfig> <namespace> <rounds>
import module from 'node:module';
import fs from 'node:fs';

const [variant = 'own', kubeconfig = '', namespace = 'default', roundsText = '3'] = process.argv.slice(2);
const rounds = Number(roundsText);
const modules = new Set<string>();
module.registerHooks({
  resolve(specifier, context, next) {
    const r = next(specifier, context);
    modules.add(r.url);
    return r;
  },
});
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const hwm = () => Number(/^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) * 1024;
const mem = () => {
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed };
};

const GROUP = 'floodgate.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'blockevents';

interface Client {
  list(cont: string | undefined): Promise<{ items: { metadata: { name: string } }[]; metadata?: { continue?: string } }>;
  get(name: string): Promise<unknown>;
}

async function load(): Promise<Client> {
  const path = `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`;
  if (variant === 'client-node') {
    // The whole of client-node, for its configuration and its API classes: the controller before its own client.
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    return {
      list: (cont) => api.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, limit: 500, _continue: cont }),
      get: (name) => api.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name }),
    };
  }
  const { loadKubeConfig } = await import('../../kube/kube-config.js');
  const { RestClient } = await import('../../kube/rest-client.js');
  if (variant === 'client-node-config') {
    // The option ADR 0001 weighs: client-node only for kubeconfig and authentication (its KubeConfig
    // module, loaded lazily), our REST client for the calls.
    const { KubeConfig } = await import('@kubernetes/client-node/dist/config.js');
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const opts: Record<string, unknown> = {};
    await kc.applyToHTTPSOptions(opts);
    if (!opts.ca && !opts.cert && !(opts.headers as Record<string, unknown> | undefined)?.Authorization) throw new Error('client-node applied no credentials');
  }
  const rest = new RestClient(loadKubeConfig({ kubeconfig }));
  return {
    list: (cont) => rest.request({ path, query: { limit: 500, continue: cont } }),
    get: (name) => rest.request({ path: `${path}/${encodeURIComponent(name)}` }),
  };
}

const before = mem();
let t = performance.now();
const client = await load();
const loadMs = performance.now() - t;
const loaded = mem();
const moduleCount = modules.size;

t = performance.now();
let listed = 0;
let names: string[] = [];
for (let r = 0; r < rounds; r++) {
  let cont: string | undefined;
  const seen: string[] = [];
  do {
    const page = await client.list(cont);
    for (const item of page.items) seen.push(item.metadata.name);
    cont = page.metadata?.continue || undefined;
  } while (cont);
  listed = seen.length;
  names = seen;
}
for (let i = 0; i < 200; i++) await client.get(names[(i * 7919) % names.length]!);
const workMs = performance.now() - t;
const after = mem();
console.log(JSON.stringify({ variant, moduleCount, listed, loadMs, workMs, before, loaded, after, peakRss: hwm() }));
process.exit(0);
