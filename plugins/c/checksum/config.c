// Reading the checksum stage's `with` table, with messages naming the key.
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "baton.h"
#include "json.h"

static const char *KEYS[] = {"paths", "fetch", "output", "publish", "verify", "sign", "signature"};
#define NKEYS (sizeof KEYS / sizeof *KEYS)

// NULL when `path` is a plain relative path, else why not.
static char *check_path(const char *key, const char *path) {
    if (!*path) return baton_strf("`%s`: a path is empty", key);
    if (path[0] == '/') return baton_strf("`%s`: `%s` must be relative to the workspace", key, path);
    const char *p = path;
    while (p) {
        if (!strncmp(p, "..", 2) && (p[2] == '/' || !p[2])) {
            return baton_strf("`%s`: `%s` must not contain `..`", key, path);
        }
        p = strchr(p, '/');
        if (p) p++;
    }
    return NULL;
}

static char *strings(const json *root, const char *key, strlist *out) {
    const json *v = json_get(root, key);
    if (!v) return NULL;
    if (v->type != JSON_ARRAY) return baton_strf("`%s` must be a list of strings, not %s", key, json_type_name(v->type));
    size_t n = 0;
    for (const json *i = v->child; i; i = i->next) n++;
    out->items = calloc(n ? n : 1, sizeof *out->items);
    for (const json *i = v->child; i; i = i->next) {
        if (i->type != JSON_STRING) {
            return baton_strf("`%s` must be a list of strings; item %zu is %s", key, out->len + 1, json_type_name(i->type));
        }
        out->items[out->len++] = strdup(i->string);
    }
    return NULL;
}

static char *string(const json *root, const char *key, char **out) {
    const json *v = json_get(root, key);
    if (!v) return NULL;
    if (v->type != JSON_STRING) return baton_strf("`%s` must be a string, not %s", key, json_type_name(v->type));
    free(*out);
    *out = strdup(v->string);
    return NULL;
}

static char *parse(const json *root, config *c) {
    if (root->type != JSON_OBJECT) return baton_strf("the `with` table must be a table");
    for (const json *m = root->child; m; m = m->next) {
        size_t k = 0;
        while (k < NKEYS && strcmp(m->key, KEYS[k])) k++;
        if (k == NKEYS) {
            return baton_strf("unknown key `%s` (expected one of: paths, fetch, output, publish, verify, sign, signature)", m->key);
        }
    }
    char *e;
    if ((e = strings(root, "paths", &c->paths)) || (e = strings(root, "fetch", &c->fetch))
        || (e = strings(root, "sign", &c->sign)) || (e = string(root, "output", &c->output))
        || (e = string(root, "signature", &c->signature))) {
        return e;
    }
    const json *publish = json_get(root, "publish");
    if (!publish) {
        // Default: publish the sums file under its own name.
        const char *slash = strrchr(c->output, '/');
        c->publish = strdup(slash ? slash + 1 : c->output);
    } else if (publish->type == JSON_STRING) {
        c->publish = strdup(publish->string);
    } else if (publish->type != JSON_BOOL || publish->boolean) {
        return baton_strf("`publish` must be an artifact name or false");
    }
    const json *verify = json_get(root, "verify");
    if (verify && verify->type != JSON_BOOL) return baton_strf("`verify` must be true or false");
    c->verify = verify && verify->boolean;
    for (size_t i = 0; i < c->paths.len; i++) {
        if ((e = check_path("paths", c->paths.items[i]))) return e;
    }
    if ((e = check_path("output", c->output))) return e;
    if (c->signature && (e = check_path("signature", c->signature))) return e;
    if (c->verify && (c->paths.len || c->sign.len)) {
        return baton_strf("`paths` and `sign` are not used with verify = true (it checks the files `%s` lists)", c->output);
    }
    if (!c->verify && !c->paths.len && !c->fetch.len) {
        return baton_strf("nothing to checksum: set `paths` (workspace files or folders) or `fetch` (artifacts)");
    }
    if (c->signature && !c->sign.len) return baton_strf("`signature` needs `sign`, the command that writes it");
    return NULL;
}

char *config_parse(const char *text, config *c) {
    memset(c, 0, sizeof *c);
    c->output = strdup("SHA256SUMS");
    char err[160];
    json *root = json_parse(text, err, sizeof err);
    if (!root) return strdup(err);
    char *e = parse(root, c);
    json_free(root);
    return e;
}
