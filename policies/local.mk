# policies/local.mk: build rules of policies/ (included by Makefile.am).
#
# libfleetpolicy is the one installed library of the tree: its header fleetpolicy.h and
# a pkg-config file go with it, so the router (and anyone else) links it unchanged. It
# depends on no other part of the tree except the libfsutil convenience library (YAML
# reading), which libtool folds into it.

lib_LTLIBRARIES = libfleetpolicy.la
include_HEADERS = policies/fleetpolicy.h
libfleetpolicy_la_SOURCES = policies/fleetpolicy.h policies/fp_internal.h \
	policies/fp_plugins.h policies/hashing.c policies/index_approx.c \
	policies/index_precise.c policies/policy.c policies/config.c policies/registry.c \
	policies/scorers.c policies/filters.c policies/pickers.c policies/handlers.c \
	policies/producers.c
libfleetpolicy_la_CPPFLAGS = -D_GNU_SOURCE -I$(top_srcdir)/util -I$(top_srcdir)/policies
libfleetpolicy_la_CFLAGS = $(AM_CFLAGS) $(YAML_CFLAGS) $(XXHASH_CFLAGS)
libfleetpolicy_la_LIBADD = libfsutil.la $(YAML_LIBS) $(XXHASH_LIBS) -lm
libfleetpolicy_la_LDFLAGS = $(AM_LDFLAGS) -export-symbols-regex '^fp_'

pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = policies/libfleetpolicy.pc
EXTRA_DIST += policies/libfleetpolicy.pc.in

POLICY_TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/policies
POLICY_TEST_LIBS = libfleetpolicy.la $(CMOCKA_LIBS) -lm

check_PROGRAMS += tests/test_policy tests/test_policy_config tests/test_policy_index
tests_test_policy_SOURCES = tests/test_policy.c
tests_test_policy_CPPFLAGS = $(POLICY_TEST_CPPFLAGS)
tests_test_policy_CFLAGS = $(TEST_CFLAGS)
tests_test_policy_LDADD = $(POLICY_TEST_LIBS)
tests_test_policy_config_SOURCES = tests/test_policy_config.c
tests_test_policy_config_CPPFLAGS = $(POLICY_TEST_CPPFLAGS)
tests_test_policy_config_CFLAGS = $(TEST_CFLAGS)
tests_test_policy_config_LDADD = $(POLICY_TEST_LIBS)
tests_test_policy_index_SOURCES = tests/test_policy_index.c
tests_test_policy_index_CPPFLAGS = $(POLICY_TEST_CPPFLAGS)
tests_test_policy_index_CFLAGS = $(TEST_CFLAGS)
tests_test_policy_index_LDADD = $(POLICY_TEST_LIBS)

# Benchmark of one pick (make bench runs it): microseconds per decision, median and p99.
# (noinst_PROGRAMS is first set here; a later fragment adds to it with +=.)
noinst_PROGRAMS = policies/bench_pick
policies_bench_pick_SOURCES = policies/bench_pick.c
policies_bench_pick_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/policies
policies_bench_pick_LDADD = libfleetpolicy.la -lm

bench: bench-policy
bench-policy: policies/bench_pick$(EXEEXT)
	./policies/bench_pick --runs 5

.PHONY: bench-policy
