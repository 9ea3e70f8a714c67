/*
 * cmd.h: the table of fleetsim's subcommands.
 *
 * main() only dispatches: each subcommand lives in its own file (sim/cmd_NAME.c) and
 * exports one fs_cmd entry. A subcommand parses its own options (getopt_long), prints
 * --help, and returns the process exit status: 0 success, 1 a failed check (an SLO not
 * met where that was asked, a regression), 2 bad input (a usage error, a malformed
 * scenario or trace). Errors go to stderr as "fleetsim NAME: message".
 */
#ifndef FS_CMD_H
#define FS_CMD_H

enum { FS_EXIT_OK = 0, FS_EXIT_CHECK = 1, FS_EXIT_USAGE = 2 };

typedef struct fs_cmd {
    const char *name;
    const char *summary;                /* one line for `fleetsim --help` */
    int (*run)(int argc, char **argv);  /* argv[0] is the subcommand name */
} fs_cmd;

extern const fs_cmd fs_cmd_run;
extern const fs_cmd fs_cmd_step;
extern const fs_cmd fs_cmd_bench;
extern const fs_cmd fs_cmd_results;
extern const fs_cmd fs_cmd_plot;
extern const fs_cmd fs_cmd_report;
extern const fs_cmd fs_cmd_trace;
extern const fs_cmd fs_cmd_calibrate;
extern const fs_cmd fs_cmd_validate;
extern const fs_cmd fs_cmd_sweep;
extern const fs_cmd fs_cmd_plan;
extern const fs_cmd fs_cmd_scorecard;
extern const fs_cmd fs_cmd_regress;
extern const fs_cmd fs_cmd_serve;
extern const fs_cmd fs_cmd_replay;

#endif
