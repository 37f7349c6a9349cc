/* SPDX-License-Identifier: BSD-2-Clause */
/* Integration-test harness: the real sidecar binary, cgroups, netns, workloads. */
#ifndef PODFLOW_HARNESS_H
#define PODFLOW_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "../report.h"

/* One assertion helper: prints expected/got with the location, fails the test. */
#define ASSERT_EQ_U64(what, expected, got)                                                         \
	do {                                                                                       \
		unsigned long long e_ = (unsigned long long)(expected);                            \
		unsigned long long g_ = (unsigned long long)(got);                                 \
		if (e_ != g_) {                                                                    \
			fprintf(stderr, "    FAIL %s:%d: %s: expected %llu, got %llu\n", __FILE__, \
				__LINE__, what, e_, g_);                                           \
			goto cleanup;                                                              \
		}                                                                                  \
	} while (0)

#define ASSERT_STR(what, expected, got)                                                      \
	do {                                                                                 \
		const char *e_ = (expected), *g_ = (got);                                    \
		if (!g_ || strcmp(e_, g_) != 0) {                                            \
			fprintf(stderr, "    FAIL %s:%d: %s: expected \"%s\", got \"%s\"\n", \
				__FILE__, __LINE__, what, e_, g_ ? g_ : "(null)");           \
			goto cleanup;                                                        \
		}                                                                            \
	} while (0)

#define ASSERT_TRUE(what, cond)                                                              \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "    FAIL %s:%d: %s: expected true: %s\n", __FILE__, \
				__LINE__, what, #cond);                                      \
			goto cleanup;                                                        \
		}                                                                            \
	} while (0)

/* A running podflow-sidecar with its stdout parsed into JSON records. */
struct sidecar {
	pid_t pid;
	int out_fd;
	int err_fd;
	json_t *records; /* array of every record read so far */
	char *out_buf;	 /* partial stdout line */
	size_t out_len;
	char *err_text; /* all of stderr so far, NUL-terminated */
	size_t err_len;
	int status; /* wait status once exited */
	bool exited;
};

/* Path of a built binary: $PODFLOW_BUILD/name (default build/name). */
const char *harness_bin(const char *name, char *buf, size_t len);
/* The cgroup v2 mount from /proc/mounts. */
const char *harness_cgroup_mount(void);
/* mkdir a cgroup (path relative to the mount); returns its absolute path in buf. */
int harness_cgroup_create(const char *rel, char *buf, size_t len);
/* Kills what is left in a cgroup subtree and removes it, children first. */
void harness_cgroup_destroy(const char *abs);
uint64_t harness_cgroup_id(const char *abs);

/* Moves the calling process into the private network namespace with lo up. */
int harness_netns_enter(void);
/* Runs a shell command (nft rules and the like); 0 on exit status 0. */
int harness_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Starts the sidecar with `args` (NULL-terminated, after the binary name)
 * and waits up to 10 s for its `ready` line.  0 or -errno.
 */
int sidecar_start(struct sidecar *sc, const char *const *args);
/* Reads whatever the sidecar wrote, waiting at most timeout_ms for something. */
void sidecar_poll(struct sidecar *sc, int timeout_ms);
/*
 * Polls until pred(record, ctx) holds for some record, up to timeout_ms.
 * Returns the record (borrowed) or NULL.
 */
typedef bool (*record_pred_fn)(json_t *rec, void *ctx);
json_t *sidecar_wait_record(struct sidecar *sc, record_pred_fn pred, void *ctx, int timeout_ms);
/* SIGTERM, then waits up to timeout_ms; *secs = time to exit.  0 if it exited. */
int sidecar_stop(struct sidecar *sc, int timeout_ms, double *secs);
void sidecar_free(struct sidecar *sc);
/* A key's value in the sidecar's "stats at exit:" line, or UINT64_MAX when absent. */
uint64_t sidecar_exit_stat(const struct sidecar *sc, const char *key);
/* Any child of struct sidecar: SIGTERM and reap; its exit code, or -1 if it had to be killed. */
int harness_child_stop(struct sidecar *c);

/*
 * Starts podflow-collector with `args` (NULL-terminated, after the binary
 * name; struct sidecar serves any child whose stderr has a ready line) and
 * waits up to 10 s for `ready`; *port = the port of its "listening on
 * ADDR:PORT".  0 or -errno.
 */
int collector_start(struct sidecar *p, const char *const *args, uint16_t *port);

/*
 * Runs argv[0] (a path) with stdout captured; returns the pid and the read
 * end of its stdout in *out_fd, or -1.
 */
pid_t harness_start_capture(const char *const *argv, int *out_fd);
/*
 * Reads the child's stdout until EOF and reaps it, within timeout_ms (then
 * SIGKILL).  *out: malloc'd NUL-terminated stdout.  Returns the exit code,
 * 128 + signal, or -1 on timeout.
 */
int harness_finish_capture(pid_t pid, int out_fd, int timeout_ms, char **out);

/* What records of connections add up to: the tests' exact figures. */
struct flow_totals {
	uint64_t records, flows, closed, failed, resets, bytes_sent, bytes_received;
};

/* Adds one record's counts to *t. */
void flow_totals_add(struct flow_totals *t, json_t *rec);
/*
 * The records of `all` in `direction` ("out" or "in") whose service port
 * is `port` (the remote port of an outgoing record, the local one of an
 * incoming one), summed.
 */
struct flow_totals flow_totals_of(json_t *all, const char *direction, uint16_t port);

