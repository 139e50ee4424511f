// Finding the files to checksum and hashing them.
#include "files.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "baton.h"
#include "sha256.h"

static void push(strlist *l, char *item) {
    l->items = realloc(l->items, (l->len + 1) * sizeof *l->items);
    l->items[l->len++] = item;
}

char *files_collect(const char *path, strlist *out) {
    struct stat st;
    if (lstat(path, &st) != 0) return baton_strf("%s: %s", path, strerror(errno));
    if (S_ISREG(st.st_mode)) {
        push(out, strdup(path));
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) return NULL;  // symlinks, devices: not release files
    DIR *d = opendir(path);
    if (!d) return baton_strf("%s: %s", path, strerror(errno));
    char *err = NULL;
    struct dirent *e;
    while (!err && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *child = !strcmp(path, ".") ? strdup(e->d_name) : baton_strf("%s/%s", path, e->d_name);
        err = files_collect(child, out);
        free(child);
    }
    closedir(d);
    return err;
}

static int compare(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void files_sort_unique(strlist *l) {
    if (!l->len) return;
    qsort(l->items, l->len, sizeof *l->items, compare);
    size_t kept = 1;
    for (size_t i = 1; i < l->len; i++) {
        if (strcmp(l->items[i], l->items[kept - 1])) l->items[kept++] = l->items[i];
        else free(l->items[i]);
    }
    l->len = kept;
}

char *files_sha256(const char *path, char hex[65]) {
    FILE *f = fopen(path, "rb");
    if (!f) return baton_strf("cannot read %s: %s", path, strerror(errno));
    sha256_ctx c;
    sha256_init(&c);
    static unsigned char buf[64 * 1024];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) sha256_update(&c, buf, n);
    int failed = ferror(f);
    fclose(f);
    if (failed) return baton_strf("cannot read %s", path);
    sha256_hex(&c, hex);
    return NULL;
}

char *files_read(const char *path, char **text) {
    FILE *f = fopen(path, "rb");
    if (!f) return baton_strf("cannot read %s: %s", path, strerror(errno));
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    buf[len] = 0;
    *text = buf;
    return NULL;
}

char *files_mkdirs(const char *path) {
    char *copy = strdup(path);
    for (char *p = strchr(copy, '/'); p; p = strchr(p + 1, '/')) {
        *p = 0;
        if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
            char *e = baton_strf("cannot create %s: %s", copy, strerror(errno));
            free(copy);
            return e;
        }
        *p = '/';
    }
    free(copy);
    return NULL;
}
