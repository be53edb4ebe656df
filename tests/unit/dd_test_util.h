/* dd_test_util: xmllint (libxml2, an independent XML parser) helpers shared by unit tests. */
#ifndef DD_TEST_UTIL_H
#define DD_TEST_UTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

/* xmllint --noout's exit status on file: 0 when it is well-formed XML. xmllint missing (127)
 * fails the test. */
static inline int dd_test_xmllint(const char *file) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "xmllint --noout '%s'", file);
  int st = system(cmd);
  ck_assert_msg(st != -1 && WIFEXITED(st), "cannot run: %s", cmd);
  ck_assert_msg(WEXITSTATUS(st) != 127, "not installed (Debian package libxml2-utils): %s", cmd);
  return WEXITSTATUS(st);
}

/* xmllint's XPath result for expr on file, as text (trailing newlines and spaces removed). */
static inline void dd_test_xpath(const char *file, const char *expr, char *out, size_t size) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "xmllint --xpath '%s' '%s' 2>&1", expr, file);
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  size_t n = fread(out, 1, size - 1, p);
  out[n] = '\0';
  int st = pclose(p);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "xmllint --xpath %s: %s", expr, out);
  while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
    out[--n] = '\0';
}

#endif
