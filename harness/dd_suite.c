/* dd_suite: scenario files from arguments, tag filters, shards, run folders, and the parallel
 * execution of runs as child processes. */
#include "dd_suite.h"

#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dd_clock.h"
#include "dd_err.h"
#include "dd_log.h"
#include "dd_progress.h"
#include "dd_report.h"

/* ---- files ------------------------------------------------------------------------------- */

static int s_push(dd_suite_files_t *f, const char *path) {
  for (size_t i = 0; i < f->n; i++)
    if (!strcmp(f->paths[i], path)) return 0;
  char **p = realloc(f->paths, (f->n + 1) * sizeof *p);
  if (!p) return DD_ENOMEM;
  f->paths = p;
  if (!(f->paths[f->n] = strdup(path))) return DD_ENOMEM;
  f->n++;
  return 0;
}

static int s_cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool s_is_yaml(const char *name) {
  size_t l = strlen(name);
  return (l > 5 && !strcmp(name + l - 5, ".yaml")) || (l > 4 && !strcmp(name + l - 4, ".yml"));
}

/* Every *.yaml under dir, into found (unsorted). */
static int s_walk(const char *dir, dd_suite_files_t *found, int depth) {
  if (depth > 16) return 0;
  DIR *d = opendir(dir);
  if (!d) return -errno;
  struct dirent *e;
  int rc = 0;
  while (rc == 0 && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path) continue;
    struct stat st;
    if (stat(path, &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) rc = s_walk(path, found, depth + 1);
    else if (S_ISREG(st.st_mode) && s_is_yaml(e->d_name)) rc = s_push(found, path);
  }
  closedir(d);
  return rc;
}

int dd_suite_collect(const char *const *args, size_t n, dd_suite_files_t *out, char *err,
                     size_t cap) {
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < n; i++) {
    struct stat st;
    if (stat(args[i], &st) != 0) {
      snprintf(err, cap, "%s: %s", args[i], strerror(errno));
      dd_suite_files_clear(out);
      return DD_ENOENT;
    }
    int rc;
    if (S_ISDIR(st.st_mode)) {
      char dir[PATH_MAX];
      snprintf(dir, sizeof dir, "%s", args[i]);
      size_t l = strlen(dir);
      while (l > 1 && dir[l - 1] == '/') dir[--l] = 0;
      dd_suite_files_t found = {0};
      rc = s_walk(dir, &found, 0);
      if (found.n) qsort(found.paths, found.n, sizeof *found.paths, s_cmp_str);
      for (size_t k = 0; rc == 0 && k < found.n; k++) rc = s_push(out, found.paths[k]);
      dd_suite_files_clear(&found);
    } else {
      rc = s_push(out, args[i]);
    }
    if (rc < 0) {
      snprintf(err, cap, "%s: %s", args[i], dd_strerror(rc));
      dd_suite_files_clear(out);
      return rc;
    }
  }
  return 0;
}

void dd_suite_files_clear(dd_suite_files_t *self) {
  for (size_t i = 0; i < self->n; i++) free(self->paths[i]);
  free(self->paths);
  self->paths = NULL;
  self->n = 0;
}

/* ---- tag expressions --------------------------------------------------------------------- */

typedef enum { S_T_TAG = 0, S_T_NOT, S_T_AND, S_T_OR } s_node_kind_t;

struct dd_tags_expr {
  s_node_kind_t kind;    /* node type */
  char *tag;             /* TAG: the tag */
  dd_tags_expr_t *a, *b; /* operands (NOT: a only) */
};

typedef struct {
  const char *text; /* whole expression */
  const char *p;    /* cursor */
  char *err;        /* message buffer */
  size_t cap;       /* its size */
  bool failed;      /* an error was reported */
} s_parser_t;

static bool s_tag_char(char c) {
  return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.' || c == ':' || c == '/';
}

