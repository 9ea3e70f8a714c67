/*
 * test_yaml.c: fu_yaml, the strict YAML reader: typed getters, durations, field tables,
 * and the positions and wording of its error messages.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fu_yaml.h"

static fu_yaml *load(const char *text)
{
    fu_yaml *y = NULL;
    char *err = NULL;
    assert_int_equal(fu_yaml_load_string("t.yaml", text, strlen(text), &y, &err), 0);
    assert_null(err);
    return y;
}

static void assert_err(char *err, const char *needle)
{
    assert_non_null(err);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not contain '%s'", err, needle);
    free(err);
}

static void test_syntax_error_position(void **state)
{
    fu_yaml *y = NULL;
    char *err = NULL;
    const char *bad = "a: 1\nb: [1, 2\n";
    assert_int_equal(fu_yaml_load_string("t.yaml", bad, strlen(bad), &y, &err), -EINVAL);
    assert_null(y);
    assert_err(err, "t.yaml:3:");
}

static void test_lookup_and_positions(void **state)
{
    fu_yaml *y = load("top:\n  x: 1.5\n  list: [a, b, c]\n");
    fu_ynode top = fu_ymap_get(fu_yaml_root(y), "top");
    assert_true(fu_ynode_is_map(top));
    fu_ynode x = fu_ymap_get(top, "x");
    assert_int_equal(fu_ynode_line(x), 2);
    assert_int_equal(fu_ynode_col(x), 6);
    fu_ynode list = fu_ymap_get(top, "list");
    assert_int_equal(fu_ynode_len(list), 3);
    assert_string_equal(fu_ynode_str(fu_yseq_item(list, 2)), "c");
    assert_false(fu_ynode_ok(fu_yseq_item(list, 3)));
    assert_false(fu_ynode_ok(fu_ymap_get(top, "missing")));
    fu_yaml_free(y);
}

static void test_numbers(void **state)
{
    fu_yaml *y = load("a: 2.5\nb: x\nc: 12\nd: -3\ne: [1]\n");
    fu_ynode r = fu_yaml_root(y);
    double d = 0;
    int64_t i = 0;
    char *err = NULL;
    assert_int_equal(fu_ynode_double(fu_ymap_get(r, "a"), 0, 10, &d, &err), 0);
    assert_true(d == 2.5);
    assert_int_equal(fu_ynode_double(fu_ymap_get(r, "b"), 0, 10, &d, &err), -EINVAL);
    assert_err(err, "t.yaml:2:4: expected a number, got 'x'");
    assert_int_equal(fu_ynode_int64(fu_ymap_get(r, "c"), 0, 10, &i, &err), -EINVAL);
    assert_err(err, "in [0, 10], got 12");
    assert_int_equal(fu_ynode_int64(fu_ymap_get(r, "d"), -5, 5, &i, &err), 0);
    assert_int_equal(i, -3);
    assert_int_equal(fu_ynode_int64(fu_ymap_get(r, "a"), 0, 5, &i, &err), -EINVAL);
    assert_err(err, "expected an integer");
    assert_int_equal(fu_ynode_double(fu_ymap_get(r, "e"), 0, 5, &d, &err), -EINVAL);
    assert_err(err, "got a sequence");
    fu_yaml_free(y);
}

static void test_durations(void **state)
{
    fu_yaml *y = load("[250ms, 1.5s, 10m, 2, 3us, 1h, 5 ms, 7d]\n");
    fu_ynode r = fu_yaml_root(y);
    const int64_t want[] = {250000000, 1500000000, 600000000000, 2000000000, 3000,
                            3600000000000};
    int64_t v;
    char *err = NULL;
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(fu_ynode_duration_ns(fu_yseq_item(r, i), 0, INT64_MAX, &v, &err), 0);
        assert_int_equal(v, want[i]);
    }
    for (size_t i = 6; i < 8; i++) {
        assert_int_equal(fu_ynode_duration_ns(fu_yseq_item(r, i), 0, INT64_MAX, &v, &err),
                         -EINVAL);
        assert_err(err, "expected a duration");
    }
    fu_yaml_free(y);
}

typedef struct conf {
    double rate;
    int n;
    bool on;
    char name[8];
    int64_t t;
} conf;

static const fu_yfield fields[] = {
    {"rate_k", FU_Y_DOUBLE, offsetof(conf, rate), 0, 0, 100, 1000, "rate in thousands"},
    {"n", FU_Y_INT, offsetof(conf, n), 0, 1, 10, 0, "count"},
    {"on", FU_Y_BOOL, offsetof(conf, on), 0, 0, 0, 0, "switch"},
    {"name", FU_Y_STR, offsetof(conf, name), 8, 0, 0, 0, "name"},
    {"t", FU_Y_DURATION_NS, offsetof(conf, t), 0, 0, 10, 0, "time"},
    {NULL},
};

static void test_apply(void **state)
{
    fu_yaml *y = load("rate_k: 2.5\nn: 3\non: yes\nname: abc\nt: 2s\nextra: 1\n");
    conf c = {0};
    char *err = NULL;
    static const char *const skip[] = {"extra", NULL};
    assert_int_equal(fu_yaml_apply(fu_yaml_root(y), "conf", fields, skip, &c, &err), 0);
    assert_true(c.rate == 2500);
    assert_int_equal(c.n, 3);
    assert_true(c.on);
    assert_string_equal(c.name, "abc");
    assert_int_equal(c.t, 2000000000);
    assert_int_equal(fu_yaml_apply(fu_yaml_root(y), "conf", fields, NULL, &c, &err), -EINVAL);
    assert_err(err, "t.yaml:6:1: unknown key 'extra' in conf (expected one of: rate_k, n, on, "
                    "name, t)");
    fu_yaml_free(y);
}

static void test_apply_errors(void **state)
{
    static const struct { const char *text, *msg; } cases[] = {
        {"n: 0\n", "t.yaml:1:4: expected an integer in [1, 10], got 0"},
        {"on: maybe\n", "expected true or false, got 'maybe'"},
        {"name: toolongname\n", "name is too long (at most 7 characters)"},
        {"t: 11s\n", "expected a duration in [0s, 10s]"},
        {"n: 1\nn: 2\n", "t.yaml:2:1: duplicate key 'n' in conf"},
        {"- 1\n", "expected a mapping"},
        {"n:\n", "expected an integer, got an empty value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fu_yaml *y = load(cases[i].text);
        conf c = {0};
        char *err = NULL;
        assert_int_equal(fu_yaml_apply(fu_yaml_root(y), "conf", fields, NULL, &c, &err),
                         -EINVAL);
        assert_err(err, cases[i].msg);
        fu_yaml_free(y);
    }
}

static void test_missing_file(void **state)
{
    fu_yaml *y = NULL;
    char *err = NULL;
    assert_int_equal(fu_yaml_load_file("/nonexistent/x.yaml", &y, &err), -ENOENT);
    assert_err(err, "/nonexistent/x.yaml: cannot open");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax_error_position), cmocka_unit_test(test_lookup_and_positions),
        cmocka_unit_test(test_numbers), cmocka_unit_test(test_durations),
        cmocka_unit_test(test_apply), cmocka_unit_test(test_apply_errors),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests_name("fu_yaml", tests, NULL, NULL);
}
