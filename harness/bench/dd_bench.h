/* dd_bench: `duodiag bench NAME`: every benchmark prints one line per figure,
 *   figure: NAME value=V unit=U [limit=L ratio=R]
 * so runs can be compared; limits are measured or computed in the same run. */
#ifndef DD_BENCH_H
#define DD_BENCH_H

void dd_bench_figure(const char *name, double value, const char *unit);
void dd_bench_figure_limit(const char *name, double value, const char *unit, double limit);

int dd_bench_isotp(int argc, char **argv);
int dd_bench_netem(int argc, char **argv);

#endif