static void s_perr(s_parser_t *ps, const char *what) {
  if (ps->failed) return;
  ps->failed = true;
  snprintf(ps->err, ps->cap, "tags \"%s\": %s at column %d", ps->text, what,
           (int)(ps->p - ps->text) + 1);
}

/* The next token without consuming it: its length; *word set when it is a word. */
static size_t s_peek(s_parser_t *ps, bool *word) {
  while (*ps->p == ' ' || *ps->p == '\t') ps->p++;
  *word = false;
  if (!*ps->p) return 0;
  if (*ps->p == '(' || *ps->p == ')' || *ps->p == ',') return 1;
  size_t n = 0;
  while (s_tag_char(ps->p[n])) n++;
  *word = n > 0;
  return n;
}

static bool s_is(s_parser_t *ps, const char *kw) {
  bool word;
  size_t n = s_peek(ps, &word);
  return n == strlen(kw) && !strncmp(ps->p, kw, n);
}

static dd_tags_expr_t *s_node(s_node_kind_t k, dd_tags_expr_t *a, dd_tags_expr_t *b) {
  dd_tags_expr_t *e = calloc(1, sizeof *e);
  if (!e) {
    dd_tags_destroy(&a);
    dd_tags_destroy(&b);
    return NULL;
  }
  e->kind = k;
  e->a = a;
  e->b = b;
  return e;
}

static dd_tags_expr_t *s_expr(s_parser_t *ps, int depth);

static dd_tags_expr_t *s_factor(s_parser_t *ps, int depth) {
  if (depth > 64) {
    s_perr(ps, "nested too deeply");
    return NULL;
  }
  bool word;
  size_t n = s_peek(ps, &word);
  if (!n) {
    s_perr(ps, "a tag, \"not\" or \"(\" expected, found the end");
    return NULL;
  }
  if (s_is(ps, "not")) {
    ps->p += 3;
    dd_tags_expr_t *a = s_factor(ps, depth + 1);
    return a ? s_node(S_T_NOT, a, NULL) : NULL;
  }
  if (*ps->p == '(') {
    ps->p++;
    dd_tags_expr_t *e = s_expr(ps, depth + 1);
    if (!e) return NULL;
    s_peek(ps, &word);
    if (*ps->p != ')') {
      s_perr(ps, "\")\" expected");
      dd_tags_destroy(&e);
      return NULL;
    }
    ps->p++;
    return e;
  }
  if (!word || s_is(ps, "and") || s_is(ps, "or")) {
    s_perr(ps, "a tag expected");
    return NULL;
  }
  dd_tags_expr_t *e = s_node(S_T_TAG, NULL, NULL);
  if (!e || !(e->tag = strndup(ps->p, n))) {
    dd_tags_destroy(&e);
    s_perr(ps, "out of memory");
    return NULL;
  }
  ps->p += n;
  return e;
}

static dd_tags_expr_t *s_term(s_parser_t *ps, int depth) {
  dd_tags_expr_t *e = s_factor(ps, depth);
  while (e && s_is(ps, "and")) {
    ps->p += 3;
    dd_tags_expr_t *b = s_factor(ps, depth);
    if (!b) {
      dd_tags_destroy(&e);
      return NULL;
    }
    e = s_node(S_T_AND, e, b);
  }
  return e;
}

static dd_tags_expr_t *s_expr(s_parser_t *ps, int depth) {
  dd_tags_expr_t *e = s_term(ps, depth);
  bool word;
  while (e) {
    s_peek(ps, &word);
    size_t skip = *ps->p == ',' ? 1 : s_is(ps, "or") ? 2 : 0;
    if (!skip) break;
    ps->p += skip;
    dd_tags_expr_t *b = s_term(ps, depth);
    if (!b) {
      dd_tags_destroy(&e);
      return NULL;
    }
    e = s_node(S_T_OR, e, b);
  }
  return e;
}

