// SPDX-License-Identifier: BSD-2-Clause
/* The collector's configuration: one struct, its table of keys, its defaults. */
#include "collector_config.h"
#include "admission.h"
#include "files.h"
#include "insight.h"
#include "ipfix.h"
#include "kafka_feed.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"
#include "listen_addr.h"

#define S   DURATION_NS_PER_S
#define MIB (1ULL << 20)

/* a.b.0.0/n in the 16-byte form (ip.h): v4-mapped, `bits` 96 + n */
#define V4(a, b, bits)                                                                         \
	{                                                                                      \
		.addr = { [10] = 0xff, [11] = 0xff, [12] = (a), [13] = (b) }, .prefix = (bits) \
	}

static const struct collector_config defaults = {
	.listen = ":7070",
	.data_dir = "./podflow-data",
	.workers = 0,
	.max_body = 16 * MIB,
	.max_decoded = 32 * MIB,
	.max_batch_records = 262144,
	.max_header_list = 16384,
	.max_buffered = 256 * MIB,
	.max_connections = 1024,
	.max_connections_per_peer = 512,
	.max_streams = 64,
	.idle_ns = 120 * S,
	.request_ns = 30 * S,
	.ingest_max_skew_ns = 300 * S,
	.ingest_max_age_ns = 7 * 24 * 3600 * S,
	.stats_interval_ns = 60 * S,
	.null_sink = false,
	.log_level = LOG_LEVEL_INFO,
	.admin = ":9090",
	.api_listen = "127.0.0.1:9095",
	.attribution = true,
	.max_delay_ns = 30 * S,
	.retention_ns = 3600 * S,
	.heartbeat_grace_ns = 20 * S,
	.heartbeat_max_skew_ns = 5 * S,
	.max_delayed = 262144,
	.max_ranges = 4194304,
	.sonar_topic = "podflow.ip-events",
	.ranges_topic = "podflow.ip-ranges",
	.kube_lag_ns = S,
	.files = true,
	.jsonl = false,
	.files_max_bytes = 128ULL << 20,
	.files_max_age_ns = 300 * S,
	.kafka_sink = true,
	.kafka_topic = "podflow.flows",
	.files_compressor = "libdeflate",
	.kafka_compression = "zstd",
	.verify_heartbeats = "auto",
	.kafka_linger_ns = 50 * DURATION_NS_PER_MS,
	.kafka_batch_messages = 10000,
	.kafka_max_queued = 200000,
	.webhook_max_body = 4 * MIB,
	.inject_image = "podflow-sidecar:latest",
	.inject_pull_policy = "IfNotPresent",
	.inject_native_sidecar = true,
	.inject_config_map = "podflow-sidecar",
	.inject_token_secret = "podflow-token",
	.inject_cpu_request = "20m",
	.inject_memory_request = "32Mi",
	.inject_memory_limit = "128Mi",
	.insight = true,
	.insight_source = "output",
	.insight_window_ns = 3600 * S,
	.insight_resolution_ns = 60 * S,
	.insight_max_edges = 8192,
	.insight_rebuild = true,
	.ipfix_workers = 1,
	.ipfix_rcvbuf = 8 * MIB,
	.ipfix_max_exporters = IPFIX_DEFAULT_MAX_EXPORTERS,
	.ipfix_max_templates = IPFIX_DEFAULT_MAX_TEMPLATES,
	.ipfix_pen = IPFIX_DEFAULT_PEN,
	/*
	 * Loopback and the private ranges pod networks are carved from
	 * (docs/security.md, "IPFIX"): a collector reachable from the Internet
	 * takes no datagram from there unless told to.
	 */
	.ipfix_allow = { .n = 7,
			 .cidr = { V4(127, 0, 104),
				   V4(10, 0, 104),
				   V4(172, 16, 108),
				   V4(192, 168, 112),
				   V4(100, 64, 106),
				   { .addr = { [15] = 1 }, .prefix = 128 },
				   { .addr = { 0xfc }, .prefix = 7 } } },
};

#define F(field) offsetof(struct collector_config, field)

