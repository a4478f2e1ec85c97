// PCRE2, 8-bit code units. The generic pcre2_* names are macros that Swift cannot see, so the
// Swift side calls the _8 functions. Size_t sentinels are functions: as `static const` they overflow
// when imported (size_t imports as Int).
#ifndef TOLLGATE_CPCRE2_SHIM_H
#define TOLLGATE_CPCRE2_SHIM_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

static inline size_t tollgate_pcre2_zero_terminated(void) { return PCRE2_ZERO_TERMINATED; }
static inline size_t tollgate_pcre2_unset(void) { return PCRE2_UNSET; }

#endif
