/* dd_bench_e2e_reflash: part 1 of `duodiag bench e2e`: a remote reflash of a generated image
 * with every party a process (a scenario run by the harness), its download phase read off the
 * bus trace and set against the bus's limit for the very same frames, and the time from the
 * program request to the verified new software version. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_bench.h"
#include "dd_bench_e2e.h"
#include "dd_canbits.h"
#include "dd_candump.h"
#include "dd_err.h"
#include "dd_image.h"
#include "dd_isotp.h"
#include "dd_log.h"
#include "dd_vehicle.h"

#define S_SID_TRANSFER_DATA 0x36 /* ISO 14229-1:2013 14.4 */
#define S_NRC_PENDING 0x78       /* requestCorrectlyReceived-ResponsePending, ISO 14229-1 A.1 */
#define S_VERSION_OFFSET 0x100   /* where the ECU model reads an image's version (dd_flash) */

/* ---- TransferData exchanges on the bus ------------------------------------------------------ */

void dd_bench_e2e_dl_init(dd_bench_e2e_dl_t *dl, const dd_bench_e2e_dl_cfg_t *cfg) {
  memset(dl, 0, sizeof *dl);
  dl->cfg = *cfg;
}

/* The N_PCI of an ISO-TP frame (ISO 15765-2:2016 9.6): its type, and for single and
 * first frames the message length and where the message bytes start. false when malformed. */
typedef struct {
  unsigned type;  /* 0 SF, 1 FF, 2 CF, 3 FC */
  uint32_t len;   /* SF/FF: message length */
  unsigned start; /* SF/FF: index of the first message byte in the frame */
} s_pci_t;

static bool s_pci(const dd_can_frame_t *f, unsigned off, s_pci_t *p) {
  if (f->len <= off) return false;
  const uint8_t *d = f->data + off;
  unsigned n = f->len - off;
  p->type = d[0] >> 4;
  switch (p->type) {
  case 0: /* SF (9.6.2): SF_DL 0 escapes to the next byte, CAN FD only */
    p->len = d[0] & 0x0F;
    p->start = off + 1;
    if (!p->len && n >= 2) {
      p->len = d[1];
      p->start = off + 2;
    }
    return p->len && p->start + p->len <= f->len;
  case 1: /* FF (9.6.3): FF_DL 0 escapes to 32 bits, for messages over 4095 bytes */
    p->len = (uint32_t)(d[0] & 0x0F) << 8 | (n >= 2 ? d[1] : 0);
    p->start = off + 2;
    if (!p->len && n >= 6) {
      p->len = (uint32_t)d[2] << 24 | (uint32_t)d[3] << 16 | (uint32_t)d[4] << 8 | d[5];
      p->start = off + 6;
    }
    return n >= 2 && p->start < f->len;
  case 2: return true;
  case 3: return n >= 3; /* FC: FS, BS, STmin (9.6.5) */
  default: return false;
  }
}

void dd_bench_e2e_dl_frame(dd_bench_e2e_dl_t *dl, const dd_can_frame_t *f) {
  if (f->flags & DD_CAN_F_ERR) return;
  bool ext = (f->flags & DD_CAN_F_EFF) != 0;
  if (ext != dl->cfg.extended) return;
  bool req = f->id == dl->cfg.req_id, resp = f->id == dl->cfg.resp_id;
  if (!req && !resp) return;
  s_pci_t p = {0};
  if (!s_pci(f, dl->cfg.addr_bytes, &p)) return;
  uint64_t dur = dd_canbits_duration_ns(f, dl->cfg.nominal_bps, dl->cfg.data_bps);
  uint64_t end = f->ts_us * 1000ull, start = end > dur ? end - dur : 0;
  if (req) {
    if (p.type == 0 || p.type == 1) {
      /* A new request: a TransferData one opens an exchange; anything else ends the phase's
       * current exchange unanswered. */
      dl->open = f->data[p.start] == S_SID_TRANSFER_DATA && p.len >= 2;
      if (!dl->open) return;
      dl->req_len = p.len;
      dl->ex_start_ns = start;
      dl->ex_ns = dur;
      dl->last_was_cf = false;
    } else if (p.type == 2 && dl->open) {
      /* STmin: the least gap from the end of one CF to the start of the next of the same block
       * (ISO 15765-2:2016 9.6.5.4); none before the first CF after a flow control. */
      dl->ex_ns += dur + (dl->last_was_cf ? dl->cf_gap_us * 1000ull : 0);
      dl->last_was_cf = true;
    }
    return;
  }
  if (!dl->open) return;
  if (p.type == 3) {
    dl->ex_ns += dur;
    dl->bs = f->data[dl->cfg.addr_bytes + 1];
    dl->stmin_us = dd_isotp_stmin_us(f->data[dl->cfg.addr_bytes + 2]);
    dl->cf_gap_us = dl->stmin_us;
    dl->last_was_cf = false;
    return;
  }
  if (p.type != 0) return;
  const uint8_t *m = f->data + p.start;
  if (p.len >= 2 && m[0] == S_SID_TRANSFER_DATA + 0x40) {
    /* Positive response 76 nn (ISO 14229-1:2013 14.4.3): the block is done. */
    dl->ex_ns += dur;
    if (!dl->blocks || dl->ex_start_ns < dl->t_first_ns) dl->t_first_ns = dl->ex_start_ns;
    dl->t_last_ns = end;
    dl->blocks++;
    dl->bytes += dl->req_len - 2;
    dl->bus_ns += dl->ex_ns;
    if (dl->req_len > dl->block_len) dl->block_len = dl->req_len;
    dl->open = false;
  } else if (p.len >= 3 && m[0] == 0x7F && m[1] == S_SID_TRANSFER_DATA) {
    if (m[2] == S_NRC_PENDING) {
      dl->pending++; /* the final answer still comes; the wait is the ECU's, not the bus's */
    } else {
      dl->negative++;
      dl->open = false;
    }
  }
}

