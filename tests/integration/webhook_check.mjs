// SPDX-License-Identifier: BSD-2-Clause
// The webhook's patches checked with real Kubernetes tools (tests/integration/test_webhook.c runs it):
// each patch applied to its pod with fast-json-patch (RFC 6902, every operation validated),
// the patched Pod validated with kubernetes-models (the API's OpenAPI schemas), and every
// field of it checked to be one the API knows (the schemas accept unknown fields; a typo
// in the patch, "volumeMount" or "readonly", would pass them and be dropped by the API
// server).  Usage: node webhook_check.mjs REPO IN.json OUT.json, IN being
// [{"name", "pod", "patch"}], OUT [{"name", "ok", "error", "patched"}].
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const [repo, inFile, outFile] = process.argv.slice(2);
const require = createRequire(path.join(repo, 'tests/k8s/package.json'));
const { Pod } = require('kubernetes-models/v1');
const jsonpatch = require('fast-json-patch');

// ---- the fields the API knows, from kubernetes-models' type declarations ----

const interfaces = new Map(); // interface name -> Map(field -> type text)
const parsedFiles = new Set();

function parseDts(file) {
  if (parsedFiles.has(file)) return;
  parsedFiles.add(file);
  const text = fs.readFileSync(file, 'utf8');
  const imports = new Map();
  for (const m of text.matchAll(/import \{ ([A-Za-z0-9_]+) \} from "([^"]+)";/g)) {
    const spec = m[2].startsWith('.') ? path.resolve(path.dirname(file), m[2]) : m[2];
    imports.set(m[1], spec);
  }
  for (const m of text.matchAll(/export interface ([A-Za-z0-9_]+)(?: extends [^{]+)? \{\n([\s\S]*?)\n\}/g)) {
    const fields = new Map();
    // one field a line at the interface's indent; a map ({ [key: string]: ... }) spans lines
    for (const f of m[2].matchAll(/^ {4}"([A-Za-z0-9_$]+)"\??: (.*)$/gm))
      fields.set(f[1], f[2].endsWith('{') ? '{map}' : f[2].replace(/;$/, ''));
    interfaces.set(m[1], { fields, imports, file });
  }
  // the name other files use: export { IContainer as IIoK8sApiCoreV1Container, ... }
  for (const m of text.matchAll(/export \{ ([A-Za-z0-9_]+) as ([A-Za-z0-9_]+)/g))
    if (interfaces.has(m[1])) interfaces.set(m[2], interfaces.get(m[1]));
}

function dtsOf(spec) {
  return require.resolve(spec).replace(/\.js$/, '.d.ts');
}

function lookup(name, from) {
  if (!interfaces.has(name) && from && from.imports.has(name)) parseDts(dtsOf(from.imports.get(name)));
  return interfaces.get(name);
}

// Unknown keys of `value` read as `type` (an interface name, Array<...>, a map or a scalar).
function unknownKeys(value, type, from, at, out) {
  type = type.trim();
  const arr = type.match(/^Array<(.*)>$/);
  if (arr) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownKeys(v, arr[1], from, `${at}/${i}`, out));
    return;
  }
  if (!/^I[A-Za-z0-9_]+$/.test(type) || value === null || typeof value !== 'object') return;
  const iface = lookup(type, from);
  if (!iface) return; // a type with no declaration here (a quantity, IntOrString): a scalar
  for (const [k, v] of Object.entries(value)) {
    if (!iface.fields.has(k)) out.push(`${at}/${k}: not a field of ${type}`);
    else unknownKeys(v, iface.fields.get(k), iface, `${at}/${k}`, out);
  }
}

parseDts(dtsOf('kubernetes-models/v1/Pod'));
if (!interfaces.has('IPod')) throw new Error('kubernetes-models: no IPod in v1/Pod.d.ts');

// ---- the cases ----

const cases = JSON.parse(fs.readFileSync(inFile, 'utf8'));
const results = cases.map(({ name, pod, patch }) => {
  try {
    let patched = pod;
    if (patch) {
      const bad = jsonpatch.validate(patch, pod);
      if (bad) throw new Error(`invalid patch: ${bad.name}: ${bad.message}`);
      patched = jsonpatch.applyPatch(pod, patch, /* validateOperation */ true,
        /* mutateDocument */ false).newDocument;
    }
    new Pod(patched).validate();
    const unknown = [];
    unknownKeys(patched, 'IPod', interfaces.get('IPod'), '', unknown);
    if (unknown.length) throw new Error(unknown.join('; '));
    return { name, ok: true, error: '', patched };
  } catch (e) {
    return { name, ok: false, error: String(e.message || e).replace(/\s+/g, ' ').slice(0, 2000), patched: null };
  }
});
fs.writeFileSync(outFile, JSON.stringify(results));
