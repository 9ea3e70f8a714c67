# traces/tool.mk: the parts of the fleetsim tool that belong to traces/ (included by
# Makefile.am after sim/local.mk, which defines the fleetsim program).

# `fleetsim trace stats|gen|convert`
fleetsim_SOURCES += sim/cmd_trace.c

# The trace benchmark (make bench-traces, run by make bench): rows/s per format and
# peak memory of long replays. Built on demand only.
EXTRA_PROGRAMS += traces/bench_traces
traces_bench_traces_SOURCES = traces/bench_traces.c
traces_bench_traces_CFLAGS = $(AM_CFLAGS) $(GSL_CFLAGS)
traces_bench_traces_LDADD = libfleettraces.la
