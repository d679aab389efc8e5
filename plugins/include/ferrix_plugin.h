/*
 * ferrix_plugin.h — the Ferrix native plugin ABI.
 *
 * A plugin is a shared object that exports `ferrix_plugin_entry`, which returns a
 * `ferrix_plugin_info` naming the ABI version the plugin was built for and its primops.
 * Ferrix refuses a plugin whose major version differs from its own, or whose minor version
 * is newer than its own; an older minor always loads (new minors only append to the end of
 * `ferrix_api` and `ferrix_plugin_info`, and never change what is there).
 *
 * Values are opaque handles (`ferrix_value`). A handle is valid only during the call that
 * received or created it: using it after that call returned, in another call, or on
 * another thread is detected and reported as a Nix error (never undefined behaviour).
 * Handle 0 (FERRIX_NONE) means "no value" and is what failing functions return.
 *
 * Errors: a function that fails records a pending Nix error in the context and returns
 * FERRIX_NONE or FERRIX_ERR. The primop should then return FERRIX_NONE itself; Ferrix
 * reports the pending error. `api->error(ctx, msg, len)` raises an error of the plugin's
 * own. A primop that returns FERRIX_NONE without any error is reported as a plugin fault.
 *
 * Strings are byte strings given as pointer and length (not NUL-terminated). Bytes
 * returned by `get_string`/`attrs_entry` stay valid until the primop returns.
 *
 * C code must not unwind (longjmp, C++ exceptions) through Ferrix frames.
 */
#ifndef FERRIX_PLUGIN_H
#define FERRIX_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The newest ABI this header describes. */
#define FERRIX_ABI_MAJOR 1
#define FERRIX_ABI_MINOR 2

/* The minor version a plugin targets: define it to 0 before including this header to
 * build a plugin that loads into any Ferrix with ABI 1.x (or to 1 for Ferrix 1.1 and later). */
#ifndef FERRIX_PLUGIN_ABI_MINOR
#define FERRIX_PLUGIN_ABI_MINOR FERRIX_ABI_MINOR
#endif

typedef uint64_t ferrix_value;
#define FERRIX_NONE ((ferrix_value)0)

typedef int32_t ferrix_status;
#define FERRIX_OK 0
#define FERRIX_ERR (-1)

/* Value types, as returned by `type_of`. */
typedef int32_t ferrix_type;
#define FERRIX_TYPE_ERROR (-1)
#define FERRIX_TYPE_NULL 0
#define FERRIX_TYPE_BOOL 1
#define FERRIX_TYPE_INT 2
#define FERRIX_TYPE_FLOAT 3
#define FERRIX_TYPE_STRING 4
#define FERRIX_TYPE_PATH 5
#define FERRIX_TYPE_ATTRS 6
#define FERRIX_TYPE_LIST 7
#define FERRIX_TYPE_FUNCTION 8

/* The evaluation context of one call; opaque. */
typedef struct ferrix_ctx ferrix_ctx;

/* One attribute for `make_attrs`. */
typedef struct ferrix_attr {
    const char *name;
    size_t name_len;
    ferrix_value value;
} ferrix_attr;

typedef struct ferrix_api ferrix_api;

/* A primop: called with exactly `arity` arguments (unevaluated; `force` or the getters
 * evaluate them). Returns the result, or FERRIX_NONE after an error. */
typedef ferrix_value (*ferrix_primop_fn)(const ferrix_api *api, ferrix_ctx *ctx,
                                         const ferrix_value *args, size_t nargs, void *data);

/* An initialisation function for `builtins.importNative PATH "SYMBOL"`: builds the value
 * importNative returns. */
typedef ferrix_value (*ferrix_init_fn)(const ferrix_api *api, ferrix_ctx *ctx);

/* The functions Ferrix offers a plugin. */
struct ferrix_api {
    uint32_t abi_major;
    uint32_t abi_minor;
    size_t size; /* sizeof the host's struct */

    /* ---- ABI 1.0 ---- */
    ferrix_value (*make_null)(ferrix_ctx *ctx);
    ferrix_value (*make_bool)(ferrix_ctx *ctx, int32_t b);
    ferrix_value (*make_int)(ferrix_ctx *ctx, int64_t n);
    ferrix_value (*make_float)(ferrix_ctx *ctx, double f);
    ferrix_value (*make_string)(ferrix_ctx *ctx, const char *s, size_t len);
    /* An absolute path; it is canonicalised as Nix path literals are. */
    ferrix_value (*make_path)(ferrix_ctx *ctx, const char *s, size_t len);
    ferrix_value (*make_list)(ferrix_ctx *ctx, const ferrix_value *items, size_t n);
    /* Names must be distinct. */
    ferrix_value (*make_attrs)(ferrix_ctx *ctx, const ferrix_attr *attrs, size_t n);

