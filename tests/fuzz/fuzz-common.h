/* Shared pieces of the fuzz targets: limits small enough that libFuzzer's
 * memory cap (-rss_limit_mb=2048) is never the first thing a hostile input
 * hits, so that a report means a real bug. */
#ifndef QL_FUZZ_COMMON_H
#define QL_FUZZ_COMMON_H
#include "qlinear.h"
#include <stdint.h>
#include <stddef.h>

static const ql_limits k_fuzz_limits = {
    .max_file_bytes = 4u << 20,
    .max_tensor_bytes = 64u << 20,
    .max_total_bytes = 256u << 20,
    .max_nodes = 20000,
    .max_depth = 8,
    .max_rank = 0,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#endif
