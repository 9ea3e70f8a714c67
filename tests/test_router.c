/*
 * test_router.c: cmocka tests of fleetsim-router's parsers (router/rt_parse.c): the
 * Prometheus text it scrapes, the OpenAI bodies it routes on, the endpoints file.
 *
 * They are what a hostile or broken peer controls, so besides the good cases every
 * parser is fed truncations and random bytes of good input and must answer 0 or
 * -EINVAL, never crash (the sanitizer build checks for leaks). The network side is
 * tested end to end by tests/router.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

#define DATA TOP_SRCDIR "/tests/data/"

static const char k_vllm[] =
    "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
    "# TYPE vllm:num_requests_running gauge\n"
    "vllm:num_requests_running{engine=\"0\",model_name=\"llama\"} 7.0\n"
    "vllm:num_requests_waiting{engine=\"0\",model_name=\"llama\"} 3.0\n"
    "vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"llama\"} 0.25\n"
    "vllm:cache_config_info{block_size=\"16\",cache_dtype=\"auto\",num_gpu_blocks=\"27000\"} 1.0\n"
    "vllm:prompt_tokens_total{model_name=\"llama\"} 1234\n";

static void prom_vllm(void **state)
{
    fp_metrics m = {0};
    assert_int_equal(rt_prom_parse(k_vllm, strlen(k_vllm), &m, NULL), 0);
    assert_int_equal(m.running, 7);
    assert_int_equal(m.waiting, 3);
    assert_true(m.kv_usage > 0.249 && m.kv_usage < 0.251);
    assert_int_equal(m.block_size, 16);
    assert_int_equal(m.num_blocks, 27000);
}

static void prom_two_engines_and_old_name(void **state)
{
    static const char t[] = "vllm:num_requests_running{engine=\"0\"} 2\n"
                            "vllm:num_requests_running{engine=\"1\"} 3\n"
                            "vllm:gpu_cache_usage_perc{engine=\"0\"} 0.2\n"
                            "vllm:gpu_cache_usage_perc{engine=\"1\"} 0.4\n";
    fp_metrics m = {0};
    assert_int_equal(rt_prom_parse(t, sizeof t - 1, &m, NULL), 0);
    assert_int_equal(m.running, 5);
    assert_int_equal(m.waiting, 0);
    assert_true(m.kv_usage > 0.299 && m.kv_usage < 0.301);
    assert_int_equal(m.block_size, 0);
}

static void prom_garbage(void **state)
{
    static const char *const bad[] = {
        "", "hello\n", "vllm:num_requests_waiting banana\n",
        "vllm:num_requests_waiting{a=\"b\" 3\n", "vllm:num_requests_running -1\n",
        "vllm:num_requests_running NaN\n", "<html>502 Bad Gateway</html>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fp_metrics m = {0};
        char *err = NULL;
        assert_int_equal(rt_prom_parse(bad[i], strlen(bad[i]), &m, &err), -EINVAL);
        assert_non_null(err);
        free(err);
    }
}

/* Every prefix of a good page, and random bytes over it, parse or fail cleanly. */
static void prom_fuzz(void **state)
{
    size_t n = strlen(k_vllm);
    char *buf = malloc(n);
    assert_non_null(buf);
    for (size_t cut = 0; cut <= n; cut++) {
        fp_metrics m = {0};
        memcpy(buf, k_vllm, cut); /* not NUL-terminated: the parser must respect len */
        int rc = rt_prom_parse(buf, cut, &m, NULL);
        assert_true(rc == 0 || rc == -EINVAL);
    }
    srand(7);
    for (int it = 0; it < 2000; it++) {
        memcpy(buf, k_vllm, n);
        for (int k = 0; k < 4; k++)
            buf[rand() % n] = (char)(rand() % 256);
        fp_metrics m = {0};
        int rc = rt_prom_parse(buf, n, &m, NULL);
        assert_true(rc == 0 || rc == -EINVAL);
        assert_true(m.kv_usage >= 0 && m.kv_usage <= 1);
    }
    free(buf);
}

static void body_completion(void **state)
{
    static const char t[] = "{\"model\":\"llama\",\"prompt\":\"The quick brown fox\","
                            "\"max_tokens\":32,\"stream\":true,\"cache_salt\":\"s\"}";
    rt_body b;
    assert_int_equal(rt_body_parse(t, sizeof t - 1, false, &b, NULL), 0);
    assert_string_equal(b.model, "llama");
    assert_string_equal(b.cache_salt, "s");
    assert_string_equal(b.text, "The quick brown fox");
    assert_int_equal(b.text_len, 19);
    assert_true(b.stream);
    assert_int_equal(b.max_tokens, 32);
    rt_body_free(&b);
}

