# sim/serve.mk: `fleetsim serve` (an emulated vLLM server) and `fleetsim replay`, the
# parts of the fleetsim tool that speak HTTP (libevent). Included by Makefile.am.

fleetsim_SOURCES += sim/cmd_serve.c sim/cmd_replay.c
fleetsim_CFLAGS += $(LIBEVENT_CFLAGS) $(XXHASH_CFLAGS)
fleetsim_LDADD += $(LIBEVENT_LIBS) $(XXHASH_LIBS)
