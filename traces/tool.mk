# traces/tool.mk: the parts of the fleetsim tool that belong to traces/ (included by
# Makefile.am after sim/local.mk, which defines the fleetsim program).

# `fleetsim trace stats|gen|convert`
fleetsim_SOURCES += sim/cmd_trace.c
