/* check_vehicle: unit tests of the vehicle-file loader: every shipped vehicle loads with the
 * expected content, and bad files give exact FILE:LINE:COL messages. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_dtc_code.h"
#include "dd_err.h"
#include "dd_vehicle.h"

static const char *s_source_dir(void) {
  const char *d = getenv("DD_SOURCE_DIR");
  if (d && *d) return d;
#ifdef DD_SOURCE_DIR
  return DD_SOURCE_DIR;
#else
  return ".";
#endif
}

static dd_vehicle_t *s_load_shipped(const char *file) {
  char path[1024], err[4096];
  snprintf(path, sizeof path, "%s/ecu_models/vehicles/%s", s_source_dir(), file);
  dd_vehicle_t *v = NULL;
  int rc = dd_vehicle_load(path, &v, err, sizeof err);
  ck_assert_msg(rc == 0, "%s: %s", path, err);
  ck_assert_ptr_nonnull(v);
  return v;
}

/* A small valid vehicle; tests replace one line to break it. */
static const char *s_good = "vin: 1M8GDM9AXKP042788\n"  /* 1 */
                            "make: Testa\n"             /* 2 */
                            "model: Bench\n"            /* 3 */
                            "model_year: 1989\n"        /* 4 */
                            "ecus:\n"                   /* 5 */
                            "  - name: ECM\n"           /* 6 */
                            "    role: engine\n"        /* 7 */
                            "    request_id: 0x7E0\n"   /* 8 */
                            "    response_id: 0x7E8\n"  /* 9 */
                            "    obd: {}\n"             /* 10 */
                            "  - name: ABS\n"           /* 11 */
                            "    role: abs\n"           /* 12 */
                            "    request_id: 0x760\n"   /* 13 */
                            "    response_id: 0x768\n"; /* 14 */

/* s_good with line `line` (1-based) replaced by `text` (which may hold several lines, or be
 * empty to drop the line). */
static char *s_edit(int line, const char *text) {
  static char buf[4096];
  size_t o = 0;
  const char *p = s_good;
  for (int l = 1; *p; l++) {
    const char *nl = strchr(p, '\n');
    size_t n = (size_t)(nl - p) + 1;
    if (l == line) {
      o += (size_t)snprintf(buf + o, sizeof buf - o, "%s", text);
      if (*text) buf[o++] = '\n';
    } else {
      memcpy(buf + o, p, n);
      o += n;
    }
    p += n;
  }
  buf[o] = '\0';
  return buf;
}

/* Loads text that must fail; returns the message (static). */
static const char *s_fail(const char *text) {
  static char err[8192];
  dd_vehicle_t *v = (dd_vehicle_t *)0x1;
  int rc = dd_vehicle_load_string(text, strlen(text), "bad.yaml", &v, err, sizeof err);
  ck_assert_msg(rc == DD_ECONFIG, "expected DD_ECONFIG, got %d (%s)", rc, err);
  ck_assert_ptr_null(v);
  return err;
}

