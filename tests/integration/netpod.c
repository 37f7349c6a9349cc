// SPDX-License-Identifier: BSD-2-Clause
/* Integration-test support: pods in network namespaces joined by a veth pair, their sidecars and one collector. */
#define _GNU_SOURCE
#include "netpod.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "workload.h"

#define CLIENT_WAIT_MS 20000

static struct sidecar *g_kids[NETPOD_MAX_KIDS];

void netpod_kid_add(struct sidecar *p)
{
	for (int i = 0; i < NETPOD_MAX_KIDS; i++)
		if (!g_kids[i]) {
			g_kids[i] = p;
			return;
		}
}

void netpod_kids_clear(void)
{
	memset(g_kids, 0, sizeof(g_kids));
}

void netpod_pump(int ms)
{
	uint64_t until = harness_now_ms() + (uint64_t)ms;

	for (;;) {
		uint64_t now;

		for (int i = 0; i < NETPOD_MAX_KIDS; i++)
			if (g_kids[i] && g_kids[i]->pid > 0 && !g_kids[i]->exited)
				sidecar_poll(g_kids[i], 0);
		now = harness_now_ms();
		if (now >= until)
			return;
		usleep((useconds_t)((until - now < 10 ? until - now : 10) * 1000));
	}
}

/* ---- the pods' network ---- */

/* A shell command whose failure is expected while polling: no message.  0 or -EIO. */
static int sh_quiet(const char *cmd)
{
	return system(cmd) == 0 ? 0 : -EIO;
}

void netpod_net_down(struct netpod_ns *a, struct netpod_ns *b)
{
	struct netpod_ns *nets[] = { a, b };
	char cmd[256];

	/* the veth pair goes with its namespaces */
	for (int i = 0; i < 2; i++) {
		if (!nets[i]->name[0])
			continue;
		snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", nets[i]->name);
		sh_quiet(cmd);
		nets[i]->name[0] = '\0';
		nets[i]->path[0] = '\0';
	}
}

static int link_up_wait(const struct netpod_ns *n)
{
	uint64_t deadline = harness_now_ms() + 5000;
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "ip -n %s -o link show dev %s | grep -q 'state UP'", n->name,
		 n->veth);
	while (harness_now_ms() < deadline) {
		if (sh_quiet(cmd) == 0)
			return 0;
		usleep(20000);
	}
	fprintf(stderr, "    %s in %s did not come up\n", n->veth, n->name);
	return -ETIMEDOUT;
}

/* lo and the veth end up, with the addresses ips (NULL-terminated). */
static int ns_up(const struct netpod_ns *n, const char *const *ips)
{
	if (harness_sh("ip -n %s link set lo up", n->name))
		return -EIO;
	for (int i = 0; ips && ips[i]; i++)
		if (harness_sh("ip -n %s addr add %s/24 dev %s", n->name, ips[i], n->veth))
			return -EIO;
	return harness_sh("ip -n %s link set %s up", n->name, n->veth) ? -EIO : 0;
}

int netpod_net_up(struct netpod_ns *a, struct netpod_ns *b, const char *prefix, const char *tag,
		  const char *const *ips_a, const char *const *ips_b)
{
	struct netpod_ns *nets[] = { a, b };
	int pid = getpid();

	for (int i = 0; i < 2; i++) {
		snprintf(nets[i]->name, sizeof(nets[i]->name), "%s-%d%s%s-%c", prefix, pid,
			 tag ? "-" : "", tag ? tag : "", 'a' + i);
		snprintf(nets[i]->path, sizeof(nets[i]->path), "/run/netns/%s", nets[i]->name);
		snprintf(nets[i]->veth, sizeof(nets[i]->veth), "pf%c%d", 'a' + i, pid);
	}
	if (harness_sh("ip netns add %s && ip netns add %s", a->name, b->name) ||
	    harness_sh("ip link add %s netns %s type veth peer name %s netns %s", a->veth, a->name,
		       b->veth, b->name) ||
	    ns_up(a, ips_a) || ns_up(b, ips_b) || link_up_wait(a) || link_up_wait(b)) {
		netpod_net_down(a, b);
		return -EIO;
	}
	return 0;
}

