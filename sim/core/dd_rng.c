/* dd_rng: xoshiro256** (Blackman and Vigna, 2018) seeded through splitmix64. */
#include "dd_rng.h"

#include <assert.h>
#include <math.h>

static uint64_t s_splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t s_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void dd_rng_seed(dd_rng_t *self, uint64_t seed) {
  assert(self);
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) self->s[i] = s_splitmix64(&x);
  if (!(self->s[0] | self->s[1] | self->s[2] | self->s[3])) self->s[0] = 1;
}

void dd_rng_fork(dd_rng_t *self, uint64_t stream, dd_rng_t *out) {
  assert(self && out);
  dd_rng_seed(out, dd_rng_u64(self) ^ s_splitmix64(&stream));
}

uint64_t dd_rng_u64(dd_rng_t *self) {
  uint64_t *s = self->s;
  const uint64_t result = s_rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = s_rotl(s[3], 45);
  return result;
}

double dd_rng_unit(dd_rng_t *self) { return (double)(dd_rng_u64(self) >> 11) * 0x1.0p-53; }

uint64_t dd_rng_below(dd_rng_t *self, uint64_t bound) {
  assert(bound > 0);
  /* Rejection of the short last bucket keeps every value equally likely. */
  uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
  uint64_t v;
  do v = dd_rng_u64(self);
  while (v >= limit);
  return v % bound;
}

double dd_rng_normal(dd_rng_t *self) {
  double u1;
  do u1 = dd_rng_unit(self);
  while (u1 <= 0.0);
  double u2 = dd_rng_unit(self);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