/* json helpers: a record's integer / string field (0 / "" when absent). */
uint64_t rec_u64(json_t *rec, const char *key);
const char *rec_str(json_t *rec, const char *key);

/* Monotonic milliseconds. */
uint64_t harness_now_ms(void);
/* Unix milliseconds (CLOCK_REALTIME): comparable with a record's start_ms and end_ms. */
int64_t harness_wall_ms(void);
/* Sleeps ms milliseconds: between the polls of a wait with a deadline, never in its place. */
void harness_sleep_ms(int ms);

/*
 * GET http://127.0.0.1:PORT PATH (libcurl, 5 s, no proxy): the HTTP status,
 * or -1 without an answer; *body is malloc'd text ("" at least).
 */
long harness_http_get(uint16_t port, const char *path, char **body);
/* The value of one sample ("name" or "name{labels}" as exposed) in Prometheus text, or -1. */
int64_t harness_metric(const char *text, const char *sample);
/* The same on a fresh GET /metrics from PORT; -1 when absent or unreachable. */
int64_t harness_metric_now(uint16_t port, const char *sample);
/* The same sample as a double (a gauge in seconds), -1 when absent. */
double harness_metric_double(uint16_t port, const char *sample);
/*
 * The send spread seen by a receiver: `at_ns` (CLOCK_REALTIME) is when a
 * sidecar's first post after a cut arrived, the cuts being on multiples of
 * interval_ns.  Its offset (podflow_sidecar_send_offset_seconds on the
 * admin port) must be under max_s, and the post no sooner than the cut
 * plus the offset and less than a second after.  0, or 1 with what failed
 * said on stderr.
 */
int harness_check_send_offset(uint16_t admin, int64_t at_ns, int64_t interval_ns, double max_s);
/*
 * The admin port a daemon logged ("admin endpoint on ... (port N)"), read
 * from its stderr within timeout_ms; 0 if it said none.
 */
uint16_t harness_admin_port(struct sidecar *p, int timeout_ms);
/*
 * The collector's API port ("API endpoint on ... (port N)": /config,
 * /ownership), the same way; collector_start() puts it on an ephemeral
 * port unless the suite gives --admin-api.
 */
uint16_t harness_api_port(struct sidecar *p, int timeout_ms);
/*
 * Runs argv[0] with stdout into an unlinked file and returns it whole in
 * *out (malloc'd): megabytes (a Kafka topic read by kcat) go faster so than
 * through a pipe read a chunk at a time.  The exit code, or -1 (killed at
 * timeout_ms).
 */
int harness_run_to_file(const char *const *argv, int timeout_ms, char **out);
/* The first `node` in PATH that can be run (found once), or NULL. */
const char *harness_node_path(void);
/*
 * Appends every complete line (newline-terminated: one being written is not
 * a record yet) of every *.jsonl under dir, recursively, to the array `out`,
 * parsed; a line that is not JSON is left out.
 */
void harness_read_jsonl(const char *dir, json_t *out);

struct harness_test {
	const char *name;
	int (*fn)(void); /* 0: passed */
};

/*
 * The running test's result for docs/reliability.md (tests/report.h says
 * what the figures mean): kept until the test ends, then written with its
 * suite, its name and whether it passed.  Call it after the assertions
 * that prove the figures.
 */
void harness_report(const struct report_fault *f);

/*
 * Runs the tests (only those whose name contains argv[1], when given), one
 * "ok"/"FAIL" line each with its time, then "SUITE: P/N passed".  Returns
 * the number that failed.
 */
int harness_run(const char *suite, const struct harness_test *tests, size_t n, int argc,
		char **argv);

/*
 * For suites that need root: 0 when running as root, else the exit status
 * to return: 1 under CI=true (a skip there is a failure), 77 (skipped)
 * elsewhere.
 */
int harness_require_root(void);

/*
 * The pod the kernel suites capture: enters a private network namespace,
 * creates the cgroup PREFIX-<pid> (into scope) with a cri-containerd-
 * <container_id>.scope child (into container), and, when tmp is not NULL,
 * the directory /tmp/PREFIX-<pid>.  0, or -1 with the reason on stderr.
 */
int harness_pod_setup(const char *prefix, const char *container_id, char *scope, char *container,
		      size_t len, char *tmp, size_t tmp_len);

/*
 * Forks a child that joins `cgroup` (absolute path; NULL = stay), names
 * itself `comm`, runs fn(arg) and exits with its return value.
 */
pid_t harness_spawn(const char *cgroup, const char *comm, int (*fn)(void *), void *arg);
/* waitpid with a deadline; returns the exit code, or -1 (killed after the deadline). */
int harness_wait(pid_t pid, int timeout_ms);

/* Socket helpers, all with deadlines so a broken test cannot hang. */
int tcp_listen(int family, const char *addr, uint16_t *port);
/* The same on a chosen port (0: any); the bound port in *port. */
int tcp_listen_on(int family, const char *addr, uint16_t want, uint16_t *port);
int tcp_connect(int family, const char *addr, uint16_t port, int *err_out);
int send_all(int fd, size_t n, unsigned char fill);
/* Reads exactly n bytes (or until EOF when n is SIZE_MAX); returns bytes read or -errno. */
ssize_t recv_n(int fd, size_t n);
uint16_t sock_local_port(int fd);
/* A port free on 127.0.0.1 just now (bound and closed), or 0. */
uint16_t harness_free_port(void);

#endif /* PODFLOW_HARNESS_H */
