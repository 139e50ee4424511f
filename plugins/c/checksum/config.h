// The `with` table of the checksum stage.
#ifndef CHECKSUM_CONFIG_H
#define CHECKSUM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char **items;
    size_t len;
} strlist;

typedef struct {
    strlist paths;     // workspace files and folders (folders recursively)
    strlist fetch;     // artifact references fetched next to `output`
    char *output;      // the sums file (default SHA256SUMS)
    char *publish;     // its artifact name; NULL: do not publish
    bool verify;       // check `output` instead of writing it
    strlist sign;      // a program and its arguments run after writing
    char *signature;   // a file `sign` writes, published too
} config;

// Reads the JSON `with` table; on error returns a message (malloc'd).
char *config_parse(const char *text, config *out);

#endif
