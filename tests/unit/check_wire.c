/* check_wire: unit tests of the wire codec (dd_wire) and the schema (duodiag.proto). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "dd_err.h"
#include "dd_wire.h"

/* A valid VIN: the check-digit example of 49 CFR 565 (position 9 = 'X'), widely reproduced. */
#define S_VIN "1M8GDM9AXKP042788"

/* Storage for one envelope of any body type, every field of it set. */
typedef struct {
  Duodiag__Envelope env;                 /* the envelope under test */
  Duodiag__VinQuery vin_query;           /* S102 */
  Duodiag__EcuInfo ecu[2];               /* VinInfo.ecus */
  Duodiag__EcuInfo *ecu_p[2];            /* pointers to ecu */
  Duodiag__DtcText dtc_text;             /* EcuInfo.dtc_texts */
  Duodiag__DtcText *dtc_text_p[1];       /* pointers to dtc_text */
  Duodiag__VinInfo vin_info;             /* S103 */
  Duodiag__TerminalListRequest tlr;      /* S11 */
  Duodiag__TerminalInfo term[2];         /* TerminalList.terminals */
  Duodiag__TerminalInfo *term_p[2];      /* pointers to term */
  char *makes[2];                        /* TerminalInfo.makes */
  Duodiag__TerminalList tl;              /* S11 */
  Duodiag__Presence presence;            /* S11 */
  Duodiag__SessionOpen so;               /* S12 */
  Duodiag__SessionMessage sm;            /* S12 */
  Duodiag__SessionClose sc;              /* S12 */
  Duodiag__ImRequest imr;                /* S13 */
  Duodiag__ImAnswer ima;                 /* S13 */
  Duodiag__Merchant merchant;            /* Order.merchant */
  Duodiag__Order order;                  /* S14 */
  Duodiag__OrderDecision od;             /* S15 */
  Duodiag__Payment pay;                  /* S16 */
  Duodiag__PaymentConfirmation payc;     /* S16 */
  Duodiag__ConnectRequestSignal crs;     /* S17 */
  Duodiag__ConnectionAddress ca;         /* S2 */
  Duodiag__ServiceHello sh;              /* S3 */
  Duodiag__ServiceWelcome sw;            /* S3 */
  Duodiag__VehicleDataRequest vdr;       /* S41 */
  uint32_t items[300];                   /* VehicleDataRequest.items */
  Duodiag__Value val[2];                 /* VehicleRecord.values */
  Duodiag__Value *val_p[2];              /* pointers to val */
  uint8_t payload[8];                    /* VehicleRecord.payload */
  Duodiag__VehicleRecord vr;             /* S42 */
  Duodiag__SackRange sack[40];           /* VehicleAck.sacks */
  Duodiag__SackRange *sack_p[40];        /* pointers to sack */
  Duodiag__VehicleAck va;                /* S4 */
  Duodiag__Probe probe;                  /* S43 */
  Duodiag__ProbeEcho echo;               /* S43 */
  uint8_t sha[32];                       /* ProgramOffer.sha256 */
  uint8_t sig[64];                       /* ProgramOffer.signature */
  Duodiag__ProgramOffer po;              /* S401 */
  uint8_t chunk[64];                     /* ProgramChunk.data */
  Duodiag__ProgramChunk pc;              /* S401 */
  Duodiag__ProgramAck pa;                /* S401 */
  Duodiag__ProgramStatus ps;             /* S402 */
  uint32_t ids[300];                     /* ControlSignal.ids */
  uint8_t args[3];                       /* ControlSignal.args */
  Duodiag__ControlSignal cs;             /* S5 */
  uint8_t result[4];                     /* ControlResult.result */
  Duodiag__ControlResult cr;             /* S5 */
  uint8_t inner[256];                    /* RelayForward.inner */
  Duodiag__RelayForward rf;              /* S44 */
  Duodiag__RelayError re;                /* S44 */
  Duodiag__Ready ready;                  /* harness */
  Duodiag__Command cmd;                  /* harness */
  Duodiag__CommandResult cmdr;           /* harness */
  Duodiag__Field fld[70];                /* Event.fields */
  Duodiag__Field *fld_p[70];             /* pointers to fld */
  Duodiag__Event ev;                     /* timeline */
  Duodiag__CanAttach can_attach;         /* virtual CAN bus */
  Duodiag__CanAttached can_attached;     /* virtual CAN bus */
  uint8_t can_data[72];                  /* CanFrame.data */
  Duodiag__CanFrame can_frame;           /* virtual CAN bus */
  Duodiag__CanTxError can_tx_error;      /* virtual CAN bus */
} s_fx_t;

/* The inner envelope a RelayForward carries in the fixtures: a VehicleRecord. */
static size_t s_inner_record(uint8_t *buf, size_t cap) {
  Duodiag__Envelope env;
  Duodiag__VehicleRecord vr = DUODIAG__VEHICLE_RECORD__INIT;
  uint8_t payload[] = {0x62, 0xF1, 0x90, 0x31};
  dd_wire_envelope_init(&env, "first_device", 7, 5000);
  vr.session_id = "s-1";
  vr.seq = 3;
  vr.path = DUODIAG__VEHICLE_RECORD__PATH__RELAY;
  vr.payload.data = payload;
  vr.payload.len = sizeof payload;
  env.body_case = DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD;
  env.vehicle_record = &vr;
  size_t len = 0;
  ck_assert_int_eq(dd_wire_encode(&env, buf, cap, &len), 0);
  return len;
}

/* Fill fx with a valid envelope of body type which, every field set to a non-default value.
 * Returns false for a body type the fixtures do not know. */
