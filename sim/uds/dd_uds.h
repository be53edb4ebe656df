/* dd_uds: constants shared by the UDS (ISO 14229-1:2013/2020) server and client: service ids,
 * negative response codes with their names, session ids and the default timing. */
#ifndef DD_UDS_H
#define DD_UDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Service identifiers (ISO 14229-1:2013 clauses 9-14, numbers in brackets). */
enum {
  DD_UDS_SID_DSC = 0x10,         /* DiagnosticSessionControl (9.2) */
  DD_UDS_SID_ER = 0x11,          /* ECUReset (9.3) */
  DD_UDS_SID_CDTCI = 0x14,       /* ClearDiagnosticInformation (11.2) */
  DD_UDS_SID_RDTCI = 0x19,       /* ReadDTCInformation (11.3) */
  DD_UDS_SID_RDBI = 0x22,        /* ReadDataByIdentifier (10.2) */
  DD_UDS_SID_RMBA = 0x23,        /* ReadMemoryByAddress (10.3) */
  DD_UDS_SID_SA = 0x27,          /* SecurityAccess (9.4) */
  DD_UDS_SID_CC = 0x28,          /* CommunicationControl (9.5) */
  DD_UDS_SID_WDBI = 0x2E,        /* WriteDataByIdentifier (10.7) */
  DD_UDS_SID_IOCBI = 0x2F,       /* InputOutputControlByIdentifier (12.2) */
  DD_UDS_SID_RC = 0x31,          /* RoutineControl (13.2) */
  DD_UDS_SID_RD = 0x34,          /* RequestDownload (14.2) */
  DD_UDS_SID_TD = 0x36,          /* TransferData (14.4) */
  DD_UDS_SID_RTE = 0x37,         /* RequestTransferExit (14.5) */
  DD_UDS_SID_TP = 0x3E,          /* TesterPresent (9.6) */
  DD_UDS_SID_CDTCS = 0x85,       /* ControlDTCSetting (9.9) */
  DD_UDS_SID_NEGATIVE = 0x7F,    /* negative response SID (ISO 14229-1:2013 clause 7, annex A) */
  DD_UDS_POSITIVE_OFFSET = 0x40, /* positive response SID = request SID + 0x40 (clause 7) */
};

/* suppressPosRspMsgIndicationBit: bit 7 of a sub-function byte (ISO 14229-1:2013 7.5). */
#define DD_UDS_SPRMIB 0x80u

/* Negative response codes (ISO 14229-1:2013 annex A, table A.1; 0x34 and 0x94 are
 * ISO 14229-1:2020 additions).
 * X(NAME, value, name as the standard spells it). */
