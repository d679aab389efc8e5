/*
 * semver — an example Ferrix plugin in C: Semantic Versioning 2.0.0.
 *
 *   semverParse "1.2.3-rc.1+build.5"
 *     => { major = 1; minor = 2; patch = 3; pre = [ "rc" 1 ]; build = "build.5"; }
 *   semverCompare "1.0.0-alpha" "1.0.0"  => -1   (precedence: -1, 0 or 1)
 *   semverMax [ "1.2.0" "1.10.0" "1.9.9" ] => "1.10.0"
 *   semverSatisfies "^1.2" "1.9.0"  => true (operators ^ ~ >= > <= < = and plain versions)
 *
 * `builtins.importNative ./libsemver.so "initialize"` returns a set of all four.
 *
 * Build: cc -shared -fPIC -O2 -I plugins/include plugins/examples/c/semver.c -o libsemver.so
 */
#include "ferrix_plugin.h"

#include <stdio.h>
#include <string.h>

#define MAX_PRE 16

typedef struct {
    int64_t major, minor, patch;
    size_t n_pre;
    struct {
        const char *s;
        size_t len;
        int numeric;
        int64_t num;
    } pre[MAX_PRE];
    const char *build;
    size_t build_len;
} version;

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int is_ident_char(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

/* Parses a numeric component without leading zeros; returns the number of bytes read. */
static size_t parse_num(const char *s, size_t len, int64_t *out) {
    size_t i = 0;
    int64_t n = 0;
    while (i < len && is_digit(s[i])) {
        if (n > (INT64_MAX - 9) / 10) return 0;
        n = n * 10 + (s[i] - '0');
        i++;
    }
    if (i == 0 || (i > 1 && s[0] == '0')) return 0;
    *out = n;
    return i;
}

/* Parses a version. With `partial`, minor and patch may be missing (for ranges); they are
 * then -1. Returns 0 on success and fills `why` otherwise. */
static int parse_version(const char *s, size_t len, version *v, int partial, const char **why) {
    size_t i = 0, k;
    memset(v, 0, sizeof *v);
    if (len > 0 && s[0] == 'v') i = 1;
    k = parse_num(s + i, len - i, &v->major);
    if (!k) { *why = "expected a major version number"; return -1; }
    i += k;
    v->minor = v->patch = -1;
    if (i < len && s[i] == '.') {
        k = parse_num(s + i + 1, len - i - 1, &v->minor);
        if (!k) { *why = "expected a minor version number"; return -1; }
        i += k + 1;
        if (i < len && s[i] == '.') {
            k = parse_num(s + i + 1, len - i - 1, &v->patch);
            if (!k) { *why = "expected a patch version number"; return -1; }
            i += k + 1;
        }
    }
    if (!partial && v->patch < 0) { *why = "expected MAJOR.MINOR.PATCH"; return -1; }
    if (i < len && s[i] == '-') {
        i++;
        for (;;) {
            size_t start = i;
            int numeric = 1;
            while (i < len && is_ident_char(s[i])) {
                if (!is_digit(s[i])) numeric = 0;
                i++;
            }
            if (i == start) { *why = "empty pre-release identifier"; return -1; }
            if (v->n_pre == MAX_PRE) { *why = "too many pre-release identifiers"; return -1; }
            v->pre[v->n_pre].s = s + start;
            v->pre[v->n_pre].len = i - start;
            v->pre[v->n_pre].numeric = numeric;
            if (numeric) {
                if (parse_num(s + start, i - start, &v->pre[v->n_pre].num) != i - start) {
                    *why = "numeric pre-release identifier with leading zeros";
                    return -1;
                }
            }
            v->n_pre++;
            if (i < len && s[i] == '.') { i++; continue; }
            break;
        }
    }
    if (i < len && s[i] == '+') {
        i++;
        v->build = s + i;
        while (i < len && (is_ident_char(s[i]) || s[i] == '.')) i++;
        v->build_len = (size_t)(s + i - v->build);
        if (v->build_len == 0) { *why = "empty build metadata"; return -1; }
    }
    if (i != len) { *why = "unexpected character"; return -1; }
    return 0;
}

static int cmp_i64(int64_t a, int64_t b) { return a < b ? -1 : a > b; }

/* SemVer precedence (build metadata is ignored). */
static int compare(const version *a, const version *b) {
    int c;
    size_t i;
    if ((c = cmp_i64(a->major, b->major))) return c;
    if ((c = cmp_i64(a->minor < 0 ? 0 : a->minor, b->minor < 0 ? 0 : b->minor))) return c;
    if ((c = cmp_i64(a->patch < 0 ? 0 : a->patch, b->patch < 0 ? 0 : b->patch))) return c;
    if (a->n_pre == 0 || b->n_pre == 0) return cmp_i64(a->n_pre == 0, b->n_pre == 0);
    for (i = 0; i < a->n_pre && i < b->n_pre; i++) {
        if (a->pre[i].numeric && b->pre[i].numeric) {
            if ((c = cmp_i64(a->pre[i].num, b->pre[i].num))) return c;
        } else if (a->pre[i].numeric != b->pre[i].numeric) {
            return a->pre[i].numeric ? -1 : 1;
        } else {
            size_t n = a->pre[i].len < b->pre[i].len ? a->pre[i].len : b->pre[i].len;
            int m = memcmp(a->pre[i].s, b->pre[i].s, n);
            if (m) return m < 0 ? -1 : 1;
            if ((c = cmp_i64((int64_t)a->pre[i].len, (int64_t)b->pre[i].len))) return c;
        }
    }
    return cmp_i64((int64_t)a->n_pre, (int64_t)b->n_pre);
}

/* Reads argument `h` as a version; raises a Nix error naming it if it is not one. */
static int get_version(const ferrix_api *api, ferrix_ctx *ctx, ferrix_value h, version *v,
                       int partial) {
    const char *s, *why = "";
    size_t len;
    if (api->get_string(ctx, h, &s, &len) != FERRIX_OK) return -1;
    if (parse_version(s, len, v, partial, &why) != 0) {
        char msg[256];
        int n = snprintf(msg, sizeof msg, "invalid version '%.*s': %s",
                         (int)(len > 100 ? 100 : len), s, why);
        api->error(ctx, msg, (size_t)n);
        return -1;
    }
    return 0;
}

static ferrix_value semver_compare(const ferrix_api *api, ferrix_ctx *ctx,
                                   const ferrix_value *args, size_t nargs, void *data) {
    version a, b;
    (void)nargs; (void)data;
    if (get_version(api, ctx, args[0], &a, 0) || get_version(api, ctx, args[1], &b, 0))
        return FERRIX_NONE;
    return api->make_int(ctx, compare(&a, &b));
}

static ferrix_value semver_parse(const ferrix_api *api, ferrix_ctx *ctx,
                                 const ferrix_value *args, size_t nargs, void *data) {
    version v;
    ferrix_value pre[MAX_PRE];
    ferrix_attr attrs[5];
    size_t i;
    (void)nargs; (void)data;
    if (get_version(api, ctx, args[0], &v, 0)) return FERRIX_NONE;
    for (i = 0; i < v.n_pre; i++) {
        pre[i] = v.pre[i].numeric ? api->make_int(ctx, v.pre[i].num)
                                  : api->make_string(ctx, v.pre[i].s, v.pre[i].len);
    }
    attrs[0] = (ferrix_attr){"major", 5, api->make_int(ctx, v.major)};
    attrs[1] = (ferrix_attr){"minor", 5, api->make_int(ctx, v.minor)};
    attrs[2] = (ferrix_attr){"patch", 5, api->make_int(ctx, v.patch)};
    attrs[3] = (ferrix_attr){"pre", 3, api->make_list(ctx, pre, v.n_pre)};
    attrs[4] = (ferrix_attr){"build", 5,
                             v.build ? api->make_string(ctx, v.build, v.build_len)
                                     : api->make_null(ctx)};
    return api->make_attrs(ctx, attrs, 5);
}

static ferrix_value semver_max(const ferrix_api *api, ferrix_ctx *ctx,
                               const ferrix_value *args, size_t nargs, void *data) {
    size_t n, i, best = 0;
    version cur, top;
    ferrix_value item, best_item = FERRIX_NONE;
    (void)nargs; (void)data;
    if (api->list_len(ctx, args[0], &n) != FERRIX_OK) return FERRIX_NONE;
    if (n == 0) {
        static const char msg[] = "semverMax: the list is empty";
        return api->error(ctx, msg, sizeof msg - 1);
    }
    for (i = 0; i < n; i++) {
        if (api->list_get(ctx, args[0], i, &item) != FERRIX_OK) return FERRIX_NONE;
        if (get_version(api, ctx, item, &cur, 0)) return FERRIX_NONE;
        if (i == 0 || compare(&cur, &top) > 0) {
            top = cur;
            best = i;
            best_item = item;
        }
    }
    (void)best;
    return best_item;
}

/* One comparator of a range: "^1.2", "~1.2.3", ">=1.0.0", "1.2.3", … */
static int satisfies_one(const ferrix_api *api, ferrix_ctx *ctx, const char *r, size_t len,
                         const version *v, int *ok) {
    const char *why = "";
    char op[3] = {0};
    size_t i = 0;
    version lo;
    int c;
    while (i < len && i < 2 && strchr("^~<>=", r[i])) { op[i] = r[i]; i++; }
    if (parse_version(r + i, len - i, &lo, 1, &why) != 0) {
        char msg[256];
        int n = snprintf(msg, sizeof msg, "invalid range '%.*s': %s",
                         (int)(len > 100 ? 100 : len), r, why);
        api->error(ctx, msg, (size_t)n);
        return -1;
    }
    c = compare(v, &lo);
    if (!strcmp(op, "^") || !strcmp(op, "~")) {
        /* The upper bound: next major for ^ (next minor if major is 0), next minor for ~
         * (next major if only the major was given). */
        version hi = lo;
        hi.n_pre = 0;
        if (op[0] == '^' ? (lo.major > 0 || lo.minor < 0) : lo.minor < 0) {
            hi.major++; hi.minor = 0; hi.patch = 0;
        } else if (op[0] == '~' || lo.minor > 0 || lo.patch < 0) {
            hi.minor++; hi.patch = 0;
        } else {
            hi.patch++;
        }
        *ok = c >= 0 && compare(v, &hi) < 0;
    } else if (!strcmp(op, ">=")) *ok = c >= 0;
    else if (!strcmp(op, ">")) *ok = c > 0;
    else if (!strcmp(op, "<=")) *ok = c <= 0;
    else if (!strcmp(op, "<")) *ok = c < 0;
    else if (!strcmp(op, "=") || !op[0]) *ok = c == 0;
    else {
        static const char msg[] = "invalid range operator";
        api->error(ctx, msg, sizeof msg - 1);
        return -1;
    }
    return 0;
}

/* A range is comparators separated by spaces, all of which must hold. */
static ferrix_value semver_satisfies(const ferrix_api *api, ferrix_ctx *ctx,
                                     const ferrix_value *args, size_t nargs, void *data) {
    const char *r;
    size_t len, i = 0;
    version v;
    int ok = 1;
    (void)nargs; (void)data;
    if (api->get_string(ctx, args[0], &r, &len) != FERRIX_OK) return FERRIX_NONE;
    if (get_version(api, ctx, args[1], &v, 0)) return FERRIX_NONE;
    while (i < len) {
        size_t start;
        int one;
        while (i < len && r[i] == ' ') i++;
        start = i;
        while (i < len && r[i] != ' ') i++;
        if (i == start) break;
        if (satisfies_one(api, ctx, r + start, i - start, &v, &one)) return FERRIX_NONE;
        ok = ok && one;
    }
    return api->make_bool(ctx, ok);
}

static const ferrix_primop_def primops[] = {
    {"semverCompare", 2,
     "Compare two versions by Semantic Versioning 2.0.0 precedence: -1, 0 or 1.\n"
     "Build metadata is ignored: `semverCompare \"1.0.0-alpha\" \"1.0.0\"` is -1.",
     semver_compare, NULL},
    {"semverParse", 1,
     "Parse a version into `{ major; minor; patch; pre; build; }`.",
     semver_parse, NULL},
    {"semverMax", 1, "The highest version of a non-empty list of versions.", semver_max, NULL},
    {"semverSatisfies", 2,
     "Whether a version is in a range such as \"^1.2\", \"~1.2.3\" or \">=1.0.0 <2.0.0\".",
     semver_satisfies, NULL},
};

FERRIX_PLUGIN("semver", primops)

/* For `builtins.importNative ./libsemver.so "initialize"`. */
ferrix_value initialize(const ferrix_api *api, ferrix_ctx *ctx) {
    static const char *const short_names[4] = {"compare", "parse", "max", "satisfies"};
    ferrix_attr attrs[4];
    size_t i;
    for (i = 0; i < 4; i++) {
        const char *n = primops[i].name;
        attrs[i].name = short_names[i];
        attrs[i].name_len = strlen(short_names[i]);
        attrs[i].value = api->primop(ctx, n, strlen(n));
        if (attrs[i].value == FERRIX_NONE) return FERRIX_NONE;
    }
    return api->make_attrs(ctx, attrs, 4);
}
