/* dd_cli: the `duodiag` command: subcommand dispatch, help, exit codes
 * (0 success, 1 a check failed, 2 bad usage or bad input). */
#ifndef DD_CLI_H
#define DD_CLI_H

typedef struct {
  const char *name;                    /* subcommand word */
  const char *summary;                 /* one line for `duodiag --help` */
  int (*run)(int argc, char **argv);   /* argv[0] is the subcommand */
} dd_cli_cmd_t;

int dd_cli_main(int argc, char **argv);

/* Subcommands (each in its own file). */
int dd_cli_bench(int argc, char **argv);
int dd_cli_view(int argc, char **argv);
int dd_cli_validate(int argc, char **argv);
int dd_cli_export(int argc, char **argv);
int dd_cli_vehicle(int argc, char **argv);
int dd_cli_run(int argc, char **argv);
int dd_cli_report(int argc, char **argv);

#endif
