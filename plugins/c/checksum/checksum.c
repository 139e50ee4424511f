// baton stage `checksum`: writes a SHA256SUMS file (the format of
// `sha256sum`) for release files and artifacts, publishes it, and can sign
// it; or, with `verify = true`, checks files against one.
//
//   [[boards.release.steps]]
//   name = "sums"
//   plugin = "checksum"
//   with = { fetch = ["linux.package/app.tar"], paths = ["release/docs"], output = "release/SHA256SUMS" }
//
// Keys of `with`:
// - `paths`: workspace files and folders (folders recursively).
// - `fetch`: artifact references fetched into the folder of `output`.
// - `output`: the sums file (default `SHA256SUMS`); it lists paths relative
//   to its own folder, so `cd <folder> && sha256sum -c SHA256SUMS` works.
// - `publish`: its artifact name (default: its file name), or false.
// - `verify`: check the files `output` lists instead of writing it.
// - `sign`: a program and arguments run after writing (e.g. gpg), on the
//   step's `spawn` allow-list; `signature`: the file it writes, published.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "baton.h"
#include "config.h"
#include "files.h"

#define FAILED BATON_STAGE_TYPES_STAGE_ERROR_FAILED
#define INVALID BATON_STAGE_TYPES_STAGE_ERROR_INVALID_CONFIG

static const char SCHEMA[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "\"paths\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"fetch\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"output\":{\"type\":\"string\"},"
    "\"publish\":{\"oneOf\":[{\"type\":\"string\"},{\"const\":false}]},"
    "\"verify\":{\"type\":\"boolean\"},"
    "\"sign\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"minItems\":1},"
    "\"signature\":{\"type\":\"string\"}}}";

void exports_baton_stage_plugin_describe(exports_baton_stage_plugin_stage_meta_t *ret) {
    stage_string_dup(&ret->name, "checksum");
    stage_string_dup(&ret->version, "0.1.0");
    stage_string_dup(&ret->description, "writes (or verifies) a SHA256SUMS file for files and artifacts; can sign it");
    ret->config_schema.is_some = true;
    stage_string_dup(&ret->config_schema.val, SCHEMA);
}

// `path` relative to `base` (the folder of the sums file), or NULL if outside.
static const char *relative_to(const char *base, const char *path) {
    size_t n = strlen(base);
    if (!n) return path;
    return !strncmp(path, base, n) && path[n] == '/' ? path + n + 1 : NULL;
}

// Fetches every artifact of `fetch` into `base`, adding them to `inputs`.
static char *fetch_all(const config *c, const char *base, strlist *inputs) {
    for (size_t i = 0; i < c->fetch.len; i++) {
        const char *ref = c->fetch.items[i];
        const char *slash = strrchr(ref, '/');
        const char *name = slash ? slash + 1 : ref;
        char *dest = *base ? baton_strf("%s/%s", base, name) : strdup(name);
        char *e = baton_get(ref, dest, NULL);
        if (e) {
            char *m = baton_strf("cannot fetch %s: %s", ref, e);
            free(e);
            free(dest);
            return m;
        }
        baton_log(BATON_INFO, "fetched %s into %s", ref, dest);
        e = files_collect(dest, inputs);
        free(dest);
        if (e) return e;
    }
    return NULL;
}

// Runs `sign`; NULL or why it failed.
static char *sign(const config *c) {
    baton_output out;
    baton_log(BATON_INFO, "signing with %s", c->sign.items[0]);
    char *e = baton_run((const char *const *)c->sign.items, c->sign.len, &out);
    if (e) {
        char *m = baton_strf("cannot run `%s`: %s", c->sign.items[0], e);
        free(e);
        return m;
    }
    char *m = NULL;
    if (out.status.tag != BATON_STAGE_PROCESS_EXIT_STATUS_EXITED || out.status.val.exited != 0) {
        char *how = baton_describe_status(&out.status);
        stage_string_t err = {out.stderr_.ptr, out.stderr_.len};
        char *text = baton_cstr(&err);
        size_t len = strlen(text);
        while (len && (text[len - 1] == '\n' || text[len - 1] == ' ')) text[--len] = 0;
        m = baton_strf("`%s` %s%s%s", c->sign.items[0], how, len ? ": " : "", text);
        free(how);
        free(text);
    }
    baton_stage_process_output_free(&out);
    return m;
}

static char *publish(const char *name, const char *path) {
    baton_artifact a;
    char *e = baton_put(name, path, &a);
    if (e) {
        char *m = baton_strf("cannot publish %s: %s", path, e);
        free(e);
        return m;
    }
    char *ref = baton_cstr(&a.reference);
    baton_log(BATON_INFO, "published %s (%llu bytes)", ref, (unsigned long long)a.size);
    free(ref);
    baton_stage_artifacts_artifact_free(&a);
    return NULL;
}

static char *write_sums(const config *c, const char *base) {
    strlist inputs = {0};
    char *e = fetch_all(c, base, &inputs);
    for (size_t i = 0; !e && i < c->paths.len; i++) {
        char *p = c->paths.items[i];
        while (!strncmp(p, "./", 2)) p += 2;
        size_t n = strlen(p);
        while (n > 1 && p[n - 1] == '/') p[--n] = 0;
        e = files_collect(p, &inputs);
    }
    if (e) return e;
    files_sort_unique(&inputs);
    size_t cap = 256, len = 0, count = 0;
    char *text = malloc(cap);
    text[0] = 0;
    for (size_t i = 0; i < inputs.len; i++) {
        const char *path = inputs.items[i];
        if (!strcmp(path, c->output) || (c->signature && !strcmp(path, c->signature))) continue;
        const char *name = relative_to(base, path);
        if (!name) {
            return baton_strf("%s is outside %s/, the folder of %s (the file lists paths relative to it)",
                              path, base, c->output);
        }
        baton_progress(i, inputs.len, path);
        char hex[65];
        if ((e = files_sha256(path, hex))) return e;
        size_t need = len + strlen(name) + 68;
        while (cap < need) text = realloc(text, cap *= 2);
        len += (size_t)sprintf(text + len, "%s  %s\n", hex, name);
        count++;
    }
    if (!count) return baton_strf("nothing to checksum: `paths` and `fetch` hold no file");
    if ((e = files_mkdirs(c->output))) return e;
    FILE *f = fopen(c->output, "wb");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
        return baton_strf("cannot write %s: %s", c->output, strerror(errno));
    }
    free(text);
    baton_progress(inputs.len, inputs.len, "done");
    baton_log(BATON_INFO, "wrote %s (%zu files)", c->output, count);
    if (c->sign.len && (e = sign(c))) return e;
    if (c->publish && (e = publish(c->publish, c->output))) return e;
    if (c->signature) {
        const char *slash = strrchr(c->signature, '/');
        if ((e = publish(slash ? slash + 1 : c->signature, c->signature))) return e;
    }
    return NULL;
}

