{{/*
SPDX-License-Identifier: BSD-2-Clause
Names, labels and the two configuration files.  Paths and ports are those of
build/issue11-contract.md (docs/kubernetes.md): the binaries and the webhook's
patch rely on them, so none of them is a value.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "podflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every object name: fullnameOverride, else the release name when
it contains the chart name, else <release>-<name>.  At most 40 characters, so
that "<fullname>-webhook-tls" and the like stay valid names.
*/}}
{{- define "podflow.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "podflow.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "podflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The recommended labels (kubernetes.io/docs/concepts/overview/working-with-objects/common-labels).
app.kubernetes.io/name is always "podflow" (the contract: the webhook skips
pods labelled name=podflow, component=collector); nameOverride renames objects only.
*/}}
{{- define "podflow.labels" -}}
helm.sh/chart: {{ include "podflow.chart" . }}
{{ include "podflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: podflow
{{- end -}}

{{- define "podflow.selectorLabels" -}}
app.kubernetes.io/name: podflow
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of the collector's objects, and the selector of its pods. */}}
{{- define "podflow.collectorLabels" -}}
{{ include "podflow.labels" . }}
app.kubernetes.io/component: collector
{{- end -}}

{{- define "podflow.collectorSelectorLabels" -}}
{{ include "podflow.selectorLabels" . }}
app.kubernetes.io/component: collector
{{- end -}}

{{/* Object names. */}}
{{- define "podflow.collectorName" -}}{{ include "podflow.fullname" . }}-collector{{- end -}}
{{- define "podflow.webhookName" -}}{{ include "podflow.fullname" . }}-webhook{{- end -}}
{{- define "podflow.webhookTLSSecret" -}}
{{- if and (not .Values.webhook.certManager.enabled) .Values.webhook.tls.existingSecret -}}
{{- .Values.webhook.tls.existingSecret -}}
{{- else -}}
{{- include "podflow.fullname" . }}-webhook-tls
{{- end -}}
{{- end -}}
{{- define "podflow.tokenSecret" -}}
{{- default (printf "%s-ingest-token" (include "podflow.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}
{{- define "podflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "podflow.collectorName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* An image reference: repository, then @digest, else :tag (else appVersion). */}}
{{- define "podflow.image" -}}
{{- $img := index . 0 -}}
{{- $root := index . 1 -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default $root.Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* The URL injected sidecars export to: the ingest Service, over HTTP/2 or IPFIX (ingest.transport). */}}
{{- define "podflow.collectorURL" -}}
{{- if eq .Values.ingest.transport "ipfix" -}}
{{- printf "udp://%s.%s.svc:4739" (include "podflow.collectorName" .) .Release.Namespace -}}
{{- else -}}
{{- printf "%s://%s.%s.svc:7070" (ternary "https" "http" .Values.ingest.tls.enabled) (include "podflow.collectorName" .) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/*
Whether the chart talks to a cluster: true under `helm install` and `helm
upgrade` (and --dry-run=server), false under `helm template` and a client-side
dry run, where `lookup` answers nothing.  Every namespace has kube-system.  The
chart generates a secret (the ingest token, the webhook's CA and certificate)
only when it can keep it: read back at the next upgrade with `lookup`.  Without
a cluster it renders no generated secret at all, so a render is the same every
time and never holds key material (deploy/manifests/secrets.sh makes such
Secrets instead).
*/}}
{{- define "podflow.cluster" -}}
{{- if (lookup "v1" "Namespace" "" "kube-system") -}}true{{- end -}}
{{- end -}}

{{/*
collector.yaml, as a YAML mapping: collector.config and the keys the chart
owns (docs/config.md has every key; the contract fixes ports and paths).
*/}}
{{- define "podflow.collectorConfig" -}}
{{- $v := .Values -}}
{{- $c := deepCopy $v.collector.config -}}
{{- $_ := set $c "listen" ":7070" -}}
{{- $_ = set $c "admin" ":9090" -}}
{{- $_ = set $c "api" (dict "listen" "127.0.0.1:9095") -}}
{{- $_ = set $c "data_dir" "/var/lib/podflow" -}}
{{- if $v.ipfix.enabled -}}
{{- $_ = set $c.ipfix "listen" ":4739" -}}
{{- end -}}
{{- if $v.auth.enabled -}}
{{- $_ = set $c "token_file" "/var/run/secrets/podflow/token" -}}
{{- end -}}
{{- if $v.ingest.tls.enabled -}}
{{- $_ = set $c "tls" (dict "cert_file" "/etc/podflow/ingest-tls/tls.crt" "key_file" "/etc/podflow/ingest-tls/tls.key") -}}
{{- end -}}
{{- if $v.kafka.brokers -}}
{{- $_ = set $c "kafka" (dict "brokers" (join "," $v.kafka.brokers)) -}}
{{- $_ = set $c.attribution "sonar_topic" $v.kafka.topics.ipEvents -}}
{{- $_ = set $c.attribution "ranges_topic" $v.kafka.topics.ranges -}}
{{- $_ = set $c.sinks "kafka" (dict "enabled" $v.kafka.producer.enabled "topic" $v.kafka.topics.flows "compression" $v.kafka.producer.compression "linger" $v.kafka.producer.linger "batch_messages" $v.kafka.producer.batchMessages "max_queued" $v.kafka.producer.maxQueued) -}}
{{- end -}}
{{- if eq $c.insight.source "auto" -}}
{{- $_ = set $c.insight "source" (ternary "kafka" "output" (and (not (empty $v.kafka.brokers)) $v.kafka.producer.enabled)) -}}
{{- end -}}
{{- if $v.podWatch.enabled -}}
{{- $_ = set $c "kube" (dict "api" "in-cluster" "lag" $v.podWatch.lag) -}}
{{- end -}}
{{- if $v.collector.persistence.enabled -}}
{{- $_ = set $c "collector_id" (default (include "podflow.fullname" .) $v.collector.persistence.collectorId) -}}
{{- end -}}
{{- if $v.webhook.enabled -}}
{{- $_ = set $c "webhook" (dict "listen" ":8443" "cert_file" "/etc/podflow/webhook-tls/tls.crt" "key_file" "/etc/podflow/webhook-tls/tls.key" "max_body" $v.webhook.maxBody) -}}
{{- $inject := dict "image" (include "podflow.image" (list $v.sidecar.image .)) "image_pull_policy" $v.sidecar.image.pullPolicy "native_sidecar" $v.sidecar.nativeSidecar "collector_url" (include "podflow.collectorURL" .) "config_map" $v.sidecar.configMapName "token_secret" (ternary $v.sidecar.tokenSecretName "" $v.auth.enabled) -}}
{{- /* written even when empty: "" is "none" (an absent key would be the binary's default) */ -}}
{{- $_ = set $inject "cpu_request" $v.sidecar.resources.requests.cpu -}}
{{- $_ = set $inject "memory_request" $v.sidecar.resources.requests.memory -}}
{{- $_ = set $inject "cpu_limit" $v.sidecar.resources.limits.cpu -}}
{{- $_ = set $inject "memory_limit" $v.sidecar.resources.limits.memory -}}
{{- $_ = set $c "inject" $inject -}}
{{- end -}}
{{- toYaml $c -}}
{{- end -}}

{{/*
The part of collector.yaml the collector cannot change while running: every
key but those docs/config.md marks live (and inject.*, live per the contract).
Its hash is the pod template's podflow.io/restart-config annotation: a
`helm upgrade` that changes only live keys leaves the pods running (they
reload the ConfigMap), one that changes a restart key rolls them (else the
running value would stay, "restart required" in the log).
*/}}
{{- define "podflow.collectorRestartConfig" -}}
{{- $c := include "podflow.collectorConfig" . | fromYaml -}}
{{- range $key := list "max_connections_per_peer" "stats_interval" "log" "ingest" "inject" -}}
{{- $_ := unset $c $key -}}
{{- end -}}
{{- range $key := list "max_delay" "retention" "heartbeat_grace" "heartbeat_max_skew" -}}
{{- $_ := unset $c.attribution $key -}}
{{- end -}}
{{- toYaml $c -}}
{{- end -}}

{{/* sidecar.yaml, as a YAML mapping: sidecar.config (and the CA of a TLS ingest). */}}
{{- define "podflow.sidecarConfig" -}}
{{- $c := deepCopy .Values.sidecar.config -}}
{{- if and .Values.ingest.tls.enabled .Values.ingest.tls.caBundle -}}
{{- $_ := set $c "tls" (dict "ca_file" "/etc/podflow/sidecar/ca.crt") -}}
{{- end -}}
{{- toYaml $c -}}
{{- end -}}

{{/*
A duration as the binaries read it ("10s", "1m30s", "1.5s", "500ms"), in
milliseconds (a float).
*/}}
{{- define "podflow.durationMs" -}}
{{- $ms := 0.0 -}}
{{- range $t := regexFindAll "[0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h)" (toString .) -1 -}}
{{- $n := regexFind "^[0-9]+(\\.[0-9]+)?" $t -}}
{{- $unit := get (dict "ns" 0.000001 "us" 0.001 "ms" 1.0 "s" 1000.0 "m" 60000.0 "h" 3600000.0) (trimPrefix $n $t) -}}
{{- $ms = addf $ms (mulf (float64 $n) $unit) -}}
{{- end -}}
{{- $ms -}}
{{- end -}}

{{/*
Checks across values that the schema cannot express; each failure names the
values to change.
*/}}
{{- define "podflow.validate" -}}
{{- $v := .Values -}}
{{- if and $v.webhook.certManager.enabled $v.webhook.tls.existingSecret -}}
{{- fail "webhook.certManager.enabled and webhook.tls.existingSecret are both set: choose one source for the webhook's certificate" -}}
{{- end -}}
{{- if and $v.webhook.tls.existingSecret (not $v.webhook.tls.caBundle) -}}
{{- fail "webhook.tls.existingSecret needs webhook.tls.caBundle: the base64 PEM of the CA that signed it (the API server verifies the webhook with it)" -}}
{{- end -}}
{{- if and $v.webhook.tls.caBundle (not $v.webhook.tls.existingSecret) -}}
{{- fail "webhook.tls.caBundle is set without webhook.tls.existingSecret: it is the CA of that Secret's certificate" -}}
{{- end -}}
{{- if and (eq $v.ingest.transport "ipfix") (not $v.ipfix.enabled) -}}
{{- fail "ingest.transport=ipfix needs ipfix.enabled: the collector must listen for IPFIX (:4739) before sidecars export to it" -}}
{{- end -}}
{{- if and $v.ingest.tls.enabled (not $v.ingest.tls.existingSecret) -}}
{{- fail "ingest.tls.enabled needs ingest.tls.existingSecret: a kubernetes.io/tls Secret for the collector's Service names" -}}
{{- end -}}
{{- if and $v.webhook.enabled $v.sidecar.nativeSidecar (semverCompare "<1.29.0-0" .Capabilities.KubeVersion.Version) -}}
{{- fail (printf "sidecar.nativeSidecar needs Kubernetes 1.29 or later (this cluster: %s); set sidecar.nativeSidecar=false for a regular sidecar container" .Capabilities.KubeVersion.Version) -}}
{{- end -}}
{{- if $v.collector.persistence.enabled -}}
{{- if $v.collector.autoscaling.enabled -}}
{{- fail "collector.persistence.enabled and collector.autoscaling.enabled: a claim holds one replica's files (a fixed collector_id); scale out with Kafka and the emptyDir instead" -}}
{{- end -}}
{{- if gt (int $v.collector.replicas) 1 -}}
{{- fail (printf "collector.persistence.enabled needs collector.replicas=1 (got %d): replicas sharing one claim would share one collector_id, and each would take the others' open files for a crash's leftovers" (int $v.collector.replicas)) -}}
{{- end -}}
{{- end -}}
{{- if and $v.collector.autoscaling.enabled (gt (int $v.collector.autoscaling.minReplicas) (int $v.collector.autoscaling.maxReplicas)) -}}
{{- fail "collector.autoscaling.minReplicas is above collector.autoscaling.maxReplicas" -}}
{{- end -}}
{{- /* a heartbeat comes an interval after the last, later when a send is retried: 5 s
     covers a reconnect (the sidecar's connect timeout) and its first retries */ -}}
{{- $grace := include "podflow.durationMs" $v.collector.config.attribution.heartbeat_grace | float64 -}}
{{- $interval := include "podflow.durationMs" $v.sidecar.config.interval | float64 -}}
{{- if and $v.collector.config.attribution.enabled (le $grace (addf $interval 5000.0)) -}}
{{- fail (printf "collector.config.attribution.heartbeat_grace (%s) must be greater than sidecar.config.interval (%s) plus 5s for the sidecars' retries: their heartbeats would come after the grace, and their pods be named only by the pod watch; raise heartbeat_grace or lower the interval" $v.collector.config.attribution.heartbeat_grace $v.sidecar.config.interval) -}}
{{- end -}}
{{- if and $v.podWatch.enabled (not $v.serviceAccount.create) (not $v.serviceAccount.name) -}}
{{- fail "podWatch.enabled with serviceAccount.create=false needs serviceAccount.name: the account that may list and watch pods" -}}
{{- end -}}
{{- end -}}
