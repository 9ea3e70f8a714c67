# models/local.mk: build rules of models/ (included by Makefile.am).

noinst_LTLIBRARIES += libfleetmodels.la
libfleetmodels_la_SOURCES = models/fm_models.h models/fm_latency.h \
	models/hardware.c models/catalog.c models/hfconfig.c \
	models/latency.c models/roofline.c
libfleetmodels_la_CFLAGS = $(AM_CFLAGS) $(YAML_CFLAGS) $(JANSSON_CFLAGS)
libfleetmodels_la_LIBADD = libfsutil.la $(JANSSON_LIBS) -lm

catalogdir = $(pkgdatadir)/catalog
dist_catalog_DATA = models/catalog/accelerators.yaml models/catalog/llms.yaml


check_PROGRAMS += tests/test_models tests/test_latency
tests_test_models_SOURCES = tests/test_models.c
tests_test_models_CFLAGS = $(TEST_CFLAGS)
tests_test_models_LDADD = libfleetmodels.la $(CMOCKA_LIBS)
tests_test_latency_SOURCES = tests/test_latency.c
tests_test_latency_CFLAGS = $(TEST_CFLAGS)
tests_test_latency_LDADD = libfleetmodels.la $(CMOCKA_LIBS)
