/*
 * test_cluster.c: the run loop seen from outside: an observer gets every finished
 * request and a per-replica sample each period, and what it gets adds up to the run's
 * summary; runs are reproducible; replicas are placed on nodes and racks as documented.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster.h"
#include "kvlink.h"

typedef struct seen {
    uint64_t requests, rejected, output_tokens, input_tokens, samples;
    double sampled_output, max_kv;
    fs_ns last_sample;
    uint64_t progress_calls;
} seen;

static void on_request(void *ctx, const fs_req_record *r)
{
    seen *s = ctx;
    if (r->output_tokens == 0) {
        s->rejected++;
        return;
    }
    s->requests++;
    s->output_tokens += r->output_tokens;
    s->input_tokens += r->input_tokens;
    assert_true(r->arrival <= r->first_scheduled && r->first_scheduled <= r->first_token &&
                r->first_token <= r->finish);
}

static void on_sample(void *ctx, const fs_replica_sample *smp)
{
    seen *s = ctx;
    s->samples++;
    s->sampled_output += smp->output_tps * 0.5; /* period is 0.5 s */
    assert_true(smp->t > s->last_sample || smp->t == s->last_sample);
    s->last_sample = smp->t;
    assert_true(smp->utilisation >= 0 && smp->utilisation <= 1);
    assert_true(smp->kv_usage >= 0 && smp->kv_usage <= 1);
    if (smp->kv_usage > s->max_kv)
        s->max_kv = smp->kv_usage;
}

static void on_progress(void *ctx, fs_ns now, uint64_t completed, uint64_t in_flight)
{
    ((seen *)ctx)->progress_calls++;
}

static void load(fs_scenario *sc)
{
    fm_catalog *cat = NULL;
    char *err = NULL;
    assert_int_equal(fm_catalog_load_dir(TOP_SRCDIR "/models/catalog", &cat, &err), 0);
    assert_int_equal(fs_scenario_load(TOP_SRCDIR "/scenarios/quickstart.yaml", cat, sc, &err), 0);
    fm_catalog_free(cat);
}

static void test_observer_adds_up(void **state)
{
    fs_scenario sc;
    load(&sc);
    seen s = {0};
    fs_run_observer obs = {.ctx = &s, .on_request = on_request, .on_sample = on_sample,
                           .on_progress = on_progress, .sample_period = FS_NS_PER_S / 2};
    fs_run_result res;
    char *err = NULL;
    assert_int_equal(fs_cluster_run_observed(&sc, &obs, &res, &err), 0);
    assert_int_equal(s.requests, res.summary.completed);
    assert_int_equal(s.rejected, res.summary.rejected);
    assert_int_equal(s.output_tokens, res.summary.output_tokens);
    assert_int_equal(s.input_tokens, res.summary.input_tokens);
    /* One sample per half second of the run (one replica), give or take the last. */
    uint64_t periods = (uint64_t)(res.summary.makespan_s / 0.5);
    assert_true(s.samples >= periods - 1 && s.samples <= periods + 1);
    /* Tokens after the last sample are not in any sample; the rest are. */
    assert_true(s.sampled_output <= (double)s.output_tokens + 0.5);
    assert_true(s.sampled_output >= (double)s.output_tokens * 0.98);
    assert_true(s.max_kv > 0);
    assert_true(s.progress_calls >= res.events / 65536);
    fs_scenario_free(&sc);
}

static void test_same_seed_same_result(void **state)
{
    fs_scenario sc;
    load(&sc);
    fs_run_result a, b;
    char *err = NULL;
    assert_int_equal(fs_cluster_run(&sc, &a, &err), 0);
    assert_int_equal(fs_cluster_run(&sc, &b, &err), 0);
    assert_memory_equal(&a.summary, &b.summary, sizeof a.summary);
    ft_spec_set_seed(&sc.workload, sc.seed + 1);
    assert_int_equal(fs_cluster_run(&sc, &b, &err), 0);
    assert_true(a.summary.ttft_s.mean != b.summary.ttft_s.mean);
    fs_scenario_free(&sc);
}

/* Processor sharing: 1 GB at 1 GB/s alone from 0; a 0.25 GB transfer joins at 0.5 s.
 * Sharing 0.5 GB/s each, the second ends at 1.0 s with the first at 0.25 GB left,
 * which then ends alone at 1.25 s. */
static void test_kvlink_sharing(void **state)
{
    fs_kvlink *l = fs_kvlink_new(1e9);
    int a = 1, b = 2;
    assert_int_equal(fs_kvlink_next(l, 0), FS_NS_MAX);
    assert_int_equal(fs_kvlink_start(l, 0, 1e9, &a), 0);
    assert_int_equal(fs_kvlink_next(l, 0), FS_NS_PER_S);
    assert_int_equal(fs_kvlink_start(l, FS_NS_PER_S / 2, 0.25e9, &b), 0);
    fs_ns t = fs_kvlink_next(l, FS_NS_PER_S / 2);
    assert_true(llabs(t - FS_NS_PER_S) <= 1);
    assert_null(fs_kvlink_take_done(l, t - 10));
    assert_ptr_equal(fs_kvlink_take_done(l, t), &b);
    assert_null(fs_kvlink_take_done(l, t));
    t = fs_kvlink_next(l, t);
    assert_true(llabs(t - FS_NS_PER_S * 5 / 4) <= 2);
    assert_ptr_equal(fs_kvlink_take_done(l, t), &a);
    assert_int_equal(fs_kvlink_active(l), 0);
    fs_kvlink_free(l);
}

static void add_pool(fs_scenario *sc, const char *accel, int per_node, int tp, int replicas)
{
    fs_pool *p = &sc->pools[sc->npools++];
    snprintf(p->accel.name, sizeof p->accel.name, "%s", accel);
    p->accel.accels_per_node = per_node;
    p->tp = tp;
    p->replicas = replicas;
}

/*
 * Placement by hand: 8-GPU nodes, 2 nodes per rack.
 * pool A: 3 x tp 4 on H100 -> nodes 0, 0, 1 (a tp-4 replica never straddles nodes);
 * pool B: 3 x tp 2 on H100 continues node 1 (4 used + 2 + 2 = 8), then node 2;
 * pool C: 2 x tp 1 on MI300X starts a new node: node 3, rack 1 (nodes 2 and 3).
 */
static void test_placement(void **state)
{
    static fs_scenario sc;   /* large: keep it off the stack */
    memset(&sc, 0, sizeof sc);
    add_pool(&sc, "H100-SXM", 8, 4, 3);
    add_pool(&sc, "H100-SXM", 8, 2, 3);
    add_pool(&sc, "MI300X", 8, 1, 2);
    sc.topology.nodes_per_rack = 2;
    fs_placement at[8];
    static const int node[8] = {0, 0, 1, 1, 1, 2, 3, 3};
    static const int rack[8] = {0, 0, 0, 0, 0, 1, 1, 1};
    assert_int_equal(fs_cluster_place(&sc, at), 4);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(at[i].node, node[i]);
        assert_int_equal(at[i].rack, rack[i]);
    }
    sc.topology.nodes_per_rack = 0;   /* one rack */
    assert_int_equal(fs_cluster_place(&sc, at), 4);
    for (int i = 0; i < 8; i++)
        assert_int_equal(at[i].rack, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_observer_adds_up),
        cmocka_unit_test(test_same_seed_same_result),
        cmocka_unit_test(test_kvlink_sharing),
        cmocka_unit_test(test_placement),
    };
    return cmocka_run_group_tests_name("cluster", tests, NULL, NULL);
}
