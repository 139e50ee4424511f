// Finding the files to checksum and hashing them.
#ifndef CHECKSUM_FILES_H
#define CHECKSUM_FILES_H

#include "config.h"

// Adds `path` (a file, or every file under a folder) to `out`; NULL or an error.
char *files_collect(const char *path, strlist *out);
// Sorts `list` and drops duplicates.
void files_sort_unique(strlist *list);
// The SHA-256 of a file as 64 hex digits; NULL or an error.
char *files_sha256(const char *path, char hex[65]);
// Reads a whole file; NULL or an error.
char *files_read(const char *path, char **text);
// Creates the folders of `path` (not its last part); NULL or an error.
char *files_mkdirs(const char *path);

#endif
