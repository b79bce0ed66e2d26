/*
 * json.c - the JSON reader of json.h: a recursive-descent parser over a byte range,
 * writing nodes into blocks it allocates as it goes and decoded strings into the
 * caller's arena; linear in the text's length (each object's keys sorted once for the
 * duplicate check), depth bounded, never reads outside [p, end).
 */
#include <stdlib.h>
#include <string.h>
#include "json.h"

struct jblock {
    struct jblock *next;
    size_t used, cap;
    jval v[];
};

static void skip_ws(jparser *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The 4 hex digits at j->p (advanced past them) into *v; 0 if there are none. */
static int read_hex4(jparser *j, unsigned *v)
{
    if (j->end - j->p < 4) { j->err = "a short \\u escape"; return 0; }
    *v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(j->p[k]);
        if (h < 0) { j->err = "a bad \\u escape"; return 0; }
        *v = *v * 16 + (unsigned)h;
    }
    j->p += 4;
    return 1;
}

/* Code point v (<= U+10FFFF, no surrogate) as UTF-8 at *o. */
static void put_utf8(char **o, unsigned v)
{
    char *q = *o;
    if (v < 0x80) *q++ = (char)v;
    else if (v < 0x800) { *q++ = (char)(0xC0 | v >> 6); *q++ = (char)(0x80 | (v & 63)); }
    else if (v < 0x10000) {
        *q++ = (char)(0xE0 | v >> 12);
        *q++ = (char)(0x80 | ((v >> 6) & 63));
        *q++ = (char)(0x80 | (v & 63));
    } else {
        *q++ = (char)(0xF0 | v >> 18);
        *q++ = (char)(0x80 | ((v >> 12) & 63));
        *q++ = (char)(0x80 | ((v >> 6) & 63));
        *q++ = (char)(0x80 | (v & 63));
    }
    *o = q;
}

/* Decodes a \u escape (j->p after the 'u'), or a surrogate pair of two, as UTF-8 at
 * *o (at most 4 bytes for the 6 or 12 read). NUL and lone surrogates are refused. */
static int parse_u_escape(jparser *j, char **o)
{
    unsigned v, lo;
    if (!read_hex4(j, &v)) return 0;
    if (v >= 0xD800 && v <= 0xDBFF) {   /* a high surrogate: a low one must follow */
        if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') v = 0xDC00;
        else if (j->p += 2, !read_hex4(j, &lo)) return 0;
        else if (lo >= 0xDC00 && lo <= 0xDFFF) v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
        else v = 0xDC00;
    }
    if (v == 0 || (v >= 0xD800 && v <= 0xDFFF)) {
        j->err = "a \\u escape pygru does not accept (NUL or a lone surrogate)";
        return 0;
    }
    put_utf8(o, v);
    return 1;
}

/* Decodes the escape after a backslash (j->p at its letter) at *o. */
static int parse_escape(jparser *j, char **o)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char c = *j->p++;
    if (c == 'u') return parse_u_escape(j, o);
    const char *at = c ? strchr(from, c) : NULL;
    if (!at) { j->err = "a bad escape in a string"; return 0; }
    *(*o)++ = to[at - from];
    return 1;
}

/* The length of the valid UTF-8 sequence of a non-ASCII lead byte at p (strict: no
 * overlong forms, no surrogates, at most U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    const unsigned c = p[0];
    size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!n || (size_t)(end - p) < n) return 0;
    for (size_t k = 1; k < n; k++)
        if ((p[k] & 0xC0) != 0x80) return 0;
    if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F) ||
        (c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] > 0x8F))
        return 0;   /* overlong, surrogate, beyond U+10FFFF */
    return n;
}

/* Decodes a string literal (j->p at the opening quote) into the arena. */
static const char *parse_string(jparser *j)
{
    char *out = j->arena + j->apos, *o = out;
    j->p++;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20) { j->err = "a control character in a string"; return NULL; }
        if (c >= 0x80) {
            const size_t n = utf8_len((const unsigned char *)j->p, (const unsigned char *)j->end);
            if (!n) { j->err = "the header is not valid UTF-8"; return NULL; }
            memcpy(o, j->p, n);
            o += n;
            j->p += n;
            continue;
        }
        j->p++;
        if (c != '\\') { *o++ = (char)c; continue; }
        if (j->p >= j->end) break;
        if (!parse_escape(j, &o)) return NULL;
    }
    if (j->p >= j->end) { j->err = "an unterminated string"; return NULL; }
    j->p++;
    *o++ = '\0';
    j->apos += (size_t)(o - out);
    return out;
}

static jval *parse_value(jparser *j, int depth);