START_TEST(test_every_shipped_file_loads) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/ecu_models/vehicles", s_source_dir());
  DIR *d = opendir(dir);
  ck_assert_msg(d != NULL, "cannot open %s", dir);
  struct dirent *de;
  int n = 0;
  char makes[8][32];
  while ((de = readdir(d)) != NULL) {
    size_t l = strlen(de->d_name);
    if (l < 6 || strcmp(de->d_name + l - 5, ".yaml") != 0) continue;
    dd_vehicle_t *v = s_load_shipped(de->d_name);
    ck_assert_int_eq(dd_vin_validate(v->vin, DD_VIN_CHECK_AUTO, NULL), 0);
    ck_assert(dd_vehicle_ecu_by_role(v, DD_ECU_ENGINE) != NULL);
    ck_assert(dd_vehicle_ecu_by_role(v, DD_ECU_ABS) != NULL);
    ck_assert(dd_vehicle_ecu_by_role(v, DD_ECU_BODY) != NULL);
    const dd_vehicle_ecu_t *ecm = dd_vehicle_ecu_by_role(v, DD_ECU_ENGINE);
    ck_assert(ecm->has_obd);
    ck_assert_str_eq(ecm->obd.vin, v->vin);
    ck_assert_uint_gt(ecm->n_security, 0);
    ck_assert(ecm->flash.present);
    for (size_t i = 0; i < v->n_ecus; i++) {
      const dd_vehicle_did_t *f190 = dd_vehicle_did(&v->ecus[i], 0xF190);
      ck_assert_ptr_nonnull(f190);
      ck_assert_uint_eq(f190->len, 17);
      ck_assert_int_eq(memcmp(f190->data, v->vin, 17), 0);
    }
    for (int k = 0; k < n && k < 8; k++)
      ck_assert_str_ne(makes[k], v->make);
    if (n < 8) snprintf(makes[n], sizeof makes[n], "%s", v->make);
    /* the drive model accepts the vehicle's parameters */
    dd_drive_t *drv = dd_drive_new(&v->drive, 1, 0);
    ck_assert_ptr_nonnull(drv);
    dd_drive_destroy(&drv);
    dd_vehicle_destroy(&v);
    ck_assert_ptr_null(v);
    n++;
  }
  closedir(d);
  ck_assert_int_ge(n, 3);
}
END_TEST

