#include "util.h"

const char *ql_status_str(ql_status s) {
  switch (s) {
  case QL_OK: return "ok";
  case QL_ERR_INVALID_ARGUMENT: return "invalid argument";
  case QL_ERR_INVALID_MODEL: return "invalid model";
  case QL_ERR_UNSUPPORTED: return "unsupported";
  case QL_ERR_UNSUPPORTED_HARDWARE: return "unsupported hardware";
  case QL_ERR_OUT_OF_MEMORY: return "out of memory";
  case QL_ERR_IO: return "i/o error";
  case QL_ERR_INVALID_STATE: return "invalid state";
  case QL_ERR_LIMIT: return "limit exceeded";
  case QL_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

ql_status ql_errf(ql_error *err, ql_status code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return code;
}

ql_status ql_err_prefix(ql_error *err, const char *fmt, ...) {
  if (!err) return QL_ERR_INTERNAL;
  char prefix[256], old[sizeof err->msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof old);
  size_t pl = strlen(prefix);
  if (pl > sizeof err->msg - 3) pl = sizeof err->msg - 3;
  memcpy(err->msg, prefix, pl);
  memcpy(err->msg + pl, ": ", 2);
  size_t rest = sizeof err->msg - pl - 3, ol = strlen(old);
  if (ol > rest) ol = rest;
  memcpy(err->msg + pl + 2, old, ol);
  err->msg[pl + 2 + ol] = 0;
  return err->code;
}
