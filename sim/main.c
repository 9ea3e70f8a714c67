/*
 * main.c: the fleetsim command-line tool. It only dispatches to the subcommand table;
 * every subcommand lives in its own file (sim/cmd_*.c) and parses its own options.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "config.h"

static const fs_cmd *const commands[] = {&fs_cmd_run, &fs_cmd_step, &fs_cmd_bench,
                                          &fs_cmd_results, &fs_cmd_plot,
                                          &fs_cmd_report, &fs_cmd_trace,
                                          &fs_cmd_calibrate, &fs_cmd_validate,
                                          &fs_cmd_sweep, &fs_cmd_plan, &fs_cmd_scorecard,
                                          &fs_cmd_regress, &fs_cmd_serve, &fs_cmd_replay};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: fleetsim COMMAND [OPTIONS]\n\n"
               "fleetsim simulates LLM inference fleets (llm-d style) and plans capacity.\n\n"
               "commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "\nRun 'fleetsim COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return FS_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return FS_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("fleetsim %s\n", PACKAGE_VERSION);
        return FS_EXIT_OK;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i]->name) == 0)
            return commands[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "fleetsim: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return FS_EXIT_USAGE;
}