START_TEST(test_corvan_content) {
  dd_vehicle_t *v = s_load_shipped("corvan_meridian_2019.yaml");
  ck_assert_str_eq(v->vin, "4CVBS2KA6KT104377");
  ck_assert(dd_vin_requires_check_digit(v->vin));
  ck_assert_str_eq(v->make, "Corvan");
  ck_assert_int_eq(v->model_year, 2019);
  ck_assert_uint_eq(v->bitrate, 500000);
  ck_assert_uint_eq(v->data_bitrate, 0);
  ck_assert_uint_eq(v->n_ecus, 4);
  ck_assert_uint_eq(v->drive.n_gears, 6);
  ck_assert_double_eq(v->drive.gear_ratios[0], 4.58);
  ck_assert_int_eq(v->drive.fuel, DD_DRIVE_GASOLINE);
  const dd_vehicle_ecu_t *e = dd_vehicle_ecu(v, "ECM");
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->request_id, 0x7E0);
  ck_assert_uint_eq(e->response_id, 0x7E8);
  ck_assert_uint_eq(e->functional_id, 0x7DF);
  ck_assert(!e->extended && !e->ext_addressing && !e->fd);
  ck_assert(e->padding);
  ck_assert_uint_eq(e->pad_byte, 0xCC);
  ck_assert_uint_eq(e->tx_dl, 8);
  ck_assert_uint_eq(e->p2_ms, 50);
  ck_assert_uint_eq(e->p2_star_ms, 5000);
  const dd_vehicle_did_t *d = dd_vehicle_did(e, 0xF187);
  ck_assert_ptr_nonnull(d);
  ck_assert_uint_eq(d->len, 10);
  ck_assert_int_eq(memcmp(d->data, "84512307AB", 10), 0);
  ck_assert_ptr_nonnull(dd_vehicle_did(e, 0xF18A));
  ck_assert_ptr_nonnull(dd_vehicle_did(e, 0xF18C));
  d = dd_vehicle_did(e, 0xF18B);
  ck_assert_uint_eq(d->len, 3);
  ck_assert_uint_eq(d->data[0], 0x19);
  d = dd_vehicle_did(e, 0xF40C);
  ck_assert_int_eq(d->kind, DD_DID_LIVE);
  ck_assert_int_eq(d->signal, DD_DRIVE_RPM);
  uint8_t raw[4];
  ck_assert_uint_eq(dd_vehicle_did_encode(d, 1726, raw), 2);
  ck_assert_uint_eq(raw[0], 0x1A);
  ck_assert_uint_eq(raw[1], 0xF8);
  d = dd_vehicle_did(e, 0xF405);
  ck_assert_uint_eq(dd_vehicle_did_encode(d, 83, raw), 1);
  ck_assert_uint_eq(raw[0], 0x7B);
  ck_assert_double_eq(dd_vehicle_did_decode(d, raw, 1), 83);
  d = dd_vehicle_did(e, 0x0110);
  ck_assert(d->writable);
  ck_assert_uint_eq(e->n_dtcs, 2);
  ck_assert_uint_eq(e->dtcs[0].dtc, 0x030100);
  ck_assert_uint_eq(e->dtcs[0].status, 0xAF);
  ck_assert_str_eq(e->dtcs[0].description, "Cylinder 1 misfire detected");
  ck_assert(e->dtcs[0].has_freeze_frame);
  ck_assert_double_eq(e->dtcs[0].freeze[DD_DRIVE_RPM], 2150);
  ck_assert_uint_eq(e->dtcs[0].n_snapshots, 1);
  ck_assert_uint_eq(e->dtcs[0].snapshots[0].record, 1);
  ck_assert_uint_eq(e->dtcs[0].snapshots[0].len, 8);
  ck_assert_uint_eq(e->dtcs[0].n_extended, 2);
  ck_assert(!e->dtcs[1].has_freeze_frame);
  ck_assert(isnan(e->dtcs[1].freeze[DD_DRIVE_RPM]));
  ck_assert_uint_eq(e->n_security, 2);
  ck_assert_uint_eq(e->security[1].level, 0x11);
  ck_assert_uint_eq(e->security[1].secret, 0x1F2E3D4C);
  ck_assert_uint_eq(e->security[0].seed_size, 4);
  ck_assert_uint_eq(e->security[0].max_attempts, 3);
  ck_assert_uint_eq(e->flash.base, 0x80000);
  ck_assert_uint_eq(e->flash.sector_size, 0x10000);
  ck_assert_uint_eq(e->flash.sectors, 24);
  ck_assert_uint_eq(e->flash.erase_ms_per_sector, 120);
  ck_assert_double_eq(e->flash.write_us_per_byte, 0.8);
  ck_assert_uint_eq(e->flash.max_block_length, 0x0802);
  ck_assert_uint_eq(dd_obd_pidset_count(&e->obd.pids), 17);
  ck_assert_str_eq(e->obd.ecu_acronym, "ECM");
  ck_assert_str_eq(e->obd.ecu_text, "EngineControl");
  ck_assert_uint_eq(e->obd.n_calids, 1);
  ck_assert_uint_eq(e->obd.cvns[0], 0x3E7A19C4);
  ck_assert(!e->obd.compression_ignition);
  const dd_vehicle_ecu_t *abs = dd_vehicle_ecu(v, "ABS");
  ck_assert_uint_eq(abs->dtcs[0].dtc, 0x40351C);
  ck_assert(!abs->has_obd);
  const dd_vehicle_ecu_t *bcm = dd_vehicle_ecu_by_role(v, DD_ECU_BODY);
  ck_assert_str_eq(bcm->dtcs[0].description, "Rear courtesy lamp circuit open");
  d = dd_vehicle_did(bcm, 0x4002);
  ck_assert_uint_eq(d->size, 4);
  ck_assert_uint_eq(dd_vehicle_did_encode(d, 12345.6, raw), 4);
  ck_assert_uint_eq((uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | raw[2] << 8 | raw[3], 123456);
  ck_assert_ptr_null(dd_vehicle_ecu(v, "XYZ"));
  ck_assert_ptr_null(dd_vehicle_ecu_by_role(v, DD_ECU_AIRBAG));
  dd_vehicle_destroy(&v);
}
END_TEST

