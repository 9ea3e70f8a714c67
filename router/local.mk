# router/local.mk: build rules of router/ (included by Makefile.am).
#
# fleetsim-router, the production HTTP router. It links libfleetpolicy (the code the
# simulator runs), libevent and jansson, and libfsutil for the endpoints file; nothing
# else of the tree.

bin_PROGRAMS += fleetsim-router
fleetsim_router_SOURCES = router/router.c router/rt_parse.c router/rt.h
fleetsim_router_CPPFLAGS = -D_GNU_SOURCE -I$(top_srcdir)/util -I$(top_srcdir)/policies
fleetsim_router_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS) $(YAML_CFLAGS)
fleetsim_router_LDADD = libfleetpolicy.la libfsutil.la $(LIBEVENT_LIBS) $(JANSSON_LIBS)

check_PROGRAMS += tests/test_router
tests_test_router_SOURCES = tests/test_router.c router/rt_parse.c router/rt.h
tests_test_router_CPPFLAGS = -D_GNU_SOURCE -I$(top_srcdir)/util -I$(top_srcdir)/policies \
	-I$(top_srcdir)/router
tests_test_router_CFLAGS = $(TEST_CFLAGS)
tests_test_router_LDADD = libfleetpolicy.la libfsutil.la $(JANSSON_LIBS) $(CMOCKA_LIBS)

# A scripted model server for the router's end-to-end test (tests/router.sh).
noinst_PROGRAMS += tests/router_mock
tests_router_mock_SOURCES = tests/router_mock.c
tests_router_mock_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
tests_router_mock_LDADD = $(LIBEVENT_LIBS)
dist_check_SCRIPTS += tests/router.sh tests/router_serve.sh tests/router_proof.sh

EXTRA_DIST += deploy/router

# The proof measures milliseconds of TTFT: it runs alone, after every other test, so
# that parallel tests do not steal its CPU.
tests/router_proof.log: $(filter-out tests/router_proof.log,$(TEST_LOGS))
