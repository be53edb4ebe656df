/* check_suite: the suite's pure parts: collecting scenario files from files and folders, tag
 * filter expressions, sharding (also from CI_NODE_INDEX/CI_NODE_TOTAL), run folder names of
 * matrix variants and repeats, and the progress line's text. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dd_err.h"
#include "dd_progress.h"
#include "dd_run.h"
#include "dd_scenario.h"
#include "dd_suite.h"

static void s_touch(const char *path) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs("name: x\n", f);
  fclose(f);
}

START_TEST(test_collect) {
  char dir[] = "/tmp/ddsuite-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/sub", dir);
  ck_assert_int_eq(mkdir(p, 0755), 0);
  snprintf(p, sizeof p, "%s/.hidden", dir);
  ck_assert_int_eq(mkdir(p, 0755), 0);
  const char *names[] = {"b.yaml", "a.yml", "notes.txt", "sub/c.yaml", ".hidden/d.yaml"};
  for (size_t i = 0; i < 5; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    s_touch(p);
  }
  char single[PATH_MAX];
  snprintf(single, sizeof single, "%s/b.yaml", dir);
  /* A file first, then the folder: the file is not listed twice; folder entries sorted. */
  const char *args[] = {single, dir};
  dd_suite_files_t f;
  char err[256];
  ck_assert_int_eq(dd_suite_collect(args, 2, &f, err, sizeof err), 0);
  ck_assert_uint_eq(f.n, 3);
  ck_assert_str_eq(f.paths[0], single);
  snprintf(p, sizeof p, "%s/a.yml", dir);
  ck_assert_str_eq(f.paths[1], p);
  snprintf(p, sizeof p, "%s/sub/c.yaml", dir);
  ck_assert_str_eq(f.paths[2], p);
  dd_suite_files_clear(&f);
  /* A trailing slash finds the same files. */
  char slash[PATH_MAX];
  snprintf(slash, sizeof slash, "%s/", dir);
  const char *a2[] = {slash};
  ck_assert_int_eq(dd_suite_collect(a2, 1, &f, err, sizeof err), 0);
  ck_assert_uint_eq(f.n, 3);
  ck_assert_str_eq(f.paths[1], single);
  dd_suite_files_clear(&f);
  const char *missing[] = {"/nonexistent/dir"};
  ck_assert_int_eq(dd_suite_collect(missing, 1, &f, err, sizeof err), DD_ENOENT);
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/dir"));
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static bool s_match(const char *expr, const char *const *tags, size_t n) {
  dd_tags_expr_t *e = NULL;
  char err[256];
  ck_assert_msg(dd_tags_parse(expr, &e, err, sizeof err) == 0, "%s", err);
  bool m = dd_tags_match(e, tags, n);
  dd_tags_destroy(&e);
  return m;
}

START_TEST(test_tags) {
  const char *smoke[] = {"smoke", "transport"};
  const char *slow[] = {"smoke", "slow"};
  const char *reflash[] = {"reflash"};
  ck_assert(s_match("smoke", smoke, 2));
  ck_assert(!s_match("smoke", reflash, 1));
  ck_assert(s_match("smoke and not slow", smoke, 2));
  ck_assert(!s_match("smoke and not slow", slow, 2));
  ck_assert(s_match("transport,reflash", reflash, 1));
  ck_assert(s_match("transport, reflash", smoke, 2));
  ck_assert(!s_match("transport,reflash", slow, 2));
  ck_assert(s_match("transport or reflash", reflash, 1));
  /* "and" binds tighter than "or"/",". */
  ck_assert(s_match("reflash or smoke and slow", reflash, 1));
  ck_assert(!s_match("(reflash or smoke) and slow", reflash, 1));
  ck_assert(s_match("(reflash or smoke) and slow", slow, 2));
  ck_assert(s_match("not not smoke", smoke, 2));
  ck_assert(!s_match("smoke", NULL, 0));
  ck_assert(s_match("not smoke", NULL, 0));
  /* Tags are whole words: "smok" is not "smoke". */
  ck_assert(!s_match("smok", smoke, 2));
  /* Errors say where. */
  const char *bad[] = {"", "smoke and", "and smoke", "(smoke", "smoke)", "smoke slow", "a,,b", "not"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    dd_tags_expr_t *e = NULL;
    char err[256] = "";
    ck_assert_msg(dd_tags_parse(bad[i], &e, err, sizeof err) == DD_EINVAL, "accepted '%s'", bad[i]);
    ck_assert_ptr_null(e);
    ck_assert_ptr_nonnull(strstr(err, "column"));
  }
}
END_TEST

