#!/usr/bin/env node
// SPDX-License-Identifier: BSD-2-Clause
// The Helm chart's checks, with the real tools: helm 3.17 (lint --strict,
// template), the Kubernetes object schemas (kubernetes-models, strict: an
// unknown field fails, as `kubectl apply --validate=strict` would), yamllint,
// the binaries' own key tables, and a stand-in API server for what only a
// cluster shows (lookup, NOTES).
//
//   node tests/k8s/chart-check.mjs check     --helm HELM --build BUILD [--root DIR] [--only NAME,...] [--shard K/N]
//   node tests/k8s/chart-check.mjs self-test --helm HELM --build BUILD [--shard K/N]
//   node tests/k8s/chart-check.mjs update    --helm HELM
//
// `check` runs every check (or those named) on ROOT (this repository) and
// prints one line per check, or every failure, and exits 1.  `self-test`
// breaks copies of the chart in the ways each check must catch and fails
// unless it does.  `--shard K/N`: only every Nth check (and break) from
// the Kth, so that N processes share the cores.  `update` rewrites deploy/manifests/podflow.yaml and the
// values table of deploy/helm/podflow/README.md (`make manifests`).
// tests/k8s/chart/README.md says what each check covers.

import { spawn, spawnSync } from "node:child_process";
import {
  cpSync, existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync,
} from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isMap, isSeq, parse as parseYaml, parseDocument } from "yaml";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "../..");
const RELEASE = "podflow";
const NAMESPACE = "podflow";
const CHART = "deploy/helm/podflow";
const MANIFEST = "deploy/manifests/podflow.yaml";
const VARIANTS = "tests/k8s/chart/variants";
const BROKEN = "tests/k8s/chart/broken";
const YAMLLINT_CONFIG = "tests/k8s/yamllint.yaml";
// What `make manifests` runs (and the staleness check compares with).
const MANIFEST_ARGS = ["template", RELEASE, CHART, "--namespace", NAMESPACE, "--skip-tests"];
const MANIFEST_HEADER = `# SPDX-License-Identifier: BSD-2-Clause
# The podflow chart (deploy/helm/podflow) rendered with its default values:
#   helm template podflow deploy/helm/podflow --namespace podflow --skip-tests
# by \`make manifests\`. Do not edit: change the chart and run \`make manifests\`
# (\`make check\` fails when this file is stale). No secret is in here: the
# ingest token and the webhook's certificate are made at install time
# (deploy/manifests/README.md).
`;

// ---------------------------------------------------------------------------
// small tools

function die(msg) {
  console.error(`chart-check: ${msg}`);
  process.exit(2);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20, ...opts });
  if (r.error) return { status: 127, stdout: "", stderr: String(r.error) };
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function runAsync(cmd, args, opts = {}) {
  return new Promise((done) => {
    const p = spawn(cmd, args, { ...opts, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c) => (stdout += c));
    p.stderr.on("data", (c) => (stderr += c));
    p.on("error", (e) => done({ status: 127, stdout, stderr: String(e) }));
    p.on("close", (status) => done({ status, stdout, stderr }));
  });
}

const firstLine = (s) => (s || "").trim().split("\n").filter(Boolean).slice(-3).join(" | ");

function get(obj, path) {
  let o = obj;
  for (const k of path.split(".")) {
    if (o === null || o === undefined) return undefined;
    o = o[k];
  }
  return o;
}

// A YAML mapping's leaves as dotted keys (sequences are leaves).
function flatten(obj, prefix = "", out = {}) {
  for (const [k, v] of Object.entries(obj ?? {})) {
    if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length) {
      flatten(v, `${prefix}${k}.`, out);
    } else {
      out[prefix + k] = v;
    }
  }
  return out;
}

function setPath(obj, path, value) {
  const keys = path.split(".");
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k] ??= {};
  o[keys.at(-1)] = value;
  return obj;
}

