/* check_vehicle_sim: every shipped vehicle, simulated as processes (duodiag-bus and
 * duodiag-vehicle), driven by a first-device-side tester over the virtual bus: VIN by UDS 22 F190
 * from every ECU and by OBD 09 02 (functional), DTC scan and clear, live data by DID and OBD
 * PIDs, fault injection from outside the ECU process (forced NRC, power cut), and a complete
 * reflash of every programmable ECU ending with the new version in F189. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_canmux.h"
#include "dd_canport_vbus.h"
#include "dd_err.h"
#include "dd_flash.h"
#include "dd_obd.h"
#include "dd_rig.h"
#include "dd_tester.h"
#include "dd_uds_client.h"
#include "dd_uds_server.h"
#include "dd_vehicle.h"

#define S_S 1000000ull

typedef struct {
  dd_rig_t *rig;          /* processes of the run */
  dd_vehicle_t *v;        /* the vehicle file, as the test reads it */
  dd_canmux_t *mux;       /* the tester's CAN node */
} s_run_t;

static void s_start(s_run_t *r, const char *path) {
  char err[2048];
  ck_assert_msg(dd_vehicle_load(path, &r->v, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(dd_rig_new(NULL, &r->rig), 0);
  char ep[256], br[16], dbr[16], log[1200];
  snprintf(log, sizeof log, "%s/can.log", dd_rig_dir(r->rig));
  snprintf(br, sizeof br, "%u", r->v->bitrate);
  snprintf(dbr, sizeof dbr, "%u", r->v->data_bitrate ? r->v->data_bitrate : r->v->bitrate);
  dd_rig_endpoint(r->rig, "bus", ep, sizeof ep);
  const char *bus_args[] = {"--endpoint", ep, "--bitrate", br, "--dbitrate", dbr,
                            "--candump", log, NULL};
  ck_assert_int_eq(dd_rig_spawn(r->rig, "bus", "bus", bus_args, 10 * S_S), 0);
  const char *veh_args[] = {path, "--bus", ep, NULL};
  ck_assert_int_eq(dd_rig_spawn(r->rig, "vehicle", "vehicle", veh_args, 10 * S_S), 0);
  dd_canport_opts_t po = {.fd = true, .loopback = true};
  dd_canport_t *port = NULL;
  ck_assert_int_eq(dd_canport_vbus_open(dd_rig_zctx(r->rig), ep, "tester", &po, &port), 0);
  ck_assert_int_eq(dd_canmux_new(dd_rig_loop(r->rig), port, &r->mux), 0);
}

static void s_stop(s_run_t *r) {
  dd_canmux_destroy(&r->mux);
  ck_assert_int_eq(dd_rig_stop_all(r->rig, 5 * S_S), 0); /* every process exits cleanly */
  dd_rig_destroy(&r->rig);
  dd_vehicle_destroy(&r->v);
}

static dd_tester_t *s_tester(s_run_t *r, const dd_vehicle_ecu_t *e) {
  dd_isotp_cfg_t ic;
  dd_isotp_cfg_default(&ic);
  ic.tx_id = e->request_id;
  ic.rx_id = e->response_id;
  ic.func_tx_id = e->functional_id;
  ic.ext_id = e->extended;
  if (e->ext_addressing) {
    ic.addr = DD_ISOTP_ADDR_EXTENDED;
    ic.tx_ext_addr = e->ecu_address;
    ic.rx_ext_addr = e->tester_address;
    ic.func_ext_addr = e->functional_address;
  }
  ic.fd = e->fd;
  ic.tx_dl = e->tx_dl ? e->tx_dl : 8;
  ic.tx_padding = true;
  ic.pad_byte = e->pad_byte;
  ic.rx_max = 4095;
  dd_tester_t *t = NULL;
  ck_assert_int_eq(dd_tester_new(r->mux, &ic, NULL, &t), 0);
  dd_tester_confirm_by_echo(t, true);
  return t;
}

static int s_call(dd_tester_t *t, const uint8_t *req, size_t len, uint8_t *resp, size_t *rlen,
                  uint8_t *nrc) {
  int rc = dd_tester_call(t, req, len, false, 30 * S_S, resp, 4096, rlen, nrc);
  if (getenv("DD_TRACE")) {
    fprintf(stderr, "req");
    for (size_t i = 0; i < len && i < 8; i++) fprintf(stderr, " %02X", req[i]);
    fprintf(stderr, " -> rc %d resp", rc);
    for (size_t i = 0; i < *rlen && i < 12; i++) fprintf(stderr, " %02X", resp[i]);
    fprintf(stderr, "\n");
  }
  return rc;
}

static void s_ctl(s_run_t *r, const char *key, const char *json) {
  dd_ctl_result_t res;
  int rc = dd_ctl_call(dd_rig_ctl(r->rig), dd_rig_loop(r->rig), "vehicle", "action", key, json,
                       5 * S_S, &res);
  ck_assert_msg(rc == 0, "command %s %s: %s %s", key, json, dd_strerror(rc), res.text);
}

static void s_identity_and_data(s_run_t *r) {
  static uint8_t resp[4096];
  size_t len;
  uint8_t nrc;
  for (size_t i = 0; i < r->v->n_ecus; i++) {
    const dd_vehicle_ecu_t *e = &r->v->ecus[i];
    dd_tester_t *t = s_tester(r, e);
    const uint8_t vin_req[] = {0x22, 0xF1, 0x90};
    ck_assert_int_eq(s_call(t, vin_req, 3, resp, &len, &nrc), 0);
    ck_assert_uint_eq(len, 3 + 17);
    ck_assert_mem_eq(resp, "\x62\xF1\x90", 3);
    ck_assert_mem_eq(resp + 3, r->v->vin, 17);

    /* DTCs: everything the file configures is there; a clear empties the confirmed set. */
    const uint8_t read_dtc[] = {0x19, 0x02, 0xFF};
    ck_assert_int_eq(s_call(t, read_dtc, 3, resp, &len, &nrc), 0);
    dd_uds_dtc_rec_t recs[64];
    size_t n = 0;
    uint8_t avail;
    ck_assert_int_eq(dd_uds_parse_dtc_list(resp, len, 0x02, &avail, recs, 64, &n, &nrc), 0);
    size_t want = 0;
    for (size_t k = 0; k < e->n_dtcs; k++) want += (e->dtcs[k].status & 0xFF) != 0;
    ck_assert_uint_ge(n, want);
    const uint8_t clear[] = {0x14, 0xFF, 0xFF, 0xFF};
    ck_assert_int_eq(s_call(t, clear, 4, resp, &len, &nrc), 0);
    ck_assert_uint_eq(resp[0], 0x54);
    const uint8_t confirmed[] = {0x19, 0x02, 0x08};
    ck_assert_int_eq(s_call(t, confirmed, 3, resp, &len, &nrc), 0);
    ck_assert_int_eq(dd_uds_parse_dtc_list(resp, len, 0x02, &avail, recs, 64, &n, &nrc), 0);
    ck_assert_uint_eq(n, 0);

    /* Live DIDs read back with plausible values; a forced NRC from outside the process. */
    for (size_t k = 0; k < e->n_dids; k++) {
      if (e->dids[k].kind != DD_DID_LIVE) continue;
      uint8_t req[3] = {0x22, (uint8_t)(e->dids[k].id >> 8), (uint8_t)e->dids[k].id};
      ck_assert_int_eq(s_call(t, req, 3, resp, &len, &nrc), 0);
      ck_assert_uint_eq(len, 3 + e->dids[k].size);
      break;
    }
    char args[128];
    snprintf(args, sizeof args, "{\"ecu\":\"%s\",\"sid\":\"0x22\",\"nrc\":\"0x31\",\"count\":1}",
             e->name);
    s_ctl(r, "force_nrc", args);
    ck_assert_int_eq(s_call(t, vin_req, 3, resp, &len, &nrc), DD_EUDS_NRC);
    ck_assert_uint_eq(nrc, 0x31);
    ck_assert_int_eq(s_call(t, vin_req, 3, resp, &len, &nrc), 0); /* count 1: gone again */

    if (e->has_obd) {
      /* Live data streamed: 10 samples of engine speed and vehicle speed at 10 Hz while the
       * car brakes; the speed must change between the first and the last. */
      const uint8_t live2[] = {0x01, 0x0C, 0x0D};
      double first = -1, last = -1;
      for (int k = 0; k < 10; k++) {
        ck_assert_int_eq(dd_tester_call(t, live2, 3, false, 5 * S_S, resp, 4096, &len, &nrc), 0);
        dd_obd_value_t vv[2];
        size_t nvv = 0;
        ck_assert_int_eq(dd_obd_parse_values(resp, len, vv, 2, &nvv), 0);
        ck_assert_uint_eq(nvv, 2);
        if (first < 0) first = vv[1].value;
        last = vv[1].value;
        for (int w = 0; w < 10; w++) dd_loop_step(dd_rig_loop(r->rig), 10000);
      }
      ck_assert_msg(first != last || first == 0, "speed did not change: %f", first);
      /* OBD VIN to the functional address (SAE J1979 mode 09 PID 02). */
      const uint8_t obd_vin[] = {0x09, 0x02};
      ck_assert_int_eq(dd_tester_call(t, obd_vin, 2, true, 5 * S_S, resp, 4096, &len, &nrc), 0);
      char vin[DD_VIN_SIZE];
      ck_assert_int_eq(dd_obd_parse_vin(resp, len, vin), 0);
      ck_assert_str_eq(vin, r->v->vin);
      const uint8_t live[] = {0x01, 0x0C, 0x0D};
      ck_assert_int_eq(dd_tester_call(t, live, 3, false, 5 * S_S, resp, 4096, &len, &nrc), 0);
      dd_obd_value_t vals[4];
      size_t nv = 0;
      ck_assert_int_eq(dd_obd_parse_values(resp, len, vals, 4, &nv), 0);
      ck_assert_uint_eq(nv, 2);
      ck_assert(vals[0].value >= 0 && vals[0].value < 8000);   /* rpm */
      ck_assert(vals[1].value >= 0 && vals[1].value < 250);    /* km/h */
    }
    dd_tester_destroy(&t);
  }
}

/* Poll the vehicle speed (OBD PID 0x0D of the emissions ECU) until the car stands. */
static void s_wait_standstill(s_run_t *r) {
  const dd_vehicle_ecu_t *e = dd_vehicle_ecu_by_role(r->v, DD_ECU_ENGINE);
  ck_assert_ptr_nonnull(e);
  dd_tester_t *t = s_tester(r, e);
  static uint8_t resp[4096];
  size_t len;
  uint8_t nrc;
  double kmh = 1e9;
  for (int i = 0; i < 300 && kmh > 0; i++) {
    const uint8_t req[] = {0x01, 0x0D};
    ck_assert_int_eq(dd_tester_call(t, req, 2, false, 5 * S_S, resp, 4096, &len, &nrc), 0);
    dd_obd_value_t v[1];
    size_t n = 0;
    ck_assert_int_eq(dd_obd_parse_values(resp, len, v, 1, &n), 0);
    kmh = v[0].value;
    for (int k = 0; k < 10; k++) dd_loop_step(dd_rig_loop(r->rig), 10000);
  }
  ck_assert(kmh == 0);
  dd_tester_destroy(&t);
}

/* The reflash sequence of ISO 14229-1 annex F, as a first device runs it locally. */
static void s_ctl(s_run_t *r, const char *key, const char *json);

/* cut_after >= 0: cut the ECU's power after that many TransferData blocks and return. */
static void s_reflash(s_run_t *r, const dd_vehicle_ecu_t *e, const char *version, int cut_after,
                      bool fingerprint) {
  static uint8_t resp[4096], req[4096];
  size_t len;
  uint8_t nrc;
  uint32_t area = e->flash.sector_size * e->flash.sectors;
  size_t img_len = 24 * 1024;
  uint8_t *img = malloc(img_len);
  for (size_t i = 0; i < img_len; i++) img[i] = (uint8_t)(i * 31 + 7);
  memset(img + 0x100, 0, 32);
  memcpy(img + 0x100, version, strlen(version)); /* where the ECU finds its version */
  dd_tester_t *t = s_tester(r, e);
  const uint8_t prog[] = {0x10, 0x02};
  ck_assert_int_eq(s_call(t, prog, 2, resp, &len, &nrc), 0);
  ck_assert_uint_gt(e->n_security, 0);
  uint8_t level = e->security[0].level;
  ck_assert_int_gt(dd_uds_build_seed_request(req, sizeof req, level), 0);
  ck_assert_int_eq(s_call(t, req, 2, resp, &len, &nrc), 0);
  uint8_t key[16];
  size_t seed_len = len - 2;
  dd_uds_toy_key(e->security[0].secret, resp + 2, seed_len, key, seed_len);
  int n = dd_uds_build_send_key(req, sizeof req, level, key, seed_len);
  ck_assert_int_eq(s_call(t, req, (size_t)n, resp, &len, &nrc), 0);
  /* Fingerprint (ISO 14229-1 C.1): tester serial and programming date, then the erase. */
  const uint8_t f198[] = {'D', 'D', '-', 'T', 'E', 'S', 'T', '0', '0', '1'};
  const uint8_t f199[] = {0x26, 0x11, 0x24};
  if (fingerprint) { /* a bootloader offers no WriteDataByIdentifier */
    n = dd_uds_build_write_did(req, sizeof req, 0xF198, f198, sizeof f198);
    ck_assert_int_eq(s_call(t, req, (size_t)n, resp, &len, &nrc), 0);
    n = dd_uds_build_write_did(req, sizeof req, 0xF199, f199, sizeof f199);
    ck_assert_int_eq(s_call(t, req, (size_t)n, resp, &len, &nrc), 0);
  }
  n = dd_uds_build_routine(req, sizeof req, 0x01, 0xFF00, NULL, 0, false); /* erase all */
  ck_assert_int_eq(s_call(t, req, (size_t)n, resp, &len, &nrc), 0);
  n = dd_uds_build_request_download(req, sizeof req, e->flash.base, (uint32_t)img_len);
  ck_assert_int_eq(s_call(t, req, (size_t)n, resp, &len, &nrc), 0);
  uint32_t mbl = 0;
  ck_assert_int_eq(dd_uds_parse_request_download(resp, len, &mbl, &nrc), 0);
  ck_assert_uint_ge(mbl, 3);
  uint8_t bsc = 1;
  int blocks = 0;
  for (size_t off = 0; off < img_len; bsc = dd_uds_bsc_next(bsc)) {
    if (blocks++ == cut_after) {
      char args[96];
      snprintf(args, sizeof args, "{\"ecu\":\"%s\",\"off_ms\":300}", e->name);
      s_ctl(r, "power_cut", args);
      /* The ECU is dark: the next block goes unanswered, not even its ISO-TP flow control
       * (ISO 15765-2 N_Bs expires at the tester). */
      n = dd_uds_build_transfer_data(req, sizeof req, bsc, img + off, mbl - 2 < img_len - off ? mbl - 2 : img_len - off);
      ck_assert_int_eq(s_call(t, req, (size_t)n, resp, &len, &nrc), DD_EISOTP_TIMEOUT_BS);
      dd_tester_destroy(&t);
      free(img);
      return;
    }
    size_t chunk = img_len - off < mbl - 2 ? img_len - off : mbl - 2;
    n = dd_uds_build_transfer_data(req, sizeof req, bsc, img + off, chunk);
    ck_assert_int_eq(s_call(t, req, (size_t)n, resp, &len, &nrc), 0);
    off += chunk;
  }
  n = dd_uds_build_transfer_exit(req, sizeof req, NULL, 0);
  ck_assert_int_eq(s_call(t, req, (size_t)n, resp, &len, &nrc), 0);
  uint32_t crc = dd_flash_crc32(0, img, img_len);
  uint8_t ff[4096];
  memset(ff, 0xFF, sizeof ff);
  for (size_t rest = area - img_len; rest;) {
    size_t k = rest < sizeof ff ? rest : sizeof ff;
    crc = dd_flash_crc32(crc, ff, k);
    rest -= k;
  }
  uint8_t opt[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc};
  n = dd_uds_build_routine(req, sizeof req, 0x01, 0xFF01, opt, 4, false);
  ck_assert_int_eq(s_call(t, req, (size_t)n, resp, &len, &nrc), 0);
  ck_assert_uint_eq(resp[len - 1], DD_FLASH_CHECK_OK);
  const uint8_t reset[] = {0x11, 0x01};
  ck_assert_int_eq(s_call(t, reset, 2, resp, &len, &nrc), 0);
  dd_loop_t *loop = dd_rig_loop(r->rig);
  for (int i = 0; i < 20; i++) dd_loop_step(loop, 10000); /* the ECU restarts */
  const uint8_t ver[] = {0x22, 0xF1, 0x89};
  dd_uds_client_set_session(dd_tester_client(t), DD_UDS_SESSION_DEFAULT, dd_loop_now(loop));
  ck_assert_int_eq(s_call(t, ver, 3, resp, &len, &nrc), 0);
  ck_assert_uint_eq(len, 3 + strlen(version));
  ck_assert_mem_eq(resp + 3, version, strlen(version));
  const uint8_t fp[] = {0x22, 0xF1, 0x98, 0xF1, 0x99};
  ck_assert_int_eq(s_call(t, fp, 5, resp, &len, &nrc), 0);
  ck_assert_uint_eq(len, 1 + 2 + 10 + 2 + 3);
  if (fingerprint) {
    ck_assert_mem_eq(resp + 3, f198, 10);
    ck_assert_mem_eq(resp + 15, f199, 3);
  }
  dd_tester_destroy(&t);
  free(img);
}

static void s_vehicle(const char *path) {
  s_run_t r = {0};
  s_start(&r, path);
  /* Programming needs the vehicle standing with the engine off: start braking now, so the
   * car has stopped by the time the reads below are done. */
  s_ctl(&r, "speed", "{\"kmh\":0}");
  s_identity_and_data(&r);
  s_ctl(&r, "engine", "{\"on\":false}");
  s_wait_standstill(&r);
  /* Every ECU of the vehicle is reprogrammed. */
  for (size_t i = 0; i < r.v->n_ecus; i++) {
    ck_assert_msg(r.v->ecus[i].flash.present, "%s has no flash", r.v->ecus[i].name);
    s_reflash(&r, &r.v->ecus[i], "T-NEW-2.0", -1, true);
  }
  /* Power lost during a download: the ECU comes back in its bootloader (only the programming
   * session is allowed: 10 01 is refused) and a complete new reflash recovers it. */
  const dd_vehicle_ecu_t *e0 = &r.v->ecus[0];
  s_reflash(&r, e0, "T-NEW-3.0", 3, true);
  for (int i = 0; i < 80; i++) dd_loop_step(dd_rig_loop(r.rig), 10000); /* power back */
  {
    dd_tester_t *t = s_tester(&r, e0);
    static uint8_t resp[4096];
    size_t len;
    uint8_t nrc;
    const uint8_t dflt[] = {0x10, 0x01};
    ck_assert_int_eq(s_call(t, dflt, 2, resp, &len, &nrc), DD_EUDS_NRC);
    ck_assert_uint_eq(nrc, 0x22);
    dd_tester_destroy(&t);
  }
  s_reflash(&r, e0, "T-NEW-3.1", -1, false);
  s_stop(&r);
}

START_TEST(test_every_vehicle) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/ecu_models/vehicles", DD_SOURCE_DIR);
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  struct dirent *ent;
  int n = 0;
  while ((ent = readdir(d))) {
    size_t l = strlen(ent->d_name);
    if (l < 6 || strcmp(ent->d_name + l - 5, ".yaml")) continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
    s_vehicle(path);
    n++;
  }
  closedir(d);
  ck_assert_int_ge(n, 3);
}
END_TEST

int main(void) {
  Suite *s = suite_create("vehicle_sim");
  TCase *tc = tcase_create("shipped");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_every_vehicle);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
