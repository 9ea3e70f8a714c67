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
EXTRA_DIST += fuzz/fuzz_readers.c fuzz/fuzz_spec.c fuzz/corpus/readers fuzz/corpus/spec

# `fleetsim trace` end to end (TAP)
dist_check_SCRIPTS += tests/traces-cli.sh

# Fuzzing with libFuzzer (needs clang): `make fuzz-traces` builds fuzz/fuzz_readers and
# fuzz/fuzz_spec with ASan and UBSan and runs each for FUZZ_SECONDS over its corpus in
# fuzz/corpus (new inputs are added there; keep the useful ones, `-merge=1` to prune).
# Not part of `make check`, which replays the corpus instead (tests/test_traces_corpus).
FUZZ_CC = clang
FUZZ_SECONDS = 60
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-D_GNU_SOURCE -I$(top_srcdir)/traces -I$(top_srcdir)/util $(GSL_CFLAGS) \
	$(JANSSON_CFLAGS) $(YAML_CFLAGS) $(XXHASH_CFLAGS)
FUZZ_LIBS = $(GSL_LIBS) $(XXHASH_LIBS) $(CSV_LIBS) $(JANSSON_LIBS) $(YAML_LIBS) -lm
fuzz_lib_sources = $(traces_c_sources) util/fu_yaml.c
fuzz_build = $(FUZZ_CC) $(FUZZ_CFLAGS) -DFUZZ_DATA_DIR='"$(abs_top_srcdir)/tests/data"' \
	-o $@ `for f in $(fuzz_lib_sources); do echo $(srcdir)/$$f; done`

fuzz/fuzz_readers: fuzz/fuzz_readers.c $(fuzz_lib_sources)
	$(fuzz_build) $(srcdir)/fuzz/fuzz_readers.c $(FUZZ_LIBS)
fuzz/fuzz_spec: fuzz/fuzz_spec.c $(fuzz_lib_sources)
	$(fuzz_build) $(srcdir)/fuzz/fuzz_spec.c $(FUZZ_LIBS)

fuzz-traces: fuzz/fuzz_readers fuzz/fuzz_spec
	./fuzz/fuzz_readers -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
		$(srcdir)/fuzz/corpus/readers
	./fuzz/fuzz_spec -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
		$(srcdir)/fuzz/corpus/spec

.PHONY: fuzz-traces

# Benchmark (part of make bench): rows/s read per format (medians) and peak memory
# replaying a 10-million-row CSV generated in $TMPDIR and a 27.3-million-row Azure 2024
# week through a pipe (see traces/bench_traces.c).
bench: bench-traces
bench-traces: traces/bench_traces$(EXEEXT)
	./traces/bench_traces --runs 5

.PHONY: bench-traces
