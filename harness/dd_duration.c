/* dd_duration: parsing and formatting of durations with units (see dd_duration.h). */
#include "dd_duration.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dd_err.h"

typedef struct {
  const char *name; /* as written */
  uint64_t us;      /* microseconds in one unit */
} s_unit_t;

/* Largest first: the order groups must follow in "1h2m3s". */
static const s_unit_t s_units[] = {
    {"h", 3600000000ull}, {"min", 60000000ull}, {"m", 60000000ull}, {"s", 1000000ull},
    {"ms", 1000ull},      {"us", 1ull},         {"\xc2\xb5s", 1ull},
};
#define S_NUNITS (sizeof s_units / sizeof s_units[0])

/* Words people write for units, mapped to the unit to write instead. */
static const struct {
  const char *word; /* lower case */
  const char *unit; /* canonical unit */
} s_aliases[] = {
    {"sec", "s"},    {"secs", "s"},      {"second", "s"},       {"seconds", "s"},
    {"msec", "ms"},  {"msecs", "ms"},    {"millis", "ms"},      {"millisecond", "ms"},
    {"milliseconds", "ms"},              {"usec", "us"},        {"usecs", "us"},
    {"micros", "us"}, {"microsecond", "us"},                    {"microseconds", "us"},
    {"mins", "m"},   {"minute", "m"},    {"minutes", "m"},      {"hr", "h"},
    {"hrs", "h"},    {"hour", "h"},      {"hours", "h"},
};

