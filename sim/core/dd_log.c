/* dd_log: stderr logging with a process-name prefix and a level filter. */
#include "dd_log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Set once at start-up by dd_log_setup() and only read afterwards: configuration, not state
 * that changes while the process runs. */
static char s_proc[64] = "duodiag";
static dd_log_level_t s_level = DD_LOG_INFO;

static const char *const s_names[] = {"error", "warn", "info", "debug"};

void dd_log_setup(const char *proc_name, dd_log_level_t level) {
  if (proc_name) snprintf(s_proc, sizeof s_proc, "%s", proc_name);
  s_level = level;
}

dd_log_level_t dd_log_level_parse(const char *text, dd_log_level_t fallback) {
  if (!text) return fallback;
  for (int i = 0; i <= DD_LOG_DEBUG; i++)
    if (strcasecmp(text, s_names[i]) == 0) return (dd_log_level_t)i;
  return fallback;
}

void dd_logv(dd_log_level_t level, const char *fmt, va_list ap) {
  if (level > s_level) return;
  char line[2048];
  int n = snprintf(line, sizeof line, "%s %s: ", s_names[level], s_proc);
  if (n < 0) return;
  if ((size_t)n < sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  size_t len = strnlen(line, sizeof line - 2);
  line[len++] = '\n';
  fwrite(line, 1, len, stderr); /* one write per line so lines of processes never interleave */
}

void dd_log(dd_log_level_t level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dd_logv(level, fmt, ap);
  va_end(ap);
}
