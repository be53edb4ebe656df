/* dd_fuzz: the libFuzzer entry point every fuzz target defines. */
#ifndef DD_FUZZ_H
#define DD_FUZZ_H
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#endif
