// npm run manifests:render: rewrite manifests/ from the chart.
import { writeManifests, MANIFESTS_DIR } from './manifests.js';

try {
  const files = await writeManifests();
  console.log(`wrote ${files.length} files under ${MANIFESTS_DIR}: ${files.join(', ')}`);
} catch (err) {
  console.error(`manifests:render: ${(err as Error).message}`);
  process.exit(1);
}