/* A new node from the current block, or from a new block twice as large. */
static jval *new_node(jparser *j, jtype t)
{
    jblock *b = j->blocks;
    if (!b || b->used == b->cap) {
        const size_t cap = b ? 2 * b->cap : 64;
        jblock *nb = malloc(sizeof *nb + cap * sizeof(jval));
        if (!nb) { j->err = "out of memory"; j->no_memory = 1; return NULL; }
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        j->blocks = b = nb;
    }
    jval *v = &b->v[b->used++];
    memset(v, 0, sizeof *v);
    v->type = t;
    return v;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 when the members of object v have distinct keys (sorted: n log n). */
static int keys_unique(jparser *j, const jval *v)
{
    if (v->n < 2) return 1;
    const char **keys = malloc(v->n * sizeof *keys);
    if (!keys) { j->err = "out of memory"; j->no_memory = 1; return 0; }
    size_t k = 0;
    for (const jval *c = v->first; c; c = c->next) keys[k++] = c->key;
    qsort(keys, v->n, sizeof *keys, key_cmp);
    int ok = 1;
    for (k = 1; k < v->n && ok; k++) ok = strcmp(keys[k - 1], keys[k]) != 0;
    free(keys);
    if (!ok) j->err = "an object has two members of the same key";
    return ok;
}

/* An object member's key and its ':' (j->p at the key's quote); NULL if malformed. */
static const char *parse_key(jparser *j)
{
    skip_ws(j);
    if (j->p >= j->end || *j->p != '"') { j->err = "an object key is not a string"; return NULL; }
    const char *key = parse_string(j);
    if (!key) return NULL;
    skip_ws(j);
    if (j->p >= j->end || *j->p != ':') { j->err = "a ':' is missing"; return NULL; }
    j->p++;
    return key;
}

/* An object or array (j->p at its bracket): its members, each parsed at depth + 1. */
static jval *parse_container(jparser *j, int depth)
{
    const int obj = *j->p == '{';
    const char close = obj ? '}' : ']';
    jval *v = new_node(j, obj ? J_OBJ : J_ARR), **tail;
    if (!v) return NULL;
    tail = &v->first;
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == close) { j->p++; return v; }
    for (;;) {
        const char *key = obj ? parse_key(j) : NULL;
        if (obj && !key) return NULL;
        if (!obj && v->n == JSON_MAX_ARRAY) { j->err = "an array of more than 8 values"; return NULL; }
        jval *child = parse_value(j, depth + 1);
        if (!child) return NULL;
        child->key = key;
        *tail = child;
        tail = &child->next;
        v->n++;
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') { j->p++; continue; }
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return !obj || keys_unique(j, v) ? v : NULL;
        }
        j->err = obj ? "a ',' or '}' is missing" : "a ',' or ']' is missing";
        return NULL;
    }
}

/* Integers only (a safetensors header has no other numbers), as JSON writes them (no
 * leading zeros); fractions and exponents are refused, as is anything beyond int64. */
static jval *parse_number(jparser *j)
{
    const int neg = *j->p == '-';
    if (neg) j->p++;
    if (j->p >= j->end || *j->p < '0' || *j->p > '9') { j->err = "a bad number"; return NULL; }
    if (*j->p == '0' && j->end - j->p > 1 && j->p[1] >= '0' && j->p[1] <= '9') {
        j->err = "a number with a leading zero";
        return NULL;
    }
    uint64_t u = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        const unsigned d = (unsigned)(*j->p++ - '0');
        if (u > (UINT64_MAX - d) / 10 || u * 10 + d > (uint64_t)INT64_MAX) {
            j->err = "a number too large";
            return NULL;
        }
        u = u * 10 + d;
    }
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E')) {
        j->err = "a number that is not an integer";
        return NULL;
    }
    jval *v = new_node(j, J_INT);
    if (v) v->i = neg ? -(int64_t)u : (int64_t)u;
    return v;
}

/* true, false or null. */
static jval *parse_word(jparser *j)
{
    static const struct { const char *word; jtype t; int64_t i; } words[] = {
        {"true", J_BOOL, 1}, {"false", J_BOOL, 0}, {"null", J_NULL, 0}};
    for (size_t k = 0; k < 3; k++) {
        const size_t len = strlen(words[k].word);
        if ((size_t)(j->end - j->p) < len || memcmp(j->p, words[k].word, len) != 0) continue;
        j->p += len;
        jval *v = new_node(j, words[k].t);
        if (v) v->i = words[k].i;
        return v;
    }
    j->err = (unsigned char)*j->p >= 0x80 ? "the header is not valid UTF-8" : "an unexpected character";
    return NULL;
}

static jval *parse_value(jparser *j, int depth)
{
    skip_ws(j);
    if (j->p >= j->end) { j->err = "unexpected end of the header"; return NULL; }
    if (depth > JSON_MAX_DEPTH) { j->err = "nesting deeper than 8"; return NULL; }
    const char c = *j->p;
    if (c == '{' || c == '[') return parse_container(j, depth);
    if (c == '"') {
        jval *v = new_node(j, J_STR);
        if (!v || !(v->s = parse_string(j))) return NULL;
        return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(j);
    return parse_word(j);
}

const jval *json_member(const jval *obj, const char *key)
{
    for (const jval *c = obj->first; c; c = c->next)
        if (strcmp(c->key, key) == 0) return c;
    return NULL;
}

const jval *json_parse(jparser *j)
{
    const jval *root = parse_value(j, 0);
    if (root) {
        skip_ws(j);
        if (j->p != j->end) { root = NULL; j->err = "text after the header's object"; }
    }
    return root;
}

void json_free(jparser *j)
{
    while (j->blocks) {
        jblock *next = j->blocks->next;
        free(j->blocks);
        j->blocks = next;
    }
}
