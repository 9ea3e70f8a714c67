# util/local.mk: build rules of util/ (included by Makefile.am).

noinst_LTLIBRARIES += libfsutil.la
libfsutil_la_SOURCES = util/fu_yaml.c util/fu_yaml.h util/fu_file.c util/fu_file.h \
	util/fu_mem.c util/fu_mem.h
libfsutil_la_CFLAGS = $(AM_CFLAGS) $(YAML_CFLAGS)
libfsutil_la_LIBADD = $(YAML_LIBS)

check_PROGRAMS += tests/test_yaml
tests_test_yaml_SOURCES = tests/test_yaml.c
tests_test_yaml_CFLAGS = $(TEST_CFLAGS)
tests_test_yaml_LDADD = libfsutil.la $(CMOCKA_LIBS)

check_PROGRAMS += tests/test_mem
tests_test_mem_SOURCES = tests/test_mem.c
tests_test_mem_CFLAGS = $(TEST_CFLAGS)
tests_test_mem_LDADD = libfsutil.la $(CMOCKA_LIBS)