START_TEST(test_vellora_and_daeyang_content) {
  dd_vehicle_t *v = s_load_shipped("vellora_sprint_2021.yaml");
  ck_assert(!dd_vin_requires_check_digit(v->vin));
  ck_assert_str_eq(dd_vin_country(v->vin), "Italy");
  ck_assert_str_eq(v->transmission, "manual");
  const dd_vehicle_ecu_t *bcm = dd_vehicle_ecu(v, "BCM");
  ck_assert(bcm->ext_addressing);
  ck_assert_uint_eq(bcm->ecu_address, 0x40);
  ck_assert_uint_eq(bcm->tester_address, 0xF1);
  ck_assert_uint_eq(bcm->pad_byte, 0x00);
  ck_assert_ptr_nonnull(dd_vehicle_ecu_by_role(v, DD_ECU_GATEWAY));
  const dd_vehicle_ecu_t *ecm = dd_vehicle_ecu(v, "ECM");
  ck_assert_uint_eq(ecm->obd.obd_standard, 0x06);
  ck_assert_uint_eq(ecm->obd.n_calids, 2);
  /* no pids list: everything the responder implements */
  ck_assert_uint_eq(dd_obd_pidset_count(&ecm->obd.pids), 17);
  dd_vehicle_destroy(&v);

  v = s_load_shipped("daeyang_orbis_2022.yaml");
  ck_assert_str_eq(dd_vin_country(v->vin), "South Korea");
  ck_assert_int_eq(v->drive.fuel, DD_DRIVE_DIESEL);
  ck_assert_uint_eq(v->data_bitrate, 2000000);
  ecm = dd_vehicle_ecu(v, "ECM");
  ck_assert(ecm->extended);
  ck_assert_uint_eq(ecm->request_id, 0x18DA10F1);
  ck_assert_uint_eq(ecm->response_id, 0x18DAF110);
  ck_assert_uint_eq(ecm->functional_id, 0x18DB33F1);
  ck_assert(ecm->obd.compression_ignition);
  ck_assert(ecm->dtcs[0].permanent);
  ck_assert_uint_eq(ecm->security[1].seed_size, 8);
  ck_assert_uint_eq(ecm->flash.write_us_per_block, 900);
  bcm = dd_vehicle_ecu(v, "BCM");
  ck_assert(bcm->fd);
  ck_assert_uint_eq(bcm->tx_dl, 64);
  ck_assert_uint_eq(bcm->dtcs[1].dtc, 0xC10087);
  dd_vehicle_destroy(&v);
}
END_TEST

START_TEST(test_minimal_and_defaults) {
  char err[1024];
  dd_vehicle_t *v = NULL;
  ck_assert_int_eq(dd_vehicle_load_string(s_good, strlen(s_good), "good.yaml", &v, err, sizeof err),
                   0);
  ck_assert_str_eq(err, "");
  ck_assert_str_eq(v->source, "good.yaml");
  ck_assert_str_eq(v->vehicle_type, "passenger_car");
  ck_assert_uint_eq(v->bitrate, 500000);
  ck_assert_uint_eq(v->n_ecus, 2);
  ck_assert(v->ecus[0].has_obd);
  ck_assert(!v->ecus[1].has_obd);
  ck_assert_uint_eq(v->ecus[0].n_dids, 1); /* F190 only */
  dd_vehicle_destroy(&v);
  dd_vehicle_destroy(&v); /* NULL is fine */
  /* padding: none; a quoted VIN; comments; flow style */
  const char *alt = s_edit(8, "    request_id: 0x7E0\n    padding: none  # no padding\n    dids: "
                              "[{id: 0x0100, text: \"A: b\"}]");
  ck_assert_int_eq(dd_vehicle_load_string(alt, strlen(alt), "alt.yaml", &v, err, sizeof err), 0);
  ck_assert(!v->ecus[0].padding);
  const dd_vehicle_did_t *d = dd_vehicle_did(&v->ecus[0], 0x0100);
  ck_assert_uint_eq(d->len, 4);
  dd_vehicle_destroy(&v);
  /* err may be NULL */
  ck_assert_int_eq(dd_vehicle_load_string(s_good, strlen(s_good), NULL, &v, NULL, 0), 0);
  ck_assert_str_eq(v->source, "<string>");
  dd_vehicle_destroy(&v);
}
END_TEST

