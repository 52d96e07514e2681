/*
 * mock-broker.c: a tiny host process for librdkafka's mock Kafka cluster
 * (rdkafka_mock.h, Debian package librdkafka-dev), used by the test suite as a
 * real Kafka-protocol broker.  Compiled on demand by mockBroker.ts:
 *
 *   gcc -O2 -Wall -o mock-broker mock-broker.c -lrdkafka
 *
 * Usage:
 *   mock-broker [--brokers N] [--topic NAME:PARTITIONS[:REPLICATION]]...
 *               [--debug]
 *
 * The brokers listen on 127.0.0.1 only, on kernel-chosen ports (librdkafka's
 * mock API has no way to choose a port).  Broker ids are 1..N and the
 * bootstrap list is in id order.
 *
 * Protocol on stdout: the first line is the comma-separated bootstrap list
 * ("127.0.0.1:PORT,127.0.0.1:PORT").  After that, each command read from
 * stdin (one per line) gets exactly one reply line: "ok" or
 * "err <message>".  Commands:
 *
 *   ping
 *   down <broker-id|-1>             refuse connections, drop existing ones
 *   up <broker-id|-1>               accept connections again (same port)
 *   rtt <broker-id|-1> <ms>         add round-trip latency
 *   create <topic> <partitions> [replication]
 *   leader <topic> <partition> <broker-id>
 *   coordinator <group|transaction> <key> <broker-id>
 *   errors <api-key> <err-code>...  next requests of that API fail with
 *                                   these error codes, in order
 *   quit
 *
 * The process exits on "quit", at end of stdin,
 * on SIGTERM/SIGINT/SIGHUP, or when its parent process dies.
 * Diagnostics go to stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_TOPICS 256
#define MAX_ERRORS 64

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig) {
        stop_signal = sig;
}

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stdout, fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
}

static void reply_err(rd_kafka_resp_err_t err) {
        if (err)
                reply("err %s", rd_kafka_err2str(err));
        else
                reply("ok");
}

/* Parses a base-10 integer; returns 0 on success. */
static int parse_int(const char *s, long min, long max, long *out) {
        char *end;
        long v;
        if (!s || !*s)
                return -1;
        errno = 0;
        v     = strtol(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return -1;
        *out = v;
        return 0;
}

static int broker_cnt = 1;

static int default_replication(void) {
        return broker_cnt < 3 ? broker_cnt : 3;
}

static rd_kafka_resp_err_t create_topic(rd_kafka_mock_cluster_t *mcluster,
                                        const char *name,
                                        long partitions,
                                        long replication) {
        if (replication <= 0)
                replication = default_replication();
        if (replication > broker_cnt)
                replication = broker_cnt; /* the mock asserts otherwise */
        return rd_kafka_mock_topic_create(mcluster, name, (int)partitions,
                                          (int)replication);
}

/* Executes one command line; returns 1 when the host should stop. */
static int run_command(rd_kafka_mock_cluster_t *mcluster, char *line) {
        char *argv[2 + MAX_ERRORS + 1];
        int argc = 0;
        char *save = NULL, *tok;
        long a, b, c;

        for (tok = strtok_r(line, " \t\r", &save);
             tok && argc < (int)(sizeof(argv) / sizeof(argv[0]));
             tok = strtok_r(NULL, " \t\r", &save))
                argv[argc++] = tok;

        if (argc == 0)
                return 0; /* blank line: no reply */

        if (!strcmp(argv[0], "ping")) {
                reply("ok");
        } else if (!strcmp(argv[0], "quit")) {
                reply("ok");
                return 1;
        } else if ((!strcmp(argv[0], "down") || !strcmp(argv[0], "up")) &&
                   argc == 2 && !parse_int(argv[1], -1, 1 << 20, &a)) {
                reply_err(!strcmp(argv[0], "down")
                              ? rd_kafka_mock_broker_set_down(mcluster,
                                                              (int32_t)a)
                              : rd_kafka_mock_broker_set_up(mcluster,
                                                            (int32_t)a));
        } else if (!strcmp(argv[0], "rtt") && argc == 3 &&
                   !parse_int(argv[1], -1, 1 << 20, &a) &&
                   !parse_int(argv[2], 0, 1 << 30, &b)) {
                reply_err(rd_kafka_mock_broker_set_rtt(mcluster, (int32_t)a,
                                                       (int)b));
        } else if (!strcmp(argv[0], "create") && (argc == 3 || argc == 4) &&
                   !parse_int(argv[2], 1, 1 << 16, &a) &&
                   (argc == 3 || !parse_int(argv[3], 1, 1 << 16, &b))) {
                reply_err(
                    create_topic(mcluster, argv[1], a, argc == 4 ? b : 0));
        } else if (!strcmp(argv[0], "leader") && argc == 4 &&
                   !parse_int(argv[2], 0, 1 << 16, &a) &&
                   !parse_int(argv[3], -1, 1 << 20, &b)) {
                reply_err(rd_kafka_mock_partition_set_leader(
                    mcluster, argv[1], (int32_t)a, (int32_t)b));
        } else if (!strcmp(argv[0], "coordinator") && argc == 4 &&
                   (!strcmp(argv[1], "group") ||
                    !strcmp(argv[1], "transaction")) &&
                   !parse_int(argv[3], -1, 1 << 20, &c)) {
                reply_err(rd_kafka_mock_coordinator_set(mcluster, argv[1],
                                                        argv[2], (int32_t)c));
        } else if (!strcmp(argv[0], "errors") && argc >= 3 &&
                   !parse_int(argv[1], 0, 32767, &a)) {
                rd_kafka_resp_err_t errs[MAX_ERRORS];
                int i, n = 0;
                for (i = 2; i < argc && n < MAX_ERRORS; i++) {
                        if (parse_int(argv[i], -32768, 32767, &b)) {
                                reply("err bad error code '%s'", argv[i]);
                                return 0;
                        }
                        errs[n++] = (rd_kafka_resp_err_t)b;
                }
                rd_kafka_mock_push_request_errors_array(mcluster, (int16_t)a,
                                                        (size_t)n, errs);
                reply("ok");
        } else {
                reply("err unknown or malformed command '%s' (%d args)",
                      argv[0], argc - 1);
        }
        return 0;
}

static void usage(const char *prog) {
        fprintf(stderr,
                "usage: %s [--brokers N] [--topic NAME:PARTITIONS[:RF]]... "
                "[--debug]\n",
                prog);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf) {
        (void)rk;
        fprintf(stderr, "mock-broker: %d %s: %s\n", level, fac, buf);
}

int main(int argc, char **argv) {
        char errstr[512];
        const char *topics[MAX_TOPICS];
        int topic_cnt = 0, debug = 0, i;
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mcluster;
        struct sigaction sa;
        char buf[8192];
        size_t used = 0;
        int done    = 0;

#ifdef __linux__
        /* Die with the parent even if it is SIGKILLed and stdin somehow
         * stays open (e.g. inherited by a grandchild). */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1)
                return 1;
#endif

        for (i = 1; i < argc; i++) {
                long v;
                if (!strcmp(argv[i], "--brokers") && i + 1 < argc &&
                    !parse_int(argv[i + 1], 1, 64, &v)) {
                        broker_cnt = (int)v;
                        i++;
                } else if (!strcmp(argv[i], "--topic") && i + 1 < argc &&
                           topic_cnt < MAX_TOPICS) {
                        topics[topic_cnt++] = argv[++i];
                } else if (!strcmp(argv[i], "--debug")) {
                        debug = 1;
                } else {
                        usage(argv[0]);
                        return 2;
                }
        }

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns EINTR */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        /* The rd_kafka_t only hosts the mock cluster; it has no
         * bootstrap.servers and never connects anywhere itself. */
        conf = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(conf, log_cb);
        if (rd_kafka_conf_set(conf, "log_level", debug ? "7" : "4", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            (debug && rd_kafka_conf_set(conf, "debug", "mock", errstr,
                                        sizeof(errstr)) != RD_KAFKA_CONF_OK)) {
                fprintf(stderr, "mock-broker: conf: %s\n", errstr);
                return 1;
        }
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "mock-broker: rd_kafka_new: %s\n", errstr);
                return 1;
        }

        mcluster = rd_kafka_mock_cluster_new(rk, broker_cnt);
        if (!mcluster) {
                fprintf(stderr, "mock-broker: rd_kafka_mock_cluster_new "
                                "failed\n");
                rd_kafka_destroy(rk);
                return 1;
        }

        for (i = 0; i < topic_cnt; i++) {
                char name[512];
                char *p1, *p2;
                long parts = 1, rf = 0;
                rd_kafka_resp_err_t err;

                snprintf(name, sizeof(name), "%s", topics[i]);
                p1 = strchr(name, ':');
                if (p1) {
                        *p1++ = '\0';
                        p2    = strchr(p1, ':');
                        if (p2)
                                *p2++ = '\0';
                        if (parse_int(p1, 1, 1 << 16, &parts) ||
                            (p2 && parse_int(p2, 1, 1 << 16, &rf))) {
                                fprintf(stderr,
                                        "mock-broker: bad --topic '%s'\n",
                                        topics[i]);
                                usage(argv[0]);
                                return 2;
                        }
                }
                err = create_topic(mcluster, name, parts, rf);
                if (err) {
                        fprintf(stderr,
                                "mock-broker: creating topic %s: %s\n", name,
                                rd_kafka_err2str(err));
                        return 1;
                }
        }

        /* The one line the parent waits for. */
        reply("%s", rd_kafka_mock_cluster_bootstraps(mcluster));

        while (!done && !stop_signal) {
                struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
                ssize_t r;
                char *nl;

                if (poll(&pfd, 1, 500) <= 0)
                        continue; /* timeout or EINTR: re-check signal */

                if (used == sizeof(buf) - 1) {
                        /* Over-long line: discard it. */
                        used = 0;
                        reply("err line too long");
                }
                r = read(STDIN_FILENO, buf + used, sizeof(buf) - 1 - used);
                if (r < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (r <= 0)
                        break; /* end of stdin: the parent is gone or done */
                used += (size_t)r;
                buf[used] = '\0';

                while (!done && (nl = memchr(buf, '\n', used))) {
                        size_t len = (size_t)(nl - buf) + 1;
                        *nl        = '\0';
                        done       = run_command(mcluster, buf);
                        memmove(buf, buf + len, used - len);
                        used -= len;
                        buf[used] = '\0';
                }
        }

        if (stop_signal && debug)
                fprintf(stderr, "mock-broker: signal %d, shutting down\n",
                        (int)stop_signal);

        /* rd_kafka_mock_cluster_destroy() sometimes takes a full second
         * (after brokers were taken down/up, its thread only notices at its
         * next 1 s poll timeout). Nothing here needs a graceful teardown: the
         * kernel closes the sockets, so just exit. */
        fflush(stdout);
        fflush(stderr);
        _exit(0);
}
