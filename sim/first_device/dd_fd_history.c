/* dd_fd_history: the diagnosis history file (JSON Lines). */
#include "dd_fd_history.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"

int dd_fd_history_append(const char *path, const json_t *entry) {
  char *line = json_dumps(entry, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (!line) return DD_ENOMEM;
  FILE *f = fopen(path, "a");
  if (!f) {
    int rc = -errno;
    free(line);
    return rc;
  }
  int rc = 0;
  if (fprintf(f, "%s\n", line) < 0) rc = -EIO;
  if (fclose(f) != 0 && rc == 0) rc = -errno;
  free(line);
  return rc;
}

int dd_fd_history_load(const char *path, json_t **out, size_t *skipped) {
  *out = NULL;
  if (skipped) *skipped = 0;
  json_t *all = json_array();
  if (!all) return DD_ENOMEM;
  FILE *f = fopen(path, "r");
  if (!f) {
    if (errno == ENOENT) {
      *out = all;
      return 0;
    }
    int rc = -errno;
    json_decref(all);
    return rc;
  }
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    json_t *e = json_loads(line, 0, NULL);
    if (json_is_object(e)) json_array_append_new(all, e);
    else {
      json_decref(e);
      if (skipped && line[0] != '\n') (*skipped)++;
    }
  }
  free(line);
  fclose(f);
  *out = all;
  return 0;
}
