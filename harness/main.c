/* duodiag: the one command users run; the subcommands live in dd_cli.c. */
#include "dd_cli.h"

int main(int argc, char **argv) { return dd_cli_main(argc, argv); }
