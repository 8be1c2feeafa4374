/*
 * bench/codec: how fast a realistic message body (a _query_response batch
 * of 100 Domain data objects) is encoded and decoded as JSON and as AMQP
 * 1.0 typed data.  Prints messages and MB per second.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/measure.h"
#include "core/codec.h"

static qmf_value *
domain_batch(size_t n)
{
    qmf_value *list = qmf_list();
    size_t i;

    for (i = 0; i < n; i++) {
        qmf_value *d = qmf_list_append(list, qmf_map());
        qmf_value *oid = qmf_map_set(d, "_object_id", qmf_map());
        qmf_value *sid = qmf_map_set(d, "_schema_id", qmf_map());
        qmf_value *v = qmf_map_set(d, "_values", qmf_map());
        uint8_t hash[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

        qmf_map_set(oid, "_agent_name", qmf_string("virtbus:agent:rack1-hv042"));
        qmf_map_set(oid, "_object_name",
                    qmf_stringf("domain:10000000-0000-4000-8000-%012zu", i));
        qmf_map_set(sid, "_package_name", qmf_string("org.libvirt"));
        qmf_map_set(sid, "_class_name", qmf_string("Domain"));
        qmf_map_set(sid, "_type", qmf_string("_data"));
        qmf_map_set(sid, "_hash", qmf_uuid(hash));
        qmf_map_set(v, "uuid", qmf_stringf("10000000-0000-4000-8000-%012zu", i));
        qmf_map_set(v, "name", qmf_stringf("guest-%zu", i));
        qmf_map_set(v, "id", qmf_i32((int32_t)i));
        qmf_map_set(v, "state", qmf_string("running"));
        qmf_map_set(v, "numVcpus", qmf_u32(4));
        qmf_map_set(v, "active", qmf_bool(true));
        qmf_map_set(v, "maximumMemory", qmf_u64(8388608));
        qmf_map_set(v, "memory", qmf_u64(4194304));
        qmf_map_set(v, "cpuTime", qmf_u64(123456789012ULL + i));
        qmf_map_set(v, "persistent", qmf_bool(true));
        qmf_map_set(v, "autostart", qmf_bool(false));
        qmf_map_set(v, "osType", qmf_string("hvm"));
        qmf_map_set(v, "reason", qmf_string("booted"));
        qmf_map_set(d, "_create_ts", qmf_i64(1764106839000000000LL));
        qmf_map_set(d, "_update_ts", qmf_i64(1764106839000000000LL + (int64_t)i));
    }
    return list;
}

static void
report(const char *what, size_t iters, size_t bytes, double secs)
{
    printf("%-22s %9.0f msg/s  %7.1f MB/s  (%zu bytes/msg)\n", what,
           iters / secs, iters * (double)bytes / secs / 1e6, bytes);
}

int
main(int argc, char **argv)
{
    size_t iters = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000, i, len = 0;
    qmf_value *batch = domain_batch(100), *back;
    qmf_error err;
    char *text, *bin;
    double t;

    printf("bench/codec: a _query_response batch of 100 Domain objects, %zu iterations\n",
           iters);
    t = bench_now_s();
    for (i = 0; i < iters; i++) {
        text = qmf_to_json(batch, &len);
        free(text);
    }
    report("JSON encode", iters, len, bench_now_s() - t);
    text = qmf_to_json(batch, &len);
    t = bench_now_s();
    for (i = 0; i < iters; i++) {
        back = qmf_from_json(text, len, &err);
        if (back == NULL) {
            fprintf(stderr, "decode failed: %s\n", err.text);
            return 1;
        }
        qmf_free(back);
    }
    report("JSON decode", iters, len, bench_now_s() - t);
    free(text);

    t = bench_now_s();
    for (i = 0; i < iters; i++) {
        if (qmf_to_amqp(batch, &bin, &len) != 0)
            return 1;
        free(bin);
    }
    report("AMQP 1.0 encode", iters, len, bench_now_s() - t);
    if (qmf_to_amqp(batch, &bin, &len) != 0)
        return 1;
    t = bench_now_s();
    for (i = 0; i < iters; i++) {
        back = qmf_from_amqp(bin, len, &err);
        if (back == NULL) {
            fprintf(stderr, "decode failed: %s\n", err.text);
            return 1;
        }
        qmf_free(back);
    }
    report("AMQP 1.0 decode", iters, len, bench_now_s() - t);
    free(bin);
    qmf_free(batch);
    return 0;
}
