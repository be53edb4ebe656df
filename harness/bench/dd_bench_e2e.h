/* dd_bench_e2e: the parts of `duodiag bench e2e` (the whole system end to end) and what they
 * share: options, generated scenarios run by the harness's own run function, the run folder's
 * timeline, a progress line, and the reading of a reflash's TransferData exchanges off the bus
 * trace against the bus's own limit for the very same frames. */
#ifndef DD_BENCH_E2E_H
#define DD_BENCH_E2E_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_can.h"

typedef struct {
  bool quick;         /* smaller sizes, for a test run */
  uint64_t seed;      /* seed of every run and of the generated image */
  char work[512];     /* folder of the generated files and run folders */
  bool keep;          /* --out given: everything under work stays */
  bool tty;           /* stderr is a terminal: live progress line */
  char root[512];     /* repository root (vehicle files) */
  char vehicle[600];  /* vehicle file of the reflash and switch runs */
  unsigned image_kib; /* reflash image size */
  unsigned steps;     /* latency steps of the switch part */
  unsigned vehicles;  /* vehicles of the fleet part */
  double rate_hz;     /* records per second per vehicle */
  double fleet_s;     /* seconds of fleet traffic */
} dd_bench_e2e_opts_t;

/* The three parts; each prints its figures. 0, or a negative code when a figure could not be
 * measured (the reason is logged). */
int dd_bench_e2e_reflash(const dd_bench_e2e_opts_t *o);
int dd_bench_e2e_switch(const dd_bench_e2e_opts_t *o);
int dd_bench_e2e_fleet(const dd_bench_e2e_opts_t *o);

/* ---- shared by the parts ------------------------------------------------------------------ */

/* Called with each new timeline event while a generated scenario runs on a terminal (for the
 * progress line); the JSON object is borrowed; it may write a short note[cap] shown after the
 * elapsed time. */
typedef void (*dd_bench_e2e_watch_fn)(json_t *ev, char *note, size_t cap, void *arg);

/* Write yaml to WORK/LABEL.yaml, load it and run it into WORK/LABEL with the harness's run
 * function, showing "LABEL: T s" plus what watch says (see dd_bench_e2e_progress). *passed
 * gets the run's verdict; run_dir[cap] its folder. 0, or a negative code when the scenario did
 * not load or the run could not take place. */
int dd_bench_e2e_run(const dd_bench_e2e_opts_t *o, const char *label, const char *yaml,
                     dd_bench_e2e_watch_fn watch, void *arg, bool *passed, char *run_dir,
                     size_t cap);

/* True once SIGINT or SIGTERM asked the bench to stop. */
bool dd_bench_e2e_stopped(void);

/* Every event of RUN_DIR/timeline.jsonl in file order to fn (the object is borrowed); stops
 * early when fn returns false. 0, -errno when the file cannot be read. */
int dd_bench_e2e_timeline(const char *run_dir, bool (*fn)(json_t *ev, void *arg), void *arg);

/* The live progress line (terminal only): "  LABEL: TEXT", redrawn in place; done() ends it. */
void dd_bench_e2e_progress(const dd_bench_e2e_opts_t *o, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dd_bench_e2e_progress_done(const dd_bench_e2e_opts_t *o);

/* Quantile q (0..1) of v[n] sorted ascending, nearest rank; 0 when n is 0. */
double dd_bench_e2e_quantile(const double *v, size_t n, double q);
void dd_bench_e2e_sort(double *v, size_t n);

/* ---- TransferData exchanges on the bus (ISO 14229-1:2013 14.4 over ISO 15765-2:2016) ------ */

typedef struct {
  uint32_t req_id;      /* the ECU's physical request id (tester -> ECU) */
  uint32_t resp_id;     /* its response id */
  bool extended;        /* 29-bit ids */
  uint8_t addr_bytes;   /* 1 with ISO 15765-2 extended addressing (10.3.4), else 0 */
  uint32_t nominal_bps; /* bus bit rate */
  uint32_t data_bps;    /* CAN FD data rate (0: nominal) */
} dd_bench_e2e_dl_cfg_t;

typedef struct {
  dd_bench_e2e_dl_cfg_t cfg; /* what is read */
  uint64_t blocks;           /* TransferData requests answered positively (76 nn) */
  uint64_t bytes;            /* their transferRequestParameterRecord bytes */
  uint64_t t_first_ns;       /* start on the bus of the first TransferData request */
  uint64_t t_last_ns;        /* end of the last positive response */
  uint64_t bus_ns;           /* least bus time of those exchanges: every frame's exact length
                                (stuff bits included) plus the STmin gaps between CFs */
  uint32_t block_len;        /* longest request (SID, counter and data) */
  uint32_t stmin_us;         /* separation time of the last flow control */
  uint8_t bs;                /* block size of the last flow control */
  uint64_t pending;          /* 7F 36 78 responses */
  uint64_t negative;         /* other negative responses to TransferData */
  /* exchange in progress */
  bool open;            /* a TransferData request is on its way */
  uint32_t req_len;     /* its length */
  uint64_t ex_start_ns; /* its first frame's start */
  uint64_t ex_ns;       /* its least bus time so far */
  uint32_t cf_gap_us;   /* STmin owed before the next CF (0 after a flow control) */
  bool last_was_cf;     /* the previous frame of the exchange was a CF */
} dd_bench_e2e_dl_t;

void dd_bench_e2e_dl_init(dd_bench_e2e_dl_t *dl, const dd_bench_e2e_dl_cfg_t *cfg);
/* One frame of the trace, in bus order; f->ts_us is the end of the frame on the bus. Frames of
 * other ids are ignored. */
void dd_bench_e2e_dl_frame(dd_bench_e2e_dl_t *dl, const dd_can_frame_t *f);
/* Payload bytes per second of the download phase (first request to last response), and the
 * bus's limit for the same exchanges (payload bytes over bus_ns); 0 when no block was seen. */
double dd_bench_e2e_dl_rate(const dd_bench_e2e_dl_t *dl);
double dd_bench_e2e_dl_limit(const dd_bench_e2e_dl_t *dl);

#endif
