/* Internal helpers shared by every layer: errors, allocation, checked math. */
#ifndef QL_UTIL_H
#define QL_UTIL_H

#include "qlinear.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if defined(__GNUC__)
#define QL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define QL_UNUSED __attribute__((unused))
#else
#define QL_PRINTF(a, b)
#define QL_UNUSED
#endif

/* Sets err (if non-NULL) and returns code, so callers can `return ql_errf(...)`. */
ql_status ql_errf(ql_error *err, ql_status code, const char *fmt, ...) QL_PRINTF(3, 4);
/* Prefixes the existing message with context ("node 'x' (Conv): ..."). */
ql_status ql_err_prefix(ql_error *err, const char *fmt, ...) QL_PRINTF(2, 3);

/* All allocation goes through these, so that tests can inject failures. */
void *ql_malloc(size_t n);
void *ql_calloc(size_t n, size_t size);
void *ql_realloc(void *p, size_t n);
void ql_free(void *p);
char *ql_strdup(const char *s);
char *ql_strndup(const char *s, size_t n);
/* Aligned to 64 bytes; freed with ql_free_aligned. */
void *ql_malloc_aligned(size_t n);
void ql_free_aligned(void *p);

/* Marks memory the program must not touch for AddressSanitizer (the value
 * arena's and the scratch region's free bytes); nothing in other builds. */
#if defined(__SANITIZE_ADDRESS__)
#define QL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QL_ASAN 1
#endif
#endif
#ifdef QL_ASAN
#include <sanitizer/asan_interface.h>
#define QL_ASAN_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define QL_ASAN_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define QL_ASAN_POISON(p, n) ((void)(p), (void)(n))
#define QL_ASAN_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Grows *arr (element size es) to hold at least need elements. */
int ql_grow(void **arr, size_t *cap, size_t need, size_t es);

static inline int ql_mul_overflow_i64(int64_t a, int64_t b, int64_t *r) {
  return __builtin_mul_overflow(a, b, r);
}
static inline int ql_mul_overflow_size(size_t a, size_t b, size_t *r) {
  return __builtin_mul_overflow(a, b, r);
}
static inline int ql_add_overflow_size(size_t a, size_t b, size_t *r) {
  return __builtin_add_overflow(a, b, r);
}

/* Product of dims, or -1 when a dim is negative or the product overflows
 * (or exceeds 2^62, a bound that keeps later byte counts in range). */
int64_t ql_dims_numel(int rank, const int64_t *dims);

/* float formats */
float ql_f16_to_f32(uint16_t h);
uint16_t ql_f32_to_f16(float f);
float ql_bf16_to_f32(uint16_t h);
uint16_t ql_f32_to_bf16(float f);
/* Decode/encode an 8-bit (or 4-bit) float of type t (QL_FLOAT8*, QL_FLOAT4E2M1). */
float ql_f8_to_f32(ql_dtype t, uint8_t v);
uint8_t ql_f32_to_f8(ql_dtype t, float f, int saturate);
/* e8m0 rounding: 0 up, 1 down, 2 nearest */
uint8_t ql_f32_to_e8m0(float f, int saturate, int round_mode);

/* Element access for any numeric tensor type (reference paths only). */
double ql_load_f64(ql_dtype t, const void *data, int64_t i);
/* Stores v converted as Cast does (ints wrap like C casts after range checks
 * are the caller's business; floats round to nearest even). */
void ql_store_f64(ql_dtype t, void *data, int64_t i, double v);
int64_t ql_load_i64(ql_dtype t, const void *data, int64_t i);
void ql_store_i64(ql_dtype t, void *data, int64_t i, int64_t v);
int ql_dtype_is_float(ql_dtype t);
int ql_dtype_is_int(ql_dtype t);
int ql_dtype_is_signed(ql_dtype t);
int ql_dtype_bits(ql_dtype t); /* storage bits in ONNX (4 for int4, 16 for f16) */
/* Integer range of an integer dtype. */
void ql_dtype_int_range(ql_dtype t, int64_t *lo, int64_t *hi);

/* tensor internals */
#define QL_TENSOR_OWNS_DATA 1u
#define QL_TENSOR_MAPPED 2u
/* header and data belong to a session's run state (src/runtime/session.c):
 * ql_tensor_free leaves it alone */
#define QL_TENSOR_ARENA 4u
ql_tensor *ql_tensor_new(ql_dtype dtype, int rank, const int64_t *dims, ql_error *err);
/* A tensor that borrows `data` (not freed with it). */
ql_tensor *ql_tensor_wrap(ql_dtype dtype, int rank, const int64_t *dims, void *data, ql_error *err);
size_t ql_tensor_nbytes(const ql_tensor *t);

#endif
