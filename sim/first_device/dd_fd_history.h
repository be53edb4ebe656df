/* dd_fd_history: the first device's diagnosis history file: one JSON object per local diagnosis,
 * one per line (JSON Lines), appended and kept across runs; read back for HISTORY requests. */
#ifndef DD_FD_HISTORY_H
#define DD_FD_HISTORY_H

#include <jansson.h>

/* Append entry as one line to path (created when missing). 0 or -errno / DD_ENOMEM. */
int dd_fd_history_append(const char *path, const json_t *entry);
/* Every entry of the file, oldest first, as a new JSON array in *out (empty when the file does
 * not exist). Lines that are not JSON objects are skipped and counted in *skipped (may be
 * NULL). 0, or -errno. */
int dd_fd_history_load(const char *path, json_t **out, size_t *skipped);

#endif
