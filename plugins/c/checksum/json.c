// A small JSON reader: enough for a step's `with` table.
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p;
    char *err;
    size_t errlen;
    int depth;
} parser;

static json *value(parser *ps);

static void *fail(parser *ps, const char *what) {
    if (ps->err[0]) return NULL;
    if (*ps->p) snprintf(ps->err, ps->errlen, "invalid JSON: %s near `%.12s`", what, ps->p);
    else snprintf(ps->err, ps->errlen, "invalid JSON: %s at the end", what);
    return NULL;
}

static void skip(parser *ps) {
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r') ps->p++;
}

static json *node(json_type t) {
    json *v = calloc(1, sizeof *v);
    if (v) v->type = t;
    return v;
}

static int hex4(const char *s, unsigned *out) {
    *out = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        *out <<= 4;
        if (c >= '0' && c <= '9') *out |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') *out |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') *out |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    return 1;
}

static size_t utf8(unsigned cp, char *out) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xc0 | cp >> 6); out[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12); out[1] = (char)(0x80 | ((cp >> 6) & 63)); out[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18); out[1] = (char)(0x80 | ((cp >> 12) & 63));
    out[2] = (char)(0x80 | ((cp >> 6) & 63)); out[3] = (char)(0x80 | (cp & 63));
    return 4;
}

// Parses a string literal at ps->p (on the opening quote) into a new buffer.
static char *string(parser *ps) {
    const char *s = ++ps->p;
    size_t cap = 0;
    while (s[cap] && s[cap] != '"') cap += s[cap] == '\\' && s[cap + 1] ? 2 : 1;
    char *out = malloc(cap + 1), *o = out;
    if (!out) return fail(ps, "out of memory");
    while (*ps->p != '"') {
        char c = *ps->p;
        if (!c || (unsigned char)c < 0x20) { free(out); return fail(ps, "unterminated string"); }
        ps->p++;
        if (c != '\\') { *o++ = c; continue; }
        if (!(c = *ps->p)) { free(out); return fail(ps, "unterminated string"); }
        ps->p++;
        switch (c) {
        case '"': case '\\': case '/': *o++ = c; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (!hex4(ps->p, &cp)) { free(out); return fail(ps, "bad \\u escape"); }
            ps->p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && ps->p[0] == '\\' && ps->p[1] == 'u' && hex4(ps->p + 2, &lo)
                && lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                ps->p += 6;
            }
            o += utf8(cp, o);  // an escape is 6 bytes, its UTF-8 at most 4
            break;
        }
        default: free(out); return fail(ps, "bad escape");
        }
    }
    ps->p++;
    *o = 0;
    return out;
}

static json *items(parser *ps, json *v, char close, int with_keys) {
    ps->p++;
    skip(ps);
    if (*ps->p == close) { ps->p++; return v; }
    json **tail = &v->child;
    for (;;) {
        char *key = NULL;
        skip(ps);
        if (with_keys) {
            if (*ps->p != '"') { json_free(v); return fail(ps, "expected a key"); }
            if (!(key = string(ps))) { json_free(v); return NULL; }
            skip(ps);
            if (*ps->p != ':') { free(key); json_free(v); return fail(ps, "expected `:`"); }
            ps->p++;
        }
        json *item = value(ps);
        if (!item) { free(key); json_free(v); return NULL; }
        item->key = key;
        *tail = item;
        tail = &item->next;
        skip(ps);
        if (*ps->p == ',') { ps->p++; continue; }
        if (*ps->p == close) { ps->p++; return v; }
        json_free(v);
        return fail(ps, close == ']' ? "expected `,` or `]`" : "expected `,` or `}`");
    }
}

static json *value(parser *ps) {
    skip(ps);
    if (++ps->depth > 64) return fail(ps, "nested too deeply");
    json *v = NULL;
    char c = *ps->p;
    if (c == '{' || c == '[') {
        v = node(c == '{' ? JSON_OBJECT : JSON_ARRAY);
        if (v) v = items(ps, v, c == '{' ? '}' : ']', c == '{');
    } else if (c == '"') {
        char *s = string(ps);
        if (s && (v = node(JSON_STRING))) v->string = s;
        else free(s);
    } else if (!strncmp(ps->p, "true", 4) || !strncmp(ps->p, "false", 5)) {
        if ((v = node(JSON_BOOL))) v->boolean = c == 't';
        ps->p += c == 't' ? 4 : 5;
    } else if (!strncmp(ps->p, "null", 4)) {
        v = node(JSON_NULL);
        ps->p += 4;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        char *end;
        double d = strtod(ps->p, &end);
        if ((v = node(JSON_NUMBER))) v->number = d;
        ps->p = end;
    } else {
        return fail(ps, "unexpected character");
    }
    ps->depth--;
    return v;
}

json *json_parse(const char *text, char *err, size_t errlen) {
    parser ps = {text, err, errlen, 0};
    err[0] = 0;
    json *v = value(&ps);
    if (!v) return NULL;
    skip(&ps);
    if (*ps.p) {
        json_free(v);
        return fail(&ps, "trailing characters");
    }
    return v;
}

void json_free(json *v) {
    while (v) {
        json *next = v->next;
        json_free(v->child);
        free(v->key);
        free(v->string);
        free(v);
        v = next;
    }
}

const json *json_get(const json *object, const char *key) {
    if (!object || object->type != JSON_OBJECT) return NULL;
    for (const json *m = object->child; m; m = m->next) {
        if (!strcmp(m->key, key)) return m;
    }
    return NULL;
}

const char *json_type_name(json_type t) {
    static const char *names[] = {"null", "true or false", "a number", "a string", "a list", "a table"};
    return names[t];
}
