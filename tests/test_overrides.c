/*
 * test_overrides.c: "set path=value" on scenario YAML (sim/overrides.h): scalars,
 * sequence items, created keys, non-scalar values, the overridden scenario loading
 * with its relative paths still anchored at the file, determinism of the emitted text,
 * and positioned rejection of bad paths.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fm_models.h"
#include "overrides.h"
#include "scenario.h"

static const char base[] =
    "# a comment\n"
    "name: t\n"
    "model: llama-3.1-8b\n"
    "accelerator: H100-SXM\n"
    "replicas: 1\n"
    "workload:\n"
    "  requests: 50\n"
    "  arrival: {process: poisson, rate: 4}\n"
    "  input: 100\n"
    "  output: 20\n"
    "pools:\n"
    "  - {name: a, replicas: 1}\n"
    "  - {name: b, replicas: 2}\n";

static char *apply(const char *const *sets, int n, int want_rc, char **err)
{
    char *out = NULL;
    *err = NULL;
    int rc = fs_overrides_apply("t.yaml", base, sets, n, &out, err);
    assert_int_equal(rc, want_rc);
    return out;
}

static void test_scalars_and_items(void **state)
{
    (void)state;
    const char *sets[] = {"workload.arrival.rate=9.5", "pools.1.replicas=7",
                          "accelerator=H200", "engine.max_num_seqs=64"};
    char *err, *out = apply(sets, 4, 0, &err);
    assert_non_null(out);
    assert_non_null(strstr(out, "rate: 9.5"));
    assert_null(strstr(out, "rate: 4"));
    assert_non_null(strstr(out, "replicas: 7"));
    assert_non_null(strstr(out, "replicas: 1"));   /* pool a and the top level untouched */
    assert_non_null(strstr(out, "accelerator: H200"));
    assert_non_null(strstr(out, "max_num_seqs: 64")); /* created under a new engine: */
    assert_null(strstr(out, "comment"));
    free(out);
}

static void test_deterministic(void **state)
{
    (void)state;
    const char *sets[] = {"router.policy=round-robin", "pools.2={name: c, replicas: 3}"};
    char *err, *a = apply(sets, 2, 0, &err), *b = apply(sets, 2, 0, &err);
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "name: c"));
    assert_non_null(strstr(a, "policy: round-robin"));
    /* the result parses again and a second pass changes nothing further */
    char *c = NULL;
    assert_int_equal(fs_overrides_apply("a", a, NULL, 0, &c, &err), 0);
    assert_string_equal(a, c);
    free(a);
    free(b);
    free(c);
}

static void test_bad_paths(void **state)
{
    (void)state;
    char *err;
    const char *s1[] = {"pools.5.replicas=2"};
    assert_null(apply(s1, 1, -EINVAL, &err));
    assert_non_null(strstr(err, "pools has 2 items"));
    free(err);
    const char *s2[] = {"model.x=1"};
    assert_null(apply(s2, 1, -EINVAL, &err));
    assert_non_null(strstr(err, "model is a scalar"));
    free(err);
    const char *s3[] = {"norate"};
    assert_null(apply(s3, 1, -EINVAL, &err));
    assert_non_null(strstr(err, "expected PATH=VALUE"));
    free(err);
    const char *s5[] = {"a=1"};     /* shorter than "the scenario" */
    char *out = apply(s5, 1, 0, &err);
    assert_non_null(strstr(out, "a: 1"));
    free(out);
    const char *s4[] = {"a=[1, 2"};
    assert_null(apply(s4, 1, -EINVAL, &err));
    assert_non_null(strstr(err, "--set a=[1, 2: value:"));
    free(err);
}

static void test_loads_anchored(void **state)
{
    (void)state;
    fm_catalog *cat = NULL;
    char *err = NULL;
    assert_int_equal(fm_catalog_load_dir(TOP_SRCDIR "/models/catalog", &cat, &err), 0);
    fs_run_opts ro = {.catalog = TOP_SRCDIR "/models/catalog"};
    const char *sets[] = {"replicas=3", "accelerator=H200", "engine.max_num_seqs=32"};
    fs_scenario sc;
    assert_int_equal(fs_load_scenario_set("test", TOP_SRCDIR "/scenarios/quickstart.yaml",
                                          sets, 3, &ro, &sc), 0);
    assert_int_equal(sc.pools[0].replicas, 3);
    assert_string_equal(sc.pools[0].accel.name, "H200");
    assert_int_equal(sc.pools[0].engine.max_num_seqs, 32);
    assert_non_null(strstr(sc.text, "replicas: 3"));
    fs_scenario_free(&sc);
    const char *bad[] = {"replicas=-1"};
    assert_int_equal(fs_load_scenario_set("test", TOP_SRCDIR "/scenarios/quickstart.yaml",
                                          bad, 1, &ro, &sc), -1);
    fm_catalog_free(cat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_and_items),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_loads_anchored),
    };
    return cmocka_run_group_tests_name("overrides", tests, NULL, NULL);
}