START_TEST(test_error_messages) {
  /* the 11-bit rule */
  ck_assert_str_eq(s_fail(s_edit(8, "    request_id: 0x8000")),
                   "bad.yaml:8:17: ecus[0].request_id: 0x8000 is not an 11-bit identifier "
                   "(0x000-0x7FF); use extended: true for 29-bit ids");
  /* ... which extended: true lifts */
  ck_assert_str_eq(s_fail(s_edit(8, "    extended: true\n    request_id: 0x20000000")),
                   "bad.yaml:9:17: ecus[0].request_id: 0x20000000 is not a 29-bit identifier "
                   "(0x00000000-0x1FFFFFFF)");
  /* a misspelt key, with the missing one it should have been */
  ck_assert_str_eq(
      s_fail(s_edit(9, "    reponse_id: 0x7E8")),
      "bad.yaml:9:5: ecus[0].reponse_id: unknown key 'reponse_id'; did you mean 'response_id'?\n"
      "bad.yaml:6:5: ecus[0]: missing required key 'response_id'");
  ck_assert_str_eq(s_fail(s_edit(2, "brand: Testa")), "bad.yaml:2:1: brand: unknown key 'brand'\n"
                                                      "bad.yaml:1:1: missing required key 'make'");
  ck_assert_str_eq(
      s_fail(s_edit(12, "    role: brakes")),
      "bad.yaml:12:11: ecus[1].role: 'brakes' is not one of engine, transmission, abs, "
      "body, gateway, airbag, instrument, other");
  ck_assert_str_eq(
      s_fail(s_edit(12, "    role: engien")),
      "bad.yaml:12:11: ecus[1].role: 'engien' is not one of engine, transmission, abs, "
      "body, gateway, airbag, instrument, other; did you mean 'engine'?");
  /* the VIN, pointing at the wrong character */
  ck_assert_str_eq(s_fail(s_edit(1, "vin: 1M8GDM9A3KP042788")),
                   "bad.yaml:1:14: vin: position 9: check digit is 3, expected X");
  ck_assert_str_eq(
      s_fail(s_edit(1, "vin: \"1M8GDM9AXKPO42788\"")),
      "bad.yaml:1:18: vin: position 12: 'O' is never used in a VIN (nor I, Q); did you mean '0'?");
  ck_assert_str_eq(s_fail(s_edit(1, "vin: 1M8GDM9AXKP04278")),
                   "bad.yaml:1:6: vin: VIN has 16 characters, expected 17");
  /* model year against position 10 (and position 7 in North America) */
  ck_assert_str_eq(s_fail(s_edit(4, "model_year: 2019")),
                   "bad.yaml:4:13: model_year: 2019 does not match the VIN: position 10 'K' with a "
                   "digit in position 7 means 1989");
  /* YAML syntax */
  ck_assert_str_eq(s_fail(s_edit(3, "model: Bench: X")),
                   "bad.yaml:3:13: YAML syntax: invalid nested block mapping on the same line");
  ck_assert_str_eq(s_fail(s_edit(3, "model: \"Bench")),
                   "bad.yaml:3:8: YAML syntax: wrongly indented double-quoted scalar");
  /* duplicate key */
  ck_assert_str_eq(s_fail(s_edit(3, "model: Bench\nmodel: Bank")),
                   "bad.yaml:4:1: model: duplicate key (first given at line 3)");
  /* id collisions across ECUs */
  ck_assert_str_eq(
      s_fail(s_edit(13, "    request_id: 0x7E0")),
      "bad.yaml:13:17: ecus[1].request_id: 0x7E0 is already the request id of ecus[0] (ECM)");
  ck_assert_str_eq(
      s_fail(s_edit(13, "    request_id: 0x7E8")),
      "bad.yaml:13:17: ecus[1].request_id: 0x7E8 is used in the other direction by ecus[0] (ECM)");
  ck_assert_str_eq(s_fail(s_edit(11, "  - name: ECM")),
                   "bad.yaml:11:11: ecus[1].name: 'ECM' is already the name of ecus[0]");
  /* values */
  ck_assert_str_eq(
      s_fail(s_edit(9, "    response_id: seven")),
      "bad.yaml:9:18: ecus[0].response_id: 'seven' is not an integer (write e.g. 42 or 0x2A)");
  ck_assert_str_eq(s_fail(s_edit(9, "    response_id: 0x7E0")),
                   "bad.yaml:9:18: ecus[0].response_id: equals request_id (0x7E0); the ECU needs "
                   "its own response id");
  ck_assert_str_eq(s_fail(s_edit(10, "    dtcs: [{code: P0A0X}]")),
                   "bad.yaml:10:19: ecus[0].dtcs[0].code: 'P0A0X' is not a DTC: characters 3-5 "
                   "must be hex digits (0-9, A-F)");
  ck_assert_str_eq(s_fail(s_edit(10, "    dids: [{id: 0x0100, hex: \"01 0G\"}]")),
                   "bad.yaml:10:34: ecus[0].dids[0].hex: character 4: '0G' is not a hex byte; "
                   "write two hex digits per byte (e.g. \"62 F1 90\")");
  ck_assert_str_eq(s_fail(s_edit(10, "    dids: [{id: 0x0100, live: sped}]")),
                   "bad.yaml:10:31: ecus[0].dids[0].live: 'sped' is not a signal of the drive "
                   "model; did you mean 'speed'?");
  ck_assert_str_eq(
      s_fail(s_edit(10, "    dids: [{id: 0x0100, text: a, hex: \"01\"}]")),
      "bad.yaml:10:12: ecus[0].dids[0]: a DID needs exactly one of text, hex or live (it has 2)");
  ck_assert_str_eq(s_fail(s_edit(10, "    obd: {pids: [0x0A]}")),
                   "bad.yaml:10:18: ecus[0].obd.pids[0]: PID 0x0A is not implemented (implemented: "
                   "01 04 05 06 07 0B 0C 0D 0F 10 11 1C 1F 2F 33 42 46)");
  ck_assert_str_eq(s_fail(s_edit(10, "    security: [{level: 2, secret: 1}]")),
                   "bad.yaml:10:24: ecus[0].security[0].level: 0x02 is a sendKey sub-function; "
                   "give the odd requestSeed level (0x01)");
  ck_assert_str_eq(
      s_fail(s_edit(10, "    stmin: 0x80")),
      "bad.yaml:10:12: ecus[0].stmin: 0x80 is a reserved STmin value (use 0x00-0x7F or 0xF1-0xF9)");
  ck_assert_str_eq(
      s_fail(s_edit(10, "    tx_dl: 64")),
      "bad.yaml:10:12: ecus[0].tx_dl: 64 is not a valid TX_DL without fd: true (only 8)");
  ck_assert_str_eq(
      s_fail(s_edit(10, "    extended: maybe")),
      "bad.yaml:10:15: ecus[0].extended: 'maybe' is not a boolean; write true or false");
  ck_assert_str_eq(
      s_fail(s_edit(10, "    flash: {base: 0xFFFF0000, sector_size: 0x10000, sectors: 2}")),
      "bad.yaml:10:12: ecus[0].flash: base + sector_size * sectors ends beyond 0xFFFFFFFF");
  ck_assert_str_eq(s_fail(s_edit(10, "    addressing: extended")),
                   "bad.yaml:6:5: ecus[0]: addressing: extended needs ecu_address (the address "
                   "byte of requests to this ECU)\n"
                   "bad.yaml:6:5: ecus[0]: addressing: extended needs tester_address (the address "
                   "byte of this ECU's responses)");
  /* structure */
  ck_assert_str_eq(
      s_fail("vin: 1M8GDM9AXKP042788\nmake: X\nmodel: Y\nmodel_year: 1989\necus: ECM\n"),
      "bad.yaml:5:7: ecus: expected a list (lines starting with '- '), got a single value");
  ck_assert_str_eq(s_fail("- just\n- a list\n"),
                   "bad.yaml:1:1: expected a mapping (key: value lines), got a list");
  ck_assert_str_eq(s_fail(""), "bad.yaml:1:1: the file is empty; expected a mapping with vin, "
                               "make, model, model_year and ecus");
  ck_assert_str_eq(
      s_fail("vin: &v 1M8GDM9AXKP042788\nmake: *v\n"),
      "bad.yaml:2:7: aliases (*name) are not supported in vehicle files; write the value out");
  ck_assert_str_eq(s_fail("a: 1\n---\nb: 2\n"),
                   "bad.yaml:2:1: a vehicle file holds one YAML document; this is a second one");
}
END_TEST

