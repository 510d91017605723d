/* Register-resident peak probes (probe-<isa>.c, built with that ISA's flags):
 * each runs `iters` iterations and returns the int8 ops done (2 per MAC). */
#ifndef QL_BENCH_PROBE_H
#define QL_BENCH_PROBE_H
#include <stddef.h>
#include <stdint.h>
double ql_probe_amx_ops(long iters);
double ql_probe_avx512vnni_ops(long iters);
/* Sums n bytes (64-byte aligned, n % 256 == 0): a read-bandwidth probe. */
int64_t ql_probe_read(const void *p, size_t n);
#endif
