# sim/calib.mk: build rules of calibration and validation: replaying measured requests
# (sim/replayfit.c, sim/timings.c), seed sweeps with confidence intervals
# (sim/replicate.c), `fleetsim calibrate` and `fleetsim validate`, and their tests
# (included by Makefile.am after sim/local.mk).

libfleetsim_la_SOURCES += sim/replayfit.c sim/replayfit.h sim/timings.c \
	sim/replicate.c sim/replicate.h
libfleetsim_la_LIBADD += $(CSV_LIBS)

fleetsim_SOURCES += sim/cmd_calibrate.c sim/cmd_validate.c sim/replicate_cmd.c

EXTRA_DIST += tests/validation

check_PROGRAMS += tests/test_calib_replay
tests_test_calib_replay_SOURCES = tests/test_calib_replay.c
tests_test_calib_replay_CFLAGS = $(TEST_CFLAGS)
tests_test_calib_replay_LDADD = $(TEST_LIBS)

dist_check_SCRIPTS += tests/calib-e2e.sh

# The generator of the synthetic fixtures tests/data/calib-steps.csv and
# tests/data/calib-bench-requests.jsonl (built on request: make tests/calib_gen).
EXTRA_PROGRAMS = tests/calib_gen
tests_calib_gen_SOURCES = tests/calib_gen.c
tests_calib_gen_CFLAGS = $(TEST_CFLAGS)
tests_calib_gen_LDADD = libfleetsim.la
