// A small JSON reader: enough for a step's `with` table.
#ifndef CHECKSUM_JSON_H
#define CHECKSUM_JSON_H

#include <stddef.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json {
    json_type type;
    char *key;            // set on members of an object
    char *string;         // JSON_STRING (UTF-8, NUL-terminated)
    double number;        // JSON_NUMBER
    int boolean;          // JSON_BOOL
    struct json *child;   // first element or member (arrays, objects)
    struct json *next;    // next sibling
} json;

// Parses `text`; on error returns NULL and writes a message to `err`.
json *json_parse(const char *text, char *err, size_t errlen);
void json_free(json *v);
// The member `key` of an object, or NULL.
const json *json_get(const json *object, const char *key);
// "a string", "a list", ... for messages.
const char *json_type_name(json_type t);

#endif