static bool s_build(s_fx_t *fx, Duodiag__Envelope__BodyCase which) {
  memset(fx, 0, sizeof *fx);
  dd_wire_envelope_init(&fx->env, "first_device", 42, 1234567);
  Duodiag__Envelope *e = &fx->env;
  e->body_case = which;
  switch (which) {
  case DUODIAG__ENVELOPE__BODY_VIN_QUERY:
    duodiag__vin_query__init(&fx->vin_query);
    fx->vin_query.vin = S_VIN;
    e->vin_query = &fx->vin_query;
    return true;
  case DUODIAG__ENVELOPE__BODY_VIN_INFO:
    duodiag__vin_info__init(&fx->vin_info);
    for (int i = 0; i < 2; i++) {
      duodiag__ecu_info__init(&fx->ecu[i]);
      fx->ecu[i].name = i ? "abs" : "engine";
      fx->ecu[i].request_can_id = 0x7E0u + (uint32_t)i;
      fx->ecu[i].response_can_id = 0x7E8u + (uint32_t)i;
      fx->ecu[i].extended_ids = 1;
      fx->ecu[i].can_fd = 1;
      fx->ecu[i].extended_addressing = 1;
      fx->ecu[i].ecu_address = 0x40;
      fx->ecu[i].tester_address = 0xF1;
      fx->ecu[i].functional_address = 0x33;
      duodiag__dtc_text__init(&fx->dtc_text);
      fx->dtc_text.dtc = 0xB1A513;
      fx->dtc_text.text = "Rear courtesy lamp circuit open";
      fx->dtc_text_p[0] = &fx->dtc_text;
      fx->ecu[i].n_dtc_texts = 1;
      fx->ecu[i].dtc_texts = fx->dtc_text_p;
      fx->ecu_p[i] = &fx->ecu[i];
    }
    fx->vin_info.found = 1;
    fx->vin_info.vin = S_VIN;
    fx->vin_info.make = "Kavo";
    fx->vin_info.model = "Ranger \xE2\x80\x93 Mk II"; /* with an en dash: UTF-8 passes */
    fx->vin_info.vehicle_type = "passenger car";
    fx->vin_info.model_year = 2019;
    fx->vin_info.engine = "2.0 TDI";
    fx->vin_info.chassis_number = "CH-998877";
    fx->vin_info.n_ecus = 2;
    fx->vin_info.ecus = fx->ecu_p;
    e->vin_info = &fx->vin_info;
    return true;
  case DUODIAG__ENVELOPE__BODY_TERMINAL_LIST_REQUEST:
    duodiag__terminal_list_request__init(&fx->tlr);
    fx->tlr.make_filter = "Kavo";
    e->terminal_list_request = &fx->tlr;
    return true;
  case DUODIAG__ENVELOPE__BODY_TERMINAL_LIST:
    fx->makes[0] = "Kavo";
    fx->makes[1] = "Zelt";
    for (int i = 0; i < 2; i++) {
      duodiag__terminal_info__init(&fx->term[i]);
      fx->term[i].terminal_id = i ? "t-2" : "t-1";
      fx->term[i].name = i ? "Second Garage" : "First Garage";
      fx->term[i].n_makes = 2;
      fx->term[i].makes = fx->makes;
      fx->term[i].fee_minor = 15000 + i;
      fx->term[i].currency = "CNY";
      fx->term[i].rating_x10 = 45;
      fx->term[i].online = 1;
      fx->term_p[i] = &fx->term[i];
    }
    duodiag__terminal_list__init(&fx->tl);
    fx->tl.n_terminals = 2;
    fx->tl.terminals = fx->term_p;
    e->terminal_list = &fx->tl;
    return true;
  case DUODIAG__ENVELOPE__BODY_PRESENCE:
    duodiag__presence__init(&fx->presence);
    fx->presence.terminal_id = "t-1";
    fx->presence.online = 1;
    e->presence = &fx->presence;
    return true;
  case DUODIAG__ENVELOPE__BODY_SESSION_OPEN:
    duodiag__session_open__init(&fx->so);
    fx->so.session_id = "s-1";
    fx->so.terminal_id = "t-1";
    fx->so.owner_id = "owner-9";
    fx->so.vin = S_VIN;
    e->session_open = &fx->so;
    return true;
  case DUODIAG__ENVELOPE__BODY_SESSION_MESSAGE:
    duodiag__session_message__init(&fx->sm);
    fx->sm.session_id = "s-1";
    fx->sm.seq = 5;
    fx->sm.kind = DUODIAG__SESSION_MESSAGE__KIND__VOICE;
    fx->sm.payload.data = fx->chunk;
    fx->sm.payload.len = 16;
    fx->sm.mime = "audio/ogg";
    fx->sm.duration_ms = 2500;
    e->session_message = &fx->sm;
    return true;
  case DUODIAG__ENVELOPE__BODY_SESSION_CLOSE:
    duodiag__session_close__init(&fx->sc);
    fx->sc.session_id = "s-1";
    fx->sc.reason = "diagnosis finished";
    e->session_close = &fx->sc;
    return true;
  case DUODIAG__ENVELOPE__BODY_IM_REQUEST:
    duodiag__im_request__init(&fx->imr);
    fx->imr.session_id = "s-1";
    fx->imr.media = DUODIAG__IM_REQUEST__MEDIA__VIDEO;
    e->im_request = &fx->imr;
    return true;
  case DUODIAG__ENVELOPE__BODY_IM_ANSWER:
    duodiag__im_answer__init(&fx->ima);
    fx->ima.session_id = "s-1";
    fx->ima.accepted = 1;
    fx->ima.reason = "ok";
    e->im_answer = &fx->ima;
    return true;
  case DUODIAG__ENVELOPE__BODY_ORDER:
    duodiag__merchant__init(&fx->merchant);
    fx->merchant.merchant_id = "m-1";
    fx->merchant.name = "First Garage Ltd";
    fx->merchant.address = "1 Ring Road";
    fx->merchant.licence = "LIC-0042";
    duodiag__order__init(&fx->order);
    fx->order.order_id = "o-1";
    fx->order.session_id = "s-1";
    fx->order.merchant = &fx->merchant;
    fx->order.fee_minor = 19900;
    fx->order.currency = "CNY";
    fx->order.description = "remote diagnosis, one session";
    e->order = &fx->order;
    return true;
  case DUODIAG__ENVELOPE__BODY_ORDER_DECISION:
    duodiag__order_decision__init(&fx->od);
    fx->od.order_id = "o-1";
    fx->od.accept = 1;
    fx->od.reason = "fine";
    e->order_decision = &fx->od;
    return true;
  case DUODIAG__ENVELOPE__BODY_PAYMENT:
    duodiag__payment__init(&fx->pay);
    fx->pay.payment_id = "p-1";
    fx->pay.order_id = "o-1";
    fx->pay.amount_minor = 19900;
    fx->pay.currency = "CNY";
    fx->pay.payer_id = "owner-9";
    e->payment = &fx->pay;
    return true;
  case DUODIAG__ENVELOPE__BODY_PAYMENT_CONFIRMATION:
    duodiag__payment_confirmation__init(&fx->payc);
    fx->payc.payment_id = "p-1";
    fx->payc.order_id = "o-1";
    fx->payc.ok = 1;
    fx->payc.reason = "charged before";
    fx->payc.charged_minor = 19900;
    fx->payc.duplicate = 1;
    e->payment_confirmation = &fx->payc;
    return true;
  case DUODIAG__ENVELOPE__BODY_CONNECT_REQUEST_SIGNAL:
    duodiag__connect_request_signal__init(&fx->crs);
    fx->crs.session_id = "s-1";
    fx->crs.order_id = "o-1";
    fx->crs.media = DUODIAG__IM_REQUEST__MEDIA__VOICE;
    e->connect_request_signal = &fx->crs;
    return true;
  case DUODIAG__ENVELOPE__BODY_CONNECTION_ADDRESS:
    duodiag__connection_address__init(&fx->ca);
    fx->ca.session_id = "s-1";
    fx->ca.service_endpoint = "tcp://127.0.0.1:7001";
    fx->ca.udp_endpoint = "udp://127.0.0.1:7002";
    fx->ca.relay_endpoint = "tcp://127.0.0.1:7003";
    fx->ca.token = "tok-abc";
    e->connection_address = &fx->ca;
    return true;
  case DUODIAG__ENVELOPE__BODY_SERVICE_HELLO:
    duodiag__service_hello__init(&fx->sh);
    fx->sh.session_id = "s-1";
    fx->sh.token = "tok-abc";
    fx->sh.device_id = "vci-1";
    fx->sh.vin = S_VIN;
    e->service_hello = &fx->sh;
    return true;
  case DUODIAG__ENVELOPE__BODY_SERVICE_WELCOME:
    duodiag__service_welcome__init(&fx->sw);
    fx->sw.session_id = "s-1";
    fx->sw.accepted = 1;
    fx->sw.reason = "welcome";
    fx->sw.service_id = "svc-1";
    fx->sw.next_record_seq = 17;
    e->service_welcome = &fx->sw;
    return true;
  case DUODIAG__ENVELOPE__BODY_VEHICLE_DATA_REQUEST:
    duodiag__vehicle_data_request__init(&fx->vdr);
    fx->items[0] = 0x0C;
    fx->items[1] = 0x0D;
    fx->items[2] = 0xF190;
    fx->vdr.request_id = 9;
    fx->vdr.session_id = "s-1";
    fx->vdr.kind = DUODIAG__VEHICLE_DATA_REQUEST__KIND__LIVE_PIDS;
    fx->vdr.n_items = 3;
    fx->vdr.items = fx->items;
    fx->vdr.ecu_id = 0x7E0;
    fx->vdr.rate_hz = 10.0;
    fx->vdr.count = 100;
    e->vehicle_data_request = &fx->vdr;
    return true;
  case DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD:
    for (int i = 0; i < 2; i++) {
      duodiag__value__init(&fx->val[i]);
      fx->val[i].name = i ? "P0301" : "engine_rpm";
      fx->val[i].unit = i ? "dtc" : "rpm";
      fx->val[i].value = i ? -0.25 : 812.5;
      fx->val[i].text = i ? "confirmed" : "idle";
      fx->val_p[i] = &fx->val[i];
    }
    memcpy(fx->payload, "\x41\x0C\x0C\xB2\x00\x01\x02\x03", 8);
    duodiag__vehicle_record__init(&fx->vr);
    fx->vr.session_id = "s-1";
    fx->vr.seq = 1000;
    fx->vr.request_id = 9;
    fx->vr.sampled_us = 99999;
    fx->vr.path = DUODIAG__VEHICLE_RECORD__PATH__DIRECT;
    fx->vr.payload.data = fx->payload;
    fx->vr.payload.len = 8;
    fx->vr.n_values = 2;
    fx->vr.values = fx->val_p;
    fx->vr.ecu_id = 0x7E0;
    fx->vr.last = 1;
    e->vehicle_record = &fx->vr;
    return true;
  case DUODIAG__ENVELOPE__BODY_VEHICLE_ACK:
    for (int i = 0; i < 40; i++) {
      duodiag__sack_range__init(&fx->sack[i]);
      fx->sack[i].first = 7 + 5 * (uint64_t)i;
      fx->sack[i].last = 9 + 5 * (uint64_t)i;
      fx->sack_p[i] = &fx->sack[i];
    }
    duodiag__vehicle_ack__init(&fx->va);
    fx->va.session_id = "s-1";
    fx->va.cumulative = 5;
    fx->va.n_sacks = 2;
    fx->va.sacks = fx->sack_p;
    e->vehicle_ack = &fx->va;
    return true;
  case DUODIAG__ENVELOPE__BODY_PROBE:
    duodiag__probe__init(&fx->probe);
    fx->probe.probe_id = 77;
    fx->probe.sent_us = 1000001;
    e->probe = &fx->probe;
    return true;
  case DUODIAG__ENVELOPE__BODY_PROBE_ECHO:
    duodiag__probe_echo__init(&fx->echo);
    fx->echo.probe_id = 77;
    fx->echo.sent_us = 1000001;
    fx->echo.echo_us = 2000002;
    e->probe_echo = &fx->echo;
    return true;
  case DUODIAG__ENVELOPE__BODY_PROGRAM_OFFER:
    for (int i = 0; i < 32; i++) fx->sha[i] = (uint8_t)(0xA0 + i);
    for (int i = 0; i < 64; i++) fx->sig[i] = (uint8_t)(0x10 + i);
    duodiag__program_offer__init(&fx->po);
    fx->po.package_id = "pkg-1";
    fx->po.total_size = 1048576;
    fx->po.sha256.data = fx->sha;
    fx->po.sha256.len = 32;
    fx->po.target_ecu = 0x7E0;
    fx->po.signature.data = fx->sig;
    fx->po.signature.len = 64;
    fx->po.software_version = "SW 1.2.3";
    fx->po.hold = true;
    e->program_offer = &fx->po;
    return true;
  case DUODIAG__ENVELOPE__BODY_PROGRAM_CHUNK:
    for (int i = 0; i < 64; i++) fx->chunk[i] = (uint8_t)(i * 7);
    duodiag__program_chunk__init(&fx->pc);
    fx->pc.package_id = "pkg-1";
    fx->pc.offset = 4096;
    fx->pc.data.data = fx->chunk;
    fx->pc.data.len = 64;
    fx->pc.last = 1;
    e->program_chunk = &fx->pc;
    return true;
  case DUODIAG__ENVELOPE__BODY_PROGRAM_ACK:
    duodiag__program_ack__init(&fx->pa);
    fx->pa.package_id = "pkg-1";
    fx->pa.next_offset = 4160;
    e->program_ack = &fx->pa;
    return true;
  case DUODIAG__ENVELOPE__BODY_PROGRAM_STATUS:
    duodiag__program_status__init(&fx->ps);
    fx->ps.package_id = "pkg-1";
    fx->ps.phase = DUODIAG__PROGRAM_STATUS__PHASE__FAILED;
    fx->ps.percent = 37;
    fx->ps.result_code = DD_EUDS_NRC;
    fx->ps.nrc = 0x72;
    fx->ps.message = "general programming failure";
    e->program_status = &fx->ps;
    return true;
  case DUODIAG__ENVELOPE__BODY_CONTROL_SIGNAL:
    fx->ids[0] = 0xF190;
    fx->ids[1] = 0xF187;
    memcpy(fx->args, "\x03\x01\x02", 3);
    duodiag__control_signal__init(&fx->cs);
    fx->cs.control_id = 31;
    fx->cs.session_id = "s-1";
    fx->cs.terminal_id = "t-1";
    fx->cs.action = DUODIAG__CONTROL_SIGNAL__ACTION__START_REFLASH;
    fx->cs.ecu_id = 0x18DA10F1;
    fx->cs.n_ids = 2;
    fx->cs.ids = fx->ids;
    fx->cs.rate_hz = 2.5;
    fx->cs.args.data = fx->args;
    fx->cs.args.len = 3;
    fx->cs.package_id = "pkg-1";
    e->control_signal = &fx->cs;
    return true;
  case DUODIAG__ENVELOPE__BODY_CONTROL_RESULT:
    memcpy(fx->result, "\x62\xF1\x90\x57", 4);
    duodiag__control_result__init(&fx->cr);
    fx->cr.control_id = 31;
    fx->cr.accepted = 1;
    fx->cr.code = DD_EUDS_NRC;
    fx->cr.nrc = 0x31;
    fx->cr.reason = "request out of range";
    fx->cr.result.data = fx->result;
    fx->cr.result.len = 4;
    fx->cr.text = "F190 read";
    e->control_result = &fx->cr;
    return true;
  case DUODIAG__ENVELOPE__BODY_RELAY_FORWARD:
    duodiag__relay_forward__init(&fx->rf);
    fx->rf.session_id = "s-1";
    fx->rf.destination = "service";
    fx->rf.inner.data = fx->inner;
    fx->rf.inner.len = s_inner_record(fx->inner, sizeof fx->inner);
    e->relay_forward = &fx->rf;
    return true;
  case DUODIAG__ENVELOPE__BODY_RELAY_ERROR:
    duodiag__relay_error__init(&fx->re);
    fx->re.session_id = "s-1";
    fx->re.code = DD_ENOTCONN;
    fx->re.text = "service not connected";
    e->relay_error = &fx->re;
    return true;
  case DUODIAG__ENVELOPE__BODY_READY:
    duodiag__ready__init(&fx->ready);
    fx->ready.process = "first_device";
    fx->ready.pid = 4242;
    fx->ready.role = "first_device";
    e->ready = &fx->ready;
    return true;
  case DUODIAG__ENVELOPE__BODY_COMMAND:
    duodiag__command__init(&fx->cmd);
    fx->cmd.command_id = 3;
    fx->cmd.kind = DUODIAG__COMMAND__KIND__ACTION;
    fx->cmd.key = "press_button";
    fx->cmd.value = "1";
    fx->cmd.args_json = "{\"button\":\"ok\"}";
    e->command = &fx->cmd;
    return true;
  case DUODIAG__ENVELOPE__BODY_COMMAND_RESULT:
    duodiag__command_result__init(&fx->cmdr);
    fx->cmdr.command_id = 3;
    fx->cmdr.ok = 1;
    fx->cmdr.code = DD_ETIMEDOUT;
    fx->cmdr.text = "done";
    fx->cmdr.result_json = "[1,2]";
    e->command_result = &fx->cmdr;
    return true;
  case DUODIAG__ENVELOPE__BODY_EVENT:
    for (int i = 0; i < 70; i++) {
      duodiag__field__init(&fx->fld[i]);
      fx->fld_p[i] = &fx->fld[i];
    }
    fx->fld[0].key = "path";
    fx->fld[0].value_case = DUODIAG__FIELD__VALUE_STRING_VALUE;
    fx->fld[0].string_value = "relay";
    fx->fld[1].key = "rtt_ms";
    fx->fld[1].value_case = DUODIAG__FIELD__VALUE_DOUBLE_VALUE;
    fx->fld[1].double_value = 182.5;
    fx->fld[2].key = "threshold_ms";
    fx->fld[2].value_case = DUODIAG__FIELD__VALUE_INT_VALUE;
    fx->fld[2].int_value = 150;
    fx->fld[3].key = "forced";
    fx->fld[3].value_case = DUODIAG__FIELD__VALUE_BOOL_VALUE;
    fx->fld[3].bool_value = 1;
    duodiag__event__init(&fx->ev);
    fx->ev.mono_us = 1500000;
    fx->ev.wall_us = 1700000000123456;
    fx->ev.process = "first_device";
    fx->ev.kind = "transport.switch";
    fx->ev.n_fields = 4;
    fx->ev.fields = fx->fld_p;
    e->event = &fx->ev;
    return true;
  case DUODIAG__ENVELOPE__BODY_CAN_ATTACH:
    duodiag__can_attach__init(&fx->can_attach);
    fx->can_attach.node = "ecu_engine";
    fx->can_attach.fd = 1;
    fx->can_attach.loopback = 1;
    fx->can_attach.err_frames = 1;
    e->can_attach = &fx->can_attach;
    return true;
  case DUODIAG__ENVELOPE__BODY_CAN_ATTACHED:
    duodiag__can_attached__init(&fx->can_attached);
    fx->can_attached.nominal_bps = 500000;
    fx->can_attached.data_bps = 2000000;
    e->can_attached = &fx->can_attached;
    return true;
  case DUODIAG__ENVELOPE__BODY_CAN_FRAME:
    memcpy(fx->can_data, "\x03\x22\xF1\x90\xAA\xAA\xAA\xAA", 8);
    duodiag__can_frame__init(&fx->can_frame);
    fx->can_frame.id = 0x7E0;
    fx->can_frame.flags = 0x40; /* DD_CAN_F_TX */
    fx->can_frame.data.data = fx->can_data;
    fx->can_frame.data.len = 8;
    fx->can_frame.ts_us = 222;
    e->can_frame = &fx->can_frame;
    return true;
  case DUODIAG__ENVELOPE__BODY_CAN_TX_ERROR:
    duodiag__can_tx_error__init(&fx->can_tx_error);
    fx->can_tx_error.code = DD_ECAN_BUSOFF;
    fx->can_tx_error.text = "bus-off";
    e->can_tx_error = &fx->can_tx_error;
    return true;
  case DUODIAG__ENVELOPE__BODY__NOT_SET:
  default:
    return false;
  }
}