static const struct config_key keys[] = {
	{ "listen", "listen", CONFIG_ADDR_PORT, F(listen), 0, 0, false,
	  "ingest address: :PORT (every address), IP:PORT or [IPv6]:PORT; port 0 picks one" },
	{ "data_dir", "data-dir", CONFIG_STRING, F(data_dir), 0, 4096, false,
	  "output directory, created if missing" },
	{ "tls.cert_file", "tls-cert", CONFIG_STRING, F(tls_cert), 0, 4096, false,
	  "PEM certificate chain: serve TLS with ALPN h2 (with tls.key_file)" },
	{ "tls.key_file", "tls-key", CONFIG_STRING, F(tls_key), 0, 4096, false,
	  "PEM private key of tls.cert_file" },
	{ "tls.client_ca_file", "tls-client-ca", CONFIG_STRING, F(tls_client_ca), 0, 4096, false,
	  "mTLS: require a client certificate signed by a CA in this file" },
	{ "token_file", "token-file", CONFIG_STRING, F(token_file), 0, 4096, false,
	  "require Authorization: Bearer <the token in this file>; re-read when it changes" },
	{ "workers", "workers", CONFIG_U32, F(workers), 0, 256, false,
	  "worker threads, each with its own listener; 0: one per online CPU" },
	{ "max_body", "max-body", CONFIG_BYTES, F(max_body), 1024, 1ULL << 30, false,
	  "largest request body (413 beyond)" },
	{ "max_decoded", "max-decoded", CONFIG_BYTES, F(max_decoded), 64 * 1024, 4ULL << 30, false,
	  "largest batch once decompressed (413 beyond): what a small compressed body may "
	  "expand to" },
	{ "max_batch_records", "max-batch-records", CONFIG_U32, F(max_batch_records), 1, 262144,
	  false, "most records one batch may carry (413 beyond)" },
	{ "max_header_list", "max-header-list", CONFIG_BYTES, F(max_header_list), 4096, 1 << 20,
	  false,
	  "largest request header list (SETTINGS_MAX_HEADER_LIST_SIZE; 431 beyond); it must hold "
	  "the Authorization and podflow-identity tokens" },
	{ "max_buffered", "max-buffered", CONFIG_BYTES, F(max_buffered), 1024, 64ULL << 30, false,
	  "request bytes one worker may buffer before answering 429" },
	{ "max_connections", "max-connections", CONFIG_U32, F(max_connections), 1, 1u << 20, false,
	  "connections per worker; more are closed at accept" },
	{ "max_connections_per_peer", "max-connections-per-peer", CONFIG_U32,
	  F(max_connections_per_peer), 0, 1u << 20, true,
	  "connections one client address may hold, all workers together; more are closed at "
	  "accept (0: no cap)" },
	{ "max_streams", "max-streams", CONFIG_U32, F(max_streams), 1, 1024, false,
	  "concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS)" },
	{ "idle_timeout", "idle-timeout", CONFIG_DURATION, F(idle_ns), 100 * DURATION_NS_PER_MS,
	  24 * 3600 * S, false, "close a connection with no request for this long" },
	{ "request_timeout", "request-timeout", CONFIG_DURATION, F(request_ns),
	  100 * DURATION_NS_PER_MS, 24 * 3600 * S, false,
	  "a request's headers to its last byte, else 408" },
	{ "ingest.max_clock_skew", "ingest-max-clock-skew", CONFIG_DURATION, F(ingest_max_skew_ns),
	  S, 7 * 24 * 3600 * S, true,
	  "how far ahead of this collector's clock a record may end; one that ends later is not "
	  "written (counted)" },
	{ "ingest.max_record_age", "max-record-age", CONFIG_DURATION, F(ingest_max_age_ns), 0,
	  3650 * 24 * 3600 * S, true,
	  "how long ago a record may start; one that starts earlier is not written (counted); 0s: "
	  "no bound" },
	{ "stats_interval", "stats-interval", CONFIG_DURATION, F(stats_interval_ns), 0,
	  24 * 3600 * S, true, "period of the stats line on stderr; 0s: only at exit" },
	{ "null_sink", NULL, CONFIG_BOOL, F(null_sink), 0, 1, false,
	  "decode and count, write nothing: the benchmark's baseline (flag --null-sink)" },
	{ "log.level", "log-level", CONFIG_LOG_LEVEL, F(log_level), 0, 0, true,
	  "warn, info or debug" },
	{ "admin", "admin", CONFIG_ADDR_PORT, F(admin), 0, 0, false,
	  "probe and metrics endpoint: /metrics, /healthz, /readyz (empty: none)" },
	{ "api.listen", "admin-api", CONFIG_ADDR_PORT, F(api_listen), 0, 0, false,
	  "introspection API: /config, /ownership; off loopback it needs api.token_file "
	  "(empty: none)" },
	{ "api.token_file", "admin-api-token-file", CONFIG_STRING, F(api_token_file), 0, 4096,
	  false,
	  "the API requires Authorization: Bearer <the token in this file>; re-read when it "
	  "changes" },
	{ "attribution.enabled", NULL, CONFIG_BOOL, F(attribution), 0, 1, false,
	  "name every record's remote side; false: records go out unattributed at once" },
	{ "attribution.max_delay", "max-delay", CONFIG_DURATION, F(max_delay_ns), 0, 3600 * S, true,
	  "longest a record waits for evidence of its remote owner before it goes out "
	  "unattributed" },
	{ "attribution.retention", "retention", CONFIG_DURATION, F(retention_ns), 60 * S,
	  7 * 24 * 3600 * S, true,
	  "ownership history kept after it ends; also how far Kafka feeds are replayed at start" },
	/*
	 * At least 1s: above what the quickest sidecar needs (its shortest
	 * interval, 100ms, plus its first retry, at most 100ms); whether it is
	 * above what the sidecars in use need, ingest counts (heartbeats_late).
	 */
	{ "attribution.heartbeat_grace", "heartbeat-grace", CONFIG_DURATION, F(heartbeat_grace_ns),
	  S, 3600 * S, true,
	  "how late a sidecar's heartbeat may come (its interval plus retries); past it, an "
	  "address no heartbeat covered is taken as no sidecar's" },
	{ "attribution.heartbeat_max_skew", "heartbeat-max-skew", CONFIG_DURATION,
	  F(heartbeat_max_skew_ns), 0, 600 * S, true,
	  "how far ahead of this collector's clock a heartbeat may end; one that ends later is "
	  "not used (counted)" },
	{ "attribution.max_delayed", "max-delayed", CONFIG_U32, F(max_delayed), 1, 1u << 24, false,
	  "records held back at once; beyond, the oldest go out unattributed (counted)" },
	{ "attribution.max_ranges", "max-ranges", CONFIG_U32, F(max_ranges), 1024, 1u << 28, false,
	  "ownership ranges held; beyond, those that ended earliest are dropped (counted)" },
	{ "attribution.verify_heartbeats", "verify-heartbeats", CONFIG_STRING, F(verify_heartbeats),
	  1, 16, false,
	  "auto, required or off: use a sidecar's heartbeats only once its projected token is "
	  "verified with a TokenReview and names its pod (docs/attribution.md); auto: required "
	  "when kube.api is set, else off (every sender holding the ingest token is trusted)" },
	{ "attribution.sonar_topic", "sonar-topic", CONFIG_STRING, F(sonar_topic), 0, 249, false,
	  "Kafka topic of IP assign/unassign events (docs/ip-events.md); empty: none" },
	{ "attribution.ranges_topic", "ranges-topic", CONFIG_STRING, F(ranges_topic), 0, 249, false,
	  "Kafka topic where replicas share the ranges heartbeats give; empty: none" },
	{ "kafka.brokers", "kafka-brokers", CONFIG_STRING, F(kafka_brokers), 0, 4096, false,
	  "bootstrap brokers HOST:PORT,...; unset: no Kafka (one collector alone)" },
	{ "kube.api", "kube-api", CONFIG_STRING, F(kube_api), 0, 4096, false,
	  "Kubernetes API for the pod watch: in-cluster, or a URL (http:// is plain text: tests only); unset: "
	  "none" },
	{ "kube.token_file", "kube-token-file", CONFIG_STRING, F(kube_token_file), 0, 4096, false,
	  "bearer token for the API (re-read when it changes; in-cluster: the service "
	  "account's)" },
	{ "kube.ca_file", "kube-ca-file", CONFIG_STRING, F(kube_ca_file), 0, 4096, false,
	  "CA bundle for an https API (in-cluster: the service account's)" },
	{ "kube.lag", "kube-lag", CONFIG_DURATION, F(kube_lag_ns), 0, 60 * S, false,
	  "how far behind the live watch may be: its view counts as complete up to now minus "
	  "this" },
	{ "collector_id", "collector-id", CONFIG_STRING, F(collector_id), 0, 64, false,
	  "this replica's name in output file names ([A-Za-z0-9_.-]); unset: the host name" },
	{ "sinks.files.enabled", NULL, CONFIG_BOOL, F(files), 0, 1, false,
	  "write DATA_DIR/flows/dt=YYYY-MM-DD/hr=HH/part-*.json.gz (docs/files.md)" },
	{ "sinks.files.max_bytes", "files-max-bytes", CONFIG_BYTES, F(files_max_bytes), 4096,
	  64ULL << 30, false, "publish (rename into place) a file once it is this large" },
	{ "sinks.files.max_age", "files-max-age", CONFIG_DURATION, F(files_max_age_ns), S,
	  24 * 3600 * S, false, "publish a file once it has been open this long" },
	{ "sinks.files.compressor", "files-compressor", CONFIG_STRING, F(files_compressor), 1, 16,
	  false,
	  "libdeflate (level 3: the smaller files) or isa-l (ISA-L's igzip: about 2.5 times the "
	  "records per core, about a quarter more bytes); both write standard gzip (docs/files.md)" },
	{ "sinks.jsonl.enabled", NULL, CONFIG_BOOL, F(jsonl), 0, 1, false,
	  "also write plain JSON lines, DATA_DIR/flows-w<N>.jsonl and flows-late.jsonl (tail -f, "
	  "tests)" },
	{ "sinks.kafka.enabled", NULL, CONFIG_BOOL, F(kafka_sink), 0, 1, false,
	  "with kafka.brokers: produce every record to sinks.kafka.topic (docs/kafka-sink.md)" },
	{ "sinks.kafka.topic", "kafka-topic", CONFIG_STRING, F(kafka_topic), 1, 249, false,
	  "topic of attributed flows, one JSON record per message, keyed by local_app" },
	{ "sinks.kafka.compression", "kafka-compression", CONFIG_STRING, F(kafka_compression), 0,
	  16, false, "zstd, lz4, snappy, gzip or none (zstd needs brokers >= 2.1)" },
	{ "sinks.kafka.linger", "kafka-linger", CONFIG_DURATION, F(kafka_linger_ns), 0, 60 * S,
	  false, "how long the producer waits to fill a batch (linger.ms)" },
	{ "sinks.kafka.batch_messages", "kafka-batch-messages", CONFIG_U32, F(kafka_batch_messages),
	  1, 1000000, false, "most messages in one produce request (batch.num.messages)" },
	{ "sinks.kafka.max_queued", "kafka-max-queued", CONFIG_U32, F(kafka_max_queued), 1,
	  10000000, false, "records queued for Kafka at most; beyond, ingest answers 429" },
	{ "webhook.listen", "webhook", CONFIG_ADDR_PORT, F(webhook_listen), 0, 0, false,
	  "injection webhook, HTTPS: POST /mutate (docs/webhook.md); needs webhook.cert_file, "
	  "webhook.key_file and inject.collector_url (unset: none)" },
	{ "webhook.cert_file", "webhook-cert", CONFIG_STRING, F(webhook_cert), 0, 4096, false,
	  "PEM certificate chain of the webhook; re-read when it changes (within a second)" },
	{ "webhook.key_file", "webhook-key", CONFIG_STRING, F(webhook_key), 0, 4096, false,
	  "PEM private key of webhook.cert_file; re-read with it" },
	{ "webhook.max_body", NULL, CONFIG_BYTES, F(webhook_max_body), 64 * 1024, 64 * MIB, false,
	  "largest AdmissionReview accepted (413 beyond)" },
	{ "inject.image", "inject-image", CONFIG_STRING, F(inject_image), 1, 1024, true,
	  "the sidecar image the patch names" },
	{ "inject.image_pull_policy", NULL, CONFIG_STRING, F(inject_pull_policy), 1, 16, true,
	  "Always, IfNotPresent or Never" },
	{ "inject.native_sidecar", NULL, CONFIG_BOOL, F(inject_native_sidecar), 0, 1, true,
	  "inject a native sidecar (the first init container, restartPolicy: Always; Kubernetes "
	  ">= 1.29); false: the first container" },
	{ "inject.collector_url", "inject-collector-url", CONFIG_STRING, F(inject_collector_url), 0,
	  2048, true,
	  "where injected sidecars export: http(s)://HOST:PORT (required with webhook.listen)" },
	{ "inject.config_map", NULL, CONFIG_STRING, F(inject_config_map), 0, 253, true,
	  "ConfigMap (key sidecar.yaml, the pod's namespace) mounted optional at "
	  "/etc/podflow/sidecar (empty: none)" },
	{ "inject.token_secret", NULL, CONFIG_STRING, F(inject_token_secret), 0, 253, true,
	  "Secret (key token, the pod's namespace) mounted optional at /var/run/secrets/podflow "
	  "(empty: no token)" },
	{ "inject.cpu_request", NULL, CONFIG_STRING, F(inject_cpu_request), 0, 32, true,
	  "the sidecar's CPU request, a Kubernetes quantity (empty: none)" },
	{ "inject.memory_request", NULL, CONFIG_STRING, F(inject_memory_request), 0, 32, true,
	  "the sidecar's memory request (empty: none)" },
	{ "inject.cpu_limit", NULL, CONFIG_STRING, F(inject_cpu_limit), 0, 32, true,
	  "the sidecar's CPU limit (empty: none)" },
	{ "inject.memory_limit", NULL, CONFIG_STRING, F(inject_memory_limit), 0, 32, true,
	  "the sidecar's memory limit (empty: none)" },
	{ "insight.enabled", NULL, CONFIG_BOOL, F(insight), 0, 1, false,
	  "keep the insight view (the /api/v1/ API and the web UI on api.listen, docs/api.md)" },
	{ "insight.source", "insight-source", CONFIG_STRING, F(insight_source), 1, 16, false,
	  "where the view's records come from: output (this collector's, tapped in-process) or "
	  "kafka (every collector's, from sinks.kafka.topic, with its own consumer group)" },
	{ "insight.window", "insight-window", CONFIG_DURATION, F(insight_window_ns), 60 * S,
	  24 * 3600 * S, false, "how far back the view reaches" },
	{ "insight.resolution", "insight-resolution", CONFIG_DURATION, F(insight_resolution_ns), S,
	  3600 * S, false, "the view's bucket: window / resolution buckets (whole, at most 1440)" },
	{ "insight.max_edges", "insight-max-edges", CONFIG_U32, F(insight_max_edges), 16, 1u << 20,
	  false,
	  "keys (local app, remote app, port, direction) the view holds; the records of more fold "
	  "into one overflow key (counted)" },
	{ "insight.rebuild", NULL, CONFIG_BOOL, F(insight_rebuild), 0, 1, false,
	  "at start, read the window back: from the files under data_dir (source output) or "
	  "from the topic's retention (source kafka)" },
	{ "insight.kafka_group", "insight-kafka-group", CONFIG_STRING, F(insight_group), 1, 249,
	  false,
	  "the Kafka consumer group of source kafka (default podflow-insight-<collector "
	  "id>: one per replica, so that each reads every partition)" },
	{ "ipfix.listen", "ipfix-listen", CONFIG_ADDR_PORT, F(ipfix_listen), 0, 0, false,
	  "IPFIX over UDP (RFC 7011) from sidecars exporting to udp://: :PORT (every address), "
	  "IP:PORT or [IPv6]:PORT; 4739 is IANA's port; unauthenticated, see ipfix.allow_cidrs "
	  "(unset: none; docs/ipfix.md)" },
	{ "ipfix.workers", "ipfix-workers", CONFIG_U32, F(ipfix_workers), 0, 256, false,
	  "IPFIX threads, each with its own SO_REUSEPORT socket, decoder and output writer; 0: one "
	  "per online CPU" },
	{ "ipfix.rcvbuf", "ipfix-rcvbuf", CONFIG_BYTES, F(ipfix_rcvbuf), 64 * 1024, 512 * MIB,
	  false,
	  "receive buffer asked for each IPFIX socket, what absorbs a burst (SO_RCVBUFFORCE, else "
	  "SO_RCVBUF within net.core.rmem_max; the kernel's value is logged and a gauge)" },
	{ "ipfix.max_exporters", "ipfix-max-exporters", CONFIG_U32, F(ipfix_max_exporters), 1,
	  IPFIX_MAX_MAX_EXPORTERS, false,
	  "exporters (address, port, observation domain) each IPFIX worker keeps templates, "
	  "sequence and identity for, and labels metrics with; beyond, the least recently seen is "
	  "forgotten (counted)" },
	{ "ipfix.max_templates", "ipfix-max-templates", CONFIG_U32, F(ipfix_max_templates), 4,
	  IPFIX_MAX_MAX_TEMPLATES, false,
	  "templates one exporter may hold (podflow's use 4); a message defining more is refused "
	  "(counted malformed)" },
	{ "ipfix.pen", "ipfix-pen", CONFIG_U32, F(ipfix_pen), 1, UINT32_MAX, false,
	  "Private Enterprise Number of podflow's own elements, the sidecars' ipfix.pen (32473: "
	  "RFC 5612's documentation number, a placeholder; not 29305)" },
	{ "ipfix.allow_cidrs", "ipfix-allow-cidrs", CONFIG_CIDR_LIST, F(ipfix_allow), 0, 0, false,
	  "source addresses IPFIX datagrams are taken from (by default loopback and the private "
	  "ranges); others are refused and counted (docs/security.md)" },
};

