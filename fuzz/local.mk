# fuzz/local.mk: the libFuzzer targets (included by Makefile.am): trace readers,
# workload specs, the policy library, the router's parsers, hardware and model
# descriptions, and scenario files.
#
# `make fuzz` builds every target with clang, ASan and UBSan, and runs each for
# FUZZ_SECONDS over its corpus in fuzz/corpus (new inputs are added there; keep the
# useful ones, `-merge=1` to prune; the .dict files hold the configs' keywords);
# `make fuzz-traces` runs the first two only. Not part of `make check`, which replays
# every corpus instead (tests/test_traces_corpus, tests/test_fuzz_corpus). Each target
# is one clang command over the sources of the libraries it needs, so that all of them
# are instrumented for coverage.

FUZZ_CC = clang
FUZZ_SECONDS = 60
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-D_GNU_SOURCE -I$(top_srcdir)/util -I$(top_srcdir)/traces -I$(top_srcdir)/policies \
	-I$(top_srcdir)/models -I$(top_srcdir)/sim -I$(top_srcdir)/router -I$(top_builddir) \
	$(GSL_CFLAGS) $(JANSSON_CFLAGS) $(YAML_CFLAGS) $(XXHASH_CFLAGS) \
	-DFLEETSIM_DATADIR='"$(pkgdatadir)"' -DFLEETSIM_SRCDIR='"$(abs_top_srcdir)"' \
	-DFUZZ_CATALOG_DIR='"$(abs_top_srcdir)/models/catalog"' \
	-DFUZZ_DATA_DIR='"$(abs_top_srcdir)/tests/data"'
FUZZ_LIBS = $(GSL_LIBS) $(XXHASH_LIBS) $(CSV_LIBS) $(JANSSON_LIBS) $(YAML_LIBS) -lm
FUZZ_RUN = -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=20
fuzz_traces_sources = $(traces_c_sources) util/fu_yaml.c
fuzz_policy_sources = $(filter %.c,$(libfleetpolicy_la_SOURCES) $(libfsutil_la_SOURCES))
fuzz_router_sources = $(fuzz_policy_sources) router/rt_parse.c
fuzz_scenario_sources = $(filter %.c,$(libfleetsim_la_SOURCES) $(libfleetmodels_la_SOURCES) \
	$(libfleettraces_la_SOURCES)) $(fuzz_policy_sources)
fuzz_models_sources = $(filter %.c,$(libfleetmodels_la_SOURCES) $(libfsutil_la_SOURCES))
fuzz_link = $(FUZZ_CC) $(FUZZ_CFLAGS) -o $@

fuzz/fuzz_readers: fuzz/fuzz_readers.c $(fuzz_traces_sources)
	$(fuzz_link) $(addprefix $(srcdir)/,$(filter %.c,$^)) $(FUZZ_LIBS)
fuzz/fuzz_spec: fuzz/fuzz_spec.c $(fuzz_traces_sources)
	$(fuzz_link) $(addprefix $(srcdir)/,$(filter %.c,$^)) $(FUZZ_LIBS)
fuzz/fuzz_policy: fuzz/fuzz_policy.c $(fuzz_policy_sources)
	$(fuzz_link) $(addprefix $(srcdir)/,$(filter %.c,$^)) $(YAML_LIBS) $(XXHASH_LIBS) -lm
fuzz/fuzz_router: fuzz/fuzz_router.c $(fuzz_router_sources)
	$(fuzz_link) $(addprefix $(srcdir)/,$(filter %.c,$^)) $(JANSSON_LIBS) $(YAML_LIBS) \
		$(XXHASH_LIBS) -lm
fuzz/fuzz_models: fuzz/fuzz_models.c $(fuzz_models_sources)
	$(fuzz_link) $(addprefix $(srcdir)/,$(filter %.c,$^)) $(GSL_LIBS) $(JANSSON_LIBS) \
		$(CSV_LIBS) $(YAML_LIBS) -lm
fuzz/fuzz_scenario: fuzz/fuzz_scenario.c $(fuzz_scenario_sources)
	$(fuzz_link) $(addprefix $(srcdir)/,$(filter %.c,$^)) $(FUZZ_LIBS) $(SQLITE_LIBS)

fuzz/fuzz_policy fuzz/fuzz_router fuzz/fuzz_models fuzz/fuzz_scenario: fuzz/fuzz_util.h

fuzz-traces: fuzz/fuzz_readers fuzz/fuzz_spec
	./fuzz/fuzz_readers $(FUZZ_RUN) $(srcdir)/fuzz/corpus/readers
	./fuzz/fuzz_spec $(FUZZ_RUN) $(srcdir)/fuzz/corpus/spec

fuzz: fuzz-traces fuzz/fuzz_policy fuzz/fuzz_router fuzz/fuzz_models fuzz/fuzz_scenario
	./fuzz/fuzz_policy $(FUZZ_RUN) -dict=$(srcdir)/fuzz/policy.dict $(srcdir)/fuzz/corpus/policy
	./fuzz/fuzz_router $(FUZZ_RUN) $(srcdir)/fuzz/corpus/router
	./fuzz/fuzz_models $(FUZZ_RUN) -dict=$(srcdir)/fuzz/models.dict $(srcdir)/fuzz/corpus/models
	./fuzz/fuzz_scenario $(FUZZ_RUN) -dict=$(srcdir)/fuzz/scenario.dict \
		$(srcdir)/fuzz/corpus/scenario

.PHONY: fuzz fuzz-traces

check_PROGRAMS += tests/test_fuzz_corpus
tests_test_fuzz_corpus_SOURCES = tests/test_fuzz_corpus.c tests/corpus_replay.h fuzz/fuzz_util.h \
	router/rt_parse.c router/rt.h
tests_test_fuzz_corpus_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/router
tests_test_fuzz_corpus_CFLAGS = $(TEST_CFLAGS)
tests_test_fuzz_corpus_LDADD = libfleetsim.la $(JANSSON_LIBS) $(CMOCKA_LIBS)

# Named one by one: a directory `fuzz` in EXTRA_DIST would make `make dist` run the
# `fuzz` target above.
EXTRA_DIST += fuzz/fuzz_readers.c fuzz/fuzz_spec.c fuzz/fuzz_policy.c fuzz/fuzz_router.c \
	fuzz/fuzz_models.c fuzz/fuzz_scenario.c fuzz/fuzz_util.h fuzz/policy.dict \
	fuzz/models.dict fuzz/scenario.dict fuzz/corpus
