# traces/local.mk: build rules of traces/ (included by Makefile.am).

noinst_LTLIBRARIES += libfleettraces.la
traces_c_sources = traces/source.c traces/generator.c traces/arrival.c traces/dist.c \
	traces/reader.c traces/trace.c traces/azure.c traces/burstgpt.c traces/mooncake.c \
	traces/csvtrace.c traces/servegen.c traces/xform.c traces/stats.c traces/spec.c \
	traces/specgen.c
libfleettraces_la_SOURCES = traces/ft_workload.h traces/ft_spec.h traces/ft_internal.h \
	$(traces_c_sources)
libfleettraces_la_CFLAGS = $(AM_CFLAGS) $(GSL_CFLAGS) $(XXHASH_CFLAGS) $(YAML_CFLAGS) \
	$(JANSSON_CFLAGS)
libfleettraces_la_LIBADD = libfsutil.la $(GSL_LIBS) $(XXHASH_LIBS) $(CSV_LIBS) \
	$(JANSSON_LIBS) -lm

check_PROGRAMS += tests/test_traces tests/test_traces_readers tests/test_traces_gen \
	tests/test_traces_spec tests/test_traces_corpus
tests_test_traces_SOURCES = tests/test_traces.c
tests_test_traces_CFLAGS = $(TEST_CFLAGS)
tests_test_traces_LDADD = libfleettraces.la $(CMOCKA_LIBS)
tests_test_traces_readers_SOURCES = tests/test_traces_readers.c
tests_test_traces_readers_CFLAGS = $(TEST_CFLAGS)
tests_test_traces_readers_LDADD = libfleettraces.la $(CMOCKA_LIBS)
tests_test_traces_gen_SOURCES = tests/test_traces_gen.c
tests_test_traces_gen_CFLAGS = $(TEST_CFLAGS)
tests_test_traces_gen_LDADD = libfleettraces.la $(CMOCKA_LIBS)
tests_test_traces_spec_SOURCES = tests/test_traces_spec.c
tests_test_traces_spec_CFLAGS = $(TEST_CFLAGS)
tests_test_traces_spec_LDADD = libfleettraces.la $(CMOCKA_LIBS)
tests_test_traces_corpus_SOURCES = tests/test_traces_corpus.c tests/corpus_replay.h
tests_test_traces_corpus_CFLAGS = $(TEST_CFLAGS)
tests_test_traces_corpus_LDADD = libfleettraces.la $(CMOCKA_LIBS)

# `fleetsim trace` end to end (TAP)
dist_check_SCRIPTS += tests/traces-cli.sh

# The trace readers' and workload specs' fuzz targets are built by fuzz/local.mk.

# Benchmark (part of make bench): rows/s read per format (medians) and peak memory
# replaying a 10-million-row CSV generated in $TMPDIR and a 27.3-million-row Azure 2024
# week through a pipe (see traces/bench_traces.c).
bench: bench-traces
bench-traces: traces/bench_traces$(EXEEXT)
	./traces/bench_traces --runs 5

.PHONY: bench-traces