double dd_bench_e2e_dl_rate(const dd_bench_e2e_dl_t *dl) {
  if (!dl->blocks || dl->t_last_ns <= dl->t_first_ns) return 0;
  return (double)dl->bytes / ((double)(dl->t_last_ns - dl->t_first_ns) / 1e9);
}

double dd_bench_e2e_dl_limit(const dd_bench_e2e_dl_t *dl) {
  if (!dl->blocks || !dl->bus_ns) return 0;
  return (double)dl->bytes / ((double)dl->bus_ns / 1e9);
}

/* ---- the run ------------------------------------------------------------------------------ */

typedef struct {
  char version[40];     /* version string written into the image */
  uint64_t t_program;   /* scenario.step "program" (us) */
  uint64_t t_result;    /* reflash.result */
  bool have_program;    /* seen */
  bool have_result;     /* seen */
  bool ok;              /* reflash.result ok */
  char got_version[64]; /* reflash.result version */
  char why[256];        /* why it failed (result error, package refused) */
  uint32_t nominal_bps; /* can.bus_up */
  uint32_t data_bps;    /* can.bus_up */
} s_view_t;

static const char *s_str(json_t *ev, const char *key) {
  const char *s = json_string_value(json_object_get(ev, key));
  return s ? s : "";
}

static uint64_t s_t(json_t *ev) {
  return (uint64_t)json_integer_value(json_object_get(ev, "t_us"));
}

static bool s_on_event(json_t *ev, void *arg) {
  s_view_t *v = arg;
  const char *kind = s_str(ev, "kind");
  if (!strcmp(kind, "scenario.step") && !strcmp(s_str(ev, "name"), "program") && !v->have_program) {
    v->t_program = s_t(ev);
    v->have_program = true;
  } else if (!strcmp(kind, "reflash.result") && !v->have_result) {
    v->have_result = true;
    v->t_result = s_t(ev);
    v->ok = json_is_true(json_object_get(ev, "ok"));
    snprintf(v->got_version, sizeof v->got_version, "%s", s_str(ev, "version"));
    if (!v->ok) snprintf(v->why, sizeof v->why, "reflash.result failed: %s", s_str(ev, "error"));
  } else if (!strcmp(kind, "fd.package_refused") && !v->why[0]) {
    snprintf(v->why, sizeof v->why, "the first device refused the package: %s",
             s_str(ev, "reason"));
  } else if (!strcmp(kind, "can.bus_up")) {
    v->nominal_bps = (uint32_t)json_integer_value(json_object_get(ev, "nominal_bps"));
    v->data_bps = (uint32_t)json_integer_value(json_object_get(ev, "data_bps"));
  }
  return true;
}

