# sim/results.mk: build rules of the results store, progress bar, `fleetsim results`,
# `plot` and `report`, and their tests (included by Makefile.am after sim/local.mk).

libfleetsim_la_SOURCES += sim/results.c sim/results_read.c sim/results.h \
	sim/results_impl.h sim/progress.c sim/progress.h
libfleetsim_la_CFLAGS += $(SQLITE_CFLAGS)
libfleetsim_la_LIBADD += $(SQLITE_LIBS) $(CSV_LIBS)

fleetsim_SOURCES += sim/cmd_results.c sim/plot.c sim/plot.h sim/cmd_plot.c sim/cmd_report.c
fleetsim_CFLAGS += $(SQLITE_CFLAGS)

# make check: `fleetsim run` stores into $FLEETSIM_DB; point it at a file of the test's
# own in the temporary directory so that no fleetsim.db appears in the tree.
# The plots are drawn with this tree's scripts, not an installed copy.
AM_TESTS_ENVIRONMENT += FLEETSIM_DB="$${TMPDIR:-/tmp}/fleetsim-check-$$$$.db"; \
	export FLEETSIM_DB; FLEETSIM_PLOTS='$(abs_top_srcdir)/plots'; export FLEETSIM_PLOTS;

check_PROGRAMS += tests/test_results
tests_test_results_SOURCES = tests/test_results.c
tests_test_results_CFLAGS = $(TEST_CFLAGS) $(SQLITE_CFLAGS)
tests_test_results_LDADD = $(TEST_LIBS) $(SQLITE_LIBS)

# The gnuplot scripts are installed beside the catalogue and found there by `plot`.
plotsdir = $(pkgdatadir)/plots
dist_plots_DATA = plots/common.gp plots/cdf.gp plots/timeline.gp plots/replicas.gp \
	plots/sweep.gp plots/cost.gp

# What storing costs a run: median wall time of the 100,000-request benchmark without a
# database, with per-request records and with --no-requests.
bench-results: fleetsim$(EXEEXT)
	top_srcdir=$(top_srcdir) top_builddir=$(top_builddir) \
		$(SHELL) $(top_srcdir)/tests/results-bench.sh
.PHONY: bench-results
EXTRA_DIST += tests/results-bench.sh

dist_check_SCRIPTS += tests/results.sh tests/results-kill.sh
