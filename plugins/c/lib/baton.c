// Helpers for C stages over the generated bindings; see baton.h.
#include "baton.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *vstrf(const char *fmt, va_list ap) {
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    char *s = malloc((size_t)n + 1);
    if (s) vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *baton_strf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = vstrf(fmt, ap);
    va_end(ap);
    return s;
}

char *baton_cstr(const stage_string_t *s) {
    char *out = malloc(s->len + 1);
    if (out) {
        memcpy(out, s->ptr, s->len);
        out[s->len] = 0;
    }
    return out;
}

// A borrowed host string over a C string (the host does not keep it).
static stage_string_t borrow(const char *s) {
    stage_string_t out;
    stage_string_set(&out, s);
    return out;
}

void baton_log(baton_stage_log_level_t level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *text = vstrf(fmt, ap);
    va_end(ap);
    stage_string_t message = borrow(text ? text : fmt);
    baton_stage_log_log(level, &message);
    free(text);
}

void baton_progress(unsigned long long done, unsigned long long total, const char *message) {
    stage_string_t m = borrow(message);
    baton_stage_log_progress(done, total, &m);
}

static char *artifact_error(baton_stage_artifacts_artifact_error_t *e) {
    static const char *kinds[] = {
        "invalid artifact name", "invalid path", "artifact not found", "artifact never published",
        "denied", "corrupt artifact", "limit", "artifact i/o error",
    };
    // Every case of the variant carries a string, at the same place.
    char *text = baton_cstr(&e->val.invalid_name);
    char *message = baton_strf("%s: %s", e->tag < 8 ? kinds[e->tag] : "error", text);
    free(text);
    baton_stage_artifacts_artifact_error_free(e);
    return message;
}

char *baton_get(const char *reference, const char *dest, baton_artifact *out) {
    stage_string_t r = borrow(reference), d = borrow(dest);
    baton_artifact a;
    baton_stage_artifacts_artifact_error_t e;
    if (!baton_stage_artifacts_get(&r, &d, &a, &e)) return artifact_error(&e);
    if (out) *out = a;
    else baton_stage_artifacts_artifact_free(&a);
    return NULL;
}

char *baton_put(const char *name, const char *path, baton_artifact *out) {
    stage_string_t n = borrow(name), p = borrow(path);
    baton_artifact a;
    baton_stage_artifacts_artifact_error_t e;
    if (!baton_stage_artifacts_put(&n, &p, &a, &e)) return artifact_error(&e);
    if (out) *out = a;
    else baton_stage_artifacts_artifact_free(&a);
    return NULL;
}

char *baton_run(const char *const *argv, size_t argc, baton_output *out) {
    stage_string_t *args = calloc(argc, sizeof *args);
    if (!args) return baton_strf("out of memory");
    for (size_t i = 1; i < argc; i++) args[i - 1] = borrow(argv[i]);
    baton_stage_process_command_t cmd = {0};
    cmd.program = borrow(argv[0]);
    cmd.args.ptr = args;
    cmd.args.len = argc - 1;
    baton_stage_process_process_error_t e;
    bool ok = baton_stage_process_run(&cmd, out, &e);
    free(args);
    if (ok) return NULL;
    static const char *kinds[] = {"denied", "not found", "invalid cwd", "limit", "failed"};
    char *text = baton_cstr(&e.val.denied);
    char *message = baton_strf("%s: %s", e.tag < 5 ? kinds[e.tag] : "error", text);
    free(text);
    baton_stage_process_process_error_free(&e);
    return message;
}

char *baton_describe_status(const baton_stage_process_exit_status_t *s) {
    switch (s->tag) {
    case BATON_STAGE_PROCESS_EXIT_STATUS_EXITED: return baton_strf("exited with code %d", (int)s->val.exited);
    case BATON_STAGE_PROCESS_EXIT_STATUS_SIGNALED: return baton_strf("was killed by signal %d", (int)s->val.signaled);
    default: return baton_strf("timed out after %llu ms", (unsigned long long)s->val.timed_out);
    }
}

bool baton_fail(baton_stage_error *err, uint8_t tag, char *message) {
    err->tag = tag;
    // The host frees the error's string after the call: it must be malloc'd.
    stage_string_dup(&err->val.failed, message ? message : "out of memory");
    free(message);
    return false;
}

void baton_abort_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *text = vstrf(fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    // The host reads this line from the stage's stderr for the headline.
    fprintf(stderr, "baton abort: %s (at %s:%d)\n", text ? text : fmt, base ? base + 1 : file, line);
    fflush(stderr);
    abort();
}

// The real export (baton.h renames the author's `run` to baton_stage_run).
#undef exports_baton_stage_plugin_run
bool exports_baton_stage_plugin_run(baton_step_info *info, baton_stage_error *err) {
    memset(err, 0, sizeof *err);
    err->tag = UINT8_MAX;
    if (baton_stage_run(info, err)) return true;
    if (err->tag == UINT8_MAX || err->val.failed.ptr == NULL) {
        err->tag = BATON_STAGE_TYPES_STAGE_ERROR_FAILED;
        stage_string_dup(&err->val.failed,
                         "the stage returned false without saying why: call baton_fail(err, tag, message) before "
                         "returning false");
    }
    return false;
}
