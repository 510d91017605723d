/* Shared pieces of the qlinear command-line tool. */
#ifndef QL_CLI_H
#define QL_CLI_H
#include "qlinear.h"
#include <stdio.h>

#define CLI_WEAK __attribute__((weak))

/* Each command: returns the process exit code. */
int ql_cmd_test(int argc, char **argv);
int ql_cmd_run(int argc, char **argv);
int ql_cmd_inspect(int argc, char **argv);
int ql_cmd_ops(int argc, char **argv);
int ql_cmd_accuracy(int argc, char **argv);
int ql_cmd_verify(int argc, char **argv) CLI_WEAK;
int ql_cmd_annotate(int argc, char **argv) CLI_WEAK;
int ql_cmd_quantize(int argc, char **argv) CLI_WEAK;
int ql_cmd_bench(int argc, char **argv) CLI_WEAK;

/* Prints "qlinear: <msg>" on stderr, one line. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* JSON string escaping to f. */
void cli_json_str(FILE *f, const char *s);
/* Loads the N inputs of a session from DIR/input_<i>.pb, plus NAME=FILE
 * overrides; returns 0 or prints an error and returns -1. */
int cli_load_inputs(const ql_session *s, const char *dir, char **named, int n_named, ql_tensor **inputs);
/* Parse a positive int option value. */
int cli_parse_int(const char *s, int *out);

#endif