    /* Forces the value and returns its type, or FERRIX_TYPE_ERROR. */
    ferrix_type (*type_of)(ferrix_ctx *ctx, ferrix_value v);
    /* Evaluates the value (to weak head normal form). */
    ferrix_status (*force)(ferrix_ctx *ctx, ferrix_value v);
    /* The getters force the value and check its type with Nix's messages. */
    ferrix_status (*get_bool)(ferrix_ctx *ctx, ferrix_value v, int32_t *out);
    ferrix_status (*get_int)(ferrix_ctx *ctx, ferrix_value v, int64_t *out);
    /* Accepts integers too, as Nix does where it wants a float. */
    ferrix_status (*get_float)(ferrix_ctx *ctx, ferrix_value v, double *out);
    /* A string's or a path's bytes (a string's context is not reported). */
    ferrix_status (*get_string)(ferrix_ctx *ctx, ferrix_value v, const char **s, size_t *len);
    ferrix_status (*list_len)(ferrix_ctx *ctx, ferrix_value list, size_t *out);
    ferrix_status (*list_get)(ferrix_ctx *ctx, ferrix_value list, size_t i, ferrix_value *out);
    ferrix_status (*attrs_len)(ferrix_ctx *ctx, ferrix_value set, size_t *out);
    /* *out is FERRIX_NONE when the set has no such attribute. */
    ferrix_status (*attrs_get)(ferrix_ctx *ctx, ferrix_value set, const char *name,
                               size_t len, ferrix_value *out);
    /* Calls a function with arguments and forces the result. */
    ferrix_status (*call)(ferrix_ctx *ctx, ferrix_value f, const ferrix_value *args, size_t n,
                          ferrix_value *out);
    /* Raises a Nix error with this message; returns FERRIX_NONE, for `return api->error(…)`. */
    ferrix_value (*error)(ferrix_ctx *ctx, const char *msg, size_t len);
    /* This plugin's primop of that name, as a function value. */
    ferrix_value (*primop)(ferrix_ctx *ctx, const char *name, size_t len);

#if FERRIX_PLUGIN_ABI_MINOR >= 1
    /* ---- ABI 1.1 ---- */
    /* The i-th attribute of a set, in a stable but unspecified order. */
    ferrix_status (*attrs_entry)(ferrix_ctx *ctx, ferrix_value set, size_t i,
                                 const char **name, size_t *name_len, ferrix_value *out);
    /* Prints "warning: MSG" on standard error. */
    void (*warn)(ferrix_ctx *ctx, const char *msg, size_t len);
#endif
};

#if FERRIX_PLUGIN_ABI_MINOR >= 2
/* ---- ABI 1.2: strict entry points ----
 *
 * A primop may also have a strict entry point. Ferrix then evaluates the arguments the
 * primop asks for before the call (in order, with Nix's own type errors) and passes their
 * contents, and the primop returns a null, Boolean, integer or float by content: the
 * common case needs no call back into Ferrix, so such a call costs what a builtin's does. */

/* How a strict entry point takes each argument. */
#define FERRIX_ARG_LAZY 0   /* unevaluated: only `value` is set (type FERRIX_TYPE_UNKNOWN) */
#define FERRIX_ARG_ANY 1    /* evaluated: `type` is set, and `as` for scalars and strings */
#define FERRIX_ARG_BOOL 2   /* a Boolean in as.b */
#define FERRIX_ARG_INT 3    /* an integer in as.i */
#define FERRIX_ARG_FLOAT 4  /* a float or an integer, as a float in as.f */
#define FERRIX_ARG_STRING 5 /* a string or a path: its bytes in as.s (valid until return) */

/* The type of a lazy argument. */
#define FERRIX_TYPE_UNKNOWN (-2)

typedef struct ferrix_arg {
    ferrix_value value; /* the handle, as the ABI 1.0 entry point receives it */
    ferrix_type type;
    union {
        int32_t b;
        int64_t i;
        double f;
        struct {
            const char *ptr;
            size_t len;
        } s;
    } as;
} ferrix_arg;

/* A result type meaning "the handle in as.value". */
#define FERRIX_RESULT_VALUE 64

/* What a strict entry point returns: type FERRIX_TYPE_NULL, _BOOL (as.b), _INT (as.i) or
 * _FLOAT (as.f) by content, or FERRIX_RESULT_VALUE and any handle (as.value). */
typedef struct ferrix_result {
    ferrix_type type;
    union {
        int32_t b;
        int64_t i;
        double f;
        ferrix_value value;
    } as;
} ferrix_result;

