/*
 * A Ferrix test plugin that misuses the ABI on purpose: stale and foreign handles, a stale
 * context, results without values. Variants are selected at compile time:
 *   -DDECLARE_MAJOR=2 -DDECLARE_MINOR=0   declare another ABI version
 *   -DNO_ENTRY                            export no entry symbol
 *   -DBAD_ARITY                           register a primop of arity 0
 */
#include "ferrix_plugin.h"

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
#ifdef BAD_ARITY
    {"cNoArgs", 0, "Arity 0 is refused.", c_add, NULL},
#endif
};

/* Keeps the table referenced in every variant. */
const ferrix_primop_def *misbehave_table(void) { return primops; }

#ifndef NO_ENTRY
#ifndef DECLARE_MAJOR
FERRIX_PLUGIN("misbehave", primops)
#else
const ferrix_plugin_info *ferrix_plugin_entry(void) {
    static const ferrix_plugin_info info = {DECLARE_MAJOR, DECLARE_MINOR, "misbehave", primops,
                                            sizeof primops / sizeof primops[0]};
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