START_TEST(test_shard) {
  unsigned k, n;
  ck_assert_int_eq(dd_suite_shard_parse("2/4", &k, &n), 0);
  ck_assert_uint_eq(k, 2);
  ck_assert_uint_eq(n, 4);
  const char *bad[] = {"0/4", "5/4", "1/0", "x/2", "2", "1/", "/2", "-1/2", "1/2/3"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_msg(dd_suite_shard_parse(bad[i], &k, &n) == DD_EINVAL, "accepted %s", bad[i]);
  /* Every job is in exactly one shard, and shards differ in size by one at most. */
  for (unsigned total = 1; total <= 5; total++) {
    size_t count[6] = {0};
    for (size_t i = 0; i < 23; i++) {
      int in = 0;
      for (unsigned s = 1; s <= total; s++)
        if (dd_suite_in_shard(i, s, total)) {
          in++;
          count[s]++;
        }
      ck_assert_int_eq(in, 1);
    }
    for (unsigned s = 1; s <= total; s++) ck_assert_uint_le(count[s] - count[total], 1);
  }
  setenv("CI_NODE_INDEX", "3", 1);
  setenv("CI_NODE_TOTAL", "5", 1);
  ck_assert(dd_suite_shard_env(&k, &n));
  ck_assert_uint_eq(k, 3);
  ck_assert_uint_eq(n, 5);
  setenv("CI_NODE_INDEX", "6", 1);
  ck_assert(!dd_suite_shard_env(&k, &n));
  unsetenv("CI_NODE_INDEX");
  ck_assert(!dd_suite_shard_env(&k, &n));
  unsetenv("CI_NODE_TOTAL");
}
END_TEST

START_TEST(test_matrix_names) {
  static const char yaml[] = "name: lossy-net.test\n"
                             "matrix:\n"
                             "  loss: [\"0.5%\", \"2%\"]\n"
                             "  delay_ms: [20, 180]\n";
  dd_scenario_opts_t o = {.no_file_checks = true};
  dd_scenario_list_t *l = NULL;
  dd_sc_diags_t *d = dd_sc_diags_new();
  int rc = dd_scenario_load_mem("m.yaml", yaml, sizeof yaml - 1, &o, &l, d);
  if (rc) dd_sc_diags_print(d, stderr);
  ck_assert_int_eq(rc, 0);
  ck_assert_uint_eq(dd_scenario_list_count(l), 4);
  char dirs[4][PATH_MAX];
  for (size_t i = 0; i < 4; i++) {
    const dd_scenario_t *sc = dd_scenario_list_get(l, i);
    dd_suite_run_dir("runs", sc, 0, dirs[i], sizeof dirs[i]);
    /* runs/<name>/<variant>: the name made safe, one folder level per part. */
    ck_assert_msg(!strncmp(dirs[i], "runs/lossy-net.test/", 20), "%s", dirs[i]);
    ck_assert_ptr_null(strchr(dirs[i] + 20, '/'));
    ck_assert_ptr_null(strchr(dirs[i], '%'));
    ck_assert_ptr_nonnull(strstr(dirs[i], "loss="));
    ck_assert_ptr_nonnull(strstr(dirs[i], "delay_ms="));
    for (size_t k = 0; k < i; k++) ck_assert_str_ne(dirs[i], dirs[k]);
  }
  char rep[PATH_MAX];
  dd_suite_run_dir("out", dd_scenario_list_get(l, 0), 3, rep, sizeof rep);
  ck_assert_ptr_nonnull(strstr(rep, "/repeat-3"));
  ck_assert(!strncmp(rep, "out/lossy-net.test/", 19));
  dd_scenario_list_destroy(&l);
  /* Without a matrix: OUT/<name>. */
  static const char plain[] = "name: plain\n";
  ck_assert_int_eq(dd_scenario_load_mem("p.yaml", plain, sizeof plain - 1, &o, &l, d), 0);
  dd_suite_run_dir("runs", dd_scenario_list_get(l, 0), 0, rep, sizeof rep);
  ck_assert_str_eq(rep, "runs/plain");
  dd_scenario_list_destroy(&l);
  dd_sc_diags_destroy(&d);
}
END_TEST

START_TEST(test_slug_and_progress) {
  char b[64];
  dd_run_slug("a b/c", b, sizeof b);
  ck_assert_str_eq(b, "a-b-c");
  dd_run_slug("..", b, sizeof b);
  ck_assert_str_eq(b, "_");
  dd_run_slug("/", b, sizeof b);
  ck_assert_str_eq(b, "_");
  dd_progress_format(b, sizeof b, 3, 12, "latency-spike", 12.44, 2, 0, 1);
  ck_assert_str_eq(b, "[3/12] latency-spike 12.4 s  PASS 2 FAIL 0 pending 1");
  /* Plain lines when not on a terminal. */
  char *text = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&text, &len);
  dd_progress_t *p = dd_progress_new(m, false, 2);
  dd_progress_start(p, 1, "one");
  dd_progress_update(p, 1, "one", 1.0, 1, 0, 0);
  dd_progress_done(p, 1, "one", true, 1.5);
  dd_progress_destroy(&p);
  fclose(m);
  ck_assert_str_eq(text, "[1/2] start one\n[1/2] PASS one (1.5 s)\n");
  free(text);
}
END_TEST

int main(void) {
  Suite *s = suite_create("suite");
  TCase *tc = tcase_create("pure");
  tcase_add_test(tc, test_collect);
  tcase_add_test(tc, test_tags);
  tcase_add_test(tc, test_shard);
  tcase_add_test(tc, test_matrix_names);
  tcase_add_test(tc, test_slug_and_progress);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