static void s_watch(json_t *ev, char *note, size_t cap, void *arg) {
  (void)arg;
  const char *kind = s_str(ev, "kind");
  if (!strcmp(kind, "reflash.phase"))
    snprintf(note, cap, "%s %lld %%", s_str(ev, "phase"),
             (long long)json_integer_value(json_object_get(ev, "percent")));
  else if (!strcmp(kind, "service.program"))
    snprintf(note, cap, "package %lld of %lld bytes",
             (long long)json_integer_value(json_object_get(ev, "offset")),
             (long long)json_integer_value(json_object_get(ev, "total")));
  else if (!strcmp(kind, "session.established"))
    snprintf(note, cap, "session established");
}

/* The image: seeded pseudo-random bytes (xorshift32) with the version string where the ECU
 * reads it, at the ECU's flash base, written as Intel HEX. */
static int s_make_image(const dd_bench_e2e_opts_t *o, const dd_vehicle_ecu_t *ecu, const char *path,
                        const char *version) {
  size_t size = (size_t)o->image_kib * 1024;
  uint8_t *b = malloc(size);
  dd_image_t *img = dd_image_new();
  int rc = b && img ? 0 : DD_ENOMEM;
  if (!rc) {
    uint32_t x = (uint32_t)(o->seed * 2654435761u) ^ 0x9E3779B9u;
    if (!x) x = 1;
    for (size_t i = 0; i < size; i++) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      b[i] = (uint8_t)x;
    }
    memcpy(b + S_VERSION_OFFSET, version, strlen(version) + 1);
    rc = dd_image_add(img, ecu->flash.base, b, size);
  }
  if (!rc) rc = dd_image_save(img, path, DD_IMAGE_FMT_IHEX);
  dd_image_destroy(&img);
  free(b);
  return rc;
}