static int s_fail(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int s_fail(char *why, size_t cap, const char *fmt, ...) {
  if (why && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
  }
  return DD_EINVAL;
}

/* The text for a message: at most 40 bytes, control characters and quotes replaced. */
static void s_quote(const char *in, char *out, size_t cap) {
  size_t n = 0;
  for (const unsigned char *s = (const unsigned char *)in; *s && n + 4 < cap; s++) {
    if (n >= 40) {
      memcpy(out + n, "...", 3);
      n += 3;
      break;
    }
    out[n++] = (*s < 0x20 || *s == 0x7f || *s == '"') ? '?' : (char)*s;
  }
  out[n] = 0;
}

static bool s_is_unit_char(unsigned char c) { return isalpha(c) || c == 0xc2 || c == 0xb5; }

/* The canonical unit for a misspelt one ("sec" -> "s", "MS" -> "ms"), or NULL. */
static const char *s_unit_suggestion(const char *u, size_t len) {
  char low[24];
  if (len >= sizeof low) return NULL;
  for (size_t i = 0; i < len; i++)
    low[i] = (char)tolower((unsigned char)u[i]);
  low[len] = 0;
  for (size_t i = 0; i < S_NUNITS; i++)
    if (!strcmp(low, s_units[i].name)) return s_units[i].name;
  for (size_t i = 0; i < sizeof s_aliases / sizeof s_aliases[0]; i++)
    if (!strcmp(low, s_aliases[i].word)) return s_aliases[i].unit;
  return NULL;
}

/* Parse text that has no blanks. When the only problem is a misspelt unit, fix (fcap bytes)
 * receives the corrected text. */
static int s_parse(const char *text, uint64_t *out_us, char *why, size_t cap, char *fix,
                   size_t fcap) {
  char q[64];
  s_quote(text, q, sizeof q);
  const char *s = text;
  uint64_t total = 0;
  size_t last_unit = 0; /* index into s_units + 1 of the previous group; 0: none */
  if (!*s) return s_fail(why, cap, "\"\" is not a duration (write a number and a unit, e.g. 250ms)");
  while (*s) {
    if (*s == '-') return s_fail(why, cap, "\"%s\" is negative; a duration is 0 or more", q);
    if (*s == '.' && isdigit((unsigned char)s[1]))
      return s_fail(why, cap, "\"%s\" is not a duration (write 0%s)", q, s);
    if (!isdigit((unsigned char)*s))
      return s_fail(why, cap, "\"%s\" is not a duration (write a number and a unit, e.g. 250ms)",
                    q);
    uint64_t ip = 0;
    bool big = false;
    while (isdigit((unsigned char)*s)) {
      if (ip > (UINT64_MAX - 9) / 10) big = true;
      else ip = ip * 10 + (uint64_t)(*s - '0');
      s++;
    }
    uint64_t frac = 0, scale = 1;
    bool frac_fine = false; /* digits beyond 9 that are not zero */
    if (*s == '.') {
      s++;
      if (!isdigit((unsigned char)*s))
        return s_fail(why, cap, "\"%s\" is not a duration (digits must follow the point)", q);
      unsigned nd = 0;
      while (isdigit((unsigned char)*s)) {
        if (nd < 9) {
          frac = frac * 10 + (uint64_t)(*s - '0');
          scale *= 10;
        } else if (*s != '0') {
          frac_fine = true;
        }
        nd++;
        s++;
      }
    }
    const char *u = s;
    while (*s && s_is_unit_char((unsigned char)*s))
      s++;
    size_t ulen = (size_t)(s - u);
    if (ulen == 0) {
      if (*s) return s_fail(why, cap, "\"%s\" is not a duration (write a number and a unit, e.g. 250ms)", q);
      if (u == text + strspn(text, "0123456789."))
        return s_fail(why, cap, "\"%s\" has no unit (write %sms or %ss)", q, q, q);
      return s_fail(why, cap, "\"%s\": the last number has no unit (write e.g. %ss)", q, q);
    }
    size_t k;
    for (k = 0; k < S_NUNITS; k++)
      if (strlen(s_units[k].name) == ulen && !memcmp(u, s_units[k].name, ulen)) break;
    if (k == S_NUNITS) {
      char uq[32];
      char ub[24];
      size_t cl = ulen < sizeof ub - 1 ? ulen : sizeof ub - 1;
      memcpy(ub, u, cl);
      ub[cl] = 0;
      s_quote(ub, uq, sizeof uq);
      const char *sug = s_unit_suggestion(u, ulen);
      if (sug) {
        /* The whole text with this unit replaced. */
        char fixed[96];
        int pre = (int)(u - text);
        snprintf(fixed, sizeof fixed, "%.*s%s%s", pre, text, sug, s);
        char fq[100];
        s_quote(fixed, fq, sizeof fq);
        if (fix && fcap) snprintf(fix, fcap, "%s", fq);
        return s_fail(why, cap, "\"%s\": unknown unit \"%s\" (write %s)", q, uq, fq);
      }
      return s_fail(why, cap, "\"%s\": unknown unit \"%s\" (units: us, ms, s, m, h)", q, uq);
    }
    /* "m" and "min" are the same unit: compare by size, not by index. */
    if (last_unit && s_units[k].us >= s_units[last_unit - 1].us)
      return s_fail(why, cap, "\"%s\": units must go from largest to smallest (e.g. 1m30s)", q);
    last_unit = k + 1;
    uint64_t unit = s_units[k].us;
    if (big || ip > DD_DURATION_MAX_US / unit)
      return s_fail(why, cap, "\"%s\" is too long (at most 1000 days)", q);
    /* frac < 10^9 and unit <= 3.6e9: the product stays below 2^63. */
    uint64_t fu = frac * unit;
    if (frac_fine || fu % scale != 0)
      return s_fail(why, cap, "\"%s\" is finer than a microsecond", q);
    uint64_t v = ip * unit + fu / scale;
    if (v > DD_DURATION_MAX_US || total > DD_DURATION_MAX_US - v)
      return s_fail(why, cap, "\"%s\" is too long (at most 1000 days)", q);
    total += v;
  }
  *out_us = total;
  return 0;
}

int dd_duration_parse(const char *text, uint64_t *out_us, char *why, size_t cap) {
  if (why && cap) why[0] = 0;
  if (!text || !out_us) return s_fail(why, cap, "no duration given");
  /* Blanks inside ("250 ms"): say what to write if the text parses without them. */
  if (strpbrk(text, " \t\r\n")) {
    char q[64];
    s_quote(text, q, sizeof q);
    char packed[64];
    size_t n = 0;
    for (const char *s = text; *s && n + 1 < sizeof packed; s++)
      if (!strchr(" \t\r\n", *s)) packed[n++] = *s;
    packed[n] = 0;
    uint64_t v;
    char fix[100] = "";
    if (n && strlen(text) < sizeof packed && s_parse(packed, &v, NULL, 0, fix, sizeof fix) == 0)
      return s_fail(why, cap, "\"%s\" is not a duration (write %s)", q, packed);
    if (fix[0]) return s_fail(why, cap, "\"%s\" is not a duration (write %s)", q, fix);
    return s_fail(why, cap, "\"%s\" is not a duration (write a number and a unit, e.g. 250ms)", q);
  }
  return s_parse(text, out_us, why, cap, NULL, 0);
}

int dd_duration_format(uint64_t us, char *buf, size_t cap) {
  if (us == 0) return snprintf(buf, cap, "0s");
  if (us % 3600000000ull == 0) return snprintf(buf, cap, "%lluh", (unsigned long long)(us / 3600000000ull));
  if (us % 60000000ull == 0) return snprintf(buf, cap, "%llum", (unsigned long long)(us / 60000000ull));
  uint64_t unit = us >= 1000000ull ? 1000000ull : us >= 1000ull ? 1000ull : 1ull;
  const char *name = unit == 1000000ull ? "s" : unit == 1000ull ? "ms" : "us";
  uint64_t ip = us / unit, fr = us % unit;
  if (fr == 0) return snprintf(buf, cap, "%llu%s", (unsigned long long)ip, name);
  int digits = unit == 1000000ull ? 6 : 3;
  while (fr % 10 == 0) {
    fr /= 10;
    digits--;
  }
  return snprintf(buf, cap, "%llu.%0*llu%s", (unsigned long long)ip, digits,
                  (unsigned long long)fr, name);
}
