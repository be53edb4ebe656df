/* dd_cli: `duodiag SUBCOMMAND ...` dispatch. */
#include "dd_cli.h"

#include <stdio.h>
#include <string.h>

#include "dd_proc.h"

static int s_version(int argc, char **argv) {
  printf("duodiag %s\n", DD_VERSION);
  return DD_EXIT_OK;
}

static const dd_cli_cmd_t s_cmds[] = {
    {"run", "run scenarios (files or folders): verdicts, timelines, JUnit; -j, --tags, --shard",
     dd_cli_run},
    {"validate", "check scenario files; every error as FILE:LINE:COL: message", dd_cli_validate},
    {"bench", "run a benchmark and print its figures (duodiag bench --help)", dd_cli_bench},
    {"view", "show a run's timeline: lanes per process, charts, verdicts (--screenshot FILE.png)",
     dd_cli_view},
    {"export", "write a run as Perfetto trace.json, JUnit XML, candump log or pcap", dd_cli_export},
    {"report", "write a suite's (or a run's) HTML report: verdicts, expectations, plots",
     dd_cli_report},
    {"vehicle", "run a simulated vehicle (every ECU of a vehicle file) for external tools",
     dd_cli_vehicle},
    {"version", "print the version", s_version},
};
#define S_NCMDS (sizeof s_cmds / sizeof s_cmds[0])

static void s_usage(FILE *to) {
  fprintf(to, "usage: duodiag SUBCOMMAND [options]   (duodiag SUBCOMMAND --help for more)\n\n"
              "Simulation and hardware-in-the-loop test harness for dual-remote vehicle "
              "diagnosis.\n\nSubcommands:\n");
  for (size_t i = 0; i < S_NCMDS; i++) fprintf(to, "  %-10s %s\n", s_cmds[i].name, s_cmds[i].summary);
  fprintf(to, "\nExit codes: 0 success, 1 a check failed, 2 bad usage or bad input.\n");
}

int dd_cli_main(int argc, char **argv) {
  if (argc < 2) {
    s_usage(stderr);
    return DD_EXIT_USAGE;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    s_usage(stdout);
    return DD_EXIT_OK;
  }
  if (!strcmp(argv[1], "--version")) return s_version(argc, argv);
  for (size_t i = 0; i < S_NCMDS; i++)
    if (!strcmp(argv[1], s_cmds[i].name)) return s_cmds[i].run(argc - 1, argv + 1);
  fprintf(stderr, "duodiag: unknown subcommand '%s'\n", argv[1]);
  /* Suggest the nearest subcommand when the word is a near miss. */
  for (size_t i = 0; i < S_NCMDS; i++)
    if (!strncmp(argv[1], s_cmds[i].name, 2)) fprintf(stderr, "did you mean '%s'?\n", s_cmds[i].name);
  s_usage(stderr);
  return DD_EXIT_USAGE;
}
