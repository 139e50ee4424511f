// Helpers for C stages over the generated bindings (../bindings/stage.h):
// formatted logging, host calls that take C strings, and host errors as
// messages. Every `char *` returned is malloc'd; the caller frees it.
#ifndef BATON_H
#define BATON_H

#include <stdarg.h>
#include <stddef.h>

#include "stage.h"

typedef exports_baton_stage_plugin_step_info_t baton_step_info;
typedef exports_baton_stage_plugin_stage_error_t baton_stage_error;
typedef baton_stage_artifacts_artifact_t baton_artifact;
typedef baton_stage_process_output_t baton_output;

#define BATON_TRACE BATON_STAGE_TYPES_LEVEL_TRACE
#define BATON_DEBUG BATON_STAGE_TYPES_LEVEL_DEBUG
#define BATON_INFO BATON_STAGE_TYPES_LEVEL_INFO
#define BATON_WARN BATON_STAGE_TYPES_LEVEL_WARN
#define BATON_ERROR BATON_STAGE_TYPES_LEVEL_ERROR

// Appends a printf-formatted line to the step log.
void baton_log(baton_stage_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Reports progress, shown live next to the running step.
void baton_progress(unsigned long long done, unsigned long long total, const char *message);

// printf into a new string.
char *baton_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// A NUL-terminated copy of a host string.
char *baton_cstr(const stage_string_t *s);

// Host calls: NULL on success (filling `out` when it is not NULL; free it
// with the matching *_free), else the error as a message ("not found: ...").
char *baton_get(const char *reference, const char *dest, baton_artifact *out);
char *baton_put(const char *name, const char *path, baton_artifact *out);
// Runs argv[0] with argv[1..argc) in the workspace; `out` is required.
char *baton_run(const char *const *argv, size_t argc, baton_output *out);
// "exited with code 3", "was killed by signal 9", "timed out after 500 ms".
char *baton_describe_status(const baton_stage_process_exit_status_t *status);

// Sets the step's error (tag BATON_STAGE_TYPES_STAGE_ERROR_FAILED or
// _INVALID_CONFIG) to `message`, which it takes; returns false for `return`.
bool baton_fail(baton_stage_error *err, uint8_t tag, char *message);

// The stage's `run`, as the author writes it, is wrapped by baton.c: a
// `return false` without baton_fail becomes a failure that says so (not an
// empty `invalid config: `). Include this header before defining it.
#define exports_baton_stage_plugin_run baton_stage_run
bool baton_stage_run(baton_step_info *info, baton_stage_error *err);

// Ends the stage at once, the message and this file:line as the step's
// headline (`stage aborted: ... (at lines.c:42)`). A failed `assert` does
// the same with the assertion's text.
#define BATON_ABORT(...) baton_abort_at(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void baton_abort_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
