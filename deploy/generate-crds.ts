// npm run crds:generate: rewrite crds/ from api/v1alpha1 (then the script
// re-renders manifests/, whose 10-crds.yaml comes from them through the chart).
import { writeCrds } from './crds.js';

try {
  const files = writeCrds();
  console.log(`wrote ${files.length} CRDs: ${files.join(', ')}`);
} catch (err) {
  console.error(`crds:generate: ${(err as Error).message}`);
  process.exit(1);
}