const struct config_schema collector_config_schema = {
	.program = "podflow-collector",
	.keys = keys,
	.n_keys = sizeof(keys) / sizeof(keys[0]),
	.defaults = &defaults,
	.size = sizeof(struct collector_config),
};

/*
 * The webhook's keys: the listener needs its certificate (the API server
 * calls webhooks over HTTPS only) and the URL the sidecars it injects
 * export to; and every inject.* value is checked whether it listens or
 * not, so that no patch it could send makes the API server refuse a pod.
 */
static int validate_webhook(const struct collector_config *cfg, char *why, unsigned long whylen)
{
	struct admission_opts o;

	if (!cfg->webhook_cert != !cfg->webhook_key) {
		snprintf(why, whylen, "webhook.cert_file and webhook.key_file go together");
		return -EINVAL;
	}
	if (cfg->webhook_cert && !cfg->webhook_listen) {
		snprintf(why, whylen, "webhook.cert_file and webhook.key_file need webhook.listen");
		return -EINVAL;
	}
	if (cfg->webhook_listen && !cfg->webhook_cert) {
		snprintf(why, whylen,
			 "webhook.listen: %s needs webhook.cert_file and webhook.key_file "
			 "(--webhook-cert, --webhook-key): the API server calls webhooks over "
			 "HTTPS only",
			 cfg->webhook_listen);
		return -EINVAL;
	}
	if (cfg->webhook_listen && !cfg->inject_collector_url) {
		snprintf(why, whylen,
			 "webhook.listen: %s needs inject.collector_url (--inject-collector-url): "
			 "the URL the injected sidecars export to, e.g. "
			 "http://podflow-collector.podflow.svc:7070",
			 cfg->webhook_listen);
		return -EINVAL;
	}
	collector_inject_opts(cfg, &o);
	return admission_check_opts(&o, why, whylen);
}

