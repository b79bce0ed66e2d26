/*
 * json.c - the JSON reader of json.h: a recursive-descent parser over a byte range,
 * writing nodes into the caller's array and decoded strings into its arena; linear in
 * the text's length, depth bounded, never reads outside [p, end).
 */
#include <string.h>
#include "json.h"

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

/* Decodes the 4 hex digits of a \u escape (j->p after the 'u') as UTF-8 at *o. */
static int parse_u_escape(jparser *j, char **o)
{
    if (j->end - j->p < 4) { j->err = "a short \\u escape"; return 0; }
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(j->p[k]);
        if (h < 0) { j->err = "a bad \\u escape"; return 0; }
        v = v * 16 + (unsigned)h;
    }
    j->p += 4;
    if (v == 0 || (v >= 0xD800 && v <= 0xDFFF)) {   /* NUL, surrogates: not names */
        j->err = "a \\u escape pygru does not accept (NUL or a surrogate)";
        return 0;
    }
    char *q = *o;
    if (v < 0x80) *q++ = (char)v;   /* UTF-8, at most 3 bytes <= the 6 read */
    else if (v < 0x800) { *q++ = (char)(0xC0 | v >> 6); *q++ = (char)(0x80 | (v & 63)); }
    else {
        *q++ = (char)(0xE0 | v >> 12);
        *q++ = (char)(0x80 | ((v >> 6) & 63));
        *q++ = (char)(0x80 | (v & 63));
    }
    *o = q;
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

/* Decodes a string literal (j->p at the opening quote) into the arena. */
static const char *parse_string(jparser *j)
{
    char *out = j->arena + j->apos, *o = out;
    j->p++;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p++;
        if (c < 0x20) { j->err = "a control character in a string"; return NULL; }
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

static jval *new_node(jparser *j, jtype t)
{
    if (j->used == j->cap) { j->err = "too many values"; return NULL; }
    jval *v = &j->nodes[j->used++];
    memset(v, 0, sizeof *v);
    v->type = t;
    return v;
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
        const char *key = NULL;
        if (obj) {
            skip_ws(j);
            if (j->p >= j->end || *j->p != '"') { j->err = "an object key is not a string"; return NULL; }
            if (!(key = parse_string(j))) return NULL;
            skip_ws(j);
            if (j->p >= j->end || *j->p != ':') { j->err = "a ':' is missing"; return NULL; }
            j->p++;
        }
        jval *child = parse_value(j, depth + 1);
        if (!child) return NULL;
        child->key = key;
        *tail = child;
        tail = &child->next;
        v->n++;
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') { j->p++; continue; }
        if (j->p < j->end && *j->p == close) { j->p++; return v; }
        j->err = obj ? "a ',' or '}' is missing" : "a ',' or ']' is missing";
        return NULL;
    }
}

/* Integers only (a safetensors header has no other numbers); fractions and exponents
 * are refused, as is anything beyond int64. */
static jval *parse_number(jparser *j)
{
    const int neg = *j->p == '-';
    if (neg) j->p++;
    if (j->p >= j->end || *j->p < '0' || *j->p > '9') { j->err = "a bad number"; return NULL; }
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
    j->err = "an unexpected character";
    return NULL;
}

static jval *parse_value(jparser *j, int depth)
{
    skip_ws(j);
    if (j->p >= j->end) { j->err = "unexpected end of the header"; return NULL; }
    if (depth > JSON_MAX_DEPTH) { j->err = "nesting too deep"; return NULL; }
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
