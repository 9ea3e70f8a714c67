# models/local.mk: build rules of models/ (included by Makefile.am).

noinst_LTLIBRARIES += libfleetmodels.la
libfleetmodels_la_SOURCES = models/fm_models.h models/fm_latency.h \
	models/hardware.c models/catalog.c models/hfconfig.c \
	models/latency.c models/roofline.c \
	models/fm_fit.h models/fitted.c models/profile.c models/collective.c \
	models/fits.c models/calibdata.c models/calibrate.c
libfleetmodels_la_CFLAGS = $(AM_CFLAGS) $(YAML_CFLAGS) $(JANSSON_CFLAGS) $(GSL_CFLAGS)
libfleetmodels_la_LIBADD = libfsutil.la $(JANSSON_LIBS) $(GSL_LIBS) $(CSV_LIBS) -lm

catalogdir = $(pkgdatadir)/catalog
dist_catalog_DATA = models/catalog/accelerators.yaml models/catalog/llms.yaml \
	models/catalog/llms-distserve.yaml

# Fitted latency coefficients (fleetsim calibrate's output; see models/fits/README.md).
fitsdir = $(pkgdatadir)/fits
dist_fits_DATA = models/fits/vidur-h100.yaml models/fits/vidur-a100.yaml \
	models/fits/distserve-a100.yaml
fitsimporteddir = $(fitsdir)/imported
dist_fitsimported_DATA = models/fits/imported/distserve-a100.yaml
EXTRA_DIST += models/fits/README.md


check_PROGRAMS += tests/test_models tests/test_latency tests/test_calib
tests_test_models_SOURCES = tests/test_models.c
tests_test_models_CFLAGS = $(TEST_CFLAGS)
tests_test_models_LDADD = libfleetmodels.la $(CMOCKA_LIBS)
tests_test_latency_SOURCES = tests/test_latency.c
tests_test_latency_CFLAGS = $(TEST_CFLAGS)
tests_test_latency_LDADD = libfleetmodels.la $(CMOCKA_LIBS)
tests_test_calib_SOURCES = tests/test_calib.c
tests_test_calib_CFLAGS = $(TEST_CFLAGS)
tests_test_calib_LDADD = libfleetmodels.la $(CMOCKA_LIBS)
