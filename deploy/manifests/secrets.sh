#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The secrets deploy/manifests/podflow.yaml leaves out (a render holds no key
# material: deploy/manifests/README.md), made the way the chart makes them at
# `helm install`:
#   - the ingest token, 48 random characters: Secret <name>-ingest-token in
#     the namespace, and Secret podflow-token (key token) in each sidecar
#     namespace;
#   - the webhook's CA and certificate for <name>-webhook.<namespace>.svc:
#     Secret <name>-webhook-tls (type kubernetes.io/tls, with ca.crt);
#   - the CA as the caBundle of every entry of the MutatingWebhookConfiguration
#     <name> (kubectl patch).
# Run it after `kubectl apply -f podflow.yaml`, and again with every sidecar
# namespace whenever you add one: a token or certificate already in the
# cluster is kept (so sidecars and collectors keep agreeing).
#
#   secrets.sh [-n NAMESPACE] [--name NAME] [--sidecar-namespace NS]... [--days N]
#              [--no-webhook] [--dry-run]
#
# --no-webhook makes the tokens only (the webhook's certificate and caBundle
# are cert-manager's, or the webhook is off).
# --dry-run prints the Secrets as YAML and the caBundle patch, and touches no
# cluster (and reads none: everything is new).  Needs openssl; kubectl
# without --dry-run.
set -euo pipefail

ns=podflow
name=podflow
days=3650
dry=false
webhook=true
sidecar_ns=()
while [ $# -gt 0 ]; do
	case $1 in
	-n | --namespace) ns=$2; shift 2 ;;
	--name) name=$2; shift 2 ;;
	--sidecar-namespace) sidecar_ns+=("$2"); shift 2 ;;
	--days) days=$2; shift 2 ;;
	--dry-run) dry=true; shift ;;
	--no-webhook) webhook=false; shift ;;
	-h | --help) sed -n '3,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "secrets.sh: unknown argument $1 (--help)" >&2; exit 2 ;;
	esac
done
KUBECTL=${KUBECTL:-kubectl}
svc=$name-webhook
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

b64() { base64 -w0 "$@"; }
# a Secret's key, base64, as the cluster has it; empty when absent
existing() {
	$dry && return 0
	"$KUBECTL" -n "$1" get secret "$2" -o "jsonpath={.data.${3//./\\.}}" 2>/dev/null || true
}

# --- the token
token_b64=$(existing "$ns" "$name-ingest-token" token)
if [ -z "$token_b64" ]; then
	token=$(openssl rand -base64 96 | tr -dc 'A-Za-z0-9')
	token=${token:0:48}
	[ ${#token} -eq 48 ] || { echo "secrets.sh: could not draw a token" >&2; exit 1; }
	token_b64=$(printf '%s' "$token" | b64)
fi

# --- the webhook's CA and certificate
ca=$(existing "$ns" "$name-webhook-tls" ca.crt)
crt=$(existing "$ns" "$name-webhook-tls" tls.crt)
key=$(existing "$ns" "$name-webhook-tls" tls.key)
if $webhook && { [ -z "$ca" ] || [ -z "$crt" ] || [ -z "$key" ]; }; then
	openssl req -x509 -newkey rsa:2048 -nodes -days "$days" -subj "/CN=$name-webhook-ca" \
		-keyout "$work/ca.key" -out "$work/ca.crt" -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$svc.$ns.svc" \
		-keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
	printf 'subjectAltName=DNS:%s,DNS:%s.%s,DNS:%s.%s.svc\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' \
		"$svc" "$svc" "$ns" "$svc" "$ns" >"$work/ext"
	openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
		-days "$days" -extfile "$work/ext" -out "$work/tls.crt" 2>/dev/null
	ca=$(b64 "$work/ca.crt")
	crt=$(b64 "$work/tls.crt")
	key=$(b64 "$work/tls.key")
fi

secret() { # namespace name type key=base64...
	local s_ns=$1 s_name=$2 s_type=$3 kv
	shift 3
	printf -- '---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\n' "$s_name" "$s_ns"
	printf '  labels:\n    app.kubernetes.io/name: podflow\n    app.kubernetes.io/part-of: podflow\n'
	printf 'type: %s\ndata:\n' "$s_type"
	for kv in "$@"; do printf '  %s: %s\n' "${kv%%=*}" "${kv#*=}"; done
}
{
	secret "$ns" "$name-ingest-token" Opaque "token=$token_b64"
	for s in "${sidecar_ns[@]}"; do secret "$s" podflow-token Opaque "token=$token_b64"; done
	if $webhook; then
		secret "$ns" "$name-webhook-tls" kubernetes.io/tls "ca.crt=$ca" "tls.crt=$crt" "tls.key=$key"
	fi
} >"$work/secrets.yaml"

if $dry; then
	cat "$work/secrets.yaml"
	if $webhook; then
		echo "# kubectl patch mutatingwebhookconfiguration $name: caBundle of every webhook := ca.crt above"
	fi
	exit 0
fi
"$KUBECTL" apply -f "$work/secrets.yaml"
if ! $webhook; then
	echo "secrets.sh: token in place; ${#sidecar_ns[@]} sidecar namespace(s)"
	exit 0
fi
entries=$("$KUBECTL" get mutatingwebhookconfiguration "$name" -o 'jsonpath={range .webhooks[*]}{.name}{"\n"}{end}' | grep -c . || true)
[ "$entries" -gt 0 ] || { echo "secrets.sh: mutatingwebhookconfiguration $name has no webhook (apply podflow.yaml first)" >&2; exit 1; }
patch=$(for ((i = 0; i < entries; i++)); do
	printf '{"op":"add","path":"/webhooks/%d/clientConfig/caBundle","value":"%s"}\n' "$i" "$ca"
done | paste -sd, -)
"$KUBECTL" patch mutatingwebhookconfiguration "$name" --type=json -p "[$patch]"
echo "secrets.sh: token and webhook certificate in place; ${#sidecar_ns[@]} sidecar namespace(s)"