int dd_tags_parse(const char *text, dd_tags_expr_t **out, char *err, size_t cap) {
  assert(text && out);
  s_parser_t ps = {.text = text, .p = text, .err = err, .cap = cap};
  *out = NULL;
  dd_tags_expr_t *e = s_expr(&ps, 0);
  bool word;
  if (e && s_peek(&ps, &word)) {
    s_perr(&ps, *ps.p == ')' ? "\")\" without \"(\"" : "\"and\", \"or\" or \",\" expected");
    dd_tags_destroy(&e);
  }
  if (!e) {
    if (!ps.failed) s_perr(&ps, "out of memory");
    return DD_EINVAL;
  }
  *out = e;
  return 0;
}

void dd_tags_destroy(dd_tags_expr_t **self_p) {
  assert(self_p);
  dd_tags_expr_t *e = *self_p;
  if (!e) return;
  dd_tags_destroy(&e->a);
  dd_tags_destroy(&e->b);
  free(e->tag);
  free(e);
  *self_p = NULL;
}

bool dd_tags_match(const dd_tags_expr_t *self, const char *const *tags, size_t n) {
  switch (self->kind) {
  case S_T_TAG:
    for (size_t i = 0; i < n; i++)
      if (!strcmp(tags[i], self->tag)) return true;
    return false;
  case S_T_NOT: return !dd_tags_match(self->a, tags, n);
  case S_T_AND: return dd_tags_match(self->a, tags, n) && dd_tags_match(self->b, tags, n);
  case S_T_OR: return dd_tags_match(self->a, tags, n) || dd_tags_match(self->b, tags, n);
  }
  return false;
}

/* ---- sharding ---------------------------------------------------------------------------- */

static bool s_uint(const char *s, const char *end, unsigned *v) {
  if (s == end || end - s > 6) return false;
  unsigned x = 0;
  for (const char *p = s; p < end; p++) {
    if (*p < '0' || *p > '9') return false;
    x = x * 10 + (unsigned)(*p - '0');
  }
  *v = x;
  return true;
}

int dd_suite_shard_parse(const char *text, unsigned *k, unsigned *n) {
  const char *slash = strchr(text, '/');
  unsigned a, b;
  if (!slash || !s_uint(text, slash, &a) || !s_uint(slash + 1, slash + strlen(slash), &b) ||
      b == 0 || a == 0 || a > b)
    return DD_EINVAL;
  *k = a;
  *n = b;
  return 0;
}

bool dd_suite_shard_env(unsigned *k, unsigned *n) {
  const char *i = getenv("CI_NODE_INDEX"), *t = getenv("CI_NODE_TOTAL");
  unsigned a, b;
  if (!i || !t || !s_uint(i, i + strlen(i), &a) || !s_uint(t, t + strlen(t), &b) || !b || !a ||
      a > b)
    return false;
  *k = a;
  *n = b;
  return true;
}

bool dd_suite_in_shard(size_t i, unsigned k, unsigned n) { return n <= 1 || i % n == k - 1; }

/* ---- run folders ------------------------------------------------------------------------- */

void dd_suite_run_dir(const char *out, const dd_scenario_t *sc, unsigned repeat, char *buf,
                      size_t cap) {
  char name[200], variant[300] = "";
  dd_run_slug(sc->base_name ? sc->base_name : sc->name, name, sizeof name);
  size_t n = (size_t)snprintf(buf, cap, "%s/%s", out, name);
  if (sc->n_variant) {
    char raw[600];
    size_t k = 0;
    for (size_t i = 0; i < sc->n_variant && k < sizeof raw; i++)
      k += (size_t)snprintf(raw + k, sizeof raw - k, "%s%s=%s", i ? "," : "", sc->variant[i].key,
                            sc->variant[i].value);
    dd_run_slug(raw, variant, sizeof variant);
    if (n < cap) n += (size_t)snprintf(buf + n, cap - n, "/%s", variant);
  }
  if (repeat && n < cap) snprintf(buf + n, cap - n, "/repeat-%u", repeat);
}

/* ---- execution --------------------------------------------------------------------------- */

