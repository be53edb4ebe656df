/* dd_bench: `duodiag bench NAME`: every benchmark prints one line per figure,
 *   figure: NAME value=V unit=U [limit=L ratio=R] [target_ratio_min|target_ratio_max=T met=yes|no]
 *   figure: NAME value=V unit=U target_min|target_max=T met=yes|no
 * so runs can be compared; limits are measured or computed in the same run, and a figure with a
 * target says whether this run met it. */
#ifndef DD_BENCH_H
#define DD_BENCH_H

#include <stdbool.h>

void dd_bench_figure(const char *name, double value, const char *unit);
void dd_bench_figure_limit(const char *name, double value, const char *unit, double limit);
/* A figure against a limit with a target on its ratio: higher_better says the ratio must be at
 * least target (target_ratio_min=T), else at most target (target_ratio_max=T); met=yes|no. */
void dd_bench_figure_target(const char *name, double value, const char *unit, double limit,
                            double target, bool higher_better);
/* A figure with a target on its value itself: target_min=T or target_max=T; met=yes|no. */
void dd_bench_figure_value_target(const char *name, double value, const char *unit, double target,
                                  bool higher_better);

int dd_bench_isotp(int argc, char **argv);
int dd_bench_netem(int argc, char **argv);
int dd_bench_e2e(int argc, char **argv);

#endif
