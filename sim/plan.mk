# sim/plan.mk: build rules of scenario overrides (`run --set`), sweeps, the capacity
# planner, the hardware scorecard and policy regression, and their tests (included by
# Makefile.am after sim/local.mk).

libfleetsim_la_SOURCES += sim/overrides.c sim/overrides.h
libfleetsim_la_CFLAGS += $(YAML_CFLAGS)
libfleetsim_la_LIBADD += $(YAML_LIBS)

check_PROGRAMS += tests/test_overrides
tests_test_overrides_SOURCES = tests/test_overrides.c
tests_test_overrides_CFLAGS = $(TEST_CFLAGS)
tests_test_overrides_LDADD = $(TEST_LIBS)

EXTRA_DIST += deploy

fleetsim_SOURCES += sim/cmd_sweep.c
fleetsim_CFLAGS += $(XXHASH_CFLAGS) $(YAML_CFLAGS)
dist_check_SCRIPTS += tests/plan-sweep.sh tests/plan-deploy.sh
fleetsim_SOURCES += sim/cmd_plan.c sim/plan.c sim/plan.h
dist_check_SCRIPTS += tests/plan.sh tests/plan-trace.sh
fleetsim_SOURCES += sim/cmd_scorecard.c
dist_check_SCRIPTS += tests/plan-scorecard.sh
fleetsim_SOURCES += sim/cmd_regress.c
dist_check_SCRIPTS += tests/plan-regress.sh

# A helper of the deploy tests: reads multi-document YAML (the Kubernetes manifests)
# with util's strict reader and prints values by path.
noinst_PROGRAMS += tests/yaml_get
tests_yaml_get_SOURCES = tests/yaml_get.c
tests_yaml_get_CFLAGS = $(AM_CFLAGS) $(YAML_CFLAGS)
tests_yaml_get_LDADD = libfsutil.la