// A Kubernetes label selector against a set of labels.
function selects(selector, labels) {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const ok = {
      In: has && e.values.includes(labels[e.key]),
      NotIn: !has || !e.values.includes(labels[e.key]),
      Exists: has,
      DoesNotExist: !has,
    }[e.operator];
    if (!ok) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// rendering

class Render {
  constructor(text) {
    this.text = text;
    this.docs = [];
    for (const chunk of text.split(/^---$/m)) {
      const source = (chunk.match(/^# Source: (.*)$/m) || [])[1] || "";
      const obj = parseYaml(chunk);
      if (obj !== null && obj !== undefined) this.docs.push({ source, obj });
    }
    this.objects = this.docs.map((d) => d.obj);
  }
  all(kind) {
    return this.objects.filter((o) => o.kind === kind);
  }
  find(kind, name, namespace) {
    return this.objects.find((o) => o.kind === kind && (name === undefined || o.metadata?.name === name)
      && (namespace === undefined || o.metadata?.namespace === namespace));
  }
  get deployment() {
    return this.objects.find((o) => o.kind === "Deployment"
      && o.metadata?.labels?.["app.kubernetes.io/component"] === "collector");
  }
  get collectorConfig() {
    const d = this.deployment;
    const vol = d?.spec.template.spec.volumes.find((v) => v.name === "config");
    const cm = vol && this.find("ConfigMap", vol.configMap.name, d.metadata.namespace);
    return cm ? parseYaml(cm.data["collector.yaml"]) : undefined;
  }
}

function valuesArgs(files) {
  const args = [];
  for (const f of files) {
    args.push("-f", f);
    const extra = readFileSync(f, "utf8").match(/^# helm: (.*)$/m);
    if (extra) args.push(...extra[1].trim().split(/\s+/));
  }
  return args;
}

function helmTemplate(ctx, { files = [], set = [], args = [] } = {}) {
  const a = ["template", RELEASE, join(ctx.root, CHART), "--namespace", NAMESPACE, ...valuesArgs(files)];
  for (const s of set) a.push("--set", s);
  a.push(...args);
  const r = run(ctx.helm, a);
  return { ...r, render: r.status === 0 ? new Render(r.stdout) : null };
}

function variantFiles(ctx) {
  const dir = join(ctx.root, VARIANTS);
  return readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort().map((f) => join(dir, f));
}

// ---------------------------------------------------------------------------
// Kubernetes schemas, strictly: kubernetes-models' validators, and a field
// the schema does not know is an error too (the validators read every field
// they know; a field of an object that no validator read, in an object that
// is not a map, is unknown).

async function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  let mod;
  try {
    if (group === "cert-manager.io") {
      mod = await import(`@kubernetes-models/cert-manager/cert-manager.io/${version}`);
    } else {
      mod = await import(group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`);
    }
  } catch {
    return undefined;
  }
  return mod[kind];
}

function tracked(obj, path, nodes) {
  if (obj === null || typeof obj !== "object") return obj;
  const node = { path, obj, read: new Set(), enumerated: false };
  nodes.push(node);
  const cache = new Map();
  return new Proxy(obj, {
    get(t, k, r) {
      if (typeof k === "string") node.read.add(k);
      const v = Reflect.get(t, k, r);
      if (typeof k !== "string" || v === null || typeof v !== "object") return v;
      if (!cache.has(k)) cache.set(k, tracked(v, `${path}/${k}`, nodes));
      return cache.get(k);
    },
    has(t, k) {
      if (typeof k === "string") node.read.add(k);
      return Reflect.has(t, k);
    },
    ownKeys(t) {
      node.enumerated = true;
      return Reflect.ownKeys(t);
    },
  });
}

const CLUSTER_SCOPED = new Set(["ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration",
  "ValidatingWebhookConfiguration", "Namespace", "ClusterIssuer", "PriorityClass"]);

async function validateObject(obj) {
  const id = `${obj?.kind ?? "?"} ${obj?.metadata?.namespace ? obj.metadata.namespace + "/" : ""}${obj?.metadata?.name ?? "?"}`;
  if (!obj || typeof obj !== "object" || !obj.apiVersion || !obj.kind) return [`${id}: not a Kubernetes object`];
  const Model = await modelFor(obj.apiVersion, obj.kind);
  if (!Model) return [`${id}: no schema for ${obj.apiVersion} ${obj.kind}`];
  const errors = [];
  const nodes = [];
  try {
    Model.prototype.validate.call(tracked(structuredClone(obj), "", nodes));
  } catch (e) {
    errors.push(`${id}: ${e.message.split("\n").join("; ")}`);
  }
  for (const n of nodes) {
    if (n.enumerated || Array.isArray(n.obj)) continue;
    for (const k of Object.keys(n.obj)) if (!n.read.has(k)) errors.push(`${id}: unknown field ${n.path}/${k}`);
  }
  const name = obj.metadata?.name ?? "";
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(name)) errors.push(`${id}: invalid name "${name}"`);
  if (CLUSTER_SCOPED.has(obj.kind) && obj.metadata?.namespace) errors.push(`${id}: cluster-scoped, yet has a namespace`);
  // kubectl apply of the plain manifests puts an object without a namespace
  // in the caller's current namespace: every namespaced object names its own.
  if (!CLUSTER_SCOPED.has(obj.kind) && !obj.metadata?.namespace) errors.push(`${id}: no metadata.namespace`);
  for (const [k, v] of Object.entries(obj.metadata?.labels ?? {})) {
    if (!/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v) || v.length > 63) {
      errors.push(`${id}: label ${k}="${v}" is not a valid label value`);
    }
  }
  return errors;
}

async function validateRender(render) {
  const errors = [];
  const seen = new Set();
  for (const obj of render.objects) {
    errors.push(...(await validateObject(obj)));
    const key = `${obj.apiVersion} ${obj.kind} ${obj.metadata?.namespace ?? ""}/${obj.metadata?.name}`;
    if (seen.has(key)) errors.push(`${key}: rendered twice`);
    seen.add(key);
  }
  return errors;
}

function yamllint(ctx, files) {
  const r = run("yamllint", ["-c", join(ctx.root, YAMLLINT_CONFIG), "-f", "parsable", "-s", ...files]);
  if (r.status === 0) return [];
  const lines = (r.stdout + r.stderr).trim().split("\n").filter(Boolean);
  return lines.length ? lines : [`yamllint exited ${r.status}`];
}

function yamllintText(ctx, text, label) {
  const dir = mkdtempSync(join(tmpdir(), "chart-lint-"));
  try {
    const f = join(dir, `${label.replace(/[^A-Za-z0-9_.-]/g, "_")}.yaml`);
    writeFileSync(f, text);
    return yamllint(ctx, [f]).map((l) => l.replace(f, label));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// The contract (build/issue11-contract.md; docs/kubernetes.md): ports,
// paths, names and labels the binaries and the webhook rely on.

const CONTRACT = {
  configDir: "/etc/podflow/collector",
  configFile: "/etc/podflow/collector/collector.yaml",
  tokenDir: "/var/run/secrets/podflow",
  tokenFile: "/var/run/secrets/podflow/token",
  webhookTLSDir: "/etc/podflow/webhook-tls",
  dataDir: "/var/lib/podflow",
  ingest: 7070,
  admin: 9090,
  webhook: 8443,
  uid: 65532,
};

function contractErrors(r, { fullname = "podflow" } = {}) {
  const e = [];
  const d = r.deployment;
  if (!d) return ["no collector Deployment (labels app.kubernetes.io/component=collector)"];
  const labels = d.spec.template.metadata.labels;
  for (const [k, v] of Object.entries({ "app.kubernetes.io/name": "podflow",
    "app.kubernetes.io/component": "collector", "app.kubernetes.io/instance": RELEASE })) {
    if (labels[k] !== v) e.push(`collector pods: label ${k} is ${labels[k]}, the contract says ${v}`);
    if (d.spec.selector.matchLabels[k] !== v) e.push(`Deployment selector: ${k} is not ${v}`);
  }
  const pod = d.spec.template.spec;
  const c = pod.containers.find((x) => x.name === "collector");
  if (!c || pod.containers.length !== 1) return [...e, "the collector pod has not exactly one container, named collector"];
  if (JSON.stringify(c.args) !== JSON.stringify(["--config", CONTRACT.configFile]) || c.command) {
    e.push(`collector args ${JSON.stringify(c.args)}: expected exactly --config ${CONTRACT.configFile} (every other setting in the file, so it reloads live)`);
  }
  const port = (name) => c.ports.find((p) => p.name === name)?.containerPort;
  if (port("ingest") !== CONTRACT.ingest) e.push(`container port ingest is ${port("ingest")}, not 7070`);
  if (port("admin") !== CONTRACT.admin) e.push(`container port admin is ${port("admin")}, not 9090`);
  for (const [probe, path] of [["livenessProbe", "/healthz"], ["readinessProbe", "/readyz"]]) {
    const g = c[probe]?.httpGet;
    if (!g || g.path !== path || (g.port !== "admin" && g.port !== CONTRACT.admin)) e.push(`${probe}: expected GET ${path} on the admin port`);
  }
  const sc = { ...pod.securityContext, ...c.securityContext };
  if (sc.runAsUser !== CONTRACT.uid || sc.runAsGroup !== CONTRACT.uid || sc.runAsNonRoot !== true) e.push("collector: not runAsUser/runAsGroup 65532 with runAsNonRoot");
  if (c.securityContext?.readOnlyRootFilesystem !== true) e.push("collector: root filesystem not read-only");
  // the restricted Pod Security Standard
  if (c.securityContext?.allowPrivilegeEscalation !== false) e.push("collector: allowPrivilegeEscalation is not false");
  if (JSON.stringify(c.securityContext?.capabilities?.drop) !== '["ALL"]' || c.securityContext?.capabilities?.add) e.push("collector: capabilities are not drop [ALL] with nothing added");
  if ((pod.securityContext?.seccompProfile ?? c.securityContext?.seccompProfile)?.type !== "RuntimeDefault") e.push("collector: seccompProfile is not RuntimeDefault");
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) e.push("collector: uses a host namespace");
  if (pod.volumes.some((v) => v.hostPath)) e.push("collector: mounts a hostPath");
  const mount = (path) => c.volumeMounts.find((m) => m.mountPath === path);
  const volume = (m) => m && pod.volumes.find((v) => v.name === m.name);
  for (const m of c.volumeMounts) if (m.subPath || m.subPathExpr) e.push(`mount ${m.mountPath}: subPath (never updated: live reload needs the directory)`);
  const cfgVol = volume(mount(CONTRACT.configDir));
  if (!cfgVol?.configMap) e.push(`no ConfigMap mounted at ${CONTRACT.configDir}`);
  const cm = cfgVol?.configMap && r.find("ConfigMap", cfgVol.configMap.name, NAMESPACE);
  if (cfgVol?.configMap && !cm?.data?.["collector.yaml"]) e.push(`ConfigMap ${cfgVol.configMap.name} has no collector.yaml`);
  const dataVol = volume(mount(CONTRACT.dataDir));
  if (!dataVol || !(dataVol.emptyDir || dataVol.persistentVolumeClaim)) e.push(`no emptyDir or claim at ${CONTRACT.dataDir}`);
  const cfg = r.collectorConfig ?? {};
  const want = { listen: ":7070", admin: ":9090", data_dir: CONTRACT.dataDir, "api.listen": "127.0.0.1:9095" };
  for (const [k, v] of Object.entries(want)) if (get(cfg, k) !== v) e.push(`collector.yaml ${k} is ${get(cfg, k)}, the contract says ${v}`);
  if (cfg.token_file !== undefined) {
    if (cfg.token_file !== CONTRACT.tokenFile) e.push(`token_file is ${cfg.token_file}`);
    const tv = volume(mount(CONTRACT.tokenDir));
    if (!tv?.secret) e.push(`token_file set, but no Secret mounted at ${CONTRACT.tokenDir}`);
    else if (!(tv.secret.items ?? [{ key: "token", path: "token" }]).some((i) => i.key === "token" && i.path === "token")) e.push("the token Secret's key token is not mounted as token");
  }
  if (cfg.kube && cfg.kube.api !== "in-cluster") e.push(`kube.api is ${cfg.kube.api}, not in-cluster`);
  if (cfg.kube && pod.automountServiceAccountToken === false) e.push("the pod watch runs, but the service account token is not mounted");
  // Services
  const svc = r.find("Service", `${fullname}-collector`, NAMESPACE);
  const svcPort = (s, n) => s?.spec.ports.find((p) => p.port === n);
  if (!svcPort(svc, 7070) || !svcPort(svc, 9090)) e.push(`Service ${fullname}-collector does not serve 7070 and 9090`);
  if (svc && !selects({ matchLabels: svc.spec.selector }, labels)) e.push(`Service ${fullname}-collector does not select the collector pods`);
  // the webhook
  const mwc = r.all("MutatingWebhookConfiguration");
  if (cfg.webhook) {
    if (cfg.webhook.listen !== ":8443") e.push(`webhook.listen is ${cfg.webhook.listen}`);
    if (port("webhook") !== CONTRACT.webhook) e.push("container port webhook is not 8443");
    const tlsVol = volume(mount(CONTRACT.webhookTLSDir));
    if (!tlsVol?.secret) e.push(`no Secret mounted at ${CONTRACT.webhookTLSDir}`);
    if (cfg.webhook.cert_file !== `${CONTRACT.webhookTLSDir}/tls.crt` || cfg.webhook.key_file !== `${CONTRACT.webhookTLSDir}/tls.key`) e.push("webhook.cert_file/key_file are not the mounted tls.crt/tls.key");
    const ws = r.find("Service", `${fullname}-webhook`, NAMESPACE);
    const p443 = svcPort(ws, 443);
    if (!p443 || (p443.targetPort !== "webhook" && p443.targetPort !== 8443)) e.push(`Service ${fullname}-webhook does not map 443 to 8443`);
    if (ws && !selects({ matchLabels: ws.spec.selector }, labels)) e.push(`Service ${fullname}-webhook does not select the collector pods`);
    // IPFIX (ingest.transport: ipfix) only to a collector that listens for it
    const url = cfg.inject?.collector_url?.startsWith("udp://") && cfg.ipfix?.listen === ":4739"
      ? `udp://${fullname}-collector.${NAMESPACE}.svc:4739`
      : `${cfg.tls ? "https" : "http"}://${fullname}-collector.${NAMESPACE}.svc:7070`;
    if (cfg.inject?.collector_url !== url) e.push(`inject.collector_url is ${cfg.inject?.collector_url}, expected ${url} (the ingest Service)`);
    if (mwc.length !== 1) e.push(`${mwc.length} MutatingWebhookConfigurations`);
    for (const w of mwc[0]?.webhooks ?? []) {
      const s = w.clientConfig.service;
      if (!s || s.name !== `${fullname}-webhook` || s.namespace !== NAMESPACE || s.port !== 443 || s.path !== "/mutate") e.push(`webhook ${w.name}: clientConfig is not ${fullname}-webhook:443/mutate`);
      if (w.sideEffects !== "None") e.push(`webhook ${w.name}: sideEffects is not None`);
      if (JSON.stringify(w.admissionReviewVersions) !== '["v1"]') e.push(`webhook ${w.name}: admissionReviewVersions is not [v1]`);
      if (!w.rules.every((rule) => rule.resources.join() === "pods" && rule.operations.join() === "CREATE")) e.push(`webhook ${w.name}: rules are not CREATE pods`);
      if (selects(w.objectSelector, labels)) e.push(`webhook ${w.name}: its objectSelector sends the collector's own pods`);
    }
  } else if (mwc.length) {
    e.push("a MutatingWebhookConfiguration without a webhook listener");
  }
  // RBAC: get, list, watch pods (the pod watch) and create tokenreviews (the heartbeat verifier), nothing else
  for (const role of [...r.all("ClusterRole"), ...r.all("Role")]) {
    for (const rule of role.rules) {
      const pods = rule.apiGroups.join() === "" && rule.resources.join() === "pods" && [...rule.verbs].sort().join() === "get,list,watch";
      const reviews = rule.apiGroups.join() === "authentication.k8s.io" && rule.resources.join() === "tokenreviews" && rule.verbs.join() === "create";
      if (!pods && !reviews) {
        e.push(`RBAC ${role.metadata.name}: rule ${JSON.stringify(rule)} is more than get/list/watch pods and create tokenreviews`);
      }
    }
  }
  // no checksum of the configuration on the pod template (live reload)
  const collectorYaml = cm?.data?.["collector.yaml"] ?? "";
  for (const [k, v] of Object.entries(d.spec.template.metadata.annotations ?? {})) {
    if (/checksum/i.test(k)) e.push(`pod template annotation ${k}: a checksum restarts the collectors for changes they reload live`);
    if (collectorYaml && v.length >= 16 && collectorYaml.includes(v)) e.push(`pod template annotation ${k} holds the configuration`);
  }
  return e;
}

// ---------------------------------------------------------------------------
// checks: each returns a list of failures and a summary

const checks = {};

checks.lint = (ctx) => {
  const errors = [];
  const sets = [[], ...variantFiles(ctx).map((f) => [f])];
  for (const files of sets) {
    const r = run(ctx.helm, ["lint", "--strict", join(ctx.root, CHART), "--namespace", NAMESPACE, ...valuesArgs(files)]);
    if (r.status !== 0) errors.push(`helm lint --strict ${files.map((f) => basename(f)).join(" ") || "(defaults)"}: ${firstLine(r.stdout + r.stderr)}`);
  }
  errors.push(...yamllint(ctx, [join(ctx.root, CHART, "values.yaml"), join(ctx.root, CHART, "Chart.yaml"),
    ...variantFiles(ctx), ...readdirSync(join(ctx.root, BROKEN)).map((f) => join(ctx.root, BROKEN, f))]));
  return { errors, summary: `helm lint --strict with the defaults and ${sets.length - 1} values files; yamllint on the chart's YAML` };
};

// What each values file must change in the render (beyond passing the schemas).
const EXPECT = {
  "(defaults)": (r) => {
    const e = [];
    const kinds = r.objects.map((o) => o.kind).sort().join(",");
    const want = "ClusterRole,ClusterRoleBinding,ConfigMap,Deployment,MutatingWebhookConfiguration,Pod,PodDisruptionBudget,Service,Service,ServiceAccount";
    if (kinds !== want) e.push(`objects ${kinds}, expected ${want}`);
    if (r.all("Secret").length) e.push("a Secret in a render without a cluster: generated secrets must not be in it");
    if (/PRIVATE KEY|caBundle:/.test(r.text)) e.push("key material or a caBundle in a render without a cluster");
    if (!/deploy\/manifests\/secrets\.sh/.test(r.text)) e.push("the render does not say where the token and the certificate come from");
    const cfg = r.collectorConfig;
    if (cfg.kafka || cfg.sinks?.kafka) e.push("Kafka keys without kafka.brokers");
    if (r.deployment.spec.replicas !== 2) e.push("replicas is not 2");
    const mwc = r.find("MutatingWebhookConfiguration");
    if (mwc.webhooks.length !== 2) e.push("not two webhook entries (namespace label, pod label)");
    for (const w of mwc.webhooks) {
      if (w.failurePolicy !== "Ignore" || w.reinvocationPolicy !== "IfNeeded" || w.timeoutSeconds !== 5) e.push(`webhook ${w.name}: failurePolicy/reinvocationPolicy/timeoutSeconds are not Ignore/IfNeeded/5`);
    }
    if (cfg.inject?.native_sidecar !== true) e.push("inject.native_sidecar is not true");
    if (cfg.inject?.token_secret !== "podflow-token" || cfg.inject?.config_map !== "podflow-sidecar") e.push("inject.token_secret/config_map are not podflow-token/podflow-sidecar");
    if (cfg.inject?.image !== "podflow-sidecar:0.1.0") e.push(`inject.image is ${cfg.inject?.image}`);
    const inj = cfg.inject ?? {};
    if (inj.cpu_request !== "20m" || inj.memory_request !== "32Mi" || inj.memory_limit !== "128Mi" || inj.cpu_limit !== "") e.push("inject resources are not 20m/32Mi, no cpu limit (\"\": none), 128Mi");
    if (cfg.webhook?.max_body !== "4MiB") e.push("webhook.max_body is not 4MiB");
    const pdb = r.find("PodDisruptionBudget");
    if (pdb?.spec.maxUnavailable !== 1) e.push("PodDisruptionBudget maxUnavailable is not 1");
    const aa = r.deployment.spec.template.spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution;
    if (!aa?.[0] || !selects(aa[0].podAffinityTerm.labelSelector, r.deployment.spec.template.metadata.labels)) e.push("no preferred anti-affinity between the collector pods");
    const t = r.find("Pod");
    if (t?.metadata.annotations?.["helm.sh/hook"] !== "test" || !t.spec.containers[0].args.includes("http://podflow-collector:9090/readyz") || t.spec.containers[0].command?.[0] !== "curl") e.push("no helm test hook that curls http://podflow-collector:9090/readyz");
    if (t?.metadata.labels["podflow.io/inject"] !== "false") e.push("the test pod could be injected");
    if (!r.deployment.spec.template.spec.volumes.find((v) => v.name === "data")?.emptyDir) e.push("the data dir is not an emptyDir");
    return e;
  },
  "cert-manager.yaml": (r) => {
    const e = [];
    const certs = r.all("Certificate");
    const issuers = r.all("Issuer");
    if (certs.length !== 2 || issuers.length !== 2) e.push(`${certs.length} Certificates and ${issuers.length} Issuers, expected 2 and 2 (a CA, its issuer, the serving certificate)`);
    const mwc = r.find("MutatingWebhookConfiguration");
    const inject = mwc.metadata.annotations?.["cert-manager.io/inject-ca-from"];
    const [ns, name] = (inject ?? "/").split("/");
    const cert = r.find("Certificate", name, ns);
    if (!cert) e.push(`cert-manager.io/inject-ca-from ${inject} names no Certificate`);
    const tls = r.deployment.spec.template.spec.volumes.find((v) => v.name === "webhook-tls");
    if (cert && cert.spec.secretName !== tls?.secret.secretName) e.push("the Certificate's Secret is not the one the collector mounts");
    if (cert && !cert.spec.dnsNames.includes(`podflow-webhook.${NAMESPACE}.svc`)) e.push("the Certificate is not for podflow-webhook.podflow.svc");
    const issuer = cert && r.find("Issuer", cert.spec.issuerRef.name);
    if (!issuer?.spec.ca) e.push("the serving certificate is not signed by the chart's CA Issuer (renewals would change the caBundle)");
    if (mwc.webhooks.some((w) => w.clientConfig.caBundle)) e.push("a caBundle in values with cert-manager: the cainjector owns it");
    if (r.all("Secret").length) e.push("a generated Secret with cert-manager");
    return e;
  },
  "cert-manager-issuer.yaml": (r) => {
    const e = [];
    if (r.all("Issuer").length || r.all("Certificate").length !== 1) e.push("expected one Certificate and no Issuer with an issuerRef");
    const ref = r.find("Certificate")?.spec.issuerRef;
    if (ref?.name !== "corp-ca" || ref?.kind !== "ClusterIssuer") e.push("the Certificate is not issued by ClusterIssuer corp-ca");
    if (r.find("Certificate")?.spec.duration !== "2160h") e.push("duration not passed on");
    return e;
  },
  "existing-secrets.yaml": (r) => {
    const e = [];
    const vols = r.deployment.spec.template.spec.volumes;
    if (vols.find((v) => v.name === "token")?.secret.secretName !== "my-podflow-token") e.push("the collector does not mount auth.existingSecret");
    if (vols.find((v) => v.name === "webhook-tls")?.secret.secretName !== "my-webhook-tls") e.push("the collector does not mount webhook.tls.existingSecret");
    if (r.all("Secret").length) e.push("the chart renders Secrets although both are yours");
    const mwc = r.find("MutatingWebhookConfiguration");
    if (!mwc.webhooks.every((w) => w.clientConfig.caBundle?.startsWith("LS0tLS1CRUdJTi"))) e.push("the caBundle is not webhook.tls.caBundle");
    if (!r.find("ConfigMap", "podflow-sidecar", "shop")) e.push("no sidecar ConfigMap in namespace shop");
    return e;
  },
  "kafka.yaml": (r) => {
    const c = r.collectorConfig;
    const want = { "kafka.brokers": "kafka-0.kafka.svc:9092,kafka-1.kafka.svc:9092", "sinks.kafka.topic": "flows.v1",
      "sinks.kafka.enabled": true, "sinks.kafka.compression": "lz4", "sinks.kafka.linger": "20ms",
      "sinks.kafka.batch_messages": 5000, "sinks.kafka.max_queued": 100000, "attribution.sonar_topic": "",
      "attribution.ranges_topic": "podflow.ranges", "attribution.max_delay": "30s", "sinks.files.enabled": true };
    const e = Object.entries(want).filter(([k, v]) => get(c, k) !== v).map(([k, v]) => `collector.yaml ${k} is ${JSON.stringify(get(c, k))}, expected ${JSON.stringify(v)}`);
    if (r.deployment.spec.replicas !== 3) e.push("replicas is not 3");
    return e;
  },
  "hpa.yaml": (r) => {
    const e = [];
    const h = r.find("HorizontalPodAutoscaler");
    if (!h || h.spec.minReplicas !== 3 || h.spec.maxReplicas !== 12 || h.spec.metrics[0].resource.target.averageUtilization !== 60) e.push("no HorizontalPodAutoscaler 3..12 at 60% CPU");
    if (h && h.spec.scaleTargetRef.name !== r.deployment.metadata.name) e.push("the autoscaler does not scale the collector");
    if ("replicas" in r.deployment.spec) e.push("replicas set on an autoscaled Deployment (each upgrade would reset it)");
    if (r.find("PodDisruptionBudget")?.spec.maxUnavailable !== "25%") e.push("PodDisruptionBudget maxUnavailable is not 25%");
    return e;
  },
  "pvc.yaml": (r) => {
    const e = [];
    const pvc = r.find("PersistentVolumeClaim", "podflow-data", NAMESPACE);
    if (!pvc || pvc.spec.resources.requests.storage !== "50Gi" || pvc.spec.storageClassName !== "fast-ssd") e.push("no claim podflow-data, 50Gi, fast-ssd");
    if (pvc?.metadata.annotations?.["helm.sh/resource-policy"] !== "keep") e.push("the claim is not kept at uninstall");
    if (r.deployment.spec.strategy.type !== "Recreate") e.push("not a Recreate rollout with a claim");
    if (r.deployment.spec.template.spec.volumes.find((v) => v.name === "data")?.persistentVolumeClaim?.claimName !== "podflow-data") e.push("the data dir is not the claim");
    if (r.collectorConfig.collector_id !== "podflow-files") e.push("collector_id is not collector.persistence.collectorId");
    return e;
  },
  "pvc-existing.yaml": (r) => {
    const e = [];
    if (r.all("PersistentVolumeClaim").length) e.push("a claim rendered although existingClaim is set");
    const v = r.deployment.spec.template.spec.volumes.find((x) => x.name === "data");
    if (v?.persistentVolumeClaim?.claimName !== "podflow-flows") e.push("the data dir is not the existing claim");
    if (r.collectorConfig.collector_id !== "podflow") e.push("collector_id is not the fullname by default");
    return e;
  },
  "native-sidecar-off.yaml": (r) => (r.collectorConfig.inject?.native_sidecar === false ? [] : ["inject.native_sidecar is not false"]),
  "webhook-off.yaml": (r) => {
    const e = [];
    const c = r.collectorConfig;
    if (c.webhook || c.inject) e.push("webhook or inject keys without the webhook");
    if (r.find("Service", "podflow-webhook")) e.push("a webhook Service without the webhook");
    const spec = r.deployment.spec.template.spec;
    if (spec.volumes.some((v) => v.name === "webhook-tls") || spec.containers[0].ports.some((p) => p.name === "webhook")) e.push("webhook port or certificate without the webhook");
    return e;
  },
  "podwatch-off.yaml": (r) => {
    const e = [];
    if (r.all("ClusterRole").length || r.all("ClusterRoleBinding").length) e.push("RBAC without the pod watch");
    if (r.deployment.spec.template.spec.automountServiceAccountToken !== false) e.push("the service account token is mounted without the pod watch");
    if (r.collectorConfig.kube) e.push("kube keys without the pod watch");
    return e;
  },
  "auth-off.yaml": (r) => {
    const e = [];
    const c = r.collectorConfig;
    if ("token_file" in c) e.push("token_file without auth");
    if (c.inject?.token_secret !== "") e.push("inject.token_secret is not empty without auth");
    if (r.deployment.spec.template.spec.volumes.some((v) => v.name === "token")) e.push("a token volume without auth");
    if (/ingest-token/.test(r.text)) e.push("the token Secret is mentioned without auth");
    return e;
  },
  "ipfix.yaml": (r) => {
    const e = [];
    const c = r.collectorConfig;
    if (c.ipfix?.listen !== ":4739") e.push(`ipfix.listen is ${c.ipfix?.listen}, expected :4739`);
    if (c.ipfix?.workers !== 2 || JSON.stringify(c.ipfix?.allow_cidrs) !== '["10.0.0.0/8"]') e.push("collector.config.ipfix is not the values'");
    if (c.inject?.collector_url !== "udp://podflow-collector.podflow.svc:4739") e.push(`injected sidecars export to ${c.inject?.collector_url}, not udp://...:4739`);
    const svc = r.find("Service", "podflow-collector", NAMESPACE);
    const p = svc?.spec.ports.find((x) => x.name === "ipfix");
    if (p?.port !== 4739 || p?.protocol !== "UDP" || p?.targetPort !== "ipfix") e.push("the Service has no UDP port ipfix 4739");
    const cp = r.deployment.spec.template.spec.containers[0].ports.find((x) => x.name === "ipfix");
    if (cp?.containerPort !== 4739 || cp?.protocol !== "UDP") e.push("the collector container has no UDP port 4739");
    for (const cm of r.all("ConfigMap").filter((m) => m.data?.["sidecar.yaml"])) {
      if (parseYaml(cm.data["sidecar.yaml"]).ipfix?.octets !== "ip") e.push(`${cm.metadata.namespace}: sidecar.yaml's ipfix.octets is not the values'`);
    }
    return e;
  },
  "ingest-tls.yaml": (r) => {
    const e = [];
    const c = r.collectorConfig;
    if (c.tls?.cert_file !== "/etc/podflow/ingest-tls/tls.crt" || c.tls?.key_file !== "/etc/podflow/ingest-tls/tls.key") e.push("tls.cert_file/key_file are not the mounted Secret");
    if (r.deployment.spec.template.spec.volumes.find((v) => v.name === "ingest-tls")?.secret.secretName !== "podflow-ingest-tls") e.push("the ingest certificate is not mounted");
    if (!c.inject?.collector_url?.startsWith("https://")) e.push("injected sidecars do not export over https");
    for (const ns of ["shop", "payments"]) {
      const cm = r.find("ConfigMap", "podflow-sidecar", ns);
      if (!cm?.data["ca.crt"]?.includes("BEGIN CERTIFICATE")) e.push(`no ca.crt beside sidecar.yaml in ${ns}`);
      if (parseYaml(cm?.data["sidecar.yaml"] ?? "{}")?.tls?.ca_file !== "/etc/podflow/sidecar/ca.crt") e.push(`sidecar.yaml in ${ns}: tls.ca_file is not the mounted ca.crt`);
    }
    return e;
  },
  "overrides.yaml": (r) => {
    const e = [];
    const d = r.deployment;
    const c = r.collectorConfig;
    const spec = d.spec.template.spec;
    if (d.metadata.name !== "pf-collector") e.push("fullnameOverride not used");
    if (d.spec.template.metadata.labels["app.kubernetes.io/name"] !== "podflow") e.push("nameOverride changed app.kubernetes.io/name (the webhook skips collector pods by it)");
    if (d.spec.template.metadata.labels["podflow.io/inject"] !== "false" || d.spec.template.metadata.labels.team !== "netops") e.push("pod labels wrong");
    if (spec.containers[0].image !== "registry.example.com/podflow/podflow-collector@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef") e.push("the image digest is not used");
    if (spec.imagePullSecrets?.[0]?.name !== "regcred" || r.find("Pod")?.spec.imagePullSecrets?.[0]?.name !== "regcred") e.push("imagePullSecrets not on the collector and test pods");
    if (!spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution) e.push("antiAffinity hard is not required anti-affinity");
    if (spec.tolerations?.[0]?.key !== "dedicated" || spec.nodeSelector?.["kubernetes.io/os"] !== "linux" || spec.priorityClassName !== "system-cluster-critical") e.push("tolerations, nodeSelector or priorityClassName not passed on");
    if (spec.volumes.find((v) => v.name === "data")?.emptyDir?.sizeLimit !== "8Gi") e.push("emptyDir sizeLimit not passed on");
    if (d.spec.template.metadata.annotations["prometheus.io/scrape"] !== "true") e.push("podAnnotations not passed on");
    const svc = r.find("Service", "pf-collector");
    if (svc?.spec.type !== "LoadBalancer" || !svc.metadata.annotations?.["service.beta.kubernetes.io/aws-load-balancer-internal"]) e.push("service type or annotations not passed on");
    if (spec.serviceAccountName !== "podflow-sa" || r.find("ServiceAccount")?.metadata.name !== "podflow-sa" || r.find("ClusterRoleBinding")?.subjects[0].name !== "podflow-sa") e.push("serviceAccount.name not used everywhere");
    const mwc = r.find("MutatingWebhookConfiguration");
    if (mwc.webhooks.length !== 1 || mwc.webhooks[0].failurePolicy !== "Fail" || mwc.webhooks[0].timeoutSeconds !== 3 || mwc.webhooks[0].reinvocationPolicy !== "Never") e.push("webhook settings not passed on (one entry, Fail, 3 s, Never)");
    const inj = c.inject ?? {};
    if (inj.image !== "registry.example.com/podflow/podflow-sidecar:0.1.0-rc1" || inj.image_pull_policy !== "Always") e.push("sidecar image not passed on");
    if (inj.cpu_request !== "50m" || inj.memory_request !== "64Mi" || inj.cpu_limit !== "200m" || inj.memory_limit !== "256Mi") e.push("sidecar resources not passed on");
    if (inj.config_map !== "pf-sidecar" || inj.token_secret !== "pf-token") e.push("sidecar object names not passed on");
    for (const ns of ["shop", "payments", "default"]) {
      const cm = r.find("ConfigMap", "pf-sidecar", ns);
      const sc = parseYaml(cm?.data["sidecar.yaml"] ?? "{}") ?? {};
      if (sc.interval !== "30s" || JSON.stringify(sc.filters?.ignore_ports) !== "[22,9091]" || sc.filters?.ignore_cidrs?.[1] !== "fd00:ec2::/64" || sc.admin !== ":9191") e.push(`sidecar.yaml in ${ns} does not carry sidecar.config`);
    }
    if (c.workers !== 4 || c.log.level !== "debug" || c.sinks.jsonl.enabled !== true) e.push("collector.config not passed on");
    if (r.find("Pod")?.spec.containers[0].image !== "curlimages/curl:8.10.1") e.push("tests.image not used");
    return e;
  },
  "affinity.yaml": (r) => {
    const a = r.deployment.spec.template.spec.affinity;
    return a?.nodeAffinity && !a.podAntiAffinity ? [] : ["collector.affinity does not replace the chart's anti-affinity"];
  },
};

checks.render = async (ctx) => {
  const errors = [];
  const sets = [["(defaults)", []], ...variantFiles(ctx).map((f) => [basename(f), [f]])];
  let objects = 0;
  for (const [name, files] of sets) {
    const t = helmTemplate(ctx, { files });
    if (t.status !== 0) {
      errors.push(`${name}: helm template failed: ${firstLine(t.stderr)}`);
      continue;
    }
    const r = t.render;
    objects += r.objects.length;
    const fullname = r.deployment?.metadata.name.replace(/-collector$/, "") ?? "podflow";
    for (const m of [...(await validateRender(r)), ...contractErrors(r, { fullname }),
      ...(EXPECT[name] ? EXPECT[name](r) : [`no expectations for ${name} in chart-check.mjs`]),
      ...yamllintText(ctx, t.stdout, name)]) {
      errors.push(`${name}: ${m}`);
    }
  }
  for (const name of Object.keys(EXPECT)) if (!sets.some(([n]) => n === name)) errors.push(`expectations for ${name}, a values file that does not exist`);
  return { errors, summary: `${sets.length} renders (defaults and each values file of ${VARIANTS}), ${objects} objects valid against the Kubernetes schemas (strict), the contract, yamllint` };
};

checks.broken = (ctx) => {
  const errors = [];
  const files = readdirSync(join(ctx.root, BROKEN)).filter((f) => f.endsWith(".yaml")).sort();
  for (const f of files) {
    const path = join(ctx.root, BROKEN, f);
    const expect = readFileSync(path, "utf8").match(/^# expect: (.*)$/m)?.[1];
    if (!expect) {
      errors.push(`${f}: no "# expect:" line`);
      continue;
    }
    const t = helmTemplate(ctx, { files: [path] });
    if (t.status === 0) errors.push(`${f}: helm template accepted it (expected: ${expect})`);
    else if (!t.stderr.includes(expect)) errors.push(`${f}: failed, but not with "${expect}": ${firstLine(t.stderr)}`);
    // helm lint reports a template's `fail` as [INFO] and passes: only the
    // schema's refusals fail it
    if (/values don't meet the specifications of the schema/.test(t.stderr)) {
      const lint = run(ctx.helm, ["lint", "--strict", join(ctx.root, CHART), ...valuesArgs([path])]);
      if (lint.status === 0) errors.push(`${f}: helm lint --strict accepted it`);
    }
  }
  return { errors, summary: `${files.length} broken values files refused by helm template (and helm lint, for the schema's), each with its message` };
};

// The binaries' own key tables (--help-config): every key the chart writes
// is one they know, every key they know is a value or set by the chart, and
// the chart's defaults are theirs.
function helpConfig(binary) {
  const r = run(binary, ["--help-config"]);
  if (r.status !== 0) return null;
  const keys = new Map();
  for (const line of r.stdout.split("\n")) {
    const m = line.match(/^\| `([^`]+)` \| ([^|]*) \| ([^|]*) \| `([^`]*)` \| ([^|]*) \| (yes|restart) \|/);
    if (m) keys.set(m[1], { flag: m[2].trim(), type: m[3].trim(), default: m[4], range: m[5].trim(), live: m[6] === "yes" });
  }
  return keys;
}

// Keys the chart sets from values other than collector.config / sidecar.config.
const CHART_OWNED = {
  collector: {
    listen: "the contract's :7070", admin: "the contract's :9090", "api.listen": "loopback :9095",
    "api.token_file": "the API stays on loopback", data_dir: "/var/lib/podflow", token_file: "auth",
    "tls.cert_file": "ingest.tls", "tls.key_file": "ingest.tls", "tls.client_ca_file": "mTLS is not offered by the chart",
    "kafka.brokers": "kafka.brokers", "attribution.sonar_topic": "kafka.topics.ipEvents",
    "attribution.ranges_topic": "kafka.topics.ranges", "sinks.kafka.enabled": "kafka.producer.enabled",
    "sinks.kafka.topic": "kafka.topics.flows", "sinks.kafka.compression": "kafka.producer.compression",
    "sinks.kafka.linger": "kafka.producer.linger", "sinks.kafka.batch_messages": "kafka.producer.batchMessages",
    "sinks.kafka.max_queued": "kafka.producer.maxQueued", "kube.api": "podWatch.enabled", "kube.lag": "podWatch.lag",
    "kube.token_file": "in-cluster", "kube.ca_file": "in-cluster", collector_id: "collector.persistence",
    "webhook.listen": "webhook.enabled", "ipfix.listen": "ipfix.enabled", "webhook.cert_file": "webhook TLS", "webhook.key_file": "webhook TLS",
    "webhook.max_body": "webhook.maxBody", "insight.kafka_group": "the binary's default: one per replica, podflow-insight-<pod name>",
    "inject.image": "sidecar.image", "inject.image_pull_policy": "sidecar.image.pullPolicy",
    "inject.native_sidecar": "sidecar.nativeSidecar", "inject.collector_url": "the ingest Service",
    "inject.config_map": "sidecar.configMapName", "inject.token_secret": "sidecar.tokenSecretName",
    "inject.cpu_request": "sidecar.resources", "inject.memory_request": "sidecar.resources",
    "inject.cpu_limit": "sidecar.resources", "inject.memory_limit": "sidecar.resources",
  },
  sidecar: {
    cgroup: "the webhook's --cgroup-root", output: "the webhook's --output", labels_file: "the webhook's --labels-file",
    token_file: "the webhook's --token-file", token_optional: "the webhook's --token-optional",
    identity_token_file: "the webhook's --identity-token-file (the projected podflow-identity token)",
    cgroup_root: "the webhook's --cgroup-root", "tls.ca_file": "ingest.tls.caBundle",
    "tls.cert_file": "mTLS is not offered by the chart", "tls.key_file": "mTLS is not offered by the chart",
  },
};
// Chart defaults that differ from the binary's, on purpose.
const DIVERGES = {
  collector: {
    workers: "2: the binary's 0 is one worker per CPU of the node, not of the pod",
    "insight.source": "auto: kafka when the chart configures a Kafka producer (every replica's view then covers the cluster), else output",
  },
  sidecar: {},
};

function binaryDefault(info) {
  if (info.default === "(unset)") return undefined;
  if (info.default === "(none)") return [];
  if (info.type === "integer") return Number(info.default);
  if (info.type === "bool") return info.default === "true";
  if (info.type === "CIDR list") return info.default.split(", ");
  return info.default;
}

checks.keys = (ctx) => {
  const errors = [];
  const values = parseYaml(readFileSync(join(ctx.root, CHART, "values.yaml"), "utf8"));
  const renders = [helmTemplate(ctx, {}), ...variantFiles(ctx).map((f) => helmTemplate(ctx, { files: [f] }))]
    .filter((t) => t.status === 0).map((t) => t.render);
  let known = 0;
  for (const [who, bin, valuesPath] of [["collector", "podflow-collector", "collector.config"], ["sidecar", "podflow-sidecar", "sidecar.config"]]) {
    const table = helpConfig(join(ctx.build, bin));
    if (!table || !table.size) {
      errors.push(`${join(ctx.build, bin)} --help-config: no key table (build it first)`);
      continue;
    }
    known += table.size;
    const fromValues = flatten(get(values, valuesPath));
    for (const [k, v] of Object.entries(fromValues)) {
      const info = table.get(k);
      if (!info) {
        errors.push(`${valuesPath}.${k}: not a key ${bin} knows`);
        continue;
      }
      const want = binaryDefault(info);
      if (JSON.stringify(v) !== JSON.stringify(want) && !DIVERGES[who][k]) errors.push(`${valuesPath}.${k}: default ${JSON.stringify(v)}, ${bin}'s is ${JSON.stringify(want)} (or list it in DIVERGES with the reason)`);
    }
    // each key's description in values.yaml says (live) or (restart), as the binary does
    for (const row of valuesRows(readFileSync(join(ctx.root, CHART, "values.yaml"), "utf8")).rows) {
      if (!row.path.startsWith(`${valuesPath}.`)) continue;
      const info = table.get(row.path.slice(valuesPath.length + 1));
      const said = row.desc.match(/\((live|restart)\)$/)?.[1];
      if (info && said !== (info.live ? "live" : "restart")) errors.push(`values.yaml: ${row.path}'s description ends with ${said ? `(${said})` : "neither (live) nor (restart)"}, ${bin} says ${info.live ? "live" : "restart"}`);
    }
    for (const k of Object.keys(DIVERGES[who])) if (!(k in fromValues)) errors.push(`DIVERGES lists ${who} key ${k}, which is not a value`);
    for (const k of table.keys()) {
      if (!(k in fromValues) && !CHART_OWNED[who][k]) errors.push(`${bin} key ${k} is neither in ${valuesPath} nor set by the chart`);
      if (k in fromValues && CHART_OWNED[who][k]) errors.push(`${bin} key ${k} is both a value and the chart's`);
    }
    for (const k of Object.keys(CHART_OWNED[who])) if (!table.has(k)) errors.push(`the chart sets ${who} key ${k}, which ${bin} does not know`);
    // what the renders write
    const written = new Set();
    for (const r of renders) {
      const docs = who === "collector" ? [r.collectorConfig]
        : r.all("ConfigMap").filter((c) => c.data?.["sidecar.yaml"]).map((c) => parseYaml(c.data["sidecar.yaml"]));
      for (const d of docs) for (const k of Object.keys(flatten(d ?? {}))) written.add(k);
    }
    for (const k of written) if (!table.has(k)) errors.push(`the chart writes ${who} key ${k}, which ${bin} does not know`);
  }
  return { errors, summary: `${known} keys of podflow-collector and podflow-sidecar --help-config: each a value (default the binary's) or the chart's; every key written known` };
};

// Live keys reload without a restart: a change to one leaves the pod
// template as it is; a change to a restart key changes it (a rollout).
function otherValue(v, info, key) {
  if (typeof v === "boolean") return !v;
  if (typeof v === "number") {
    const m = info.range.match(/^(\d+) to (\d+)/);
    return m && v + 1 > Number(m[2]) ? v - 1 : v + 1;
  }
  if (info.type === "log level") return v === "debug" ? "warn" : "debug";
  // above sidecar.config.interval (10s) plus 5s, or podflow.validate refuses it
  if (key === "attribution.heartbeat_grace") return v === "30s" ? "40s" : "30s";
  if (info.type === "duration") return v === "7s" ? "9s" : "7s";
  if (info.type === "bytes") return v === "8MiB" ? "16MiB" : "8MiB";
  if (Array.isArray(v)) return "{10.0.0.0/8}";
  if (v === "auto" && key === "attribution.verify_heartbeats") return "off";
  if (v === "auto") return "kafka"; // insight.source: what auto resolves to without Kafka is output
  if (key === "sinks.files.compressor") return v === "libdeflate" ? "isa-l" : "libdeflate";
  return undefined;
}

checks.live = (ctx) => {
  const errors = [];
  const table = helpConfig(join(ctx.build, "podflow-collector"));
  if (!table) return { errors: ["podflow-collector --help-config failed (build it first)"], summary: "" };
  const values = parseYaml(readFileSync(join(ctx.root, CHART, "values.yaml"), "utf8"));
  const base = helmTemplate(ctx, {});
  if (base.status !== 0) return { errors: [`helm template: ${firstLine(base.stderr)}`], summary: "" };
  const template = (r) => JSON.stringify(r.deployment.spec.template);
  const cm = (r) => r.find("ConfigMap", "podflow-collector").data["collector.yaml"];
  let n = 0;
  const changes = Object.entries(flatten(values.collector.config)).map(([k, v]) => [k, v, table.get(k)]).filter(([, , i]) => i)
    .map(([k, v, info]) => ({ what: `collector.config.${k}`, set: `collector.config.${k}=${otherValue(v, info, k)}`, key: k, live: info.live }));
  // the chart's own keys: inject.* are live (the contract), kafka and the pod watch are not
  changes.push({ what: "sidecar.image.tag", set: "sidecar.image.tag=9.9.9", key: "inject.image", live: true });
  changes.push({ what: "sidecar.resources.limits.memory", set: "sidecar.resources.limits.memory=256Mi", key: "inject.memory_limit", live: true });
  changes.push({ what: "sidecar.nativeSidecar", set: "sidecar.nativeSidecar=false", key: "inject.native_sidecar", live: true });
  changes.push({ what: "podWatch.lag", set: "podWatch.lag=3s", key: "kube.lag", live: false });
  changes.push({ what: "kafka.brokers", set: "kafka.brokers={k:9092}", key: "kafka.brokers", live: false });
  changes.push({ what: "webhook.maxBody", set: "webhook.maxBody=1MiB", key: "webhook.max_body", live: false });
  for (const c of changes) {
    if (c.set.endsWith("=undefined")) {
      errors.push(`${c.what}: no other value to try`);
      continue;
    }
    const info = table.get(c.key);
    if (info && info.live !== c.live) errors.push(`${c.what}: the check thinks it ${c.live ? "live" : "restart"}, podflow-collector says ${info.live ? "live" : "restart"}`);
    const t = helmTemplate(ctx, { set: [c.set] });
    if (t.status !== 0) {
      errors.push(`${c.what}: helm template --set ${c.set}: ${firstLine(t.stderr)}`);
      continue;
    }
    n++;
    if (cm(t.render) === cm(base.render)) errors.push(`${c.what}: --set ${c.set} did not change collector.yaml`);
    const rolled = template(t.render) !== template(base.render);
    if (c.live && rolled) errors.push(`${c.what} reloads live, yet changing it changes the pod template (every collector restarts)`);
    if (!c.live && !rolled) errors.push(`${c.what} needs a restart, yet changing it leaves the pod template as it is (the running value would stay)`);
  }
  return { errors, summary: `${n} values changed one at a time: live keys leave the pods running, restart keys roll them` };
};

// Who the webhook is called for, from the rendered selectors.
checks.optin = (ctx) => {
  const errors = [];
  const cases = [
    // [what, namespace labels, pod labels, called?]
    ["a pod in a namespace labelled podflow.io/inject=enabled", { "podflow.io/inject": "enabled" }, { app: "shop" }, true],
    ["a pod labelled podflow.io/inject=false there", { "podflow.io/inject": "enabled" }, { "podflow.io/inject": "false" }, false],
    ["a pod labelled podflow.io/inject=true there", { "podflow.io/inject": "enabled" }, { "podflow.io/inject": "true" }, true],
    ["a pod in a namespace not opted in", {}, { app: "shop" }, false],
    ["a pod labelled podflow.io/inject=false in a namespace not opted in", {}, { "podflow.io/inject": "false" }, false],
    ["a pod labelled podflow.io/inject=true in a namespace not opted in", { "kubernetes.io/metadata.name": "other" }, { "podflow.io/inject": "true" }, true],
    ["a pod in a namespace labelled podflow.io/inject=disabled", { "podflow.io/inject": "disabled" }, {}, false],
  ];
  const t = helmTemplate(ctx, {});
  if (t.status !== 0) return { errors: [`helm template: ${firstLine(t.stderr)}`], summary: "" };
  const r = t.render;
  const hooks = r.find("MutatingWebhookConfiguration").webhooks;
  const calls = (ns, pod) => hooks.filter((w) => selects(w.namespaceSelector, ns) && selects(w.objectSelector, pod)).length;
  for (const [what, ns, pod, want] of cases) {
    const n = calls(ns, pod);
    if (n > 1) errors.push(`${what}: sent to the webhook ${n} times`);
    if ((n === 1) !== want) errors.push(`${what}: ${n ? "sent to" : "not sent to"} the webhook`);
  }
  for (const p of [r.deployment.spec.template.metadata, r.find("Pod").metadata]) {
    for (const ns of [{ "podflow.io/inject": "enabled" }, {}]) if (calls(ns, p.labels)) errors.push(`the chart's own pod ${p.name ?? "collector"} is sent to the webhook`);
  }
  const one = helmTemplate(ctx, { set: ["webhook.podLabelOptIn=false"] });
  if (one.status !== 0 || one.render.find("MutatingWebhookConfiguration").webhooks.length !== 1) errors.push("webhook.podLabelOptIn=false does not leave the namespace entry alone");
  return { errors, summary: `${cases.length} pods: namespace label opts in, pod label true opts in elsewhere, label false opts out; the chart's pods never sent` };
};

checks.determinism = (ctx) => {
  const errors = [];
  const a = helmTemplate(ctx, {});
  const b = helmTemplate(ctx, {});
  if (a.status !== 0) return { errors: [`helm template: ${firstLine(a.stderr)}`], summary: "" };
  if (a.stdout !== b.stdout) errors.push("two renders with the default values differ");
  for (const f of variantFiles(ctx)) {
    const x = helmTemplate(ctx, { files: [f] });
    const y = helmTemplate(ctx, { files: [f] });
    if (x.stdout !== y.stdout) errors.push(`${basename(f)}: two renders differ`);
    if (/PRIVATE KEY/.test(x.stdout) || x.render?.all("Secret").some((s) => s.data || s.stringData)) errors.push(`${basename(f)}: a Secret with data in a render without a cluster`);
  }
  return { errors, summary: "every render without a cluster is the same twice and holds no secret" };
};

function renderManifest(ctx) {
  const r = run(ctx.helm, MANIFEST_ARGS, { cwd: ctx.root });
  if (r.status !== 0) return { error: `helm ${MANIFEST_ARGS.join(" ")}: ${firstLine(r.stderr)}` };
  return { text: MANIFEST_HEADER + r.stdout };
}

checks.manifests = async (ctx) => {
  const errors = [];
  const m = renderManifest(ctx);
  if (m.error) return { errors: [m.error], summary: "" };
  const path = join(ctx.root, MANIFEST);
  const have = existsSync(path) ? readFileSync(path, "utf8") : "";
  if (have !== m.text) {
    const a = have.split("\n");
    const b = m.text.split("\n");
    const i = a.findIndex((l, j) => l !== b[j]);
    errors.push(`${MANIFEST} is stale (first difference at line ${i + 1}: ${JSON.stringify(a[i] ?? "")} vs ${JSON.stringify(b[i] ?? "")}): run make manifests`);
  }
  errors.push(...yamllint(ctx, [path]));
  if (!errors.length) errors.push(...(await secretsScriptErrors(ctx, new Render(have))));
  return { errors, summary: `${MANIFEST} is the chart rendered with its defaults; deploy/manifests/secrets.sh makes the Secrets it mounts, valid` };
};

// deploy/manifests/secrets.sh --dry-run: the Secrets the manifest's pods
// mount, with one token and a certificate the webhook Service can serve.
async function secretsScriptErrors(ctx, manifest) {
  const errors = [];
  const r = run("bash", [join(ctx.root, "deploy/manifests/secrets.sh"), "--dry-run", "--sidecar-namespace", "shop", "--sidecar-namespace", "payments"]);
  if (r.status !== 0) return [`secrets.sh --dry-run: ${firstLine(r.stderr)}`];
  const out = new Render(r.stdout);
  errors.push(...(await validateRender(out)).map((m) => `secrets.sh: ${m}`));
  const vols = manifest.deployment.spec.template.spec.volumes;
  const inject = manifest.collectorConfig.inject;
  const token = (ns, name) => Buffer.from(out.find("Secret", name, ns)?.data?.token ?? "", "base64").toString();
  const t = token(NAMESPACE, vols.find((v) => v.name === "token").secret.secretName);
  if (!/^[A-Za-z0-9]{48}$/.test(t)) errors.push("secrets.sh: no 48-character token in the Secret the collector mounts");
  for (const ns of ["shop", "payments"]) if (token(ns, inject.token_secret) !== t) errors.push(`secrets.sh: ${ns}/${inject.token_secret} does not hold the collector's token`);
  const tls = out.find("Secret", vols.find((v) => v.name === "webhook-tls").secret.secretName, NAMESPACE);
  if (tls?.type !== "kubernetes.io/tls") return [...errors, "secrets.sh: no kubernetes.io/tls Secret where the collector mounts the webhook's certificate"];
  errors.push(...pkiErrors(tls, `${manifest.find("MutatingWebhookConfiguration").webhooks[0].clientConfig.service.name}.${NAMESPACE}.svc`, 3000).map((m) => `secrets.sh: ${m}`));
  if (!r.stdout.includes(`mutatingwebhookconfiguration ${manifest.find("MutatingWebhookConfiguration").metadata.name}:`)) errors.push("secrets.sh does not patch the manifest's MutatingWebhookConfiguration");
  const nw = run("bash", [join(ctx.root, "deploy/manifests/secrets.sh"), "--dry-run", "--no-webhook"]);
  if (nw.status !== 0 || new Render(nw.stdout).all("Secret").length !== 1 || /caBundle/.test(nw.stdout)) errors.push("secrets.sh --no-webhook: not the token alone");
  return errors;
}

// A kubernetes.io/tls Secret with ca.crt: the certificate verifies against
// the CA, names the host, is valid for `days` more days, and the key is its.
function pkiErrors(tls, host, days) {
  const errors = [];
  const dir = mkdtempSync(join(tmpdir(), "chart-pki-"));
  try {
    for (const k of ["ca.crt", "tls.crt", "tls.key"]) writeFileSync(join(dir, k), Buffer.from(tls.data?.[k] ?? "", "base64").toString());
    const v = run("openssl", ["verify", "-CAfile", join(dir, "ca.crt"), join(dir, "tls.crt")]);
    if (v.status !== 0) errors.push(`the certificate does not verify against its CA: ${firstLine(v.stdout + v.stderr)}`);
    const x = run("openssl", ["x509", "-in", join(dir, "tls.crt"), "-noout", "-ext", "subjectAltName", "-checkend", String(3600 * 24 * days)]);
    const names = (x.stdout.split("\n")[1] ?? "").split(",").map((n) => n.trim());
    if (!names.includes(`DNS:${host}`)) errors.push(`the certificate is not for ${host}: ${firstLine(x.stdout + x.stderr)}`);
    if (x.status !== 0) errors.push(`the certificate expires within ${days} days`);
    const a = run("openssl", ["x509", "-in", join(dir, "tls.crt"), "-noout", "-pubkey"]);
    const b = run("openssl", ["pkey", "-in", join(dir, "tls.key"), "-pubout"]);
    if (a.status !== 0 || a.stdout !== b.stdout) errors.push("the key is not the certificate's");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return errors;
}

// --- the values table of the chart's README, from values.yaml's "# --" comments

function valuesRows(text) {
  const doc = parseDocument(text);
  const rows = [];
  const leaves = [];
  const walk = (node, path) => {
    node.items.forEach((pair, i) => {
      const key = pair.key.value;
      const p = path ? `${path}.${key}` : key;
      let c = pair.key.commentBefore ?? "";
      if (i === 0 && !c && node.commentBefore) c = node.commentBefore;
      const lines = c.split("\n");
      const at = lines.map((l) => l.trimStart()).findLastIndex((l) => l.startsWith("-- "));
      if (at >= 0) {
        const desc = lines.slice(at).map((l) => l.trim()).join(" ").replace(/^-- /, "");
        rows.push({ path: p, value: pair.value?.toJSON(), desc });
      }
      if (isMap(pair.value) && pair.value.items.length) walk(pair.value, p);
      else leaves.push(p);
    });
  };
  walk(doc.contents, "");
  return { rows, leaves };
}

function valuesTable(text) {
  const { rows } = valuesRows(text);
  const cell = (s) => String(s).replace(/\|/g, "\\|");
  const lines = ["| value | default | meaning |", "|---|---|---|"];
  for (const r of rows) {
    const v = r.value === undefined || r.value === null ? "" : `\`${cell(JSON.stringify(r.value))}\``;
    lines.push(`| \`${r.path}\` | ${v} | ${cell(r.desc)} |`);
  }
  return lines.join("\n");
}

const TABLE_START = "<!-- values:table -->";
const TABLE_END = "<!-- /values:table -->";

function readmeWithTable(ctx) {
  const readme = readFileSync(join(ctx.root, CHART, "README.md"), "utf8");
  const a = readme.indexOf(TABLE_START);
  const b = readme.indexOf(TABLE_END);
  if (a < 0 || b < a) return { error: `${CHART}/README.md has no ${TABLE_START} ... ${TABLE_END}` };
  const table = valuesTable(readFileSync(join(ctx.root, CHART, "values.yaml"), "utf8"));
  return { have: readme, want: `${readme.slice(0, a + TABLE_START.length)}\n${table}\n${readme.slice(b)}` };
}

checks.docs = (ctx) => {
  const errors = [];
  const { rows, leaves } = valuesRows(readFileSync(join(ctx.root, CHART, "values.yaml"), "utf8"));
  const documented = new Set(rows.map((r) => r.path));
  for (const leaf of leaves) {
    const parts = leaf.split(".");
    if (!parts.some((_, i) => documented.has(parts.slice(0, i + 1).join(".")))) errors.push(`values.yaml: ${leaf} has no "# --" description (nor has any key above it)`);
  }
  const r = readmeWithTable(ctx);
  if (r.error) errors.push(r.error);
  else if (r.have !== r.want) errors.push(`${CHART}/README.md: the values table is stale: run make manifests`);
  return { errors, summary: `${rows.length} rows in ${CHART}/README.md's values table, every value covered, up to date` };
};

// --- a stand-in API server: what only a cluster shows.  `helm install
// --dry-run=server` against it: `lookup` works (kube-system exists, Secrets
// are read back), NOTES are printed; nothing is ever created.

function fakeApiServer(store, version = "32") {
  const groups = { apps: "v1", policy: "v1", autoscaling: "v2", "rbac.authorization.k8s.io": "v1", "admissionregistration.k8s.io": "v1", "cert-manager.io": "v1" };
  const resources = {
    v1: [["namespaces", "Namespace", false], ["secrets", "Secret", true], ["configmaps", "ConfigMap", true], ["pods", "Pod", true],
      ["services", "Service", true], ["serviceaccounts", "ServiceAccount", true], ["persistentvolumeclaims", "PersistentVolumeClaim", true]],
    "apps/v1": [["deployments", "Deployment", true]],
    "policy/v1": [["poddisruptionbudgets", "PodDisruptionBudget", true]],
    "autoscaling/v2": [["horizontalpodautoscalers", "HorizontalPodAutoscaler", true]],
    "rbac.authorization.k8s.io/v1": [["clusterroles", "ClusterRole", false], ["clusterrolebindings", "ClusterRoleBinding", false]],
    "admissionregistration.k8s.io/v1": [["mutatingwebhookconfigurations", "MutatingWebhookConfiguration", false]],
    "cert-manager.io/v1": [["certificates", "Certificate", true], ["issuers", "Issuer", true]],
  };
  const server = http.createServer((req, res) => {
    const p = new URL(req.url, "http://x").pathname;
    const send = (code, obj) => {
      res.statusCode = code;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(obj));
    };
    if (req.method !== "GET") return send(405, { kind: "Status", apiVersion: "v1", status: "Failure", code: 405 });
    if (p === "/version") return send(200, { major: "1", minor: version, gitVersion: `v1.${version}.0` });
    if (p === "/api") return send(200, { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: "127.0.0.1" }] });
    if (p === "/apis") {
      return send(200, { kind: "APIGroupList", apiVersion: "v1", groups: Object.entries(groups).map(([g, v]) => ({
        name: g, versions: [{ groupVersion: `${g}/${v}`, version: v }], preferredVersion: { groupVersion: `${g}/${v}`, version: v } })) });
    }
    const gv = p === "/api/v1" ? "v1" : /^\/apis\/[^/]+\/[^/]+$/.test(p) ? p.slice(6) : null;
    if (gv && resources[gv]) {
      return send(200, { kind: "APIResourceList", apiVersion: "v1", groupVersion: gv, resources: resources[gv].map(([name, kind, namespaced]) => ({
        name, singularName: "", namespaced, kind, verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] })) });
    }
    if (store[p]) return send(200, store[p]);
    if (/\/secrets$/.test(p)) return send(200, { kind: "SecretList", apiVersion: "v1", metadata: { resourceVersion: "1" }, items: [] });
    return send(404, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404 });
  });
  return new Promise((ready) => server.listen(0, "127.0.0.1", () => ready(server)));
}

async function installDryRun(ctx, store, { files = [], set = [], version } = {}) {
  const server = await fakeApiServer(store, version);
  const dir = mkdtempSync(join(tmpdir(), "chart-kube-"));
  try {
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(kubeconfig, `apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "http://127.0.0.1:${server.address().port}"}}]
contexts: [{name: fake, context: {cluster: fake, user: fake}}]
users: [{name: fake, user: {token: fake}}]
current-context: fake
`);
    const args = ["install", RELEASE, join(ctx.root, CHART), "--namespace", NAMESPACE, "--dry-run=server",
      "--disable-openapi-validation", ...valuesArgs(files)];
    for (const s of set) args.push("--set", s);
    const r = await runAsync(ctx.helm, args, { env: { ...process.env, KUBECONFIG: kubeconfig, HELM_CACHE_HOME: join(dir, "cache"), HELM_CONFIG_HOME: join(dir, "config"), HELM_DATA_HOME: join(dir, "data") } });
    if (r.status !== 0) return { error: firstLine(r.stderr || r.stdout) };
    const manifest = r.stdout.slice(r.stdout.indexOf("MANIFEST:") + 9, r.stdout.indexOf("NOTES:") < 0 ? undefined : r.stdout.indexOf("NOTES:"));
    const hooks = r.stdout.indexOf("HOOKS:");
    const text = hooks >= 0 && hooks < r.stdout.indexOf("MANIFEST:") ? r.stdout.slice(hooks + 6, r.stdout.indexOf("MANIFEST:")) + "\n---\n" + manifest : manifest;
    const notes = r.stdout.indexOf("NOTES:") >= 0 ? r.stdout.slice(r.stdout.indexOf("NOTES:") + 6) : "";
    return { render: new Render(text), notes };
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const KUBE_SYSTEM = { "/api/v1/namespaces/kube-system": { apiVersion: "v1", kind: "Namespace", metadata: { name: "kube-system" } } };
const secretPath = (ns, name) => `/api/v1/namespaces/${ns}/secrets/${name}`;
// An object as a Helm release left it in the cluster (what helm upgrade finds).
const released = (obj) => ({ ...obj, metadata: { ...obj.metadata,
  labels: { ...obj.metadata.labels, "app.kubernetes.io/managed-by": "Helm" },
  annotations: { ...obj.metadata.annotations, "meta.helm.sh/release-name": RELEASE, "meta.helm.sh/release-namespace": NAMESPACE } } });

checks.cluster = async (ctx) => {
  const errors = [];
  const sidecarNs = ["shop", "payments"];
  const set = [`sidecar.namespaces={${sidecarNs.join(",")}}`];
  // 1. a fresh install: the token and the certificate are generated
  const first = await installDryRun(ctx, { ...KUBE_SYSTEM }, { set });
  if (first.error) return { errors: [`helm install --dry-run=server: ${first.error}`], summary: "" };
  const r = first.render;
  errors.push(...(await validateRender(r)).map((m) => `fresh install: ${m}`));
  const tokenOf = (s) => Buffer.from(s?.data?.token ?? "", "base64").toString();
  const collectorToken = r.find("Secret", "podflow-ingest-token", NAMESPACE);
  const token = tokenOf(collectorToken);
  if (!/^[A-Za-z0-9]{48}$/.test(token)) errors.push(`fresh install: the collector's token is not 48 random characters (${JSON.stringify(token.slice(0, 8))}...)`);
  for (const ns of sidecarNs) if (tokenOf(r.find("Secret", "podflow-token", ns)) !== token) errors.push(`fresh install: ${ns}/podflow-token does not hold the collector's token`);
  const tls = r.find("Secret", "podflow-webhook-tls", NAMESPACE);
  if (tls?.type !== "kubernetes.io/tls") errors.push("fresh install: no kubernetes.io/tls Secret podflow-webhook-tls");
  const mwc = r.find("MutatingWebhookConfiguration");
  if (!tls || !mwc) return { errors, summary: "" };
  if (!mwc.webhooks.every((w) => w.clientConfig.caBundle === tls.data["ca.crt"])) errors.push("fresh install: the caBundle is not the generated CA");
  // the certificate: signed by that CA, for the webhook Service, its key
  errors.push(...pkiErrors(tls, `podflow-webhook.${NAMESPACE}.svc`, 3000).map((m) => `the webhook's certificate: ${m}`));
  // 2. an upgrade: the cluster has them, they are kept
  const store = { ...KUBE_SYSTEM, [secretPath(NAMESPACE, "podflow-ingest-token")]: released(collectorToken),
    [secretPath(NAMESPACE, "podflow-webhook-tls")]: released(tls) };
  for (const ns of sidecarNs) store[secretPath(ns, "podflow-token")] = released(r.find("Secret", "podflow-token", ns));
  const again = await installDryRun(ctx, store, { set: [`sidecar.namespaces={${[...sidecarNs, "extra"].join(",")}}`] });
  if (again.error) errors.push(`upgrade: ${again.error}`);
  else {
    const r2 = again.render;
    if (tokenOf(r2.find("Secret", "podflow-ingest-token")) !== token) errors.push("upgrade: the token changed (sidecars and collectors would disagree)");
    if (tokenOf(r2.find("Secret", "podflow-token", "extra")) !== token) errors.push("upgrade: a namespace added later does not get the kept token");
    const tls2 = r2.find("Secret", "podflow-webhook-tls");
    if (JSON.stringify(tls2?.data) !== JSON.stringify(tls.data)) errors.push("upgrade: the webhook's certificate changed");
    if (!r2.find("MutatingWebhookConfiguration").webhooks.every((w) => w.clientConfig.caBundle === tls.data["ca.crt"])) errors.push("upgrade: the caBundle changed");
  }
  // 3. another fresh install draws another token: generated, not a constant
  const other = await installDryRun(ctx, { ...KUBE_SYSTEM }, {});
  if (!other.error && tokenOf(other.render.find("Secret", "podflow-ingest-token")) === token) errors.push("two fresh installs drew the same token");
  // 4. your Secrets, cert-manager: nothing of theirs generated even with a cluster
  for (const [f, none] of [["existing-secrets.yaml", /./], ["cert-manager.yaml", /webhook/]]) {
    const x = await installDryRun(ctx, { ...KUBE_SYSTEM }, { files: [join(ctx.root, VARIANTS, f)] });
    if (x.error) errors.push(`${f}: ${x.error}`);
    else if (x.render.all("Secret").some((s) => none.test(s.metadata.name))) errors.push(`${f}: the chart generated a Secret that is not its to make`);
    else if (f === "existing-secrets.yaml" && !/create secret generic podflow-token/.test(x.notes)) errors.push(`${f}: NOTES do not say how to copy your token into the sidecar namespaces`);
  }
  // 5. NOTES: what to label, where to look, and the embedded default without Kafka
  const notes = first.notes;
  for (const [what, re] of [["the namespace label", /kubectl label namespace NAMESPACE podflow\.io\/inject=enabled/],
    ["the pod label", /podflow\.io\/inject: "true"/], ["how to verify injection", /podflow\\\.io\/status/],
    ["the embedded default without Kafka", /No Kafka is configured.*\n.*embedded default, files only/],
    ["where the files are", /\/var\/lib\/podflow\/flows\/dt=YYYY-MM-DD\/hr=HH/], ["the helm test", /helm test podflow/],
    ["the sidecar namespaces", /Namespaces with the sidecar's ConfigMap and token now: shop, payments/],
    ["failurePolicy Ignore", /WITHOUT the sidecar/],
    ["how to reach the insight UI", /port-forward deploy\/podflow-collector 9095\n.*http:\/\/127\.0\.0\.1:9095\//]]) {
    if (!re.test(notes)) errors.push(`NOTES do not tell ${what}`);
  }
  const kafka = await installDryRun(ctx, { ...KUBE_SYSTEM }, { files: [join(ctx.root, VARIANTS, "kafka.yaml")] });
  if (kafka.error || !/attributed flows on topic flows\.v1/.test(kafka.notes) || /embedded default/.test(kafka.notes)) errors.push("NOTES with Kafka do not name the flows topic (or still speak of the embedded default)");
  // 6. a cluster older than 1.29 refuses native sidecars
  const old = await installDryRun(ctx, { ...KUBE_SYSTEM }, { version: "28" });
  if (!old.error || !/sidecar\.nativeSidecar needs Kubernetes 1\.29/.test(old.error)) errors.push(`a 1.28 cluster: native sidecars not refused (${old.error ?? "installed"})`);
  return { errors, summary: "helm install --dry-run=server against a stand-in API server: token and certificate generated, valid, shared, kept on upgrade; NOTES" };
};

// ---------------------------------------------------------------------------
// self-test: each break must make its check fail

const BREAKS = [
  ["render", `${CHART}/templates/collector-deployment.yaml`, "readinessProbe:", "readinesProbe:", /unknown field .*readinesProbe/],
  ["render", `${CHART}/templates/collector-deployment.yaml`, "containerPort: 7070", 'containerPort: "7070"', /containerPort must be integer/],
  ["render", `${CHART}/templates/collector-configmap.yaml`, "kind: ConfigMap", "kind: ConfigMap   ", /trailing-spaces/],
  ["render", `${CHART}/templates/rbac.yaml`, '["get", "list", "watch"]', '["get", "list", "watch", "create"]', /more than get\/list\/watch pods/],
  ["render", `${CHART}/templates/_helpers.tpl`, '"listen" ":7070"', '"listen" ":7071"', /listen is :7071/],
  ["render", `${CHART}/values.yaml`, "failurePolicy: Ignore", "failurePolicy: Fail", /failurePolicy.*are not Ignore/],
  ["render", `${CHART}/templates/collector-deployment.yaml`, 'podflow.io/inject: "false"', 'podflow.io/inject: "no"', /sends the collector's own pods/],
  ["broken", `${CHART}/values.schema.json`, '"additionalProperties": false,\n  "required"', '"additionalProperties": true,\n  "required"', /unknown-top-key.yaml: helm template accepted it/],
  ["broken", `${BROKEN}/timeout-over-30.yaml`, "timeoutSeconds: 60", "timeoutSeconds: 20", /timeout-over-30.yaml: helm template accepted it/],
  ["broken", `${BROKEN}/unknown-top-key.yaml`, "# expect: (root)", "# expect: (wrong)", /failed, but not with/],
  ["keys", `${CHART}/values.yaml`, "max_streams: 64", "max_streams: 65", /max_streams: default 65/],
  ["keys", `${CHART}/templates/_helpers.tpl`, '"data_dir" "/var/lib/podflow"', '"datadir" "/var/lib/podflow"', /writes collector key datadir/],
  ["live", `${CHART}/templates/collector-deployment.yaml`, "      annotations:\n", '      annotations:\n        checksum/config: {{ include "podflow.collectorConfig" . | sha256sum }}\n', /reloads live, yet changing it changes the pod template/],
  ["live", `${CHART}/templates/_helpers.tpl`, '"stats_interval" "log"', '"stats_interval"', /log\.level reloads live/],
  ["live", `${CHART}/templates/_helpers.tpl`, '"max_connections_per_peer" "stats_interval"', '"max_connections_per_peer" "stats_interval" "max_streams"', /max_streams needs a restart/],
  ["optin", `${CHART}/templates/webhook.yaml`, '"NotIn" "In" "true"', '"NotIn" "Exists" "true"', /inject=false in a namespace not opted in: sent to/],
  ["determinism", `${CHART}/templates/token-secrets.yaml`, '{{- else if include "podflow.cluster" . -}}', "{{- else -}}", /differ|Secret with data/],
  ["manifests", MANIFEST, "kind: Deployment", "kind: Deployment\n# edited by hand", /is stale/],
  ["docs", `${CHART}/values.yaml`, "  # -- Seconds between SIGTERM and SIGKILL", "  # Seconds between SIGTERM and SIGKILL", /terminationGracePeriodSeconds has no/],
  ["docs", `${CHART}/values.yaml`, "# -- Collector image tag; empty", "# -- The collector image tag; empty", /values table is stale/],
  ["cluster", `${CHART}/templates/token-secrets.yaml`, "{{- $token = index $kept.data \"token\" | b64dec -}}", "{{- $token = randAlphaNum 48 -}}", /upgrade: the token changed/],
  ["cluster", `${CHART}/templates/webhook.yaml`, "{{- $caBundle = index . \"ca.crt\" -}}", "{{- $caBundle = index . \"tls.crt\" -}}", /caBundle is not the generated CA/],
  ["cluster", `${CHART}/templates/NOTES.txt`, "embedded default, files only", "default setup", /embedded default without Kafka/],
  ["manifests", "deploy/manifests/secrets.sh", "DNS:%s.%s.svc\\n", "DNS:%s.%s.svc.example\\n", /secrets\.sh: the certificate is not for podflow-webhook\.podflow\.svc/],
  ["manifests", "deploy/manifests/secrets.sh", 'secret "$s" podflow-token Opaque "token=$token_b64"', 'secret "$s" podflow-token Opaque "token=$(printf x | b64)"', /does not hold the collector's token/],
  ["render", `${CHART}/templates/collector-deployment.yaml`, "mountPath: /etc/podflow/collector\n", "mountPath: /etc/podflow/collector\n              subPath: collector.yaml\n", /subPath \(never updated/],
];

function copyTree(root) {
  const dst = mkdtempSync(join(tmpdir(), "chart-self-test-"));
  for (const p of [CHART, "deploy/manifests", "tests/k8s/chart", YAMLLINT_CONFIG]) {
    mkdirSync(dirname(join(dst, p)), { recursive: true });
    cpSync(join(root, p), join(dst, p), { recursive: true });
  }
  return dst;
}

// shard K of N (make check-chart runs N at once): every Nth check and break, from the Kth
function inShard(ctx, i) {
  return i % ctx.shards === ctx.shard;
}

async function selfTest(ctx) {
  let failed = 0;
  let baselines = 0;
  const baseline = copyTree(ctx.root);
  const names = [...new Set(BREAKS.map((b) => b[0]))].filter((_, i) => inShard(ctx, i));
  const breaks = BREAKS.filter((_, i) => inShard(ctx, i));
  try {
    for (const name of names) {
      const r = await checks[name]({ ...ctx, root: baseline });
      if (r.errors.length) {
        baselines++;
        console.log(`  FAIL self-test: ${name} fails on the unbroken chart: ${r.errors[0]}`);
      }
    }
  } finally {
    rmSync(baseline, { recursive: true, force: true });
  }
  for (const [name, file, from, to, expect] of breaks) {
    const root = copyTree(ctx.root);
    try {
      const path = join(root, file);
      const text = readFileSync(path, "utf8");
      if (!text.includes(from)) {
        failed++;
        console.log(`  FAIL self-test: ${file} has no ${JSON.stringify(from)} to break`);
        continue;
      }
      writeFileSync(path, text.replace(from, to));
      const r = await checks[name]({ ...ctx, root });
      const hit = r.errors.some((e) => expect.test(e));
      if (!hit) {
        failed++;
        console.log(`  FAIL self-test: ${name} did not catch ${file}: ${JSON.stringify(from)} -> ${JSON.stringify(to)} (${r.errors.length ? r.errors[0] : "it passed"})`);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
  const shard = ctx.shards > 1 ? `, shard ${ctx.shard + 1} of ${ctx.shards}` : "";
  console.log(`chart-check self-test: ${breaks.length - failed} passed, ${failed} failed (${breaks.length} breaks of the chart, each caught by its check; ${names.length - baselines} of ${names.length} checks pass on the unbroken copy${shard})`);
  return failed === 0 && baselines === 0;
}

// ---------------------------------------------------------------------------

async function main() {
  const [mode, ...rest] = process.argv.slice(2);
  const opt = {};
  for (let i = 0; i < rest.length; i += 2) {
    if (!rest[i].startsWith("--") || rest[i + 1] === undefined) die(`bad argument ${rest[i]}`);
    opt[rest[i].slice(2)] = rest[i + 1];
  }
  const ctx = { root: resolve(opt.root ?? REPO), helm: opt.helm && resolve(opt.helm), build: opt.build && resolve(opt.build), shard: 0, shards: 1 };
  if (opt.shard) {
    const m = opt.shard.match(/^(\d+)\/(\d+)$/);
    if (!m || Number(m[2]) < 1 || Number(m[1]) < 1 || Number(m[1]) > Number(m[2])) die(`--shard ${opt.shard}: expected K/N, 1 <= K <= N`);
    ctx.shard = Number(m[1]) - 1;
    ctx.shards = Number(m[2]);
  }
  if (!ctx.helm || !existsSync(ctx.helm)) die("--helm HELM: the helm binary (make deps-k8s)");
  if (mode === "update") {
    const m = renderManifest(ctx);
    if (m.error) die(m.error);
    mkdirSync(dirname(join(ctx.root, MANIFEST)), { recursive: true });
    writeFileSync(join(ctx.root, MANIFEST), m.text);
    const r = readmeWithTable(ctx);
    if (r.error) die(r.error);
    writeFileSync(join(ctx.root, CHART, "README.md"), r.want);
    console.log(`  wrote ${MANIFEST} and the values table of ${CHART}/README.md`);
    return;
  }
  if (!ctx.build || !existsSync(ctx.build)) die("--build BUILD: the build directory with podflow-collector and podflow-sidecar");
  if (mode === "self-test") process.exit((await selfTest(ctx)) ? 0 : 1);
  if (mode !== "check") die(`usage: ${basename(process.argv[1])} check|self-test|update --helm HELM [--build BUILD] [--root DIR] [--only NAME,...] [--shard K/N]`);
  const only = (opt.only ? opt.only.split(",") : Object.keys(checks)).filter((_, i) => inShard(ctx, i));
  let passed = 0;
  let failed = 0;
  for (const name of only) {
    if (!checks[name]) die(`no check ${name}`);
    const r = await checks[name](ctx);
    if (r.errors.length) {
      failed++;
      console.log(`  FAIL chart ${name}:`);
      for (const e of r.errors) console.log(`         ${e}`);
    } else {
      passed++;
      console.log(`  ok   chart ${name}: ${r.summary}`);
    }
  }
  console.log(`chart-check: ${passed} passed, ${failed} failed${ctx.shards > 1 ? ` (shard ${ctx.shard + 1} of ${ctx.shards})` : ""}`);
  process.exit(failed ? 1 : 0);
}

await main();
