/* dd_rng: the seeded random source (xoshiro256**); modules take one instead of calling rand(). */
#ifndef DD_RNG_H
#define DD_RNG_H

#include <stdint.h>

typedef struct {
  uint64_t s[4]; /* generator state; never all zero */
} dd_rng_t;

/* Seed from one 64-bit value (expanded with splitmix64); same seed, same sequence. */
void dd_rng_seed(dd_rng_t *self, uint64_t seed);
/* Derive an independent stream for a sub-component (e.g. one per link direction). */
void dd_rng_fork(dd_rng_t *self, uint64_t stream, dd_rng_t *out);
uint64_t dd_rng_u64(dd_rng_t *self);
/* Uniform in [0, 1). */
double dd_rng_unit(dd_rng_t *self);
/* Uniform integer in [0, bound) without modulo bias; bound > 0. */
uint64_t dd_rng_below(dd_rng_t *self, uint64_t bound);
/* Standard normal N(0, 1) (Box-Muller, no cached spare so the stream stays stateless). */
double dd_rng_normal(dd_rng_t *self);

#endif