/* Chat prompts are hashed as the messages' compact JSON, so equal conversations give
   equal text whatever the spacing of the client's body. */
static void body_chat(void **state)
{
    static const char a[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    static const char b2[] = "{ \"messages\" : [ { \"role\" : \"user\", \"content\" : \"hi\" } ],"
                             " \"max_completion_tokens\": 5 }";
    rt_body x, y;
    assert_int_equal(rt_body_parse(a, sizeof a - 1, true, &x, NULL), 0);
    assert_int_equal(rt_body_parse(b2, sizeof b2 - 1, true, &y, NULL), 0);
    assert_string_equal(x.text, y.text);
    assert_string_equal(x.text, "[{\"role\":\"user\",\"content\":\"hi\"}]");
    assert_string_equal(x.model, "");
    assert_false(x.stream);
    assert_int_equal(y.max_tokens, 5);
    rt_body_free(&x);
    rt_body_free(&y);
}

static void body_bad(void **state)
{
    static const struct { const char *t; bool chat; } bad[] = {
        {"{", false}, {"[]", false}, {"{\"prompt\":3}", false}, {"{}", false},
        {"{\"messages\":[]}", true}, {"{\"messages\":\"hi\"}", true},
        {"{\"prompt\":\"a\",\"max_tokens\":-1}", false},
        {"{\"prompt\":\"a\",\"max_tokens\":\"5\"}", false},
        {"{\"prompt\":\"a\",\"stream\":\"yes\"}", false},
        {"{\"prompt\":\"a\",\"prompt\":\"b\"}", false}, {"", false}, {"\xff\xfe", false},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rt_body b;
        char *err = NULL;
        assert_int_equal(rt_body_parse(bad[i].t, strlen(bad[i].t), bad[i].chat, &b, &err),
                         -EINVAL);
        assert_non_null(err);
        assert_null(b.root);
        free(err);
    }
}

static void endpoints_good(void **state)
{
    rt_epdesc *d;
    size_t n;
    char *err = NULL;
    assert_int_equal(rt_endpoints_load(DATA "router-endpoints.yaml", &d, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(d[0].name, "default/vllm-0");
    assert_string_equal(d[0].host, "10.0.0.1");
    assert_int_equal(d[0].port, 8000);
    assert_int_equal(d[0].nlabels, 1);
    assert_string_equal(d[0].labels[0].key, "llm-d.ai/role");
    assert_string_equal(d[0].labels[0].value, "prefill");
    assert_int_equal(d[1].nlabels, 2);
    assert_string_equal(d[2].host, "[::1]");
    assert_int_equal(d[2].port, 8001);
    rt_epdesc_free(d, n);
}

static void endpoints_bad(void **state)
{
    static const char *const files[] = {"router-endpoints-dup.yaml",
                                        "router-endpoints-badport.yaml",
                                        "router-endpoints-badkey.yaml", "no-such-file.yaml"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, DATA "%s", files[i]);
        rt_epdesc *d = NULL;
        size_t n = 0;
        char *err = NULL;
        assert_true(rt_endpoints_load(path, &d, &n, &err) < 0);
        assert_non_null(err);
        if (i < 3)
            assert_non_null(strstr(err, "router-endpoints-"));
        free(err);
    }
}

static void hostport(void **state)
{
    char *h;
    uint16_t p;
    assert_int_equal(rt_split_hostport("127.0.0.1:80", &h, &p), 0);
    assert_string_equal(h, "127.0.0.1");
    assert_int_equal(p, 80);
    free(h);
    assert_int_equal(rt_split_hostport("127.0.0.1", &h, &p), -EINVAL);
    assert_int_equal(rt_split_hostport(":80", &h, &p), -EINVAL);
    assert_int_equal(rt_split_hostport("a:0", &h, &p), -EINVAL);
    assert_int_equal(rt_split_hostport("a:8x", &h, &p), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(prom_vllm),       cmocka_unit_test(prom_two_engines_and_old_name),
        cmocka_unit_test(prom_garbage),    cmocka_unit_test(prom_fuzz),
        cmocka_unit_test(body_completion), cmocka_unit_test(body_chat),
        cmocka_unit_test(body_bad),        cmocka_unit_test(endpoints_good),
        cmocka_unit_test(endpoints_bad),   cmocka_unit_test(hostport),
    };
    return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
