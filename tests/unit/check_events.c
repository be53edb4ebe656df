/* check_events: the timeline path inside one process: events published before the collector
 * subscribes are held and delivered in order, every field type reaches the JSON line intact,
 * the file copy is flushed per event, and invalid events are refused, not sent. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "dd_collector.h"
#include "dd_err.h"
#include "dd_events.h"
#include "dd_loop.h"

typedef struct {
  int n;               /* events seen */
  char last[512];      /* last JSON line */
  char kinds[16][32];  /* kinds in order */
} s_seen_t;

static void s_on_event(const Duodiag__Event *ev, const char *json, void *arg) {
  s_seen_t *s = arg;
  if (s->n < 16) snprintf(s->kinds[s->n], sizeof s->kinds[0], "%s", ev->kind);
  snprintf(s->last, sizeof s->last, "%s", json);
  s->n++;
}

static int s_on_sub(dd_loop_t *loop, void *z, int fd, void *arg) {
  dd_collector_drain(arg);
  return 0;
}

static int s_on_pub(dd_loop_t *loop, void *z, int fd, void *arg) {
  dd_events_on_input(arg);
  return 0;
}

START_TEST(test_held_until_subscribed_then_in_order) {
  char dir[] = "/tmp/dd-events-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char ep[128], tl[128], copy[128];
  snprintf(ep, sizeof ep, "ipc://%s/ev", dir);
  snprintf(tl, sizeof tl, "%s/timeline.jsonl", dir);
  snprintf(copy, sizeof copy, "%s/copy.jsonl", dir);
  void *ctx = zmq_ctx_new();
  dd_clock_t clk;
  dd_clock_init_real(&clk);
  dd_loop_t *loop = dd_loop_new(&clk);

  /* The publisher starts first: its events must wait for the collector. */
  dd_events_t *ev = NULL;
  ck_assert_int_eq(dd_events_new(ctx, "p1", &clk, ep, &ev), 0);
  ck_assert_int_eq(dd_events_open_file(ev, copy), 0);
  ck_assert_int_eq(dd_events_emit(ev, "a.first", DD_I("n", 1), DD_END), 0);
  ck_assert_int_eq(dd_events_emit(ev, "a.second", DD_S("s", ""), DD_B("b", true), DD_END), 0);
  ck_assert_uint_eq(dd_events_backlog(ev), 2);
  ck_assert(!dd_events_connected(ev));

  dd_collector_t *col = NULL;
  ck_assert_int_eq(dd_collector_new(ctx, ep, tl, &col), 0);
  s_seen_t seen = {0};
  dd_collector_on_event(col, s_on_event, &seen);
  dd_loop_add_zsock(loop, dd_collector_zsock(col), s_on_sub, col);
  dd_loop_add_zsock(loop, dd_events_zsock(ev), s_on_pub, ev);
  for (int i = 0; i < 200 && seen.n < 2; i++) dd_loop_step(loop, 10000);
  ck_assert(dd_events_connected(ev));
  ck_assert_uint_eq(dd_events_backlog(ev), 0);
  ck_assert_int_eq(dd_events_emit(ev, "a.third", DD_D("x", 0.25), DD_S("id", "7E8"), DD_END), 0);
  for (int i = 0; i < 200 && seen.n < 3; i++) dd_loop_step(loop, 10000);
  ck_assert_int_eq(seen.n, 3);
  ck_assert_str_eq(seen.kinds[0], "a.first");
  ck_assert_str_eq(seen.kinds[1], "a.second");
  ck_assert_str_eq(seen.kinds[2], "a.third");
  ck_assert_ptr_nonnull(strstr(seen.last, "\"proc\":\"p1\",\"kind\":\"a.third\",\"x\":0.25,\"id\":\"7E8\""));
  ck_assert_uint_eq(dd_collector_events(col), 3);

  /* A reserved key makes an invalid event: refused at the source, never sent. */
  ck_assert_int_lt(dd_events_emit(ev, "a.bad", DD_I("kind", 1), DD_END), 0);

  /* Both files hold the three lines already (flushed per event). */
  const char *files[] = {tl, copy};
  for (int k = 0; k < 2; k++) {
    FILE *f = fopen(files[k], "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int lines = 0;
    while (fgets(line, sizeof line, f)) lines++;
    fclose(f);
    ck_assert_int_eq(lines, 3);
  }
  dd_events_destroy(&ev);
  dd_collector_destroy(&col);
  dd_loop_destroy(&loop);
  zmq_ctx_term(ctx);
  unlink(tl);
  unlink(copy);
  rmdir(dir);
}
END_TEST

int main(void) {
  Suite *s = suite_create("events");
  TCase *tc = tcase_create("timeline");
  tcase_add_test(tc, test_held_until_subscribed_then_in_order);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
