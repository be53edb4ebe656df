/* dd_bench: benchmark dispatch and the figure line format. */
#include "dd_bench.h"

#include <stdio.h>
#include <string.h>

#include "dd_cli.h"
#include "dd_proc.h"

void dd_bench_figure(const char *name, double value, const char *unit) {
  printf("figure: %s value=%.6g unit=%s\n", name, value, unit);
  fflush(stdout);
}

void dd_bench_figure_limit(const char *name, double value, const char *unit, double limit) {
  printf("figure: %s value=%.6g unit=%s limit=%.6g ratio=%.4f\n", name, value, unit, limit,
         limit != 0 ? value / limit : 0.0);
  fflush(stdout);
}

void dd_bench_figure_target(const char *name, double value, const char *unit, double limit,
                            double target, bool higher_better) {
  double ratio = limit != 0 ? value / limit : 0.0;
  bool met = higher_better ? ratio >= target : ratio <= target;
  printf("figure: %s value=%.6g unit=%s limit=%.6g ratio=%.4f target_ratio_%s=%.6g met=%s\n", name,
         value, unit, limit, ratio, higher_better ? "min" : "max", target, met ? "yes" : "no");
  fflush(stdout);
}

void dd_bench_figure_value_target(const char *name, double value, const char *unit, double target,
                                  bool higher_better) {
  bool met = higher_better ? value >= target : value <= target;
  printf("figure: %s value=%.6g unit=%s target_%s=%.6g met=%s\n", name, value, unit,
         higher_better ? "min" : "max", target, met ? "yes" : "no");
  fflush(stdout);
}

typedef struct {
  const char *name;                  /* benchmark name */
  const char *summary;               /* one line */
  int (*run)(int argc, char **argv); /* argv[0] is the name */
} s_bench_t;

static const s_bench_t s_benches[] = {
    {"isotp", "ISO-TP throughput on the virtual bus against the bus's limit; frame timing error",
     dd_bench_isotp},
    {"netem", "netem links (zmq, udp): delay accuracy, throughput against a direct connection, "
              "CPU, loss models",
     dd_bench_netem},
    {"e2e", "the whole system: remote reflash against the bus's ISO-TP limit, latency step to "
            "transport switch, one relay and one service device carrying 100 vehicles",
     dd_bench_e2e},
};
#define S_N (sizeof s_benches / sizeof s_benches[0])

int dd_cli_bench(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    FILE *to = argc < 2 ? stderr : stdout;
    fprintf(to, "usage: duodiag bench NAME [options]\n\nBenchmarks:\n");
    for (size_t i = 0; i < S_N; i++) fprintf(to, "  %-8s %s\n", s_benches[i].name, s_benches[i].summary);
    fprintf(to, "\nEach figure is printed as: figure: NAME value=V unit=U [limit=L ratio=R]\n"
                "followed, when the figure has a target, by target_ratio_min=T or\n"
                "target_ratio_max=T (on the ratio) or target_min=T / target_max=T (on the value),\n"
                "and met=yes|no.\n");
    return argc < 2 ? DD_EXIT_USAGE : DD_EXIT_OK;
  }
  for (size_t i = 0; i < S_N; i++)
    if (!strcmp(argv[1], s_benches[i].name)) return s_benches[i].run(argc - 1, argv + 1);
  fprintf(stderr, "duodiag bench: unknown benchmark '%s' (duodiag bench --help lists them)\n",
          argv[1]);
  return DD_EXIT_USAGE;
}