/* The body cases of the schema, read from the envelope's descriptor (so a new body type
 * without a fixture makes the tests fail). */
static size_t s_body_cases(Duodiag__Envelope__BodyCase *out, size_t cap) {
  size_t n = 0;
  const ProtobufCMessageDescriptor *d = &duodiag__envelope__descriptor;
  for (unsigned i = 0; i < d->n_fields; i++) {
    if (!(d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) continue;
    ck_assert_uint_lt(n, cap);
    out[n++] = (Duodiag__Envelope__BodyCase)d->fields[i].id;
  }
  return n;
}

static size_t s_elem_size(ProtobufCType t) {
  switch (t) {
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
  case PROTOBUF_C_TYPE_DOUBLE:
    return 8;
  case PROTOBUF_C_TYPE_BOOL:
    return sizeof(protobuf_c_boolean);
  case PROTOBUF_C_TYPE_STRING:
  case PROTOBUF_C_TYPE_MESSAGE:
    return sizeof(void *);
  case PROTOBUF_C_TYPE_BYTES:
    return sizeof(ProtobufCBinaryData);
  default:
    return 4;
  }
}

static bool s_msg_equal(const ProtobufCMessage *a, const ProtobufCMessage *b);

static bool s_value_equal(const ProtobufCFieldDescriptor *f, const void *pa, const void *pb) {
  switch (f->type) {
  case PROTOBUF_C_TYPE_STRING:
    return strcmp(*(char *const *)pa, *(char *const *)pb) == 0;
  case PROTOBUF_C_TYPE_BYTES: {
    const ProtobufCBinaryData *x = pa, *y = pb;
    return x->len == y->len && (x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *x = *(const ProtobufCMessage *const *)pa;
    const ProtobufCMessage *y = *(const ProtobufCMessage *const *)pb;
    if (!x || !y) return x == y;
    return s_msg_equal(x, y);
  }
  case PROTOBUF_C_TYPE_BOOL:
    return !*(const protobuf_c_boolean *)pa == !*(const protobuf_c_boolean *)pb;
  default:
    return memcmp(pa, pb, s_elem_size(f->type)) == 0;
  }
}

/* Field-by-field equality of two messages of the same type, through the descriptor. */
static bool s_msg_equal(const ProtobufCMessage *a, const ProtobufCMessage *b) {
  if (a->descriptor != b->descriptor) return false;
  const ProtobufCMessageDescriptor *d = a->descriptor;
  const char *ba = (const char *)a, *bb = (const char *)b;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t na = *(const size_t *)(ba + f->quantifier_offset);
      size_t nb = *(const size_t *)(bb + f->quantifier_offset);
      if (na != nb) return false;
      const char *xa = *(const char *const *)(ba + f->offset);
      const char *xb = *(const char *const *)(bb + f->offset);
      for (size_t k = 0; k < na; k++)
        if (!s_value_equal(f, xa + k * s_elem_size(f->type), xb + k * s_elem_size(f->type)))
          return false;
      continue;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      uint32_t ca = *(const uint32_t *)(ba + f->quantifier_offset);
      uint32_t cb = *(const uint32_t *)(bb + f->quantifier_offset);
      if (ca != cb) return false;
      if (ca != f->id) continue;
    }
    if (!s_value_equal(f, ba + f->offset, bb + f->offset)) return false;
  }
  return true;
}

/* True when every field of m (and of its sub-messages) differs from its default, so a round
 * trip of m exercises each of them. Unset members of a oneof are skipped. */
static bool s_all_set(const ProtobufCMessage *m, char *why, size_t cap) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  const char *base = (const char *)m;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    const void *p = base + f->offset;
    size_t n = 1;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      n = *(const size_t *)(base + f->quantifier_offset);
      p = *(const void *const *)p;
    } else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      if (*(const uint32_t *)(base + f->quantifier_offset) != f->id) continue;
    }
    bool set = n > 0;
    for (size_t k = 0; set && k < n; k++) {
      const char *v = (const char *)p + k * s_elem_size(f->type);
      switch (f->type) {
      case PROTOBUF_C_TYPE_STRING:
        set = (*(char *const *)v)[0] != '\0';
        break;
      case PROTOBUF_C_TYPE_BYTES:
        set = ((const ProtobufCBinaryData *)v)->len > 0;
        break;
      case PROTOBUF_C_TYPE_MESSAGE:
        set = s_all_set(*(const ProtobufCMessage *const *)v, why, cap);
        if (!set) return false; /* why already says which */
        break;
      default: {
        static const char zero[8];
        set = memcmp(v, zero, s_elem_size(f->type)) != 0;
        break;
      }
      }
    }
    if (!set) {
      snprintf(why, cap, "%s.%s", d->name, f->name);
      return false;
    }
  }
  return true;
}

/* Pack without any check (what a faulty or hostile peer could send). */
static uint8_t *s_pack_raw(const Duodiag__Envelope *env, size_t *len) {
  *len = duodiag__envelope__get_packed_size(env);
  uint8_t *buf = malloc(*len ? *len : 1);
  ck_assert_ptr_nonnull(buf);
  ck_assert_uint_eq(duodiag__envelope__pack(env, buf), *len);
  return buf;
}

static int s_code_of(dd_wire_reason_t why) {
  if (why == DD_WIRE_R_TOO_BIG || why == DD_WIRE_R_BUDGET) return DD_EWIRE_TOO_BIG;
  if (why == DD_WIRE_R_VERSION) return DD_EWIRE_VERSION;
  return DD_EWIRE_MALFORMED;
}

/* Decode buf and expect a rejection for reason why, counted once. */
static void s_expect_decode_reject(const uint8_t *buf, size_t len, dd_wire_reason_t why) {
  dd_wire_stats_t st;
  dd_wire_stats_init(&st);
  Duodiag__Envelope *out = (Duodiag__Envelope *)&st; /* must be reset to NULL */
  int rc = dd_wire_decode(buf, len, &out, &st);
  ck_assert_msg(rc == s_code_of(why), "decode: got %s, reason %s; want %s", dd_err_name(rc),
                dd_wire_reason_name(st.last_reason), dd_wire_reason_name(why));
  ck_assert_ptr_null(out);
  ck_assert_uint_eq(st.rejected[why], 1);
  ck_assert_uint_eq(dd_wire_stats_rejected(&st), 1);
  ck_assert_int_eq(st.last_reason, why);
  ck_assert_uint_eq(st.accepted, 0);
}

/* The envelope in fx must be refused for reason why by dd_wire_check, dd_wire_encode, and by
 * dd_wire_decode when a peer sends it anyway. */
static void s_expect_reject(s_fx_t *fx, dd_wire_reason_t why) {
  dd_wire_reason_t got = DD_WIRE_R__COUNT;
  int rc = dd_wire_check(&fx->env, &got);
  ck_assert_msg(rc == s_code_of(why) && got == why, "check: got %s/%s; want %s",
                dd_err_name(rc), dd_wire_reason_name((int)got), dd_wire_reason_name(why));
  uint8_t small[64];
  size_t len = 99;
  ck_assert_int_eq(dd_wire_encode(&fx->env, small, sizeof small, &len), s_code_of(why));
  uint8_t *raw = s_pack_raw(&fx->env, &len);
  s_expect_decode_reject(raw, len, why);
  free(raw);
}

