/*
 * log-producer.c: a fast certifier stand-in for benchmarks. Reads framed records from stdin and
 * produces them, in order, to one partition of a topic with librdkafka, so that producing a
 * large log costs the benchmark machine little CPU (kafkajs' producer costs more per record
 * than the replicator's consumer). Compiled on demand by test/support/kafka/nativeTools.ts:
 *
 *   gcc -O2 -Wall -o log-producer log-producer.c -lrdkafka
 *
 * Usage: log-producer <bootstrap> <topic>
 * stdin: frames of [1 byte kind: 'C' candidate, 'D' decision, 'N' no header][4 bytes length,
 * big-endian][value]. At end of input it flushes and prints "produced <n>" on stdout.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

static int read_full(void *buf, size_t n) {
        return fread(buf, 1, n, stdin) == n;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        (void)rk;
        (void)opaque;
        if (m->err) {
                fprintf(stderr, "log-producer: delivery failed: %s\n", rd_kafka_err2str(m->err));
                exit(2);
        }
}

int main(int argc, char **argv) {
        if (argc != 3) {
                fprintf(stderr, "usage: log-producer <bootstrap> <topic>\n");
                return 64;
        }
        char err[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof err) ||
            rd_kafka_conf_set(conf, "linger.ms", "2", err, sizeof err) ||
            rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err) ||
            rd_kafka_conf_set(conf, "queue.buffering.max.messages", "20000", err, sizeof err)) {
                fprintf(stderr, "log-producer: %s\n", err);
                return 1;
        }
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        if (!rk) {
                fprintf(stderr, "log-producer: %s\n", err);
                return 1;
        }
        size_t capacity = 1 << 16;
        char *value = malloc(capacity);
        long produced = 0;
        for (;;) {
                unsigned char head[5];
                if (!read_full(head, 5)) break;
                uint32_t len = ((uint32_t)head[1] << 24) | ((uint32_t)head[2] << 16) | ((uint32_t)head[3] << 8) | head[4];
                if (len > capacity) {
                        capacity = len;
                        value = realloc(value, capacity);
                }
                if (len > 0 && !read_full(value, len)) break;
                const char *type = head[0] == 'C' ? "Candidate" : head[0] == 'D' ? "Decision" : NULL;
                for (;;) {
                        rd_kafka_resp_err_t e = type
                            ? rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(argv[2]), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_VALUE(value, len),
                                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADER("messageType", type, -1), RD_KAFKA_V_END)
                            : rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(argv[2]), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_VALUE(value, len),
                                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
                        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                                rd_kafka_poll(rk, 10);
                                continue;
                        }
                        if (e) {
                                fprintf(stderr, "log-producer: produce failed: %s\n", rd_kafka_err2str(e));
                                return 1;
                        }
                        break;
                }
                produced++;
                rd_kafka_poll(rk, 0);
        }
        rd_kafka_flush(rk, 60000);
        printf("produced %ld\n", produced);
        fflush(stdout);
        rd_kafka_destroy(rk);
        free(value);
        return 0;
}
