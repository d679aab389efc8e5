/*
 * The plugin of the call-cost benchmark (bench/plugins/run): two primops doing exactly the
 * work of builtins.add (on integers) and builtins.stringLength.
 *
 * Built as it is, each primop has a strict entry point (ABI 1.2): Ferrix evaluates and
 * type-checks the arguments and passes their contents, and the integer result goes back by
 * content, so a call makes no call back into Ferrix. Built with -DFERRIX_PLUGIN_ABI_MINOR=1
 * only the ABI 1.0 entry points exist, which read and make values through the API.
 */
#include "ferrix_plugin.h"

static ferrix_value arith_add(const ferrix_api *api, ferrix_ctx *ctx, const ferrix_value *args,
                              size_t nargs, void *data) {
    int64_t a, b;
    (void)nargs; (void)data;
    if (api->get_int(ctx, args[0], &a) != FERRIX_OK || api->get_int(ctx, args[1], &b) != FERRIX_OK)
        return FERRIX_NONE;
    return api->make_int(ctx, a + b);
}

static ferrix_value arith_string_length(const ferrix_api *api, ferrix_ctx *ctx,
                                        const ferrix_value *args, size_t nargs, void *data) {
    const char *s;
    size_t len;
    (void)nargs; (void)data;
    if (api->get_string(ctx, args[0], &s, &len) != FERRIX_OK) return FERRIX_NONE;
    return api->make_int(ctx, (int64_t)len);
}

static const ferrix_primop_def primops[] = {
    {"arithAdd", 2, "The sum of two integers.", arith_add, NULL},
    {"arithStringLength", 1, "The length of a string in bytes.", arith_string_length, NULL},
};

#if FERRIX_PLUGIN_ABI_MINOR >= 2
static ferrix_status arith_add_strict(const ferrix_api *api, ferrix_ctx *ctx,
                                      const ferrix_arg *args, size_t nargs,
                                      ferrix_result *result, void *data) {
    (void)api; (void)ctx; (void)nargs; (void)data;
    return ferrix_return_int(result, args[0].as.i + args[1].as.i);
}

static ferrix_status arith_string_length_strict(const ferrix_api *api, ferrix_ctx *ctx,
                                                const ferrix_arg *args, size_t nargs,
                                                ferrix_result *result, void *data) {
    (void)api; (void)ctx; (void)nargs; (void)data;
    return ferrix_return_int(result, (int64_t)args[0].as.s.len);
}

static const ferrix_primop_strict strict[] = {
    {arith_add_strict, {FERRIX_ARG_INT, FERRIX_ARG_INT}},
    {arith_string_length_strict, {FERRIX_ARG_STRING}},
};

FERRIX_PLUGIN_STRICT("arith", primops, strict)
#else
FERRIX_PLUGIN("arith", primops)
#endif