/* Encode fx's envelope into a new buffer. */
static uint8_t *s_encode(const Duodiag__Envelope *env, size_t *len) {
  size_t need = 0;
  ck_assert_int_eq(dd_wire_encode(env, NULL, 0, &need), DD_ENOSPC);
  uint8_t *buf = malloc(need);
  ck_assert_ptr_nonnull(buf);
  ck_assert_int_eq(dd_wire_encode(env, buf, need, len), 0);
  ck_assert_uint_eq(*len, need);
  return buf;
}

/* ---- round trips ------------------------------------------------------------------------- */

START_TEST(test_round_trip_every_body) {
  Duodiag__Envelope__BodyCase cases[64];
  size_t n = s_body_cases(cases, 64);
  ck_assert_uint_eq(n, 39); /* the bodies of duodiag.proto version 1 */
  dd_wire_stats_t st;
  dd_wire_stats_init(&st);
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    s_fx_t *fx = calloc(1, sizeof *fx);
    ck_assert_msg(s_build(fx, cases[i]), "no fixture for body %d", (int)cases[i]);
    char why[128] = "";
    ck_assert_msg(s_all_set(&fx->env.base, why, sizeof why), "%s: %s left at default",
                  dd_wire_body_name(&fx->env), why);
    size_t len = 0;
    uint8_t *buf = s_encode(&fx->env, &len);
    Duodiag__Envelope *out = NULL;
    ck_assert_int_eq(dd_wire_decode(buf, len, &out, &st), 0);
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(out->body_case, cases[i]);
    ck_assert_msg(s_msg_equal(&fx->env.base, &out->base), "%s differs after the round trip",
                  dd_wire_body_name(out));
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&duodiag__envelope__descriptor, cases[i]);
    ck_assert_str_eq(dd_wire_body_name(out), f->name);
    total += len;
    dd_wire_free(&out);
    ck_assert_ptr_null(out);
    free(buf);
    free(fx);
  }
  ck_assert_uint_eq(st.accepted, n);
  ck_assert_uint_eq(st.accepted_bytes, total);
  ck_assert_uint_eq(dd_wire_stats_rejected(&st), 0);
  ck_assert_int_eq(st.last_reason, -1);
}
END_TEST

/* The generic comparison above is itself checked here: named fields, read directly. */
START_TEST(test_round_trip_spot_checks) {
  s_fx_t *fx = calloc(1, sizeof *fx);
  size_t len;
  Duodiag__Envelope *out = NULL;

  s_build(fx, DUODIAG__ENVELOPE__BODY_VIN_INFO);
  uint8_t *buf = s_encode(&fx->env, &len);
  ck_assert_int_eq(dd_wire_decode(buf, len, &out, NULL), 0);
  ck_assert_uint_eq(out->version, DD_WIRE_VERSION);
  ck_assert_str_eq(out->sender, "first_device");
  ck_assert_uint_eq(out->seq, 42);
  ck_assert_uint_eq(out->sent_us, 1234567);
  ck_assert_str_eq(out->vin_info->vin, S_VIN);
  ck_assert_str_eq(out->vin_info->model, "Ranger \xE2\x80\x93 Mk II");
  ck_assert_uint_eq(out->vin_info->model_year, 2019);
  ck_assert_uint_eq(out->vin_info->n_ecus, 2);
  ck_assert_uint_eq(out->vin_info->ecus[1]->response_can_id, 0x7E9);
  ck_assert_str_eq(dd_wire_body_name(out), "vin_info");
  dd_wire_free(&out);
  free(buf);

  s_build(fx, DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD);
  buf = s_encode(&fx->env, &len);
  ck_assert_int_eq(dd_wire_decode(buf, len, &out, NULL), 0);
  ck_assert_uint_eq(out->vehicle_record->seq, 1000);
  ck_assert_int_eq(out->vehicle_record->path, DUODIAG__VEHICLE_RECORD__PATH__DIRECT);
  ck_assert_uint_eq(out->vehicle_record->payload.len, 8);
  ck_assert_mem_eq(out->vehicle_record->payload.data, "\x41\x0C\x0C\xB2", 4);
  ck_assert_double_eq(out->vehicle_record->values[1]->value, -0.25);
  ck_assert_str_eq(out->vehicle_record->values[0]->unit, "rpm");
  dd_wire_free(&out);
  free(buf);

  /* a relayed envelope decodes to its inner envelope, itself valid */
  s_build(fx, DUODIAG__ENVELOPE__BODY_RELAY_FORWARD);
  buf = s_encode(&fx->env, &len);
  ck_assert_int_eq(dd_wire_decode(buf, len, &out, NULL), 0);
  Duodiag__Envelope *inner = NULL;
  ck_assert_int_eq(
      dd_wire_decode(out->relay_forward->inner.data, out->relay_forward->inner.len, &inner, NULL),
      0);
  ck_assert_str_eq(dd_wire_body_name(inner), "vehicle_record");
  ck_assert_uint_eq(inner->vehicle_record->seq, 3);
  dd_wire_free(&inner);
  dd_wire_free(&out);
  dd_wire_free(&out); /* freeing NULL is harmless */
  free(buf);
  free(fx);
}
END_TEST

START_TEST(test_chunk_size_limits) {
  s_fx_t *fx = calloc(1, sizeof *fx);
  uint8_t *data = calloc(1, DD_WIRE_MAX_CHUNK + 1);
  s_build(fx, DUODIAG__ENVELOPE__BODY_PROGRAM_CHUNK);
  fx->pc.data.data = data;
  fx->pc.data.len = DD_WIRE_MAX_CHUNK; /* the largest chunk passes */
  data[DD_WIRE_MAX_CHUNK - 1] = 0x5A;
  size_t len;
  uint8_t *buf = s_encode(&fx->env, &len);
  ck_assert_uint_le(len, DD_WIRE_MAX_INNER);
  Duodiag__Envelope *out = NULL;
  ck_assert_int_eq(dd_wire_decode(buf, len, &out, NULL), 0);
  ck_assert_uint_eq(out->program_chunk->data.len, DD_WIRE_MAX_CHUNK);
  ck_assert_uint_eq(out->program_chunk->data.data[DD_WIRE_MAX_CHUNK - 1], 0x5A);
  dd_wire_free(&out);

  /* ... and can itself be relayed */
  s_fx_t *rx = calloc(1, sizeof *rx);
  s_build(rx, DUODIAG__ENVELOPE__BODY_RELAY_FORWARD);
  rx->rf.inner.data = buf;
  rx->rf.inner.len = len;
  size_t rlen;
  uint8_t *rbuf = s_encode(&rx->env, &rlen);
  ck_assert_uint_le(rlen, DD_WIRE_MAX);
  ck_assert_int_eq(dd_wire_decode(rbuf, rlen, &out, NULL), 0);
  dd_wire_free(&out);
  free(rbuf);
  free(buf);
  free(rx);

  fx->pc.data.len = DD_WIRE_MAX_CHUNK + 1; /* one byte more does not */
  s_expect_reject(fx, DD_WIRE_R_BYTES);
  free(data);
  free(fx);
}
END_TEST

/* ---- damaged input ----------------------------------------------------------------------- */

START_TEST(test_truncated_prefixes_rejected) {
  Duodiag__Envelope__BodyCase cases[64];
  size_t n = s_body_cases(cases, 64);
  for (size_t i = 0; i < n; i++) {
    s_fx_t *fx = calloc(1, sizeof *fx);
    s_build(fx, cases[i]);
    size_t len;
    uint8_t *buf = s_encode(&fx->env, &len);
    dd_wire_stats_t st;
    dd_wire_stats_init(&st);
    for (size_t cut = 0; cut < len; cut++) {
      /* a copy of exactly cut bytes, so ASan sees any read past the end */
      uint8_t *part = malloc(cut ? cut : 1);
      memcpy(part, buf, cut);
      Duodiag__Envelope *out = NULL;
      int rc = dd_wire_decode(part, cut, &out, &st);
      ck_assert_msg(rc != 0, "%s: prefix of %zu/%zu bytes accepted", dd_wire_body_name(&fx->env),
                    cut, len);
      ck_assert_ptr_null(out);
      free(part);
    }
    ck_assert_uint_eq(st.accepted, 0);
    ck_assert_uint_eq(dd_wire_stats_rejected(&st), len);
    ck_assert_uint_eq(st.rejected[DD_WIRE_R_VERSION], 1); /* the empty prefix has no version */
    free(buf);
    free(fx);
  }
}
END_TEST

/* The direct path's datagram trailer: CRC-32C check value of "123456789" is 0xE3069283 (RFC 3720
 * B.4; the same as RFC 9260 appendix A's CRC32c); a record datagram decodes back, and every single
 * bit flip anywhere in it (envelope or trailer) is refused as a checksum error, never delivered
 * as a record with other values, which plain dd_wire_decode cannot promise. */