// Appends "name (why)" to the list of problems.
static void problem(char **list, size_t *count, const char *name, const char *why) {
    char *next = *list ? baton_strf("%s, %s (%s)", *list, name, why) : baton_strf("%s (%s)", name, why);
    free(*list);
    *list = next;
    (*count)++;
}

static char *verify_sums(const config *c, const char *base) {
    strlist fetched = {0};
    char *e = fetch_all(c, base, &fetched);
    char *text;
    if (e || (e = files_read(c->output, &text))) return e;
    size_t total = 0, bad = 0;
    char *problems = NULL;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!*line) continue;
        if (strlen(line) < 67 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*')) {
            return baton_strf("%s: not a sha256sum line: `%.80s`", c->output, line);
        }
        line[64] = 0;
        const char *name = line + 66;
        char *path = *base ? baton_strf("%s/%s", base, name) : strdup(name);
        char hex[65];
        total++;
        if ((e = files_sha256(path, hex))) {
            problem(&problems, &bad, name, "missing");
            free(e);
        } else if (strcmp(hex, line)) {
            problem(&problems, &bad, name, "checksum differs");
        }
        free(path);
    }
    if (!total) return baton_strf("%s lists no file", c->output);
    if (bad) return baton_strf("%zu of %zu files do not match %s: %s", bad, total, c->output, problems);
    baton_log(BATON_INFO, "%zu files match %s", total, c->output);
    return NULL;
}

bool exports_baton_stage_plugin_run(baton_step_info *info, baton_stage_error *err) {
    // wasi-libc starts in `/`: make relative paths mean the workspace.
    char *workspace = baton_cstr(&info->workspace), *text = baton_cstr(&info->config);
    exports_baton_stage_plugin_step_info_free(info);
    if (chdir(workspace) != 0) return baton_fail(err, FAILED, baton_strf("cannot enter %s", workspace));
    config c;
    char *e = config_parse(text, &c);
    if (e) return baton_fail(err, INVALID, e);
    const char *slash = strrchr(c.output, '/');
    char *base = slash ? strndup(c.output, (size_t)(slash - c.output)) : strdup("");
    e = c.verify ? verify_sums(&c, base) : write_sums(&c, base);
    return e ? baton_fail(err, FAILED, e) : true;
}