/* The view's buckets are whole and bounded; source kafka needs the topic it reads. */
static int validate_insight(const struct collector_config *cfg, char *why, unsigned long whylen)
{
	uint64_t win = cfg->insight_window_ns, res = cfg->insight_resolution_ns;

	if (strcmp(cfg->insight_source, "output") != 0 &&
	    strcmp(cfg->insight_source, "kafka") != 0) {
		snprintf(why, whylen, "insight.source: %s: expected output or kafka",
			 cfg->insight_source);
		return -EINVAL;
	}
	if (win % res || win / res > INSIGHT_MAX_BUCKETS || res % DURATION_NS_PER_MS) {
		snprintf(why, whylen,
			 "insight.window: %llus is not a whole number of insight.resolution %llums "
			 "(at most %d of them)",
			 (unsigned long long)(win / S),
			 (unsigned long long)(res / DURATION_NS_PER_MS), INSIGHT_MAX_BUCKETS);
		return -EINVAL;
	}
	if (strcmp(cfg->insight_source, "kafka") == 0 &&
	    (!cfg->kafka_brokers || !cfg->kafka_sink)) {
		snprintf(
		    why, whylen,
		    "insight.source: kafka reads sinks.kafka.topic: it needs kafka.brokers and "
		    "sinks.kafka.enabled");
		return -EINVAL;
	}
	return 0;
}