START_TEST(test_datagram_checksum) {
  ck_assert_uint_eq(dd_wire_crc32c((const uint8_t *)"123456789", 9), 0xE3069283u);
  ck_assert_uint_eq(dd_wire_crc32c(NULL, 0), 0x00000000u);
  s_fx_t *fx = calloc(1, sizeof *fx);
  ck_assert(s_build(fx, DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD));
  uint8_t buf[4096], mut[4096];
  size_t len = 0, plain = 0;
  ck_assert_int_eq(dd_wire_encode_datagram(&fx->env, buf, sizeof buf, &len), 0);
  ck_assert_int_eq(dd_wire_encode(&fx->env, mut, sizeof mut, &plain), 0);
  ck_assert_uint_eq(len, plain + DD_WIRE_DGRAM_TRAILER);
  ck_assert_mem_eq(buf, mut, plain); /* the envelope as the other links carry it */
  size_t need = 0;
  ck_assert_int_eq(dd_wire_encode_datagram(&fx->env, buf, plain + 3, &need), DD_ENOSPC);
  ck_assert_uint_eq(need, len);
  ck_assert_int_eq(dd_wire_encode_datagram(&fx->env, buf, sizeof buf, &len), 0);
  Duodiag__Envelope *out = NULL;
  dd_wire_stats_t st;
  dd_wire_stats_init(&st);
  ck_assert_int_eq(dd_wire_decode_datagram(buf, len, &out, &st), 0);
  ck_assert_int_eq(out->body_case, DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD);
  ck_assert_uint_eq(out->vehicle_record->seq, fx->env.vehicle_record->seq);
  dd_wire_free(&out);
  for (size_t bit = 0; bit < len * 8; bit++) {
    memcpy(mut, buf, len);
    mut[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    ck_assert_int_eq(dd_wire_decode_datagram(mut, len, &out, &st), DD_EWIRE_CHECKSUM);
    ck_assert_ptr_null(out);
  }
  ck_assert_uint_eq(st.rejected[DD_WIRE_R_CHECKSUM], len * 8);
  ck_assert_int_eq(dd_wire_decode_datagram(buf, 3, &out, &st), DD_EWIRE_CHECKSUM);
  ck_assert_str_eq(dd_wire_reason_name(DD_WIRE_R_CHECKSUM), "checksum");
  free(fx);
}
END_TEST

START_TEST(test_bit_flips_never_crash) {
  Duodiag__Envelope__BodyCase cases[64];
  size_t n = s_body_cases(cases, 64);
  uint64_t trials = 0, accepted = 0;
  dd_wire_stats_t st;
  dd_wire_stats_init(&st);
  for (size_t i = 0; i < n; i++) {
    s_fx_t *fx = calloc(1, sizeof *fx);
    s_build(fx, cases[i]);
    size_t len;
    uint8_t *buf = s_encode(&fx->env, &len);
    uint8_t *mut = malloc(len);
    for (size_t bit = 0; bit < len * 8; bit++) {
      memcpy(mut, buf, len);
      mut[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      Duodiag__Envelope *out = NULL;
      int rc = dd_wire_decode(mut, len, &out, &st);
      trials++;
      if (rc == 0) {
        /* whatever is accepted passes the checks and encodes again */
        accepted++;
        ck_assert_int_eq(dd_wire_check(out, NULL), 0);
        size_t relen;
        uint8_t *again = s_encode(out, &relen);
        free(again);
        dd_wire_free(&out);
      } else {
        ck_assert(rc == DD_EWIRE_MALFORMED || rc == DD_EWIRE_VERSION || rc == DD_EWIRE_TOO_BIG);
        ck_assert_ptr_null(out);
      }
    }
    free(mut);
    free(buf);
    free(fx);
  }
  ck_assert_uint_eq(st.accepted, accepted);
  ck_assert_uint_eq(st.accepted + dd_wire_stats_rejected(&st), trials);
  /* flips in the version and in structural bytes must be caught */
  ck_assert_uint_gt(st.rejected[DD_WIRE_R_VERSION], 0);
  ck_assert_uint_gt(st.rejected[DD_WIRE_R_UNPACK], 0);
  ck_assert_uint_gt(dd_wire_stats_rejected(&st), trials / 10);
}
END_TEST

START_TEST(test_oversized_rejected) {
  /* over DD_WIRE_MAX: refused before anything is parsed */
  uint8_t *big = calloc(1, DD_WIRE_MAX + 1);
  s_expect_decode_reject(big, DD_WIRE_MAX + 1, DD_WIRE_R_TOO_BIG);
  free(big);

  /* an envelope whose fields are each within limits but which is too large in total */
  s_fx_t *fx = calloc(1, sizeof *fx);
  s_build(fx, DUODIAG__ENVELOPE__BODY_TERMINAL_LIST);
  char *name = malloc(DD_WIRE_MAX_STRING + 1);
  memset(name, 'n', DD_WIRE_MAX_STRING);
  name[DD_WIRE_MAX_STRING] = '\0';
  size_t nt = DD_WIRE_MAX / DD_WIRE_MAX_STRING + 1;
  Duodiag__TerminalInfo **tp = calloc(nt, sizeof *tp);
  for (size_t i = 0; i < nt; i++) {
    fx->term[0].name = name;
    tp[i] = &fx->term[0];
  }
  fx->tl.terminals = tp;
  fx->tl.n_terminals = nt;
  ck_assert_int_eq(dd_wire_check(&fx->env, NULL), 0);
  size_t len = 0;
  ck_assert_int_eq(dd_wire_encode(&fx->env, NULL, 0, &len), DD_EWIRE_TOO_BIG);
  ck_assert_uint_gt(len, DD_WIRE_MAX);
  uint8_t *raw = s_pack_raw(&fx->env, &len);
  s_expect_decode_reject(raw, len, DD_WIRE_R_TOO_BIG);
  free(raw);
  free(tp);
  free(name);
  free(fx);
}
END_TEST

/* Append a varint (protobuf base-128 encoding). */
static size_t s_put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  do {
    p[n++] = (uint8_t)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
    v >>= 7;
  } while (v);
  return n;
}

START_TEST(test_decode_memory_budget) {
  /* Envelope{version 1, sender "x", vehicle_record (66) {values (7): N empty messages}}: two
   * bytes per Value on the wire, a struct and a pointer each in memory. */
  size_t nvals = 400000, inner_len = 2 * nvals;
  uint8_t *buf = malloc(inner_len + 64);
  size_t n = 0;
  buf[n++] = 0x08; /* field 1, varint */
  buf[n++] = 0x01;
  buf[n++] = 0x12; /* field 2, length-delimited */
  buf[n++] = 0x01;
  buf[n++] = 'x';
  n += s_put_varint(buf + n, (66u << 3) | 2);
  n += s_put_varint(buf + n, inner_len);
  for (size_t i = 0; i < nvals; i++) {
    buf[n++] = (7u << 3) | 2;
    buf[n++] = 0x00;
  }
  ck_assert_uint_le(n, DD_WIRE_MAX);
  s_expect_decode_reject(buf, n, DD_WIRE_R_BUDGET);

  /* the same shape with a few values is only refused for its empty session id */
  size_t small = 4;
  n = 5;
  n += s_put_varint(buf + n, (66u << 3) | 2);
  n += s_put_varint(buf + n, 2 * small);
  for (size_t i = 0; i < small; i++) {
    buf[n++] = (7u << 3) | 2;
    buf[n++] = 0x00;
  }
  s_expect_decode_reject(buf, n, DD_WIRE_R_MISSING);
  free(buf);
}
END_TEST

START_TEST(test_version_rejected) {
  s_fx_t *fx = calloc(1, sizeof *fx);
  s_build(fx, DUODIAG__ENVELOPE__BODY_PROBE);
  fx->env.version = 2;
  s_expect_reject(fx, DD_WIRE_R_VERSION);
  fx->env.version = 0; /* absent on the wire */
  s_expect_reject(fx, DD_WIRE_R_VERSION);

  /* a newer version whose body this version cannot parse is still reported as a version */
  /* (the probe's field 1 arrives length-delimited where version 1 has a varint) */
  uint8_t v2[] = {0x08, 0x02, 0x12, 0x01, 'x', 0x82, 0x05, 0x02, 0x0A, 0x00};
  s_expect_decode_reject(v2, sizeof v2, DD_WIRE_R_VERSION);
  v2[1] = 0x01;
  s_expect_decode_reject(v2, sizeof v2, DD_WIRE_R_UNPACK);
  /* 2^32 + 1 would read as 1 once cut to uint32 */
  uint8_t wide[32];
  size_t n = 0;
  wide[n++] = 0x08;
  n += s_put_varint(wide + n, (1ull << 32) + 1);
  wide[n++] = 0x12;
  wide[n++] = 0x01;
  wide[n++] = 'x';
  wide[n++] = 0x82; /* probe (80), length-delimited, empty */
  wide[n++] = 0x05;
  wide[n++] = 0x00;
  s_expect_decode_reject(wide, n, DD_WIRE_R_VERSION);
  wide[1] = 0x01; /* version 1, then the rest of the former varint is garbage */
  s_expect_decode_reject(wide, n, DD_WIRE_R_UNPACK);
  /* version 1 followed by version 2: the last one counts, as in protobuf */
  uint8_t twice[] = {0x08, 0x01, 0x08, 0x02, 0x12, 0x01, 'x', 0x82, 0x05, 0x00};
  s_expect_decode_reject(twice, sizeof twice, DD_WIRE_R_VERSION);
  twice[3] = 0x01;
  Duodiag__Envelope *out = NULL;
  ck_assert_int_eq(dd_wire_decode(twice, sizeof twice, &out, NULL), 0);
  ck_assert_str_eq(dd_wire_body_name(out), "probe");
  dd_wire_free(&out);
  free(fx);
}
END_TEST

START_TEST(test_body_missing_or_unknown) {
  s_fx_t *fx = calloc(1, sizeof *fx);
  s_build(fx, DUODIAG__ENVELOPE__BODY_PROBE);
  fx->env.body_case = DUODIAG__ENVELOPE__BODY__NOT_SET;
  ck_assert_str_eq(dd_wire_body_name(&fx->env), "none");
  s_expect_reject(fx, DD_WIRE_R_NO_BODY);

  s_build(fx, DUODIAG__ENVELOPE__BODY_PROBE);
  fx->env.probe = NULL; /* case set, body missing */
  dd_wire_reason_t why;
  ck_assert_int_eq(dd_wire_check(&fx->env, &why), DD_EWIRE_MALFORMED);
  ck_assert_int_eq(why, DD_WIRE_R_NO_BODY);
  fx->env.body_case = (Duodiag__Envelope__BodyCase)999;
  ck_assert_str_eq(dd_wire_body_name(&fx->env), "unknown");
  ck_assert_int_eq(dd_wire_check(&fx->env, &why), DD_EWIRE_MALFORMED);
  ck_assert_int_eq(why, DD_WIRE_R_UNKNOWN_BODY);
  fx->env.body_case = (Duodiag__Envelope__BodyCase)2; /* the sender field, not a body */
  ck_assert_str_eq(dd_wire_body_name(&fx->env), "unknown");

  /* a body from a later schema (field 1000) arrives as an unknown field */
  uint8_t later[] = {0x08, 0x01, 0x12, 0x01, 'x', 0xC2, 0x3E, 0x02, 0x08, 0x01};
  s_expect_decode_reject(later, sizeof later, DD_WIRE_R_UNKNOWN_BODY);
  free(fx);
}
END_TEST

START_TEST(test_malformed_bytes) {
  uint8_t groups[] = {0x08, 0x01, 0x0B, 0x0C};      /* wire types 3/4 (groups) */
  uint8_t overrun[] = {0x08, 0x01, 0x12, 0x09, 'x'}; /* length past the end */
  uint8_t longvar[] = {0x08, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  uint8_t field0[] = {0x08, 0x01, 0x00, 0x00};       /* field number 0 */
  s_expect_decode_reject(groups, sizeof groups, DD_WIRE_R_UNPACK);
  s_expect_decode_reject(overrun, sizeof overrun, DD_WIRE_R_UNPACK);
  s_expect_decode_reject(longvar, sizeof longvar, DD_WIRE_R_UNPACK);
  s_expect_decode_reject(field0, sizeof field0, DD_WIRE_R_UNPACK);
  /* version 1 but the body's tag says varint where a message must be */
  uint8_t wrongtype[] = {0x08, 0x01, 0x12, 0x01, 'x', 0x80, 0x05, 0x01};
  s_expect_decode_reject(wrongtype, sizeof wrongtype, DD_WIRE_R_UNPACK);
}
END_TEST

/* ---- field rules --------------------------------------------------------------------------- */

typedef struct {
  Duodiag__Envelope__BodyCase body; /* fixture to start from */
  int id;                           /* mutation, see s_mutate */
  dd_wire_reason_t why;             /* expected rejection */
} s_case_t;

static char s_long[DD_WIRE_MAX_TEXT + 2];

/* Make one rule fail in a valid fixture. */
static void s_mutate(s_fx_t *fx, int id) {
  switch (id) {
  case 1: fx->vin_query.vin = "1M8GDM9AXKP04278"; break;   /* 16 characters */
  case 2: fx->vin_query.vin = "1M8GDM9AXKP04278I"; break;  /* I is not in the VIN alphabet */
  case 3: fx->vin_query.vin = "1m8gdm9axkp042788"; break;  /* lower case */
  case 4: fx->vin_query.vin = ""; break;
  case 5: fx->vin_info.vin = ""; break;                    /* found but no VIN */
  case 6: fx->ecu[1].request_can_id = 0x20000000; break;   /* over 29 bits */
  case 7: fx->term[0].currency = "cny"; break;
  case 8: fx->term[0].rating_x10 = 51; break;
  case 9: fx->term[1].fee_minor = -1; break;
  case 10: fx->term[1].terminal_id = ""; break;
  case 11: fx->sm.kind = DUODIAG__SESSION_MESSAGE__KIND__KIND_UNSPECIFIED; break;
  case 12: fx->sm.kind = (Duodiag__SessionMessage__Kind)99; break;
  case 13:
    fx->sm.kind = DUODIAG__SESSION_MESSAGE__KIND__TEXT;
    fx->sm.payload.data = (uint8_t *)"ok\xff";
    fx->sm.payload.len = 3;
    break;
  case 14: fx->sm.mime = ""; break;
  case 15: fx->order.merchant = NULL; break;
  case 16: fx->order.fee_minor = -5; break;
  case 17: fx->merchant.merchant_id = ""; break;
  case 18: fx->pay.amount_minor = 0; break;
  case 19: fx->pay.currency = ""; break;
  case 20: fx->pay.currency = "EURO"; break;
  case 21: fx->pay.payment_id = ""; break;
  case 22: fx->items[1] = 0x10000; break;
  case 23: fx->vdr.rate_hz = NAN; break;
  case 24: fx->vdr.rate_hz = 1000.5; break;
  case 25: fx->vdr.rate_hz = -1.0; break;
  case 26:
    fx->vdr.kind = DUODIAG__VEHICLE_DATA_REQUEST__KIND__DIDS;
    fx->vdr.n_items = 0;
    break;
  case 27: fx->vdr.n_items = 257; break;
  case 28: fx->vr.seq = 0; break;
  case 29: fx->val[0].value = INFINITY; break;
  case 30: fx->vr.ecu_id = 0x20000000; break;
  case 31: fx->vr.path = DUODIAG__VEHICLE_RECORD__PATH__PATH_UNSPECIFIED; break;
  case 32: fx->sack[0].first = 5; break;                   /* not above the cumulative ack */
  case 33: fx->sack[1].first = 8; break;                   /* overlaps the range before */
  case 34: fx->sack[0].last = 6; break;                    /* last < first */
  case 35: fx->va.n_sacks = DD_WIRE_MAX_SACKS + 1; break;
  case 36: fx->po.sha256.len = 31; break;
  case 37: fx->po.signature.len = 10; break;
  case 38: fx->po.total_size = 0; break;
  case 39: fx->po.total_size = DD_WIRE_MAX_PACKAGE + 1; break;
  case 40:
    fx->pc.data.len = 0;
    fx->pc.last = 0;
    break;
  case 41: fx->pc.offset = DD_WIRE_MAX_PACKAGE - 10; break;
  case 42: fx->pc.offset = UINT64_MAX; break;
  case 43: fx->ps.percent = 101; break;
  case 44: fx->ps.nrc = 0x100; break;
  case 45: fx->cs.action = DUODIAG__CONTROL_SIGNAL__ACTION__ACTION_UNSPECIFIED; break;
  case 46:
    fx->cs.action = DUODIAG__CONTROL_SIGNAL__ACTION__STREAM_PIDS;
    fx->cs.rate_hz = 0;
    break;
  case 47:
    fx->cs.action = DUODIAG__CONTROL_SIGNAL__ACTION__READ_DIDS;
    fx->cs.n_ids = 0;
    break;
  case 48: fx->cs.package_id = ""; break;
  case 49: fx->cs.ids[0] = 0x12345; break;
  case 50: fx->cs.n_ids = 257; break;
  case 51: fx->rf.inner.len = 0; break;
  case 52: fx->fld[1].key = ""; break;
  case 53: fx->fld[2].key = "path"; break;                  /* duplicate */
  case 54: fx->fld[3].key = "kind"; break;                  /* reserved for the line itself */
  case 55: fx->fld[2].value_case = DUODIAG__FIELD__VALUE__NOT_SET; break;
  case 56: fx->fld[1].double_value = NAN; break;
  case 57: fx->ev.mono_us = (uint64_t)INT64_MAX + 1; break;
  case 58:
    memset(s_long, 'k', DD_WIRE_MAX_KEY + 1);
    s_long[DD_WIRE_MAX_KEY + 1] = '\0';
    fx->fld[0].key = s_long;
    break;
  case 59:
    fx->ev.n_fields = DD_WIRE_MAX_EVENT_FIELDS + 1;
    for (unsigned i = 4; i < fx->ev.n_fields; i++) {
      static char keys[70][8];
      snprintf(keys[i], sizeof keys[i], "k%u", i);
      fx->fld[i].key = keys[i];
      fx->fld[i].value_case = DUODIAG__FIELD__VALUE_BOOL_VALUE;
    }
    break;
  case 60: fx->env.sender = ""; break;
  case 61:
    memset(s_long, 'a', DD_WIRE_MAX_TEXT + 1);
    s_long[DD_WIRE_MAX_TEXT + 1] = '\0';
    fx->cmd.args_json = s_long;
    break;
  case 62:
    memset(s_long, 'a', DD_WIRE_MAX_STRING + 1);
    s_long[DD_WIRE_MAX_STRING + 1] = '\0';
    fx->sc.reason = s_long;
    break;
  case 63: fx->presence.terminal_id = "t\xC0\xAF"; break;     /* overlong '/' */
  case 64: fx->presence.terminal_id = "t\xED\xA0\x80"; break; /* UTF-16 surrogate */
  case 65: fx->presence.terminal_id = "t\xF4\x90\x80\x80"; break; /* above U+10FFFF */
  case 66: fx->presence.terminal_id = "t\xE2\x82"; break;     /* cut short */
  case 67: fx->so.vin = "NOT-A-VIN"; break;
  case 68: fx->sh.device_id = ""; break;
  case 69: fx->ready.process = ""; break;
  case 70: fx->cmd.kind = DUODIAG__COMMAND__KIND__KIND_UNSPECIFIED; break;
  case 71: fx->crs.media = DUODIAG__IM_REQUEST__MEDIA__MEDIA_UNSPECIFIED; break;
  case 72: fx->imr.media = (Duodiag__ImRequest__Media)-3; break;
  case 73: fx->ca.service_endpoint = ""; break;
  case 74: fx->rf.inner.len = DD_WIRE_MAX_INNER + 1; break;  /* data points at a big buffer */
  case 75: fx->ps.phase = (Duodiag__ProgramStatus__Phase)9; break;
  case 76: fx->payc.charged_minor = -1; break;
  case 77: fx->va.session_id = ""; break;
  case 78: fx->so.owner_id = ""; break;
  case 79: fx->can_frame.data.len = 65; break; /* CAN FD carries at most 64 bytes */
  case 80: fx->can_frame.flags = 0x100; break;
  default: ck_abort_msg("no mutation %d", id);
  }
}

static const s_case_t s_cases[] = {
    {DUODIAG__ENVELOPE__BODY_VIN_QUERY, 1, DD_WIRE_R_FORMAT},
    {DUODIAG__ENVELOPE__BODY_VIN_QUERY, 2, DD_WIRE_R_FORMAT},
    {DUODIAG__ENVELOPE__BODY_VIN_QUERY, 3, DD_WIRE_R_FORMAT},
    {DUODIAG__ENVELOPE__BODY_VIN_QUERY, 4, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_VIN_INFO, 5, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_VIN_INFO, 6, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_TERMINAL_LIST, 7, DD_WIRE_R_FORMAT},
    {DUODIAG__ENVELOPE__BODY_TERMINAL_LIST, 8, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_TERMINAL_LIST, 9, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_TERMINAL_LIST, 10, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_SESSION_MESSAGE, 11, DD_WIRE_R_ENUM},
    {DUODIAG__ENVELOPE__BODY_SESSION_MESSAGE, 12, DD_WIRE_R_ENUM},
    {DUODIAG__ENVELOPE__BODY_SESSION_MESSAGE, 13, DD_WIRE_R_STRING},
    {DUODIAG__ENVELOPE__BODY_SESSION_MESSAGE, 14, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_ORDER, 15, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_ORDER, 16, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_ORDER, 17, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_PAYMENT, 18, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_PAYMENT, 19, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_PAYMENT, 20, DD_WIRE_R_FORMAT},
    {DUODIAG__ENVELOPE__BODY_PAYMENT, 21, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_VEHICLE_DATA_REQUEST, 22, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_VEHICLE_DATA_REQUEST, 23, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_VEHICLE_DATA_REQUEST, 24, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_VEHICLE_DATA_REQUEST, 25, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_VEHICLE_DATA_REQUEST, 26, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_VEHICLE_DATA_REQUEST, 27, DD_WIRE_R_REPEATED},
    {DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD, 28, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD, 29, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD, 30, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD, 31, DD_WIRE_R_ENUM},
    {DUODIAG__ENVELOPE__BODY_VEHICLE_ACK, 32, DD_WIRE_R_CONSISTENCY},
    {DUODIAG__ENVELOPE__BODY_VEHICLE_ACK, 33, DD_WIRE_R_CONSISTENCY},
    {DUODIAG__ENVELOPE__BODY_VEHICLE_ACK, 34, DD_WIRE_R_CONSISTENCY},
    {DUODIAG__ENVELOPE__BODY_VEHICLE_ACK, 35, DD_WIRE_R_REPEATED},
    {DUODIAG__ENVELOPE__BODY_PROGRAM_OFFER, 36, DD_WIRE_R_BYTES},
    {DUODIAG__ENVELOPE__BODY_PROGRAM_OFFER, 37, DD_WIRE_R_BYTES},
    {DUODIAG__ENVELOPE__BODY_PROGRAM_OFFER, 38, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_PROGRAM_OFFER, 39, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_PROGRAM_CHUNK, 40, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_PROGRAM_CHUNK, 41, DD_WIRE_R_CONSISTENCY},
    {DUODIAG__ENVELOPE__BODY_PROGRAM_CHUNK, 42, DD_WIRE_R_CONSISTENCY},
    {DUODIAG__ENVELOPE__BODY_PROGRAM_STATUS, 43, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_PROGRAM_STATUS, 44, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_CONTROL_SIGNAL, 45, DD_WIRE_R_ENUM},
    {DUODIAG__ENVELOPE__BODY_CONTROL_SIGNAL, 46, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_CONTROL_SIGNAL, 47, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_CONTROL_SIGNAL, 48, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_CONTROL_SIGNAL, 49, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_CONTROL_SIGNAL, 50, DD_WIRE_R_REPEATED},
    {DUODIAG__ENVELOPE__BODY_RELAY_FORWARD, 51, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_EVENT, 52, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_EVENT, 53, DD_WIRE_R_CONSISTENCY},
    {DUODIAG__ENVELOPE__BODY_EVENT, 54, DD_WIRE_R_CONSISTENCY},
    {DUODIAG__ENVELOPE__BODY_EVENT, 55, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_EVENT, 56, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_EVENT, 57, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_EVENT, 58, DD_WIRE_R_STRING},
    {DUODIAG__ENVELOPE__BODY_EVENT, 59, DD_WIRE_R_REPEATED},
    {DUODIAG__ENVELOPE__BODY_PROBE, 60, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_COMMAND, 61, DD_WIRE_R_STRING},
    {DUODIAG__ENVELOPE__BODY_SESSION_CLOSE, 62, DD_WIRE_R_STRING},
    {DUODIAG__ENVELOPE__BODY_PRESENCE, 63, DD_WIRE_R_STRING},
    {DUODIAG__ENVELOPE__BODY_PRESENCE, 64, DD_WIRE_R_STRING},
    {DUODIAG__ENVELOPE__BODY_PRESENCE, 65, DD_WIRE_R_STRING},
    {DUODIAG__ENVELOPE__BODY_PRESENCE, 66, DD_WIRE_R_STRING},
    {DUODIAG__ENVELOPE__BODY_SESSION_OPEN, 67, DD_WIRE_R_FORMAT},
    {DUODIAG__ENVELOPE__BODY_SERVICE_HELLO, 68, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_READY, 69, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_COMMAND, 70, DD_WIRE_R_ENUM},
    {DUODIAG__ENVELOPE__BODY_CONNECT_REQUEST_SIGNAL, 71, DD_WIRE_R_ENUM},
    {DUODIAG__ENVELOPE__BODY_IM_REQUEST, 72, DD_WIRE_R_ENUM},
    {DUODIAG__ENVELOPE__BODY_CONNECTION_ADDRESS, 73, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_RELAY_FORWARD, 74, DD_WIRE_R_BYTES},
    {DUODIAG__ENVELOPE__BODY_PROGRAM_STATUS, 75, DD_WIRE_R_ENUM},
    {DUODIAG__ENVELOPE__BODY_PAYMENT_CONFIRMATION, 76, DD_WIRE_R_NUMBER},
    {DUODIAG__ENVELOPE__BODY_VEHICLE_ACK, 77, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_SESSION_OPEN, 78, DD_WIRE_R_MISSING},
    {DUODIAG__ENVELOPE__BODY_CAN_FRAME, 79, DD_WIRE_R_BYTES},
    {DUODIAG__ENVELOPE__BODY_CAN_FRAME, 80, DD_WIRE_R_NUMBER},
};

START_TEST(test_field_rules) {
  s_fx_t *fx = calloc(1, sizeof *fx);
  uint8_t *big = calloc(1, DD_WIRE_MAX_INNER + 1);
  const s_case_t *c = &s_cases[_i];
  ck_assert(s_build(fx, c->body));
  ck_assert_int_eq(dd_wire_check(&fx->env, NULL), 0); /* valid before the mutation */
  if (c->id == 74) fx->rf.inner.data = big;
  s_mutate(fx, c->id);
  s_expect_reject(fx, c->why);
  free(big);
  free(fx);
}
END_TEST

START_TEST(test_nul_inside_string_rejected) {
  /* protobuf-c would cut "ab\0cd" to "ab" without a word; the codec refuses it */
  s_fx_t *fx = calloc(1, sizeof *fx);
  s_build(fx, DUODIAG__ENVELOPE__BODY_PRESENCE);
  fx->presence.terminal_id = "ab#cd";
  size_t len;
  uint8_t *buf = s_encode(&fx->env, &len);
  uint8_t *hash = memchr(buf, '#', len);
  ck_assert_ptr_nonnull(hash);
  *hash = '\0';
  s_expect_decode_reject(buf, len, DD_WIRE_R_STRING);
  /* also inside a nested message and a repeated string */
  s_build(fx, DUODIAG__ENVELOPE__BODY_TERMINAL_LIST);
  fx->makes[1] = "Ze#t";
  free(buf);
  buf = s_encode(&fx->env, &len);
  hash = memchr(buf, '#', len);
  *hash = '\0';
  s_expect_decode_reject(buf, len, DD_WIRE_R_STRING);
  free(buf);
  free(fx);
}
END_TEST

START_TEST(test_encode_buffer_sizes) {
  s_fx_t *fx = calloc(1, sizeof *fx);
  s_build(fx, DUODIAG__ENVELOPE__BODY_PROBE);
  size_t need = 0, len = 0;
  ck_assert_int_eq(dd_wire_encode(&fx->env, NULL, 0, &need), DD_ENOSPC);
  ck_assert_uint_gt(need, 0);
  uint8_t buf[256];
  ck_assert_int_eq(dd_wire_encode(&fx->env, buf, need - 1, &len), DD_ENOSPC);
  ck_assert_uint_eq(len, need);
  ck_assert_int_eq(dd_wire_encode(&fx->env, buf, need, &len), 0);
  ck_assert_uint_eq(len, need);
  /* Envelope{1: 1, 2: "first_device", 3: 42, 4: 1234567, 80: {1: 77, 2: 1000001}} by hand,
   * from the protobuf encoding rules (varints, tag = field << 3 | wire type) */
  static const uint8_t want[] = {0x08, 0x01, 0x12, 0x0C, 'f', 'i', 'r', 's', 't', '_', 'd',
                                 'e', 'v', 'i', 'c', 'e', 0x18, 0x2A, 0x20, 0x87, 0xAD, 0x4B,
                                 0x82, 0x05, 0x06, 0x08, 0x4D, 0x10, 0xC1, 0x84, 0x3D};
  ck_assert_uint_eq(len, sizeof want);
  ck_assert_mem_eq(buf, want, sizeof want);
  free(fx);
}
END_TEST

START_TEST(test_stats_counters) {
  dd_wire_stats_t st;
  dd_wire_stats_init(&st);
  ck_assert_int_eq(st.last_reason, -1);
  s_fx_t *fx = calloc(1, sizeof *fx);
  s_build(fx, DUODIAG__ENVELOPE__BODY_PROBE);
  size_t len;
  uint8_t *ok = s_encode(&fx->env, &len);
  Duodiag__Envelope *out = NULL;
  uint8_t junk[] = {0xFF, 0xFF};
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(dd_wire_decode(ok, len, &out, &st), 0);
    dd_wire_free(&out);
  }
  ck_assert_int_eq(dd_wire_decode(junk, sizeof junk, &out, &st), DD_EWIRE_MALFORMED);
  ck_assert_int_eq(dd_wire_decode(ok, 0, &out, &st), DD_EWIRE_VERSION);
  ck_assert_int_eq(dd_wire_decode(ok, 0, &out, &st), DD_EWIRE_VERSION);
  ck_assert_int_eq(dd_wire_decode(ok, len, &out, NULL), 0); /* no stats: not counted */
  dd_wire_free(&out);
  ck_assert_uint_eq(st.accepted, 3);
  ck_assert_uint_eq(st.accepted_bytes, 3 * len);
  ck_assert_uint_eq(st.rejected[DD_WIRE_R_UNPACK], 1);
  ck_assert_uint_eq(st.rejected[DD_WIRE_R_VERSION], 2);
  ck_assert_uint_eq(dd_wire_stats_rejected(&st), 3);
  ck_assert_int_eq(st.last_reason, DD_WIRE_R_VERSION);
  ck_assert_str_eq(dd_wire_reason_name(DD_WIRE_R_TOO_BIG), "too_big");
  ck_assert_str_eq(dd_wire_reason_name(DD_WIRE_R_FRAMING), "framing");
  ck_assert_str_eq(dd_wire_reason_name(DD_WIRE_R__COUNT), "?");
  ck_assert_str_eq(dd_wire_reason_name(-1), "?");
  for (int r = 0; r < DD_WIRE_R__COUNT; r++) ck_assert_ptr_nonnull(dd_wire_reason_name(r));
  free(ok);
  free(fx);
}
END_TEST

START_TEST(test_vin_vectors) {
  ck_assert(dd_wire_vin_valid(S_VIN));
  ck_assert(dd_wire_vin_valid("WVWZZZ1JZXW000001"));
  ck_assert(!dd_wire_vin_valid("1M8GDM9AXKP04278"));   /* 16 */
  ck_assert(!dd_wire_vin_valid("1M8GDM9AXKP0427888")); /* 18 */
  ck_assert(!dd_wire_vin_valid("1M8GDM9AXKP04278O"));
  ck_assert(!dd_wire_vin_valid("1M8GDM9AXKP04278Q"));
  ck_assert(!dd_wire_vin_valid("1M8GDM9AXKP04278 "));
  ck_assert(!dd_wire_vin_valid(""));
  ck_assert(!dd_wire_vin_valid(NULL));
}
END_TEST

/* ---- ZeroMQ ------------------------------------------------------------------------------- */

static void *s_socket(void *ctx, int type) {
  void *s = zmq_socket(ctx, type);
  ck_assert_ptr_nonnull(s);
  int linger = 0, timeout = 5000;
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
  zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
  zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
  return s;
}

START_TEST(test_zmq_pair_every_body) {
  void *ctx = zmq_ctx_new();
  void *a = s_socket(ctx, ZMQ_PAIR), *b = s_socket(ctx, ZMQ_PAIR);
  ck_assert_int_eq(dd_wire_limit_socket(b), 0);
  int64_t max = 0;
  size_t sz = sizeof max;
  ck_assert_int_eq(zmq_getsockopt(b, ZMQ_MAXMSGSIZE, &max, &sz), 0);
  ck_assert_int_eq(max, DD_WIRE_MAX);
  ck_assert_int_eq(zmq_bind(a, "inproc://check-wire-pair"), 0);
  ck_assert_int_eq(zmq_connect(b, "inproc://check-wire-pair"), 0);

  dd_wire_stats_t st;
  dd_wire_stats_init(&st);
  Duodiag__Envelope *out = NULL;
  ck_assert_int_eq(dd_wire_recv(b, &out, &st, ZMQ_DONTWAIT), DD_EAGAIN);

  Duodiag__Envelope__BodyCase cases[64];
  size_t n = s_body_cases(cases, 64);
  s_fx_t *fx = calloc(1, sizeof *fx);
  for (size_t i = 0; i < n; i++) {
    s_build(fx, cases[i]);
    fx->env.seq = i + 1;
    ck_assert_int_eq(dd_wire_send(a, &fx->env, 0), 0);
  }
  for (size_t i = 0; i < n; i++) {
    s_build(fx, cases[i]);
    fx->env.seq = i + 1;
    ck_assert_int_eq(dd_wire_recv(b, &out, &st, 0), 0);
    ck_assert_msg(s_msg_equal(&fx->env.base, &out->base), "%s differs", dd_wire_body_name(out));
    dd_wire_free(&out);
  }
  ck_assert_uint_eq(st.accepted, n);

  /* an invalid envelope is not sent */
  s_build(fx, DUODIAG__ENVELOPE__BODY_PROBE);
  fx->env.version = 9;
  ck_assert_int_eq(dd_wire_send(a, &fx->env, 0), DD_EWIRE_VERSION);
  fx->env.version = DD_WIRE_VERSION;

  /* a two-frame message is drained and refused; the next one still arrives intact */
  ck_assert_int_eq(zmq_send(a, "x", 1, ZMQ_SNDMORE), 1);
  ck_assert_int_eq(zmq_send(a, "y", 1, 0), 1);
  ck_assert_int_eq(zmq_send(a, "\xFF\xFF", 2, 0), 2);
  ck_assert_int_eq(dd_wire_send(a, &fx->env, 0), 0);
  ck_assert_int_eq(dd_wire_recv(b, &out, &st, 0), DD_EWIRE_MALFORMED);
  ck_assert_int_eq(st.last_reason, DD_WIRE_R_FRAMING);
  ck_assert_int_eq(dd_wire_recv(b, &out, &st, 0), DD_EWIRE_MALFORMED);
  ck_assert_int_eq(st.last_reason, DD_WIRE_R_UNPACK);
  ck_assert_int_eq(dd_wire_recv(b, &out, &st, 0), 0);
  ck_assert_str_eq(dd_wire_body_name(out), "probe");
  dd_wire_free(&out);
  ck_assert_int_eq(dd_wire_recv(b, &out, &st, ZMQ_DONTWAIT), DD_EAGAIN);
  ck_assert_uint_eq(st.rejected[DD_WIRE_R_FRAMING], 1);
  ck_assert_uint_eq(st.rejected[DD_WIRE_R_UNPACK], 1);

  free(fx);
  zmq_close(a);
  zmq_close(b);
  zmq_ctx_term(ctx);
}
END_TEST

START_TEST(test_zmq_router_identity) {
  void *ctx = zmq_ctx_new();
  void *router = s_socket(ctx, ZMQ_ROUTER), *dealer = s_socket(ctx, ZMQ_DEALER);
  ck_assert_int_eq(zmq_setsockopt(dealer, ZMQ_ROUTING_ID, "dealer-1", 8), 0);
  ck_assert_int_eq(zmq_bind(router, "inproc://check-wire-router"), 0);
  ck_assert_int_eq(zmq_connect(dealer, "inproc://check-wire-router"), 0);

  s_fx_t *fx = calloc(1, sizeof *fx);
  s_build(fx, DUODIAG__ENVELOPE__BODY_SERVICE_HELLO);
  ck_assert_int_eq(dd_wire_send(dealer, &fx->env, 0), 0);
  dd_wire_stats_t st;
  dd_wire_stats_init(&st);
  uint8_t id[DD_WIRE_IDENTITY_MAX];
  size_t idlen = 0;
  Duodiag__Envelope *out = NULL;
  ck_assert_int_eq(dd_wire_recv_from(router, id, sizeof id, &idlen, &out, &st, 0), 0);
  ck_assert_uint_eq(idlen, 8);
  ck_assert_mem_eq(id, "dealer-1", 8);
  ck_assert_str_eq(out->service_hello->device_id, "vci-1");
  dd_wire_free(&out);

  s_build(fx, DUODIAG__ENVELOPE__BODY_SERVICE_WELCOME);
  ck_assert_int_eq(dd_wire_send_to(router, id, 0, &fx->env, 0), DD_EINVAL);
  ck_assert_int_eq(dd_wire_send_to(router, id, DD_WIRE_IDENTITY_MAX + 1, &fx->env, 0), DD_EINVAL);
  ck_assert_int_eq(dd_wire_send_to(router, id, idlen, &fx->env, 0), 0);
  ck_assert_int_eq(dd_wire_recv(dealer, &out, &st, 0), 0);
  ck_assert_uint_eq(out->service_welcome->next_record_seq, 17);
  dd_wire_free(&out);

  /* a three-frame message at the router: refused, but the routing id is known for a reply */
  ck_assert_int_eq(zmq_send(dealer, "a", 1, ZMQ_SNDMORE), 1);
  ck_assert_int_eq(zmq_send(dealer, "b", 1, 0), 1);
  s_build(fx, DUODIAG__ENVELOPE__BODY_PROBE);
  ck_assert_int_eq(dd_wire_send(dealer, &fx->env, 0), 0);
  ck_assert_int_eq(dd_wire_recv_from(router, id, sizeof id, &idlen, &out, &st, 0),
                   DD_EWIRE_MALFORMED);
  ck_assert_int_eq(st.last_reason, DD_WIRE_R_FRAMING);
  ck_assert_uint_eq(idlen, 8);
  ck_assert_ptr_null(out);
  /* a routing id larger than the caller's buffer is refused too */
  ck_assert_int_eq(dd_wire_recv_from(router, id, 4, &idlen, &out, &st, 0), DD_EWIRE_MALFORMED);
  ck_assert_uint_eq(idlen, 0);
  ck_assert_int_eq(dd_wire_recv_from(router, id, sizeof id, &idlen, &out, &st, ZMQ_DONTWAIT),
                   DD_EAGAIN);
  ck_assert_uint_eq(st.rejected[DD_WIRE_R_FRAMING], 2);

  free(fx);
  zmq_close(router);
  zmq_close(dealer);
  zmq_ctx_term(ctx);
}
END_TEST

/* ---- timeline JSON ------------------------------------------------------------------------- */

START_TEST(test_event_json_exact) {
  s_fx_t *fx = calloc(1, sizeof *fx);
  s_build(fx, DUODIAG__ENVELOPE__BODY_EVENT);
  fx->fld[3].bool_value = 0;
  fx->ev.n_fields = 6;
  fx->fld[4].key = "note";
  fx->fld[4].value_case = DUODIAG__FIELD__VALUE_STRING_VALUE;
  fx->fld[4].string_value = "said \"hi\"\n\xC3\xA9";
  fx->fld[5].key = "delta";
  fx->fld[5].value_case = DUODIAG__FIELD__VALUE_INT_VALUE;
  fx->fld[5].int_value = -3;
  char *json = NULL;
  ck_assert_int_eq(dd_wire_event_to_json(&fx->ev, &json), 0);
  /* written by hand from RFC 8259 (strings escaped, numbers in shortest form) */
  ck_assert_str_eq(json, "{\"t_us\":1500000,\"wall_us\":1700000000123456,\"proc\":\"first_device\","
                         "\"kind\":\"transport.switch\",\"path\":\"relay\",\"rtt_ms\":182.5,"
                         "\"threshold_ms\":150,\"forced\":false,"
                         "\"note\":\"said \\\"hi\\\"\\n\xC3\xA9\",\"delta\":-3}");
  free(json);

  /* doubles come back exactly: 1/3 needs 16 digits, and 0.1 still prints as 0.1 */
  fx->ev.n_fields = 2;
  fx->fld[0].key = "third";
  fx->fld[0].value_case = DUODIAG__FIELD__VALUE_DOUBLE_VALUE;
  fx->fld[0].double_value = 1.0 / 3.0;
  fx->fld[1].double_value = 0.1;
  fx->ev.wall_us = -5;
  ck_assert_int_eq(dd_wire_event_to_json(&fx->ev, &json), 0);
  ck_assert_str_eq(json, "{\"t_us\":1500000,\"wall_us\":-5,\"proc\":\"first_device\","
                         "\"kind\":\"transport.switch\",\"third\":0.3333333333333333,"
                         "\"rtt_ms\":0.1}");
  json_t *back = json_loads(json, 0, NULL);
  ck_assert_ptr_nonnull(back);
  ck_assert(json_real_value(json_object_get(back, "third")) == 1.0 / 3.0);
  json_decref(back);
  free(json);

  /* a whole-number double keeps its decimal point */
  fx->ev.n_fields = 1;
  fx->fld[0].double_value = 2.0;
  ck_assert_int_eq(dd_wire_event_to_json(&fx->ev, &json), 0);
  ck_assert_str_eq(json, "{\"t_us\":1500000,\"wall_us\":-5,\"proc\":\"first_device\","
                         "\"kind\":\"transport.switch\",\"third\":2.0}");
  free(json);

  /* events that would make a wrong line are refused */
  fx->fld[0].key = "t_us";
  json = (char *)fx;
  ck_assert_int_eq(dd_wire_event_to_json(&fx->ev, &json), DD_EINVAL);
  ck_assert_ptr_null(json);
  fx->fld[0].key = "x";
  fx->fld[0].double_value = INFINITY;
  ck_assert_int_eq(dd_wire_event_to_json(&fx->ev, &json), DD_EINVAL);
  fx->fld[0].double_value = 1;
  fx->ev.process = "bad\xFF";
  ck_assert_int_eq(dd_wire_event_to_json(&fx->ev, &json), DD_EINVAL);
  free(fx);
}
END_TEST

/* The seed corpus of fuzz_wire: every file but the truncated one decodes. */
START_TEST(test_fuzz_corpus_decodes) {
  const char *src = getenv("DD_SOURCE_DIR");
  if (!src) src = ".";
  static const char *const files[] = {"vin_query.bin", "vehicle_record.bin", "program_chunk.bin",
                                      "vehicle_ack.bin", "event.bin", "control_signal.bin",
                                      "truncated_order.bin"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/fuzz_wire/%s", src, files[i]);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (set DD_SOURCE_DIR)", path);
    static uint8_t buf[65536];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    Duodiag__Envelope *out = NULL;
    int rc = dd_wire_decode(buf, len, &out, NULL);
    if (strncmp(files[i], "truncated", 9) == 0) {
      ck_assert_int_eq(rc, DD_EWIRE_MALFORMED);
    } else {
      ck_assert_msg(rc == 0, "%s: %s", files[i], dd_err_name(rc));
      char stem[64];
      snprintf(stem, sizeof stem, "%s", files[i]);
      *strchr(stem, '.') = '\0';
      ck_assert_str_eq(dd_wire_body_name(out), stem);
      dd_wire_free(&out);
    }
  }
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("wire");
  TCase *tc = tcase_create("codec");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_round_trip_every_body);
  tcase_add_test(tc, test_datagram_checksum);
  tcase_add_test(tc, test_round_trip_spot_checks);
  tcase_add_test(tc, test_chunk_size_limits);
  tcase_add_test(tc, test_truncated_prefixes_rejected);
  tcase_add_test(tc, test_bit_flips_never_crash);
  tcase_add_test(tc, test_oversized_rejected);
  tcase_add_test(tc, test_decode_memory_budget);
  tcase_add_test(tc, test_version_rejected);
  tcase_add_test(tc, test_body_missing_or_unknown);
  tcase_add_test(tc, test_malformed_bytes);
  tcase_add_loop_test(tc, test_field_rules, 0, (int)(sizeof s_cases / sizeof s_cases[0]));
  tcase_add_test(tc, test_nul_inside_string_rejected);
  tcase_add_test(tc, test_encode_buffer_sizes);
  tcase_add_test(tc, test_stats_counters);
  tcase_add_test(tc, test_vin_vectors);
  tcase_add_test(tc, test_event_json_exact);
  tcase_add_test(tc, test_fuzz_corpus_decodes);
  suite_add_tcase(s, tc);
  TCase *tz = tcase_create("zeromq");
  tcase_set_timeout(tz, 60);
  tcase_add_test(tz, test_zmq_pair_every_body);
  tcase_add_test(tz, test_zmq_router_identity);
  suite_add_tcase(s, tz);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(s_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
