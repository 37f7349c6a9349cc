// SPDX-License-Identifier: BSD-2-Clause
// Kubernetes YAML as JSON, for the tests written in C (tests/integration/test_chart.c):
// every document of the given files (a `helm template`, the Secrets of
// deploy/manifests/secrets.sh), parsed with the `yaml` package, as one JSON array.
// Usage: node objects.mjs OUT.json FILE.yaml...
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('./package.json', import.meta.url));
const YAML = require('yaml');

const [out, ...files] = process.argv.slice(2);
if (!out || !files.length) {
  console.error('usage: node objects.mjs OUT.json FILE.yaml...');
  process.exit(2);
}
const objects = [];
for (const file of files) {
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
    if (doc.errors.length) {
      console.error(`${file}: ${doc.errors[0].message}`);
      process.exit(1);
    }
    const o = doc.toJSON();
    if (o) objects.push(o);
  }
}
fs.writeFileSync(out, JSON.stringify(objects));
