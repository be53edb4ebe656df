/* dd_child: fork/exec with PR_SET_PDEATHSIG, log capture, graded stop and reaping. */
#include "dd_child.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dd_err.h"
#include "dd_log.h"

struct dd_child {
  char name[64];      /* process id */
  char log[PATH_MAX]; /* log path, "" if inherited */
  pid_t pid;          /* child pid */
  bool reaped;        /* waitpid collected it */
  int exit_code;      /* exit status if it exited */
  int term_signal;    /* signal that ended it, or 0 */
};

int dd_child_spawn(const dd_child_cfg_t *cfg, dd_child_t **out) {
  assert(cfg && cfg->exe && cfg->argv && out);
  dd_child_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  snprintf(self->name, sizeof self->name, "%s", cfg->name ? cfg->name : cfg->exe);
  if (cfg->log_path) snprintf(self->log, sizeof self->log, "%s", cfg->log_path);
  if (access(cfg->exe, X_OK) != 0) {
    int rc = -errno;
    dd_error("cannot run %s: %s", cfg->exe, strerror(errno));
    free(self);
    return rc;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int rc = -errno;
    free(self);
    return rc;
  }
  if (pid == 0) {
    /* Child: die with the harness, own process group, signals back to default. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127); /* the harness died before prctl took effect */
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (self->log[0]) {
      int fd = open(self->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
      }
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    execv(cfg->exe, cfg->argv);
    fprintf(stderr, "exec %s: %s\n", cfg->exe, strerror(errno));
    _exit(127);
  }
  self->pid = pid;
  *out = self;
  return 0;
}

pid_t dd_child_pid(const dd_child_t *self) { return self->pid; }
const char *dd_child_name(const dd_child_t *self) { return self->name; }

static void s_record(dd_child_t *self, int status) {
  self->reaped = true;
  if (WIFEXITED(status)) self->exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    self->term_signal = WTERMSIG(status);
    self->exit_code = 128 + self->term_signal;
  }
}

bool dd_child_exited(dd_child_t *self, int *exit_code, int *term_signal) {
  if (!self->reaped) {
    int status;
    pid_t r = waitpid(self->pid, &status, WNOHANG);
    if (r == self->pid) s_record(self, status);
  }
  if (self->reaped) {
    if (exit_code) *exit_code = self->exit_code;
    if (term_signal) *term_signal = self->term_signal;
  }
  return self->reaped;
}

static void s_sleep_us(uint64_t us) {
  struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

int dd_child_stop(dd_child_t *self, uint64_t grace_us) {
  if (dd_child_exited(self, NULL, NULL)) return self->exit_code;
  kill(self->pid, SIGTERM);
  for (uint64_t waited = 0; waited < grace_us; waited += 5000) {
    if (dd_child_exited(self, NULL, NULL)) return self->exit_code;
    s_sleep_us(5000);
  }
  dd_warn("%s did not stop within %.1f s: killing it", self->name, (double)grace_us / 1e6);
  kill(-self->pid, SIGKILL); /* its whole process group */
  kill(self->pid, SIGKILL);
  int status;
  if (waitpid(self->pid, &status, 0) == self->pid) s_record(self, status);
  return self->exit_code;
}

void dd_child_destroy(dd_child_t **self_p) {
  assert(self_p);
  dd_child_t *self = *self_p;
  if (!self) return;
  if (!dd_child_exited(self, NULL, NULL)) dd_child_stop(self, 2000000);
  free(self);
  *self_p = NULL;
}

size_t dd_child_tail(const dd_child_t *self, char *buf, size_t cap, int lines) {
  if (!cap) return 0;
  buf[0] = 0;
  if (!self->log[0]) return 0;
  FILE *f = fopen(self->log, "r");
  if (!f) return 0;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  long start = size > (long)cap - 1 ? size - (long)cap + 1 : 0;
  fseek(f, start, SEEK_SET);
  size_t n = fread(buf, 1, cap - 1, f);
  fclose(f);
  buf[n] = 0;
  /* Keep only the last `lines` lines. */
  int seen = 0;
  for (size_t i = n; i > 0; i--) {
    if (buf[i - 1] == '\n' && i != n && ++seen == lines) {
      memmove(buf, buf + i, n - i + 1);
      return n - i;
    }
  }
  return n;
}

const char *dd_child_self_dir(char *buf, size_t cap) {
  ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
  if (n <= 0) {
    snprintf(buf, cap, ".");
    return buf;
  }
  buf[n] = 0;
  char *slash = strrchr(buf, '/');
  if (slash) *slash = 0;
  return buf;
}

int dd_child_find_exe(const char *name, char *buf, size_t cap) {
  char dir[PATH_MAX];
  dd_child_self_dir(dir, sizeof dir);
  snprintf(buf, cap, "%s/duodiag-%s", dir, name);
  if (access(buf, X_OK) == 0) return 0;
  dd_error("cannot find executable duodiag-%s next to %s", name, dir);
  return DD_ENOENT;
}
