/* dd_child: one supervised child process: spawned with its output captured to a log file, tied
 * to the harness's life (it gets SIGTERM if the harness dies), stopped politely then firmly,
 * always reaped, with the tail of its output at hand for failure reports. */
#ifndef DD_CHILD_H
#define DD_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct dd_child dd_child_t;

typedef struct {
  const char *name;     /* process id for messages */
  const char *exe;      /* executable path */
  char *const *argv;    /* NULL-terminated argument vector, argv[0] included */
  const char *log_path; /* stdout and stderr go here (appended); NULL: inherit */
} dd_child_cfg_t;

int dd_child_spawn(const dd_child_cfg_t *cfg, dd_child_t **out);
/* Stops the child if it still runs (dd_child_stop with 2 s grace), then frees. */
void dd_child_destroy(dd_child_t **self_p);

pid_t dd_child_pid(const dd_child_t *self);
const char *dd_child_name(const dd_child_t *self);
/* Reap without blocking; true when the child has exited (status then valid). */
bool dd_child_exited(dd_child_t *self, int *exit_code, int *term_signal);
/* SIGTERM, wait up to grace_us, then SIGKILL; reaps. Returns the exit code, or 128+signal. */
int dd_child_stop(dd_child_t *self, uint64_t grace_us);
/* The last n lines of the child's log into buf (for crash and hang reports). */
size_t dd_child_tail(const dd_child_t *self, char *buf, size_t cap, int lines);

/* The directory of the running executable, so sibling executables are found (build tree or
 * install prefix alike). */
const char *dd_child_self_dir(char *buf, size_t cap);
/* Full path of a sibling executable "duodiag-NAME"; DD_ENOENT when it is not there. */
int dd_child_find_exe(const char *name, char *buf, size_t cap);

#endif