typedef struct {
  pid_t pid;        /* child running the job; 0: slot free */
  size_t job;       /* job index */
  int fd;           /* status pipe's read end */
  char buf[256];    /* partial status line */
  size_t len;       /* bytes in buf */
  uint64_t started; /* when it started (monotonic us) */
} s_slot_t;

typedef struct {
  int fd; /* status pipe's write end */
} s_child_status_t;

static void s_child_status(void *arg, const dd_run_status_t *st) {
  s_child_status_t *cs = arg;
  char line[128];
  int n = snprintf(line, sizeof line, "%.1f %zu %zu %zu\n", st->elapsed_s, st->passed, st->failed,
                   st->pending);
  if (n > 0 && write(cs->fd, line, (size_t)n) < 0) { /* the display is best effort */
  }
}

static int s_child(const dd_suite_job_t *job, const dd_suite_opts_t *opts, int fd) {
  s_child_status_t cs = {.fd = fd};
  dd_run_opts_t ro = {.run_dir = job->run_dir,
                      .scenario_file = job->file,
                      .can_iface = opts->can_iface,
                      .can_configure = opts->can_configure,
                      .defects = opts->defects,
                      .n_defects = opts->n_defects,
                      .seed_given = opts->seed_given,
                      .seed = opts->seed,
                      .repeat = job->repeat,
                      .stop = opts->stop,
                      .status = s_child_status,
                      .status_arg = &cs};
  dd_run_result_t res;
  int rc = dd_run_scenario(job->sc, &ro, &res);
  close(fd);
  return rc < 0 ? 2 : res.verdict;
}