/* The download phase off RUN_DIR/can.log. */
static int s_read_trace(const char *run_dir, dd_bench_e2e_dl_t *dl) {
  char path[PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/can.log", run_dir);
  dd_candump_reader_t *rd = NULL;
  int rc = dd_candump_reader_open(path, &rd);
  if (rc < 0) return rc;
  dd_candump_record_t rec;
  while ((rc = dd_candump_reader_next(rd, &rec)) != DD_ENOENT) {
    if (rc == 0)
      dd_bench_e2e_dl_frame(dl, &rec.frame);
    else if (rc != DD_EILSEQ)
      break;
  }
  dd_candump_reader_destroy(&rd);
  return rc == DD_ENOENT ? 0 : rc;
}

int dd_bench_e2e_reflash(const dd_bench_e2e_opts_t *o) {
  const char *label = "reflash";
  char err[2048];
  dd_vehicle_t *veh = NULL;
  int rc = dd_vehicle_load(o->vehicle, &veh, err, sizeof err);
  if (rc < 0) {
    dd_error("e2e reflash: %s", err);
    return rc;
  }
  const dd_vehicle_ecu_t *ecu = dd_vehicle_ecu_by_role(veh, DD_ECU_ENGINE);
  if (!ecu || !ecu->flash.present ||
      (uint64_t)ecu->flash.sector_size * ecu->flash.sectors < (uint64_t)o->image_kib * 1024) {
    dd_error("e2e reflash: %s has no engine ECU with %u KiB of flash", o->vehicle, o->image_kib);
    dd_vehicle_destroy(&veh);
    return DD_EINVAL;
  }
  s_view_t v = {0};
  snprintf(v.version, sizeof v.version, "E2E-%uK-S%llu", o->image_kib, (unsigned long long)o->seed);
  char image[PATH_MAX];
  snprintf(image, sizeof image, "%s/reflash-image.hex", o->work);
  rc = s_make_image(o, ecu, image, v.version);
  if (rc < 0) {
    dd_error("e2e reflash: cannot write %s: %s", image, dd_strerror(rc));
    dd_vehicle_destroy(&veh);
    return rc;
  }

  char bus[96];
  if (veh->data_bitrate)
    snprintf(bus, sizeof bus, "{kind: virtual, bitrate: %u, dbitrate: %u}", veh->bitrate,
             veh->data_bitrate);
  else
    snprintf(bus, sizeof bus, "{kind: virtual, bitrate: %u}", veh->bitrate);
  char *yaml = NULL;
  size_t ylen = 0;
  FILE *y = open_memstream(&yaml, &ylen);
  if (!y) {
    dd_vehicle_destroy(&veh);
    return DD_ENOMEM;
  }
  fprintf(
      y,
      "# Written by duodiag bench e2e (part 1): the second device programs a %u KiB image\n"
      "# into the %s ECU through the service device and the first device (engine off, as the\n"
      "# ECU requires for a programming session).\n"
      "name: bench-e2e-reflash\n"
      "tags: [bench, reflash]\n"
      "timeout: %us\n"
      "vehicle: \"%s\"\n"
      "parties:\n"
      "  {first_device: sim, terminal: sim, service: sim, second: sim, relay: sim, cloud: sim,\n"
      "   bus: %s}\n"
      "timeline:\n"
      "  - at: 0s\n"
      "    ecu: {engine: off}\n"
      "  - at: 0s\n"
      "    session: {terminal: shop-1, pay: true}\n"
      "  - after: session.established + 500ms\n"
      "    name: program\n"
      "    program: {image: \"%s\", target: %s, version: \"%s\", package: bench-e2e,\n"
      "              signature: good, start: auto}\n"
      "  - after: {event: reflash.result, delay: 500ms}\n"
      "    stop: {reason: reflash finished}\n"
      "  - after: {event: fd.package_refused, delay: 500ms}\n"
      "    stop: {reason: package refused}\n"
      "expect:\n"
      "  - final: {event: reflash.result, ok: true, version: \"%s\"}\n",
      o->image_kib, ecu->name, 60 + o->image_kib, o->vehicle, bus, image, ecu->name, v.version,
      v.version);
  fclose(y);

  char run_dir[PATH_MAX];
  bool passed = false;
  rc = dd_bench_e2e_run(o, label, yaml, s_watch, NULL, &passed, run_dir, sizeof run_dir);
  free(yaml);
  if (rc < 0) goto out;
  rc = dd_bench_e2e_timeline(run_dir, s_on_event, &v);
  if (rc < 0) {
    dd_error("e2e reflash: no timeline in %s: %s", run_dir, dd_strerror(rc));
    goto out;
  }
  if (!v.have_program || !v.have_result || !v.ok || strcmp(v.got_version, v.version)) {
    if (!v.why[0])
      snprintf(v.why, sizeof v.why, "%s",
               !v.have_program  ? "the program step never ran"
               : !v.have_result ? "no reflash.result in the run"
                                : "the ECU reports another software version");
    if (v.have_result && v.ok)
      dd_error("e2e reflash: the ECU reports version \"%s\", not \"%s\"", v.got_version, v.version);
    dd_error("e2e reflash could not be measured: %s (run folder %s)", v.why, run_dir);
    rc = DD_EIO;
    goto out;
  }
  dd_bench_e2e_dl_cfg_t dc = {.req_id = ecu->request_id,
                              .resp_id = ecu->response_id,
                              .extended = ecu->extended,
                              .addr_bytes = ecu->ext_addressing ? 1 : 0,
                              .nominal_bps = v.nominal_bps ? v.nominal_bps : veh->bitrate,
                              .data_bps = ecu->fd ? v.data_bps : 0};
  dd_bench_e2e_dl_t dl;
  dd_bench_e2e_dl_init(&dl, &dc);
  rc = s_read_trace(run_dir, &dl);
  if (rc < 0 || !dl.blocks) {
    dd_error("e2e reflash: no TransferData exchange in %s/can.log%s%s", run_dir, rc < 0 ? ": " : "",
             rc < 0 ? dd_strerror(rc) : "");
    rc = rc < 0 ? rc : DD_EIO;
    goto out;
  }
  dd_bench_figure("e2e.reflash.image", (double)o->image_kib * 1024, "B");
  dd_bench_figure("e2e.reflash.transferred", (double)dl.bytes, "B");
  dd_bench_figure("e2e.reflash.blocks", (double)dl.blocks, "blocks");
  dd_bench_figure("e2e.reflash.block_length", (double)dl.block_len, "B");
  dd_bench_figure("e2e.reflash.stmin", (double)dl.stmin_us, "us");
  dd_bench_figure("e2e.reflash.download_time", (double)(dl.t_last_ns - dl.t_first_ns) / 1e9, "s");
  dd_bench_figure_target("e2e.reflash.transfer_rate", dd_bench_e2e_dl_rate(&dl), "B/s",
                         dd_bench_e2e_dl_limit(&dl), 0.85, true);
  dd_bench_figure("e2e.reflash.total_time", (double)(v.t_result - v.t_program) / 1e6, "s");
  if (dl.negative)
    dd_warn("e2e reflash: %llu negative TransferData responses", (unsigned long long)dl.negative);
  rc = 0;
out:
  dd_vehicle_destroy(&veh);
  return rc;
}
