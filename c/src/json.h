/*
 * json.h - the small JSON reader of the model-file loader (load.c): objects, arrays,
 * strings with escapes, integers, true/false/null; all a safetensors header holds.
 *
 * Strict where Python's json is lax, so that a file is read the same in both languages:
 * the text must be UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF); \u
 * escapes decode surrogate PAIRS (as Python does) but refuse lone surrogates and
 * \u0000; integers have no leading zeros and fit int64; no object has two members of
 * the same key; nesting is at most JSON_MAX_DEPTH deep and an array holds at most
 * JSON_MAX_ARRAY values (a tensor's shape, its data_offsets).
 *
 * Memory: decoded strings go into the caller's arena (never longer than the text);
 * nodes are allocated as the text needs them, in blocks that double, so they take at
 * most 2 * (nodes in the text) * sizeof(jval) (nodes <= text length / 2 + 2); the
 * duplicate-key check sorts each object's keys (n log n). Time is linear in the text
 * (times log n for the sort).
 */
#ifndef GRU_JSON_H
#define GRU_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 8
#define JSON_MAX_ARRAY 8

typedef enum { J_NULL, J_BOOL, J_INT, J_STR, J_ARR, J_OBJ } jtype;

/* A value; arrays and objects list their children as a chain (first, next). Object
 * members carry their key. Strings are decoded into the parser's arena. */
typedef struct jval {
    jtype type;
    int64_t i;                 /* J_INT, J_BOOL */
    const char *s;             /* J_STR: NUL-terminated (decoded) */
    const char *key;           /* member key, NUL-terminated, or NULL */
    size_t n;                  /* J_ARR, J_OBJ: number of children */
    struct jval *first, *next;
} jval;

typedef struct jblock jblock;  /* a block of nodes (json.c) */

/* Set p, end and arena (at least end - p + 1 bytes); zero the rest. */
typedef struct jparser {
    const char *p, *end;
    char *arena;               /* decoded strings: never longer than the input */
    size_t apos;
    jblock *blocks;            /* the nodes, freed by json_free */
    const char *err;           /* what was wrong (a static string) */
    int no_memory;             /* set when an allocation failed */
} jparser;

/* Parses the whole text [p, end) as one value; NULL (and j->err set, j->no_memory if
 * it was memory) when it is not valid JSON in the sense above. */
const jval *json_parse(jparser *j);

/* Frees the nodes of j (the values json_parse returned). */
void json_free(jparser *j);

/* The member of object obj named key, or NULL. */
const jval *json_member(const jval *obj, const char *key);

#endif /* GRU_JSON_H */
