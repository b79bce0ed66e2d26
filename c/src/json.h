/*
 * json.h - the small JSON reader of the model-file loader (load.c): objects, arrays,
 * strings with escapes, integers, true/false/null, nesting at most JSON_MAX_DEPTH
 * deep; all a safetensors header holds. It allocates nothing: the caller gives the
 * node array and the arena for decoded strings, sized from the text's length.
 */
#ifndef GRU_JSON_H
#define GRU_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 8

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

typedef struct jparser {
    const char *p, *end;
    jval *nodes;               /* at most cap nodes */
    size_t used, cap;
    char *arena;               /* decoded strings: never longer than the input */
    size_t apos;
    const char *err;
} jparser;

/* Parses the whole text [p, end) as one value; NULL (and j->err set) when it is not
 * valid JSON, is nested too deep, or needs more than cap nodes. */
const jval *json_parse(jparser *j);

/* The member of object obj named key, or NULL. */
const jval *json_member(const jval *obj, const char *key);

#endif /* GRU_JSON_H */
