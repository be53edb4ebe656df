/* dd_err: the one error table of duodiag; every fallible function returns 0 or a code from it. */
#ifndef DD_ERR_H
#define DD_ERR_H

#include <errno.h>
#include <stdbool.h>

/* X(NAME, value, message). Values are negative. Where an errno value fits it is reused as
 * -errno, so a failing system call's -errno passes through unchanged; duodiag's own codes start
 * at -1000 and are grouped by layer (keep the groups; append inside a group). */
#define DD_ERRORS(X)                                                                          \
  /* system-level, reused from errno */                                                       \
  X(DD_ENOMEM, -ENOMEM, "out of memory")                                                      \
  X(DD_EINVAL, -EINVAL, "invalid argument")                                                   \
  X(DD_EAGAIN, -EAGAIN, "resource temporarily unavailable")                                   \
  X(DD_ETIMEDOUT, -ETIMEDOUT, "timed out")                                                    \
  X(DD_EMSGSIZE, -EMSGSIZE, "message too long")                                               \
  X(DD_EILSEQ, -EILSEQ, "malformed input")                                                    \
  X(DD_ENOENT, -ENOENT, "no such file or entry")                                              \
  X(DD_EEXIST, -EEXIST, "already exists")                                                     \
  X(DD_EBUSY, -EBUSY, "busy")                                                                 \
  X(DD_ENOSPC, -ENOSPC, "no space left (buffer full)")                                        \
  X(DD_EIO, -EIO, "input/output error")                                                       \
  X(DD_EPROTO, -EPROTO, "protocol error")                                                     \
  X(DD_ECANCELED, -ECANCELED, "canceled")                                                     \
  X(DD_ENOTCONN, -ENOTCONN, "not connected")                                                  \
  X(DD_ENOTSUP, -ENOTSUP, "not supported")                                                    \
  X(DD_EPERM, -EPERM, "not permitted")                                                        \
  X(DD_ERANGE, -ERANGE, "value out of range")                                                 \
  X(DD_ENETDOWN, -ENETDOWN, "network is down")                                                \
  X(DD_ENAMETOOLONG, -ENAMETOOLONG, "name or path too long")                                  \
  /* runtime core: -1000.. */                                                                 \
  X(DD_ESTOPPED, -1000, "stopped on request")                                                 \
  X(DD_ECHILD_FAILED, -1001, "child process failed")                                          \
  X(DD_ECONFIG, -1002, "invalid configuration")                                               \
  /* wire protocol: -1100.. */                                                                \
  X(DD_EWIRE_VERSION, -1100, "unknown wire protocol version")                                 \
  X(DD_EWIRE_MALFORMED, -1101, "malformed wire message")                                      \
  X(DD_EWIRE_TOO_BIG, -1102, "wire message larger than the limit")                            \
  X(DD_EWIRE_UNEXPECTED, -1103, "wire message of an unexpected type")                         \
  X(DD_EWIRE_CHECKSUM, -1104, "datagram checksum mismatch (corrupted in transit)")             \
  /* CAN: -1200.. */                                                                          \
  X(DD_ECAN_BUSOFF, -1200, "CAN node is bus-off")                                             \
  X(DD_ECAN_FRAME, -1201, "invalid CAN frame")                                                \
  X(DD_ECAN_NOFD, -1202, "CAN FD frame on a classic CAN port")                                \
  X(DD_ECAN_NOKERNEL, -1203, "this kernel has no SocketCAN (AF_CAN)")                         \
  /* ISO-TP (ISO 15765-2 N_Result values): -1300.. */                                         \
  X(DD_EISOTP_TIMEOUT_A, -1300, "ISO-TP N_As/N_Ar timeout (frame not transmitted in time)")    \
  X(DD_EISOTP_TIMEOUT_BS, -1301, "ISO-TP N_Bs timeout (no flow control from the receiver)")   \
  X(DD_EISOTP_TIMEOUT_CR, -1302, "ISO-TP N_Cr timeout (no consecutive frame from the sender)") \
  X(DD_EISOTP_WRONG_SN, -1303, "ISO-TP wrong consecutive-frame sequence number")              \
  X(DD_EISOTP_INVALID_FS, -1304, "ISO-TP invalid flow status")                                \
  X(DD_EISOTP_UNEXP_PDU, -1305, "ISO-TP unexpected protocol data unit")                       \
  X(DD_EISOTP_WFT_OVRN, -1306, "ISO-TP too many flow-control WAIT frames")                    \
  X(DD_EISOTP_BUFFER_OVFLW, -1307, "ISO-TP receiver buffer overflow (flow control OVFLW)")    \
  X(DD_EISOTP_PADDING, -1308, "ISO-TP frame padding wrong")                                   \
  X(DD_EISOTP_LENGTH, -1309, "ISO-TP invalid length in PCI")                                  \
  /* UDS: -1400.. */                                                                          \
  X(DD_EUDS_NRC, -1400, "UDS negative response")                                              \
  X(DD_EUDS_TIMEOUT_P2, -1401, "UDS P2 timeout (no response)")                                \
  X(DD_EUDS_TIMEOUT_P2X, -1402, "UDS P2* timeout (response pending for too long)")            \
  X(DD_EUDS_RESPONSE, -1403, "UDS response does not match the request")                       \
  /* scenario / harness: -1500.. */                                                           \
  X(DD_ESCENARIO, -1500, "invalid scenario")                                                  \
  X(DD_EEXPECT, -1501, "expectation failed")                                                  \
  /* security and packages: -1600.. */                                                        \
  X(DD_ESIGNATURE, -1600, "signature does not verify")                                        \
  X(DD_ETARGET, -1601, "package is for another target")                                      \
  X(DD_ECRC, -1602, "checksum mismatch")                                                      \
  X(DD_EAUTH, -1603, "not authorized")                                                       \
  X(DD_EVERSION, -1604, "software version after reprogramming is not the package's")

enum {
#define DD_ERR_ENUM(name, value, msg) name = (value),
  DD_ERRORS(DD_ERR_ENUM)
#undef DD_ERR_ENUM
};

/* A human-readable message for any code (dd or -errno); never NULL. */
const char *dd_strerror(int code);

/* The symbolic name ("DD_ETIMEDOUT"); "DD_UNKNOWN" for codes outside the table. */
const char *dd_err_name(int code);

/* True when code is in the table. */
bool dd_err_known(int code);

#endif
