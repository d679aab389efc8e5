/*
 * A Ferrix test plugin that misuses the ABI on purpose: stale and foreign handles, a stale
 * context, results without values. Variants are selected at compile time:
 *   -DDECLARE_MAJOR=2 -DDECLARE_MINOR=0   declare another ABI version
 *   -DNO_ENTRY                            export no entry symbol
 *   -DBAD_ARITY                           register a primop of arity 0
 *   -DBAD_KIND                            a strict entry point with an invalid argument kind
 *   -DFERRIX_PLUGIN_ABI_MINOR=1           no strict entry points (ABI 1.1)
 */
#include "ferrix_plugin.h"

#include <stdio.h>
#include <string.h>

static ferrix_value stashed_value;
static ferrix_ctx *stashed_ctx;

/* Keeps the argument's handle and the context for later misuse; returns the argument. */
static ferrix_value c_stash(const ferrix_api *api, ferrix_ctx *ctx, const ferrix_value *args,
                            size_t nargs, void *data) {
    (void)api; (void)nargs; (void)data;
    stashed_value = args[0];
    stashed_ctx = ctx;
    return args[0];
}

/* Uses the handle kept by cStash in a later call. */
static ferrix_value c_use_stale(const ferrix_api *api, ferrix_ctx *ctx,
                                const ferrix_value *args, size_t nargs, void *data) {
    int64_t n = 0;
    (void)args; (void)nargs; (void)data;
    if (api->get_int(ctx, stashed_value, &n) != FERRIX_OK) return FERRIX_NONE;
    return api->make_int(ctx, n);
}

/* Uses a made-up handle. */
static ferrix_value c_foreign(const ferrix_api *api, ferrix_ctx *ctx, const ferrix_value *args,
                              size_t nargs, void *data) {
    int64_t n = 0;
    (void)args; (void)nargs; (void)data;
    if (api->get_int(ctx, (ferrix_value)0x7777000000001234ull, &n) != FERRIX_OK)
        return FERRIX_NONE;
    return api->make_int(ctx, n);
}

/* Uses the context kept by cStash; then returns a good value anyway. */
static ferrix_value c_stale_ctx(const ferrix_api *api, ferrix_ctx *ctx,
                                const ferrix_value *args, size_t nargs, void *data) {
    (void)args; (void)nargs; (void)data;
    api->make_int(stashed_ctx, 1);
    return api->make_int(ctx, 2);
}

static ferrix_value c_returns_none(const ferrix_api *api, ferrix_ctx *ctx,
                                   const ferrix_value *args, size_t nargs, void *data) {
    (void)api; (void)ctx; (void)args; (void)nargs; (void)data;
    return FERRIX_NONE;
}

static ferrix_value c_returns_foreign(const ferrix_api *api, ferrix_ctx *ctx,
                                      const ferrix_value *args, size_t nargs, void *data) {
    (void)api; (void)ctx; (void)args; (void)nargs; (void)data;
    return (ferrix_value)0x1234;
}

static ferrix_value c_error(const ferrix_api *api, ferrix_ctx *ctx, const ferrix_value *args,
                            size_t nargs, void *data) {
    const char *s;
    size_t len;
    (void)nargs; (void)data;
    if (api->get_string(ctx, args[0], &s, &len) != FERRIX_OK) return FERRIX_NONE;
    return api->error(ctx, s, len);
}

/* Plain addition, the same work as builtins.add (for the benchmark and version tests). */
static ferrix_value c_add(const ferrix_api *api, ferrix_ctx *ctx, const ferrix_value *args,
                          size_t nargs, void *data) {
    int64_t a, b;
    (void)nargs; (void)data;
    if (api->get_int(ctx, args[0], &a) != FERRIX_OK || api->get_int(ctx, args[1], &b) != FERRIX_OK)
        return FERRIX_NONE;
    return api->make_int(ctx, a + b);
}

/* Plain string length, the same work as builtins.stringLength. */
static ferrix_value c_strlen(const ferrix_api *api, ferrix_ctx *ctx, const ferrix_value *args,
                             size_t nargs, void *data) {
    const char *s;
    size_t len;
    (void)nargs; (void)data;
    if (api->get_string(ctx, args[0], &s, &len) != FERRIX_OK) return FERRIX_NONE;
    return api->make_int(ctx, (int64_t)len);
}

#if FERRIX_PLUGIN_ABI_MINOR >= 2
/* Strict entry points (ABI 1.2): the arguments arrive evaluated, the results go back by
 * content. */