static bool set(const char *s)
{
	return s && *s;
}

/* An allow-list that takes nothing, or the PEN of RFC 5103's reverse elements, cannot work. */
static int validate_ipfix(const struct collector_config *cfg, char *why, unsigned long whylen)
{
	if (!cfg->ipfix_allow.n) {
		snprintf(why, whylen,
			 "ipfix.allow_cidrs: empty, so every datagram to ipfix.listen %s would be "
			 "refused; list the pod network's ranges (0.0.0.0/0 and ::/0 take every "
			 "source)",
			 cfg->ipfix_listen);
		return -EINVAL;
	}
	if (cfg->ipfix_pen == IPFIX_PEN_REVERSE) {
		snprintf(why, whylen,
			 "ipfix.pen: 29305 is RFC 5103's, for reverse elements; use your "
			 "organisation's PEN, the one the sidecars send");
		return -EINVAL;
	}
	return 0;
}

/*
 * A record waits (at most attribution.max_delay from its arrival) until
 * every configured source's view is complete up to its end: a source's
 * watermark trails the present by its lag, and a record arrives about when
 * it ends.  A delay at or below a lag lets every record that source would
 * name expire unattributed before its watermark reaches it.
 */
static int validate_delay(const struct collector_config *cfg, char *why, unsigned long whylen)
{
	char d[32], l[32];

	if (!cfg->attribution)
		return 0;
	duration_format(cfg->max_delay_ns, d, sizeof(d));
	if (set(cfg->kafka_brokers) && set(cfg->sonar_topic) &&
	    cfg->max_delay_ns <= KAFKA_FEED_LAG_MS * DURATION_NS_PER_MS) {
		snprintf(
		    why, whylen,
		    "attribution.max_delay: %s is not above the IP events watermark lag (%ds): "
		    "with kafka.brokers and attribution.sonar_topic set, every record the "
		    "Sonar events would name expires unattributed first; raise "
		    "attribution.max_delay (--max-delay) above %ds, or set "
		    "attribution.sonar_topic to \"\"",
		    d, KAFKA_FEED_LAG_MS / 1000, KAFKA_FEED_LAG_MS / 1000);
		return -EINVAL;
	}
	if (set(cfg->kube_api) && cfg->kube_lag_ns && cfg->max_delay_ns <= cfg->kube_lag_ns) {
		snprintf(why, whylen,
			 "attribution.max_delay: %s is not above kube.lag %s: with kube.api set, "
			 "every record the pod watch would name expires unattributed first; raise "
			 "attribution.max_delay (--max-delay) or lower kube.lag (--kube-lag)",
			 d, duration_format(cfg->kube_lag_ns, l, sizeof(l)));
		return -EINVAL;
	}
	return 0;
}