START_TEST(test_many_errors_and_small_buffers) {
  /* every problem is reported, one per line */
  const char *text = "vin: 1M8GDM9A3KP042788\nmake: X\nmodel: Y\nmodel_year: 1989\ncolour: red\n"
                     "ecus:\n  - {name: A, role: engine, request_id: 0x800, response_id: 0x7E8}\n";
  const char *err = s_fail(text);
  ck_assert_str_eq(err, "bad.yaml:5:1: colour: unknown key 'colour'\n"
                        "bad.yaml:1:14: vin: position 9: check digit is 3, expected X\n"
                        "bad.yaml:7:41: ecus[0].request_id: 0x800 is not an 11-bit identifier "
                        "(0x000-0x7FF); use extended: true for 29-bit ids");
  /* more than 32 problems are cut short */
  char big[8192];
  size_t o = (size_t)snprintf(big, sizeof big, "%s", s_good);
  for (int i = 0; i < 40; i++)
    o += (size_t)snprintf(big + o, sizeof big - o, "x%d: 1\n", i);
  err = s_fail(big);
  const char *last = strrchr(err, '\n');
  ck_assert_ptr_nonnull(last);
  ck_assert_str_eq(last + 1, "bad.yaml: too many errors");
  /* a small buffer is filled without overflow and stays terminated */
  char tiny[16];
  dd_vehicle_t *v = NULL;
  ck_assert_int_eq(dd_vehicle_load_string(text, strlen(text), "bad.yaml", &v, tiny, sizeof tiny),
                   DD_ECONFIG);
  ck_assert_uint_eq(strlen(tiny), sizeof tiny - 1);
  ck_assert_int_eq(strncmp(tiny, "bad.yaml:5:1: c", 15), 0);
  ck_assert_int_eq(dd_vehicle_load_string(text, strlen(text), "bad.yaml", &v, tiny, 1), DD_ECONFIG);
  ck_assert_str_eq(tiny, "");
  /* bytes that are not UTF-8 text, and required keys without a value */
  static const char nul[] = "vin: 1M8GDM9AXKP042788\nmake: T\0sta\n";
  v = NULL;
  ck_assert_int_eq(dd_vehicle_load_string(nul, sizeof nul - 1, "bad.yaml", &v, tiny, 1),
                   DD_ECONFIG);
  char msg[256];
  ck_assert_int_eq(dd_vehicle_load_string(nul, sizeof nul - 1, "bad.yaml", &v, msg, sizeof msg),
                   DD_ECONFIG);
  ck_assert_str_eq(msg, "bad.yaml:2:8: byte 0x00 is not text; vehicle files are UTF-8 YAML");
  ck_assert_str_eq(s_fail("vin: 1M8GDM9AXKP042788\nmake: \xC3\xA9t\xE9\n"),
                   "bad.yaml:2:9: invalid UTF-8 (byte 0xE9); vehicle files are UTF-8 YAML");
  ck_assert_str_eq(s_fail("vin: 1M8GDM9AXKP042788\nmake: X\nmodel: Y\nmodel_year: 1989\necus:\n"),
                   "bad.yaml:5:1: ecus: has no value");
  /* an escaped NUL inside a quoted VIN is an error, not a crash */
  const char junk[] = "vin: \"1M8GDM9AXKP0427\\0\"\nmake: X\n";
  err = s_fail(junk);
  ck_assert_ptr_nonnull(strstr(err, "bad.yaml:1:"));
}
END_TEST