static ferrix_status s_add(const ferrix_api *api, ferrix_ctx *ctx, const ferrix_arg *args,
                           size_t nargs, ferrix_result *result, void *data) {
    (void)api; (void)ctx; (void)nargs; (void)data;
    return ferrix_return_int(result, args[0].as.i + args[1].as.i);
}

static ferrix_status s_strlen(const ferrix_api *api, ferrix_ctx *ctx, const ferrix_arg *args,
                              size_t nargs, ferrix_result *result, void *data) {
    (void)api; (void)ctx; (void)nargs; (void)data;
    return ferrix_return_int(result, (int64_t)args[0].as.s.len);
}

/* Describes its evaluated argument: type, contents; the lazy second one is returned as is. */
static ferrix_status s_describe(const ferrix_api *api, ferrix_ctx *ctx, const ferrix_arg *args,
                                size_t nargs, ferrix_result *result, void *data) {
    char buf[160];
    int n;
    (void)nargs; (void)data;
    if (args[1].type != FERRIX_TYPE_UNKNOWN) {
        api->error(ctx, "not lazy", 8);
        return FERRIX_ERR;
    }
    switch (args[0].type) {
    case FERRIX_TYPE_INT: n = snprintf(buf, sizeof buf, "int %lld", (long long)args[0].as.i); break;
    case FERRIX_TYPE_FLOAT: n = snprintf(buf, sizeof buf, "float %g", args[0].as.f); break;
    case FERRIX_TYPE_BOOL: n = snprintf(buf, sizeof buf, "bool %d", (int)args[0].as.b); break;
    case FERRIX_TYPE_STRING:
    case FERRIX_TYPE_PATH:
        n = snprintf(buf, sizeof buf, "%s %.*s", args[0].type == FERRIX_TYPE_PATH ? "path" : "string",
                     (int)args[0].as.s.len, args[0].as.s.ptr);
        break;
    default: n = snprintf(buf, sizeof buf, "type %d", (int)args[0].type); break;
    }
    {
        ferrix_value items[2];
        items[0] = api->make_string(ctx, buf, (size_t)n);
        items[1] = args[1].value;
        return ferrix_return_value(result, api->make_list(ctx, items, 2));
    }
}

/* Half of a number (FERRIX_ARG_FLOAT takes integers too), or a Boolean's negation. */
static ferrix_status s_half(const ferrix_api *api, ferrix_ctx *ctx, const ferrix_arg *args,
                            size_t nargs, ferrix_result *result, void *data) {
    (void)api; (void)ctx; (void)nargs; (void)data;
    return ferrix_return_float(result, args[0].as.f / 2);
}

static ferrix_status s_not(const ferrix_api *api, ferrix_ctx *ctx, const ferrix_arg *args,
                           size_t nargs, ferrix_result *result, void *data) {
    (void)api; (void)ctx; (void)nargs; (void)data;
    return ferrix_return_bool(result, !args[0].as.b);
}

static ferrix_status s_null(const ferrix_api *api, ferrix_ctx *ctx, const ferrix_arg *args,
                            size_t nargs, ferrix_result *result, void *data) {
    (void)api; (void)ctx; (void)args; (void)nargs; (void)data;
    return ferrix_return_null(result);
}

/* Misuse: failure without an error; success without a result; a string "by content". */
static ferrix_status s_err_silent(const ferrix_api *api, ferrix_ctx *ctx, const ferrix_arg *args,
                                  size_t nargs, ferrix_result *result, void *data) {
    (void)api; (void)ctx; (void)args; (void)nargs; (void)result; (void)data;
    return FERRIX_ERR;
}

static ferrix_status s_no_result(const ferrix_api *api, ferrix_ctx *ctx, const ferrix_arg *args,
                                 size_t nargs, ferrix_result *result, void *data) {
    (void)api; (void)ctx; (void)args; (void)nargs; (void)result; (void)data;
    return FERRIX_OK;
}

static ferrix_status s_bad_type(const ferrix_api *api, ferrix_ctx *ctx, const ferrix_arg *args,
                                size_t nargs, ferrix_result *result, void *data) {
    (void)api; (void)ctx; (void)args; (void)nargs; (void)data;
    result->type = FERRIX_TYPE_STRING;
    return FERRIX_OK;
}

static ferrix_status s_foreign(const ferrix_api *api, ferrix_ctx *ctx, const ferrix_arg *args,
                               size_t nargs, ferrix_result *result, void *data) {
    (void)api; (void)ctx; (void)args; (void)nargs; (void)data;
    return ferrix_return_value(result, (ferrix_value)0x1234);
}
#endif