/* Topics one Kafka cluster serves for different formats: each consumer would read the other's. */
static int validate_topics(const struct collector_config *cfg, char *why, unsigned long whylen)
{
	const char *sonar = cfg->attribution ? cfg->sonar_topic : NULL;
	const char *ranges = cfg->attribution ? cfg->ranges_topic : NULL;
	const char *flows = cfg->kafka_sink ? cfg->kafka_topic : NULL;

	if (!set(cfg->kafka_brokers))
		return 0;
	if (set(sonar) && set(ranges) && strcmp(sonar, ranges) == 0) {
		snprintf(why, whylen,
			 "attribution.sonar_topic and attribution.ranges_topic are both %s: the "
			 "feed would read the replicas' ranges as IP events and the IP events as "
			 "ranges (every message refused); give them different topics",
			 sonar);
		return -EINVAL;
	}
	for (int i = 0; i < 2 && set(flows); i++) {
		const char *t = i ? ranges : sonar;

		if (set(t) && strcmp(t, flows) == 0) {
			snprintf(why, whylen,
				 "sinks.kafka.topic and %s are both %s: the flow records would "
				 "land in the topic the attribution feed reads (every one refused "
				 "there); give them different topics",
				 i ? "attribution.ranges_topic" : "attribution.sonar_topic", flows);
			return -EINVAL;
		}
	}
	return 0;
}

