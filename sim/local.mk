# sim/local.mk: build rules of sim/ and the fleetsim tool (included by Makefile.am).

noinst_LTLIBRARIES += libfleetsim.la
libfleetsim_la_SOURCES = sim/evq.c sim/evq.h sim/kvcache.c sim/kvcache.h \
	sim/engine.c sim/engine.h sim/metrics.c sim/metrics.h \
	sim/scenario.c sim/scenario.h sim/cluster.c sim/cluster.h \
	sim/kvlink.c sim/kvlink.h sim/routing.c sim/routing.h
libfleetsim_la_CFLAGS = $(AM_CFLAGS) $(GSL_CFLAGS) $(YAML_CFLAGS) $(JANSSON_CFLAGS) \
	$(XXHASH_CFLAGS)
libfleetsim_la_LIBADD = libfleetpolicy.la libfleetmodels.la libfleettraces.la libfsutil.la \
	$(GSL_LIBS) $(JANSSON_LIBS) $(XXHASH_LIBS) -lm

bin_PROGRAMS += fleetsim
fleetsim_SOURCES = sim/main.c sim/cmd.h sim/runcommon.c sim/runcommon.h \
	sim/cmd_run.c sim/cmd_step.c sim/cmd_bench.c
fleetsim_CFLAGS = $(AM_CFLAGS) $(GSL_CFLAGS) $(JANSSON_CFLAGS)
fleetsim_LDADD = libfleetsim.la

check_PROGRAMS += tests/test_evq tests/test_kvcache tests/test_engine tests/test_metrics tests/test_scenario \
	tests/test_cluster
tests_test_evq_SOURCES = tests/test_evq.c
tests_test_evq_CFLAGS = $(TEST_CFLAGS)
tests_test_evq_LDADD = $(TEST_LIBS)
tests_test_kvcache_SOURCES = tests/test_kvcache.c
tests_test_kvcache_CFLAGS = $(TEST_CFLAGS)
tests_test_kvcache_LDADD = $(TEST_LIBS)
tests_test_engine_SOURCES = tests/test_engine.c
tests_test_engine_CFLAGS = $(TEST_CFLAGS)
tests_test_engine_LDADD = $(TEST_LIBS)
tests_test_metrics_SOURCES = tests/test_metrics.c
tests_test_metrics_CFLAGS = $(TEST_CFLAGS)
tests_test_metrics_LDADD = $(TEST_LIBS)
tests_test_scenario_SOURCES = tests/test_scenario.c
tests_test_scenario_CFLAGS = $(TEST_CFLAGS)
tests_test_scenario_LDADD = $(TEST_LIBS)
tests_test_cluster_SOURCES = tests/test_cluster.c
tests_test_cluster_CFLAGS = $(TEST_CFLAGS)
tests_test_cluster_LDADD = $(TEST_LIBS)

dist_check_SCRIPTS += tests/e2e.sh tests/routing.sh