#define DD_UDS_NRCS(X)                                                                             \
  X(GENERAL_REJECT, 0x10, "generalReject")                                                         \
  X(SERVICE_NOT_SUPPORTED, 0x11, "serviceNotSupported")                                            \
  X(SUBFUNCTION_NOT_SUPPORTED, 0x12, "subFunctionNotSupported")                                    \
  X(INCORRECT_LENGTH, 0x13, "incorrectMessageLengthOrInvalidFormat")                               \
  X(RESPONSE_TOO_LONG, 0x14, "responseTooLong")                                                    \
  X(BUSY_REPEAT_REQUEST, 0x21, "busyRepeatRequest")                                                \
  X(CONDITIONS_NOT_CORRECT, 0x22, "conditionsNotCorrect")                                          \
  X(REQUEST_SEQUENCE_ERROR, 0x24, "requestSequenceError")                                          \
  X(NO_RESPONSE_FROM_SUBNET, 0x25, "noResponseFromSubnetComponent")                                \
  X(FAILURE_PREVENTS_EXECUTION, 0x26, "failurePreventsExecutionOfRequestedAction")                 \
  X(REQUEST_OUT_OF_RANGE, 0x31, "requestOutOfRange")                                               \
  X(SECURITY_ACCESS_DENIED, 0x33, "securityAccessDenied")                                          \
  X(AUTHENTICATION_REQUIRED, 0x34, "authenticationRequired")                                       \
  X(INVALID_KEY, 0x35, "invalidKey")                                                               \
  X(EXCEEDED_NUMBER_OF_ATTEMPTS, 0x36, "exceededNumberOfAttempts")                                 \
  X(REQUIRED_TIME_DELAY_NOT_EXPIRED, 0x37, "requiredTimeDelayNotExpired")                          \
  X(UPLOAD_DOWNLOAD_NOT_ACCEPTED, 0x70, "uploadDownloadNotAccepted")                               \
  X(TRANSFER_DATA_SUSPENDED, 0x71, "transferDataSuspended")                                        \
  X(GENERAL_PROGRAMMING_FAILURE, 0x72, "generalProgrammingFailure")                                \
  X(WRONG_BLOCK_SEQUENCE_COUNTER, 0x73, "wrongBlockSequenceCounter")                               \
  X(RESPONSE_PENDING, 0x78, "requestCorrectlyReceived-ResponsePending")                            \
  X(SUBFUNCTION_NOT_SUPPORTED_IN_SESSION, 0x7E, "subFunctionNotSupportedInActiveSession")          \
  X(SERVICE_NOT_SUPPORTED_IN_SESSION, 0x7F, "serviceNotSupportedInActiveSession")                  \
  X(RPM_TOO_HIGH, 0x81, "rpmTooHigh")                                                              \
  X(RPM_TOO_LOW, 0x82, "rpmTooLow")                                                                \
  X(ENGINE_IS_RUNNING, 0x83, "engineIsRunning")                                                    \
  X(ENGINE_IS_NOT_RUNNING, 0x84, "engineIsNotRunning")                                             \
  X(ENGINE_RUN_TIME_TOO_LOW, 0x85, "engineRunTimeTooLow")                                          \
  X(TEMPERATURE_TOO_HIGH, 0x86, "temperatureTooHigh")                                              \
  X(TEMPERATURE_TOO_LOW, 0x87, "temperatureTooLow")                                                \
  X(VEHICLE_SPEED_TOO_HIGH, 0x88, "vehicleSpeedTooHigh")                                           \
  X(VEHICLE_SPEED_TOO_LOW, 0x89, "vehicleSpeedTooLow")                                             \
  X(THROTTLE_TOO_HIGH, 0x8A, "throttle/PedalTooHigh")                                              \
  X(THROTTLE_TOO_LOW, 0x8B, "throttle/PedalTooLow")                                                \
  X(TRANSMISSION_NOT_IN_NEUTRAL, 0x8C, "transmissionRangeNotInNeutral")                            \
  X(TRANSMISSION_NOT_IN_GEAR, 0x8D, "transmissionRangeNotInGear")                                  \
  X(BRAKE_SWITCHES_NOT_CLOSED, 0x8F, "brakeSwitch(es)NotClosed")                                   \
  X(SHIFTER_NOT_IN_PARK, 0x90, "shifterLeverNotInPark")                                            \
  X(TORQUE_CONVERTER_CLUTCH_LOCKED, 0x91, "torqueConverterClutchLocked")                           \
  X(VOLTAGE_TOO_HIGH, 0x92, "voltageTooHigh")                                                      \
  X(VOLTAGE_TOO_LOW, 0x93, "voltageTooLow")                                                        \
  X(RESOURCE_TEMPORARILY_NOT_AVAILABLE, 0x94, "resourceTemporarilyNotAvailable")

enum {
#define DD_UDS_NRC_ENUM(name, value, text) DD_UDS_NRC_##name = (value),
  DD_UDS_NRCS(DD_UDS_NRC_ENUM)
#undef DD_UDS_NRC_ENUM
};

/* The standard's name of an NRC ("invalidKey"); "vehicleManufacturerSpecificConditionsNotCorrect"
 * for 0xF0-0xFE, "ISOSAEReserved" for anything else. Never NULL. */
static inline const char *dd_uds_nrc_name(uint8_t nrc) {
  switch (nrc) {
#define DD_UDS_NRC_CASE(name, value, text)                                                         \
  case (value): return (text);
    DD_UDS_NRCS(DD_UDS_NRC_CASE)
#undef DD_UDS_NRC_CASE
  default: break;
  }
  if (nrc >= 0xF0 && nrc <= 0xFE) return "vehicleManufacturerSpecificConditionsNotCorrect";
  return "ISOSAEReserved";
}

/* Diagnostic session types (ISO 14229-1:2013 9.2). */
enum {
  DD_UDS_SESSION_DEFAULT = 0x01,     /* defaultSession */
  DD_UDS_SESSION_PROGRAMMING = 0x02, /* programmingSession */
  DD_UDS_SESSION_EXTENDED = 0x03,    /* extendedDiagnosticSession */
  DD_UDS_SESSION_SAFETY = 0x04,      /* safetySystemDiagnosticSession */
};

/* Session sets as bit masks: bit n stands for session n (sessions 0x01-0x1F). */
#define DD_UDS_SESS(s) (1u << ((s)&0x1Fu))
#define DD_UDS_SESS_DEFAULT DD_UDS_SESS(DD_UDS_SESSION_DEFAULT)
#define DD_UDS_SESS_PROGRAMMING DD_UDS_SESS(DD_UDS_SESSION_PROGRAMMING)
#define DD_UDS_SESS_EXTENDED DD_UDS_SESS(DD_UDS_SESSION_EXTENDED)
#define DD_UDS_SESS_NON_DEFAULT (DD_UDS_SESS_PROGRAMMING | DD_UDS_SESS_EXTENDED)
#define DD_UDS_SESS_ALL (DD_UDS_SESS_DEFAULT | DD_UDS_SESS_NON_DEFAULT)

