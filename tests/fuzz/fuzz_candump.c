/* fuzz_candump: candump log lines and streams through the reader; whatever parses must format
 * back to a line that parses to the same record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_can.h"
#include "dd_candump.h"
#include "dd_err.h"
#include "dd_fuzz.h"

static void s_check_record(const dd_candump_record_t *rec) {
  if (!dd_can_frame_valid(&rec->frame)) abort();
  char line[DD_CANDUMP_LINE_MAX];
  int n =
      dd_candump_format_line(rec->ifname, &rec->frame, rec->frame.ts_us, true, line, sizeof line);
  if (n < 0) abort();
  dd_candump_record_t again;
  if (dd_candump_parse_line(line, (size_t)n, &again) != 0) abort();
  if (!dd_can_frame_equal(&rec->frame, &again.frame)) abort();
  if ((rec->frame.flags & DD_CAN_F_TX) != (again.frame.flags & DD_CAN_F_TX)) abort();
  if (again.frame.ts_us != rec->frame.ts_us) abort();
  if (strcmp(again.ifname, rec->ifname) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Line by line, straight from the buffer (no NUL terminator). */
  const char *s = (const char *)data;
  size_t start = 0;
  for (size_t i = 0; i <= size; i++) {
    if (i < size && s[i] != '\n') continue;
    dd_candump_record_t rec;
    int rc = dd_candump_parse_line(s + start, i - start, &rec);
    if (rc == 0)
      s_check_record(&rec);
    else if (rc != DD_ENOENT && rc != DD_EILSEQ)
      abort();
    start = i + 1;
  }

  /* The same bytes as a stream through the reader. */
  if (size == 0) return 0;
  FILE *in = fmemopen((void *)data, size, "r");
  if (!in) return 0;
  dd_candump_reader_t *r;
  if (dd_candump_reader_new(in, true, &r) != 0) return 0;
  dd_candump_record_t rec;
  unsigned long last = 0;
  for (;;) {
    int rc = dd_candump_reader_next(r, &rec);
    if (rc == DD_ENOENT) break;
    if (rc == 0)
      s_check_record(&rec);
    else if (rc != DD_EILSEQ)
      abort();
    if (dd_candump_reader_line(r) <= last) abort(); /* always moves on */
    last = dd_candump_reader_line(r);
  }
  dd_candump_reader_destroy(&r);
  return 0;
}