static void s_print_summary(const dd_suite_job_t *job, dd_progress_t *pg, FILE *to) {
  char path[PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/summary.txt", job->run_dir);
  FILE *f = fopen(path, "r");
  char *text = NULL;
  size_t len = 0;
  if (f) {
    FILE *m = open_memstream(&text, &len);
    char buf[4096];
    size_t n;
    while (m && (n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, m);
    if (m) fclose(m);
    fclose(f);
  }
  char fallback[PATH_MAX + 128];
  if (!text || !len) {
    snprintf(fallback, sizeof fallback, "FAIL %s  (the run ended without a summary; see %s)\n",
             job->sc->name, job->run_dir);
  }
  if (pg) dd_progress_print(pg, text && len ? text : fallback);
  else fputs(text && len ? text : fallback, to);
  free(text);
}

static void s_read_status(s_slot_t *s, dd_progress_t *pg, const dd_suite_job_t *job) {
  ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - 1 - s->len);
  if (n <= 0) return;
  s->len += (size_t)n;
  s->buf[s->len] = 0;
  char *last = NULL, *nl;
  char *p = s->buf;
  while ((nl = strchr(p, '\n'))) {
    *nl = 0;
    last = p;
    p = nl + 1;
  }
  if (last && pg) {
    double el;
    size_t a, b, c;
    if (sscanf(last, "%lf %zu %zu %zu", &el, &a, &b, &c) == 4)
      dd_progress_update(pg, s->job + 1, job->sc->name, el, a, b, c);
  }
  s->len = strlen(p);
  memmove(s->buf, p, s->len + 1);
}

/* OUT/report.html for the suite's runs (the first `started` of them ran), and its path (or
 * why there is none) on the last line. */
static void s_write_report(const dd_suite_job_t *jobs, size_t n, size_t started,
                           const dd_suite_opts_t *opts) {
  const char *out = opts->out ? opts->out : "runs";
  int out_len = (int)strlen(out);
  while (out_len > 1 && out[out_len - 1] == '/') out_len--;
  dd_report_run_t *runs = calloc(n ? n : 1, sizeof *runs);
  char err[1024] = "out of memory";
  int rc = DD_ENOMEM;
  if (runs) {
    for (size_t i = 0; i < n; i++)
      runs[i] = (dd_report_run_t){
          .name = jobs[i].sc->name,
          .run_dir = jobs[i].run_dir,
          .verdict = i >= started                      ? DD_REPORT_NOTRUN
                     : jobs[i].verdict == DD_RUN_PASS ? DD_REPORT_PASS
                                                      : DD_REPORT_FAIL,
          .duration_s = i < started ? jobs[i].duration_s : -1};
    rc = dd_report_write_runs(out, runs, n, NULL, NULL, err, sizeof err);
    free(runs);
  }
  if (rc == 0) fprintf(opts->to, "report: %.*s/%s\n", out_len, out, DD_REPORT_FILE);
  else fprintf(opts->to, "report: not written: %s\n", err);
}

size_t dd_suite_run(dd_suite_job_t *jobs, size_t n, const dd_suite_opts_t *opts) {
  unsigned width = opts->jobs ? opts->jobs : 1;
  s_slot_t *slots = calloc(width, sizeof *slots);
  if (!slots) return n;
  dd_progress_t *pg = opts->progress ? dd_progress_new(opts->to, opts->tty, n) : NULL;
  size_t next = 0, running = 0, failed = 0;
  bool stopping = false;
  dd_clock_t clock;
  dd_clock_init_real(&clock);
  fflush(NULL); /* nothing buffered is written twice by the children */
  while (next < n || running) {
    bool stop = opts->stop && *opts->stop;
    if (stop && !stopping) {
      stopping = true;
      for (unsigned i = 0; i < width; i++)
        if (slots[i].pid > 0) kill(slots[i].pid, SIGTERM);
    }
    for (unsigned i = 0; i < width && next < n && !stopping; i++) {
      if (slots[i].pid) continue;
      int pfd[2];
      if (pipe(pfd) != 0) break;
      fflush(NULL);
      pid_t pid = fork();
      if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        break;
      }
      if (pid == 0) {
        close(pfd[0]);
        for (unsigned k = 0; k < width; k++)
          if (slots[k].pid > 0) close(slots[k].fd);
        _exit(s_child(&jobs[next], opts, pfd[1]));
      }
      close(pfd[1]);
      slots[i] = (s_slot_t){.pid = pid, .job = next, .fd = pfd[0],
                          .started = dd_clock_now_us(&clock)};
      if (pg) dd_progress_start(pg, next + 1, jobs[next].sc->name);
      next++;
      running++;
    }
    /* Wait for status lines, and look for ended children every 100 ms. */
    struct pollfd pf[64];
    unsigned np = 0;
    for (unsigned i = 0; i < width && np < 64; i++)
      if (slots[i].pid > 0) pf[np++] = (struct pollfd){.fd = slots[i].fd, .events = POLLIN};
    poll(pf, np, 100);
    for (unsigned i = 0; i < width; i++) {
      s_slot_t *s = &slots[i];
      if (s->pid <= 0) continue;
      for (unsigned k = 0; k < np; k++)
        if (pf[k].fd == s->fd && (pf[k].revents & POLLIN)) s_read_status(s, pg, &jobs[s->job]);
      int status;
      pid_t w = waitpid(s->pid, &status, WNOHANG);
      if (w != s->pid) continue;
      dd_suite_job_t *job = &jobs[s->job];
      job->verdict = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? DD_RUN_PASS : DD_RUN_FAIL;
      if (job->verdict != DD_RUN_PASS) failed++;
      job->duration_s = (double)(dd_clock_now_us(&clock) - s->started) / 1e6;
      if (pg)
        dd_progress_done(pg, s->job + 1, job->sc->name, job->verdict == DD_RUN_PASS,
                         job->duration_s);
      s_print_summary(job, pg, opts->to);
      close(s->fd);
      s->pid = 0;
      running--;
    }
  }
  size_t not_run = n - next;
  if (pg) dd_progress_destroy(&pg);
  fprintf(opts->to, "%zu passed, %zu failed%s\n", next - failed, failed + not_run,
          not_run ? " (interrupted: some runs did not start)" : "");
  if (n) s_write_report(jobs, n, next, opts);
  fflush(opts->to);
  free(slots);
  return failed + not_run;
}