/* Security level sets as bit masks: bit (level - 1) / 2 stands for the level unlocked with
 * requestSeed sub-function `level` (odd, 0x01-0x7D; ISO 14229-1:2013 9.4). */
#define DD_UDS_SEC(level) (1ull << ((((unsigned)(level)) - 1u) / 2u & 63u))
#define DD_UDS_SEC_ANY (~0ull) /* any unlocked level will do */

/* ECUReset types (ISO 14229-1:2013 9.3). */
enum {
  DD_UDS_RESET_HARD = 0x01,       /* hardReset */
  DD_UDS_RESET_KEY_OFF_ON = 0x02, /* keyOffOnReset */
  DD_UDS_RESET_SOFT = 0x03,       /* softReset */
};

/* RoutineControl types (ISO 14229-1:2013 13.2). */
enum {
  DD_UDS_ROUTINE_START = 0x01,   /* startRoutine */
  DD_UDS_ROUTINE_STOP = 0x02,    /* stopRoutine */
  DD_UDS_ROUTINE_RESULTS = 0x03, /* requestRoutineResults */
};

/* Routine identifiers of the reflash sequence (ISO 14229-1:2013 annex F). */
enum {
  DD_UDS_RID_ERASE_MEMORY = 0xFF00,    /* eraseMemory */
  DD_UDS_RID_CHECK_PROG_DEPS = 0xFF01, /* checkProgrammingDependencies */
};

/* inputOutputControlParameter values (ISO 14229-1:2013 12.2 and annex E). */
enum {
  DD_UDS_IO_RETURN_CONTROL = 0x00, /* returnControlToECU */
  DD_UDS_IO_RESET_DEFAULT = 0x01,  /* resetToDefault */
  DD_UDS_IO_FREEZE = 0x02,         /* freezeCurrentState */
  DD_UDS_IO_SHORT_TERM = 0x03,     /* shortTermAdjustment */
};

/* ReadDTCInformation report types used here (ISO 14229-1:2013 11.3). */
enum {
  DD_UDS_RDTCI_COUNT_BY_MASK = 0x01,   /* reportNumberOfDTCByStatusMask */
  DD_UDS_RDTCI_BY_MASK = 0x02,         /* reportDTCByStatusMask */
  DD_UDS_RDTCI_SNAPSHOT_BY_DTC = 0x04, /* reportDTCSnapshotRecordByDTCNumber */
  DD_UDS_RDTCI_EXT_DATA_BY_DTC = 0x06, /* reportDTCExtDataRecordByDTCNumber */
  DD_UDS_RDTCI_SUPPORTED = 0x0A,       /* reportSupportedDTC */
};

/* DTCFormatIdentifier ISO_14229-1_DTCFormat (ISO 14229-1:2013 11.3, DTCFormatIdentifier). */
#define DD_UDS_DTC_FORMAT_14229 0x01u
/* groupOfDTC "all groups" (ISO 14229-1:2013 11.2 and annex D). */
#define DD_UDS_DTC_GROUP_ALL 0xFFFFFFu

/* Identification DIDs the server can answer by itself (ISO 14229-1:2013 annex C). */
enum {
  DD_UDS_DID_ACTIVE_SESSION = 0xF186,      /* ActiveDiagnosticSessionDataIdentifier */
  DD_UDS_DID_VM_SW_VERSION = 0xF189,       /* vehicleManufacturerECUSoftwareVersionNumber */
  DD_UDS_DID_VIN = 0xF190,                 /* VINDataIdentifier */
  DD_UDS_DID_SUPPLIER_SW_VERSION = 0xF195, /* systemSupplierECUSoftwareVersionNumber */
};

/* Default application-layer timing (ISO 14229-2:2013 application layer timing parameters;
 * ISO 14229-1:2013 9.2 gives their encoding in the 0x50 response). In microseconds. */
#define DD_UDS_P2_SERVER_US 50000ull    /* P2server_max 50 ms */
#define DD_UDS_P2X_SERVER_US 5000000ull /* P2*server_max 5000 ms */
#define DD_UDS_S3_SERVER_US 5000000ull  /* S3server 5000 ms */
#define DD_UDS_S3_CLIENT_US 2000000ull  /* S3client: TesterPresent period 2000 ms */

/* Largest UDS message over classic ISO-TP without the FF escape (ISO 15765-2:2016 9.6.3.1). */
#define DD_UDS_MAX_MSG 4095u

#endif