/* ---- the collector and the sidecars ---- */

int netpod_collector_start(struct netpod_collector *c, const char *dir, const char *tag,
			   const char *const *extra)
{
	const char *args[24];
	char listen[64];
	uint16_t bound = 0;
	int n = 0, err;

	c->port = harness_free_port();
	snprintf(c->data, sizeof(c->data), "%s/data-%s", dir, tag);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", c->port);
	snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%u", c->port);
	args[n++] = "--listen";
	args[n++] = listen;
	args[n++] = "--data-dir";
	args[n++] = c->data;
	args[n++] = "--admin";
	args[n++] = "127.0.0.1:0";
	args[n++] = "--workers";
	args[n++] = "2";
	for (int i = 0; extra && extra[i] && n < 23; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	err = collector_start(&c->p, args, &bound);
	if (err)
		return err;
	netpod_kid_add(&c->p);
	c->admin = harness_admin_port(&c->p, 5000);
	c->api = c->admin ? harness_api_port(&c->p, 5000) : 0;
	if (c->admin && c->api)
		return 0;
	fprintf(stderr, "    no admin or API endpoint line:\n%s\n",
		c->p.err_text ? c->p.err_text : "");
	return -ETIMEDOUT;
}

int netpod_sidecar_start_with(struct sidecar *sc, const struct netpod *p, const char *url,
			      const char *pod_ips, const char *const *extra)
{
	/* several sidecars on one "node": each its own admin port */
	const char *args[32] = { "--cgroup",	     p->scope, "--interval", "300ms",
				 "--stats-interval", "0",      "--admin",    "127.0.0.1:0",
				 "--output",	     url };
	int n = 10, err;

	for (int i = 0; extra && extra[i] && n < 31; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	/* the Downward API's env, for this child alone */
	if (pod_ips)
		setenv("POD_IPS", pod_ips, 1);
	else
		unsetenv("POD_IPS");
	setenv("POD_IP", p->ip, 1);
	setenv("POD_NAME", p->name, 1);
	setenv("POD_NAMESPACE", p->namespace, 1);
	setenv("POD_APP", p->app, 1);
	setenv("POD_WORKLOAD", p->workload, 1);
	setenv("NODE_NAME", p->node, 1);
	err = sidecar_start(sc, args);
	unsetenv("POD_IPS");
	unsetenv("POD_IP");
	unsetenv("POD_NAME");
	unsetenv("POD_NAMESPACE");
	unsetenv("POD_APP");
	unsetenv("POD_WORKLOAD");
	unsetenv("NODE_NAME");
	if (!err)
		netpod_kid_add(sc);
	return err;
}

int netpod_sidecar_start(struct sidecar *sc, const struct netpod *p, const char *url)
{
	return netpod_sidecar_start_with(sc, p, url, NULL, NULL);
}

int netpod_client(const struct netpod *from, const char *addr, uint16_t port, int conns, size_t req,
		  size_t resp, int want_err)
{
	struct peer cli = { .family = AF_INET,
			    .addr = addr,
			    .port = port,
			    .req = req,
			    .resp = resp,
			    .conns = conns,
			    .netns = from->net->path };
	struct client_run run = { 0 };
	uint16_t lport;
	int cerr, st;

	if (start_client(&cli, from->container, &run) <= 0) {
		fprintf(stderr, "    cannot start a client\n");
		return -EIO;
	}
	for (int i = 0; i < conns; i++) {
		if (client_next(&run, &lport, &cerr) || cerr != want_err) {
			fprintf(stderr, "    connection %d to %s:%u: expected %s, got %s\n", i,
				addr, port, want_err ? strerror(want_err) : "established",
				cerr ? strerror(cerr) : "established or no report");
			kill(run.pid, SIGKILL);
			harness_wait(run.pid, 1000);
			client_close(&run);
			return -EIO;
		}
	}
	st = harness_wait(run.pid, CLIENT_WAIT_MS);
	client_close(&run);
	if (st != 0) {
		fprintf(stderr, "    client exited with %d\n", st);
		return -EIO;
	}
	return 0;
}