START_TEST(test_file_errors) {
  char err[512];
  dd_vehicle_t *v = NULL;
  ck_assert_int_eq(dd_vehicle_load("/nonexistent/car.yaml", &v, err, sizeof err), -ENOENT);
  ck_assert_ptr_null(v);
  ck_assert_str_eq(err, "/nonexistent/car.yaml: cannot open: No such file or directory");
  char path[] = "/tmp/check_vehicle_XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  FILE *f = fdopen(fd, "w");
  fputs(s_edit(8, "    request_id: 0x8000"), f);
  fclose(f);
  ck_assert_int_eq(dd_vehicle_load(path, &v, err, sizeof err), DD_ECONFIG);
  char want[512];
  snprintf(want, sizeof want,
           "%s:8:17: ecus[0].request_id: 0x8000 is not an 11-bit identifier (0x000-0x7FF); use "
           "extended: true for 29-bit ids",
           path);
  ck_assert_str_eq(err, want);
  f = fopen(path, "w");
  fputs(s_good, f);
  fclose(f);
  ck_assert_int_eq(dd_vehicle_load(path, &v, err, sizeof err), 0);
  ck_assert_str_eq(v->source, path);
  dd_vehicle_destroy(&v);
  remove(path);
}
END_TEST

START_TEST(test_did_codec) {
  dd_vehicle_did_t d;
  memset(&d, 0, sizeof d);
  d.kind = DD_DID_LIVE;
  d.size = 1;
  d.scale = 1;
  d.offset = -40;
  uint8_t raw[4];
  dd_vehicle_did_encode(&d, -50, raw);
  ck_assert_uint_eq(raw[0], 0); /* clamped */
  dd_vehicle_did_encode(&d, 250, raw);
  ck_assert_uint_eq(raw[0], 0xFF);
  d.is_signed = true;
  d.offset = 0;
  d.size = 2;
  dd_vehicle_did_encode(&d, -2, raw);
  ck_assert_uint_eq(raw[0], 0xFF);
  ck_assert_uint_eq(raw[1], 0xFE);
  ck_assert_double_eq(dd_vehicle_did_decode(&d, raw, 2), -2);
  dd_vehicle_did_encode(&d, 1e9, raw);
  ck_assert_double_eq(dd_vehicle_did_decode(&d, raw, 2), 32767);
  dd_vehicle_did_encode(&d, NAN, raw);
  ck_assert_double_eq(dd_vehicle_did_decode(&d, raw, 2), -32768);
  ck_assert(isnan(dd_vehicle_did_decode(&d, raw, 1)));
  ck_assert_str_eq(dd_ecu_role_name(DD_ECU_GATEWAY), "gateway");
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("vehicle");
  TCase *tc = tcase_create("vehicle");
  tcase_add_test(tc, test_every_shipped_file_loads);
  tcase_add_test(tc, test_corvan_content);
  tcase_add_test(tc, test_vellora_and_daeyang_content);
  tcase_add_test(tc, test_minimal_and_defaults);
  tcase_add_test(tc, test_error_messages);
  tcase_add_test(tc, test_many_errors_and_small_buffers);
  tcase_add_test(tc, test_file_errors);
  tcase_add_test(tc, test_did_codec);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(s_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
