/* dd_export: a run's files in other tools' formats: Chrome Trace Event JSON (Perfetto), JUnit
 * XML from the expectations, and CAN traces converted between candump logs and pcap. */
#ifndef DD_EXPORT_H
#define DD_EXPORT_H

#include <stddef.h>

#include "dd_timeline.h"

typedef enum {
  DD_EXPORT_PERFETTO, /* trace.json: Chrome Trace Event format, opens in Perfetto */
  DD_EXPORT_JUNIT,    /* junit.xml: one testcase per expect.result */
  DD_EXPORT_CANDUMP,  /* can.log: candump -l, from can.pcap */
  DD_EXPORT_PCAP,     /* can.pcap: LINKTYPE_CAN_SOCKETCAN, from can.log */
} dd_export_format_t;

#define DD_EXPORT_FORMATS 4 /* number of formats */

/* "perfetto", "junit", "candump", "pcap" -> format; DD_EINVAL for any other name. */
int dd_export_format_parse(const char *name, dd_export_format_t *out);
const char *dd_export_format_name(dd_export_format_t f);
/* The file a format is written to inside a run folder ("trace.json", "junit.xml", ...). */
const char *dd_export_default_file(dd_export_format_t f);

typedef struct {
  const char *run_name; /* the run's name: JUnit suite and default classname (NULL: "run") */
  const char *source;   /* timeline file the model came from, recorded in the output */
  const char *hostname; /* JUnit hostname (NULL: this machine's) */
} dd_export_meta_t;

/* Chrome Trace Event JSON ({"traceEvents":[...]}): per process a pid with process_name,
 * process_sort_index and thread_name metadata (M); each event an instant (i, thread scope)
 * named by its kind, category its family, args all its other fields plus its line; each
 * numeric series a counter (C) named by its kind; complete slices (X) for process lifetime
 * (proc.started -> proc.stopped) and start-up (-> proc.ready); async slices (b/e) for
 * request -> response transactions. ts in microseconds (the timeline's t_us).
 * 0, or -errno / DD_EIO when the file cannot be written. meta may be NULL. */
int dd_export_perfetto(const dd_timeline_t *tl, const dd_export_meta_t *meta, const char *path);

typedef struct {
  size_t tests;    /* testcases written */
  size_t failures; /* verdict FAIL */
  size_t errors;   /* other verdicts, or none */
  size_t skipped;  /* verdict SKIP */
} dd_export_junit_stats_t;

/* JUnit XML (<testsuites><testsuite>...) with one testcase per expect.result event: name from
 * "name", classname from "scenario" (else the run name), failure message from "observed" and
 * "deadline". A run without expectations gives a suite of zero tests with a property saying
 * so. stats may be NULL. 0, or -errno / DD_EIO when the file cannot be written. */
int dd_export_junit(const dd_timeline_t *tl, const dd_export_meta_t *meta, const char *path,
                    dd_export_junit_stats_t *stats);

typedef struct {
  size_t frames;           /* frames written */
  size_t skipped;          /* records that did not parse, skipped */
  unsigned long first_bad; /* candump: line of the first skipped record (0: none) */
  size_t ifnames;          /* candump: distinct interface names read (pcap keeps none) */
} dd_export_can_stats_t;

/* candump log -> pcap (LINKTYPE_CAN_SOCKETCAN); time stamps kept to the microsecond.
 * 0; -errno when a file cannot be opened; DD_EILSEQ for a damaged input file. Malformed lines
 * are skipped and counted. stats may be NULL. */
int dd_export_candump_to_pcap(const char *log_path, const char *pcap_path,
                              dd_export_can_stats_t *stats);
/* pcap -> candump log with interface name ifname (NULL: "vbus0"); as above. */
int dd_export_pcap_to_candump(const char *pcap_path, const char *log_path, const char *ifname,
                              dd_export_can_stats_t *stats);

/* Byte copy of a file (a capture already in the wanted format). */
int dd_export_copy(const char *src, const char *dst);

/* Text for XML character data and attribute values: &<>"' escaped, newlines, tabs and
 * carriage returns in attributes as character references, and characters XML 1.0 does not
 * allow (other C0 controls) replaced by U+FFFD. Returns a malloc'd string, NULL when out of
 * memory. */
char *dd_export_xml_escape(const char *s, int attribute);

#endif
