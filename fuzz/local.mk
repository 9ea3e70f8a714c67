# fuzz/local.mk: libFuzzer targets of the policy library, the router's parsers,
# hardware and model descriptions, and scenario files (included by Makefile.am; the
# trace readers' targets are in traces/local.mk).
#
# `make fuzz` builds every target with clang, ASan and UBSan, and runs each for
# FUZZ_SECONDS over its corpus in fuzz/corpus (new inputs are added there; keep the
# useful ones, `-merge=1` to prune; the .dict files hold the configs' keywords). Not part of `make check`, which replays every
# corpus instead (tests/test_fuzz_corpus, tests/test_traces_corpus). Each target is
# one clang command over the sources of the libraries it needs, so that all of them
# are instrumented for coverage.

FUZZ_ALL_CFLAGS = $(FUZZ_CFLAGS) -I$(top_srcdir)/policies -I$(top_srcdir)/models \
	-I$(top_srcdir)/sim -I$(top_srcdir)/router -I$(top_builddir) \
	-DFLEETSIM_DATADIR='"$(pkgdatadir)"' -DFLEETSIM_SRCDIR='"$(abs_top_srcdir)"' \
	-DFUZZ_CATALOG_DIR='"$(abs_top_srcdir)/models/catalog"'
fuzz_policy_sources = $(filter %.c,$(libfleetpolicy_la_SOURCES) $(libfsutil_la_SOURCES))
fuzz_router_sources = $(fuzz_policy_sources) router/rt_parse.c
fuzz_scenario_sources = $(filter %.c,$(libfleetsim_la_SOURCES) $(libfleetmodels_la_SOURCES) \
	$(libfleettraces_la_SOURCES)) $(fuzz_policy_sources)
fuzz_models_sources = $(filter %.c,$(libfleetmodels_la_SOURCES) $(libfsutil_la_SOURCES))
fuzz_link = $(FUZZ_CC) $(FUZZ_ALL_CFLAGS) -DFUZZ_DATA_DIR='"$(abs_top_srcdir)/tests/data"' -o $@

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

fuzz: fuzz-traces fuzz/fuzz_policy fuzz/fuzz_router fuzz/fuzz_models fuzz/fuzz_scenario
	./fuzz/fuzz_policy -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=20 \
		-dict=$(srcdir)/fuzz/policy.dict $(srcdir)/fuzz/corpus/policy
	./fuzz/fuzz_router -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=20 \
		$(srcdir)/fuzz/corpus/router
	./fuzz/fuzz_models -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=20 \
		-dict=$(srcdir)/fuzz/models.dict $(srcdir)/fuzz/corpus/models
	./fuzz/fuzz_scenario -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=20 \
		-dict=$(srcdir)/fuzz/scenario.dict $(srcdir)/fuzz/corpus/scenario

.PHONY: fuzz

check_PROGRAMS += tests/test_fuzz_corpus
tests_test_fuzz_corpus_SOURCES = tests/test_fuzz_corpus.c tests/corpus_replay.h fuzz/fuzz_util.h \
	router/rt_parse.c router/rt.h
tests_test_fuzz_corpus_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/router
tests_test_fuzz_corpus_CFLAGS = $(TEST_CFLAGS)
tests_test_fuzz_corpus_LDADD = libfleetsim.la $(JANSSON_LIBS) $(CMOCKA_LIBS)

# Named one by one: a directory `fuzz` in EXTRA_DIST would make `make dist` run the
# `fuzz` target above.
EXTRA_DIST += fuzz/fuzz_policy.c fuzz/fuzz_router.c fuzz/fuzz_models.c fuzz/fuzz_scenario.c \
	fuzz/fuzz_util.h fuzz/policy.dict fuzz/models.dict fuzz/scenario.dict fuzz/corpus/policy \
	fuzz/corpus/router fuzz/corpus/models fuzz/corpus/scenario
