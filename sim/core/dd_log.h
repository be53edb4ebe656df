/* dd_log: human log lines on stderr ("LEVEL proc: message"); machine-readable facts go to the
 * timeline through dd_event instead. */
#ifndef DD_LOG_H
#define DD_LOG_H

#include <stdarg.h>

typedef enum { DD_LOG_ERROR, DD_LOG_WARN, DD_LOG_INFO, DD_LOG_DEBUG } dd_log_level_t;

/* The log is configured once in main() before anything logs: the process name that prefixes
 * each line and the most verbose level shown (from DD_LOG_LEVEL or -v). */
void dd_log_setup(const char *proc_name, dd_log_level_t level);
dd_log_level_t dd_log_level_parse(const char *text, dd_log_level_t fallback);

void dd_log(dd_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dd_logv(dd_log_level_t level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define dd_error(...) dd_log(DD_LOG_ERROR, __VA_ARGS__)
#define dd_warn(...) dd_log(DD_LOG_WARN, __VA_ARGS__)
#define dd_info(...) dd_log(DD_LOG_INFO, __VA_ARGS__)
#define dd_debug(...) dd_log(DD_LOG_DEBUG, __VA_ARGS__)

#endif