int collector_config_validate(const struct collector_config *cfg, char *why, unsigned long whylen)
{
	enum files_compressor fc;
	struct listen_addr api;
	int err;

	if (cfg->max_buffered < cfg->max_body) {
		/* a body the budget can never hold would get 429 forever instead of 413 */
		snprintf(why, whylen, "max_buffered: %llu is less than max_body %llu",
			 (unsigned long long)cfg->max_buffered, (unsigned long long)cfg->max_body);
		return -EINVAL;
	}
	if (!cfg->tls_cert != !cfg->tls_key) {
		snprintf(why, whylen, "tls.cert_file and tls.key_file go together");
		return -EINVAL;
	}
	if (cfg->tls_client_ca && !cfg->tls_cert) {
		snprintf(why, whylen, "tls.client_ca_file needs tls.cert_file and tls.key_file");
		return -EINVAL;
	}
	if (cfg->collector_id && files_check_id(cfg->collector_id)) {
		snprintf(why, whylen,
			 "collector_id: %s: expected 1 to 64 of A-Z a-z 0-9 _ . - (not starting "
			 "with .)",
			 cfg->collector_id);
		return -EINVAL;
	}
	if (cfg->verify_heartbeats && strcmp(cfg->verify_heartbeats, "auto") &&
	    strcmp(cfg->verify_heartbeats, "required") && strcmp(cfg->verify_heartbeats, "off")) {
		snprintf(why, whylen,
			 "attribution.verify_heartbeats: %s: expected auto, required or off",
			 cfg->verify_heartbeats);
		return -EINVAL;
	}
	if (cfg->verify_heartbeats && !strcmp(cfg->verify_heartbeats, "required") &&
	    !(cfg->kube_api && *cfg->kube_api)) {
		snprintf(why, whylen,
			 "attribution.verify_heartbeats: required needs kube.api (the TokenReview "
			 "API)");
		return -EINVAL;
	}
	if (cfg->files_compressor && files_compressor_parse(cfg->files_compressor, &fc)) {
		snprintf(why, whylen,
			 "sinks.files.compressor: %s: expected " FILES_COMPRESSOR_NAMES,
			 cfg->files_compressor);
		return -EINVAL;
	}
	if (cfg->kafka_compression) {
		static const char *const codecs[] = { "zstd", "lz4", "snappy", "gzip", "none" };
		bool known = false;

		for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
			known |= strcmp(cfg->kafka_compression, codecs[i]) == 0;
		if (!known) {
			snprintf(why, whylen,
				 "sinks.kafka.compression: %s: expected zstd, lz4, snappy, gzip or "
				 "none",
				 cfg->kafka_compression);
			return -EINVAL;
		}
	}
	/* /config and /ownership map the cluster: off loopback, never without a token */
	if (cfg->api_listen && !cfg->api_token_file &&
	    (listen_addr_parse(cfg->api_listen, &api) || !listen_addr_is_loopback(&api))) {
		snprintf(why, whylen,
			 "api.listen: %s is not a loopback address: set api.token_file "
			 "(--admin-api-token-file) so that /config and /ownership require a bearer "
			 "token, or listen on 127.0.0.1 (kubectl port-forward reaches it)",
			 cfg->api_listen);
		return -EINVAL;
	}
	if (!cfg->data_dir || !cfg->data_dir[0]) {
		snprintf(why, whylen, "data_dir: expected a directory");
		return -EINVAL;
	}
	if (cfg->stats_interval_ns && cfg->stats_interval_ns < 100 * DURATION_NS_PER_MS) {
		snprintf(why, whylen, "stats_interval: 0s or at least 100ms");
		return -EINVAL;
	}
	/* the insight view, fed by the outputs' tap, is a use of the records too */
	if (!cfg->null_sink && !cfg->files && !cfg->jsonl &&
	    !(cfg->kafka_sink && set(cfg->kafka_brokers)) && !cfg->insight) {
		snprintf(why, whylen,
			 "sinks.files.enabled, sinks.jsonl.enabled and sinks.kafka.enabled (with "
			 "kafka.brokers) are all off, and insight.enabled too: every record would "
			 "be accepted and written nowhere; enable a sink, or set null_sink "
			 "(--null-sink) to count and discard on purpose");
		return -EINVAL;
	}
	err = set(cfg->ipfix_listen) ? validate_ipfix(cfg, why, whylen) : 0;
	if (!err && cfg->insight)
		err = validate_insight(cfg, why, whylen);
	if (!err)
		err = validate_delay(cfg, why, whylen);
	if (!err)
		err = validate_topics(cfg, why, whylen);
	return err ? err : validate_webhook(cfg, why, whylen);
}

void collector_inject_opts(const struct collector_config *cfg, struct admission_opts *out)
{
	*out = (struct admission_opts){
		.image = cfg->inject_image,
		.pull_policy = cfg->inject_pull_policy,
		.native_sidecar = cfg->inject_native_sidecar,
		.collector_url = cfg->inject_collector_url,
		.config_map = cfg->inject_config_map,
		.token_secret = cfg->inject_token_secret,
		.cpu_request = cfg->inject_cpu_request,
		.memory_request = cfg->inject_memory_request,
		.cpu_limit = cfg->inject_cpu_limit,
		.memory_limit = cfg->inject_memory_limit,
	};
}
