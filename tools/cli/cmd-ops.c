/* qlinear ops [--markdown]: the operators this build implements. */
#include "cli.h"
#include <string.h>

#include "ops/op.h"

int ql_cmd_ops(int argc, char **argv) {
  int md = argc > 1 && !strcmp(argv[1], "--markdown");
  if (md) printf("| domain | op | schema versions |\n|---|---|---|\n");
  size_t n = 0;
  for (const ql_op_def *d; (d = ql_op_registry_at(n)); n++) {
    const char *dom = *d->domain ? d->domain : "ai.onnx";
    if (md) printf("| %s | %s | %d-%d |\n", dom, d->op_type, d->min_impl, d->max_impl);
    else printf("%-14s %-32s v%d-v%d\n", dom, d->op_type, d->min_impl, d->max_impl);
  }
  if (!md) printf("%zu operators\n", n);
  return 0;
}