/* Returns FERRIX_OK with *result set, or FERRIX_ERR after an error (see above). */
typedef ferrix_status (*ferrix_primop_strict_fn)(const ferrix_api *api, ferrix_ctx *ctx,
                                                 const ferrix_arg *args, size_t nargs,
                                                 ferrix_result *result, void *data);

/* A primop's strict entry point; `fn` NULL means it has none. `args` gives a FERRIX_ARG_*
 * for each argument (entries past the arity are ignored; zero is lazy). */
typedef struct ferrix_primop_strict {
    ferrix_primop_strict_fn fn;
    uint8_t args[16];
} ferrix_primop_strict;

static inline ferrix_status ferrix_return_null(ferrix_result *r) {
    r->type = FERRIX_TYPE_NULL;
    return FERRIX_OK;
}
static inline ferrix_status ferrix_return_bool(ferrix_result *r, int32_t b) {
    r->type = FERRIX_TYPE_BOOL;
    r->as.b = b;
    return FERRIX_OK;
}
static inline ferrix_status ferrix_return_int(ferrix_result *r, int64_t i) {
    r->type = FERRIX_TYPE_INT;
    r->as.i = i;
    return FERRIX_OK;
}
static inline ferrix_status ferrix_return_float(ferrix_result *r, double f) {
    r->type = FERRIX_TYPE_FLOAT;
    r->as.f = f;
    return FERRIX_OK;
}
/* A handle made by the API (or an argument's); FERRIX_NONE (a failed make_*) fails. */
static inline ferrix_status ferrix_return_value(ferrix_result *r, ferrix_value v) {
    if (v == FERRIX_NONE) return FERRIX_ERR;
    r->type = FERRIX_RESULT_VALUE;
    r->as.value = v;
    return FERRIX_OK;
}
#endif

/* One primop a plugin registers. */
typedef struct ferrix_primop_def {
    const char *name;  /* NUL-terminated; its name in `builtins` */
    uint32_t arity;    /* 1 to FERRIX_MAX_ARITY */
    const char *doc;   /* NUL-terminated documentation (shown by the REPL's :doc), or NULL */
    ferrix_primop_fn fn;
    void *data;        /* passed back to fn */
} ferrix_primop_def;

#define FERRIX_MAX_ARITY 16

/* What `ferrix_plugin_entry` returns. The two version fields come first in every ABI
 * version, so that a loader can always read them. */
typedef struct ferrix_plugin_info {
    uint32_t abi_major;
    uint32_t abi_minor;
    const char *name; /* NUL-terminated */
    const ferrix_primop_def *primops;
    size_t n_primops;
#if FERRIX_PLUGIN_ABI_MINOR >= 2
    /* ABI 1.2: NULL, or n_primops strict entry points, one for each primop in order. */
    const ferrix_primop_strict *strict;
#endif
} ferrix_plugin_info;

#define FERRIX_PLUGIN_ENTRY_SYMBOL "ferrix_plugin_entry"

#if FERRIX_PLUGIN_ABI_MINOR >= 2
#define FERRIX_NO_STRICT_ , NULL
#else
#define FERRIX_NO_STRICT_
#endif

/* Defines the entry symbol for a plugin named NAME with the primops in the array DEFS. */
#define FERRIX_PLUGIN(NAME, DEFS)                                                        \
    const ferrix_plugin_info *ferrix_plugin_entry(void) {                                \
        static const ferrix_plugin_info info = {                                         \
            FERRIX_ABI_MAJOR, FERRIX_PLUGIN_ABI_MINOR, NAME, DEFS,                       \
            sizeof(DEFS) / sizeof((DEFS)[0]) FERRIX_NO_STRICT_};                         \
        return &info;                                                                    \
    }

#if FERRIX_PLUGIN_ABI_MINOR >= 2
/* As FERRIX_PLUGIN, with STRICT an array of strict entry points parallel to DEFS. */
#define FERRIX_PLUGIN_STRICT(NAME, DEFS, STRICT)                                         \
    typedef char ferrix_strict_table_matches_primops                                     \
        [sizeof(STRICT) / sizeof((STRICT)[0]) == sizeof(DEFS) / sizeof((DEFS)[0]) ? 1 : -1]; \
    const ferrix_plugin_info *ferrix_plugin_entry(void) {                                \
        static const ferrix_plugin_info info = {                                         \
            FERRIX_ABI_MAJOR, FERRIX_PLUGIN_ABI_MINOR, NAME, DEFS,                       \
            sizeof(DEFS) / sizeof((DEFS)[0]), STRICT};                                   \
        return &info;                                                                    \
    }
#endif

#ifdef __cplusplus
}
#endif

#endif /* FERRIX_PLUGIN_H */