/* The 1.0 entry point of primops that exist for their strict entry point. */
static ferrix_value c_strict_only(const ferrix_api *api, ferrix_ctx *ctx,
                                  const ferrix_value *args, size_t nargs, void *data) {
    static const char msg[] = "this primop needs a Ferrix with ABI 1.2";
    (void)args; (void)nargs; (void)data;
    return api->error(ctx, msg, sizeof msg - 1);
}

static const ferrix_primop_def primops[] = {
    {"cStash", 1, "Keeps its argument's handle.", c_stash, NULL},
    {"cUseStale", 1, "Uses a stale handle.", c_use_stale, NULL},
    {"cForeign", 1, "Uses a made-up handle.", c_foreign, NULL},
    {"cStaleCtx", 1, "Uses a stale context.", c_stale_ctx, NULL},
    {"cReturnsNone", 1, "Returns no value.", c_returns_none, NULL},
    {"cReturnsForeign", 1, "Returns a made-up handle.", c_returns_foreign, NULL},
    {"cError", 1, "Raises its argument as an error.", c_error, NULL},
    {"cAdd", 2, "Adds two integers.", c_add, NULL},
    {"cStrlen", 1, "The length of a string.", c_strlen, NULL},
    {"cDescribe", 2, "Describes its first argument; returns the second unevaluated.",
     c_strict_only, NULL},
    {"cHalf", 1, "Half of a number.", c_strict_only, NULL},
    {"cNot", 1, "Negates a Boolean.", c_strict_only, NULL},
    {"cNull", 1, "Returns null.", c_strict_only, NULL},
    {"cErrSilent", 1, "Fails without an error.", c_strict_only, NULL},
    {"cNoResult", 1, "Succeeds without a result.", c_strict_only, NULL},
    {"cBadType", 1, "Returns a string by content.", c_strict_only, NULL},
    {"cStrictForeign", 1, "Returns a made-up handle.", c_strict_only, NULL},
#ifdef BAD_ARITY
    {"cNoArgs", 0, "Arity 0 is refused.", c_add, NULL},
#endif
};

#if FERRIX_PLUGIN_ABI_MINOR >= 2
/* Parallel to `primops`. */
static const ferrix_primop_strict strict[] = {
    {NULL, {0}}, {NULL, {0}}, {NULL, {0}}, {NULL, {0}}, {NULL, {0}}, {NULL, {0}}, {NULL, {0}},
    {s_add, {FERRIX_ARG_INT, FERRIX_ARG_INT}},
    {s_strlen, {FERRIX_ARG_STRING}},
    {s_describe, {FERRIX_ARG_ANY, FERRIX_ARG_LAZY}},
#ifdef BAD_KIND
    {s_half, {9}},
#else
    {s_half, {FERRIX_ARG_FLOAT}},
#endif
    {s_not, {FERRIX_ARG_BOOL}},
    {s_null, {FERRIX_ARG_ANY}},
    {s_err_silent, {FERRIX_ARG_ANY}},
    {s_no_result, {FERRIX_ARG_ANY}},
    {s_bad_type, {FERRIX_ARG_ANY}},
    {s_foreign, {FERRIX_ARG_ANY}},
#ifdef BAD_ARITY
    {NULL, {0}},
#endif
};
#define MISBEHAVE_STRICT , strict
const ferrix_primop_strict *misbehave_strict(void) { return strict; }
#else
#define MISBEHAVE_STRICT
#endif

/* Keeps the table referenced in every variant. */
const ferrix_primop_def *misbehave_table(void) { return primops; }

#ifndef NO_ENTRY
#ifndef DECLARE_MAJOR
const ferrix_plugin_info *ferrix_plugin_entry(void) {
    static const ferrix_plugin_info info = {FERRIX_ABI_MAJOR, FERRIX_PLUGIN_ABI_MINOR, "misbehave",
                                            primops, sizeof primops / sizeof primops[0]
                                            MISBEHAVE_STRICT};
    return &info;
}
#else
const ferrix_plugin_info *ferrix_plugin_entry(void) {
    static const ferrix_plugin_info info = {DECLARE_MAJOR, DECLARE_MINOR, "misbehave", primops,
                                            sizeof primops / sizeof primops[0]
                                            MISBEHAVE_STRICT};
    return &info;
}
#endif
#endif

/* For importNative: the plugin's add primop. */
ferrix_value init_add(const ferrix_api *api, ferrix_ctx *ctx) {
    return api->primop(ctx, "cAdd", 4);
}

/* An init function that fails. */
ferrix_value init_fails(const ferrix_api *api, ferrix_ctx *ctx) {
    static const char msg[] = "cannot initialise: no configuration";
    return api->error(ctx, msg, sizeof msg - 1);
}
