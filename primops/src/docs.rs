//! The documentation of every builtin, written for Ferrix, keyed by name.
//!
//! [`crate::install`] puts each text into the `doc` field of the builtin it installs, so that
//! the REPL's `:doc` and the command-line help can show it. A text starts with a usage line
//! (the builtin's name and its arguments), then a blank line, then the description; lines of
//! an example are indented by two spaces.

/// `(name, documentation)` for every builtin, sorted by name.
pub static DOCS: &[(&str, &str)] = &[
    (
        "abort",
        "abort message

Stops the evaluation with `message`. Unlike `throw`, the error cannot be caught by
`tryEval`, so use it for situations that are bugs rather than expected failures.",
    ),
    (
        "add",
        "add a b

The sum of two numbers; the same as `a + b` on numbers. If either is a float the result
is a float.",
    ),
    (
        "addErrorContext",
        "addErrorContext message value

Returns `value` unchanged. If forcing `value` fails, `message` is added to the error's
trace, where `--show-trace` shows it.",
    ),
    (
        "all",
        "all pred list

True if `pred` returns true for every element of `list` (and for an empty list). Stops at
the first element for which it returns false.

  all (x: x > 0) [ 1 2 3 ]   # true",
    ),
    (
        "any",
        "any pred list

True if `pred` returns true for at least one element of `list`. Stops at the first such
element; false for an empty list.

  any (x: x == 2) [ 1 2 3 ]   # true",
    ),
    (
        "appendContext",
        "appendContext string context

Returns `string` with extra string context added, given as a set in the form that
`getContext` returns. Meant for low-level code that manipulates derivation references.",
    ),
    (
        "attrNames",
        "attrNames set

The names of the attributes of `set`, as a list of strings sorted alphabetically.

  attrNames { b = 1; a = 2; }   # [ \"a\" \"b\" ]",
    ),
    (
        "attrValues",
        "attrValues set

The values of the attributes of `set`, as a list, in the alphabetical order of their
names.",
    ),
    (
        "baseNameOf",
        "baseNameOf s

The last component of a path or string: everything after the final `/` (a trailing `/` is
ignored).

  baseNameOf \"/a/b/c.nix\"   # \"c.nix\"",
    ),
    (
        "bitAnd",
        "bitAnd a b

The bitwise AND of two integers.",
    ),
    (
        "bitOr",
        "bitOr a b

The bitwise OR of two integers.",
    ),
    (
        "bitXor",
        "bitXor a b

The bitwise exclusive OR of two integers.",
    ),
    (
        "catAttrs",
        "catAttrs name sets

From a list of sets, collects the value of attribute `name` of each set that has one.

  catAttrs \"a\" [ { a = 1; } { b = 2; } { a = 3; } ]   # [ 1 3 ]",
    ),
    (
        "ceil",
        "ceil x

Rounds a number up to the nearest integer.",
    ),
    (
        "compareVersions",
        "compareVersions a b

Compares two version strings component by component, the way `nix-env` orders package
versions. Returns -1 if `a` is older, 0 if they are equal and 1 if `a` is newer.

  compareVersions \"1.2.10\" \"1.2.9\"   # 1",
    ),
    (
        "concatLists",
        "concatLists lists

Joins a list of lists into one list.

  concatLists [ [ 1 ] [ 2 3 ] ]   # [ 1 2 3 ]",
    ),
    (
        "concatMap",
        "concatMap f list

Applies `f`, which must return a list, to each element of `list` and joins the results.
The same as `concatLists (map f list)`, but faster.",
    ),
    (
        "concatStringsSep",
        "concatStringsSep separator strings

Joins a list of strings with `separator` between each pair of them.

  concatStringsSep \", \" [ \"a\" \"b\" ]   # \"a, b\"",
    ),
    (
        "deepSeq",
        "deepSeq a b

Forces `a` completely, including everything inside its lists and sets, then returns `b`.
Useful to surface errors hidden deep inside a value, or to avoid building up thunks.",
    ),
    (
        "derivation",
        "derivation attrs

Describes a build: `attrs` needs at least `name`, `system` and `builder`; every other
attribute is passed to the builder as an environment variable. The result is the set of
`attrs` plus `type = \"derivation\"`, `drvPath`, `outPath` and one attribute per output.",
    ),
    (
        "derivationStrict",
        "derivationStrict attrs

The strict core of `derivation`: writes the `.drv` file for `attrs` to the store and
returns a set holding its path (`drvPath`) and the path of each output.",
    ),
    (
        "dirOf",
        "dirOf s

Everything before the last `/` of a path or string: its directory. A path gives a path,
a string gives a string.

  dirOf /a/b/c.nix   # /a/b",
    ),
    (
        "div",
        "div a b

The quotient of two numbers; the same as `a / b`. Integer division rounds towards zero.
Dividing by zero is an error.",
    ),
    (
        "elem",
        "elem x list

True if `list` contains an element equal (by `==`) to `x`.",
    ),
    (
        "elemAt",
        "elemAt list n

The element of `list` at index `n`, counting from 0. An index out of range is an error.",
    ),
    (
        "fetchGit",
        "fetchGit args

Fetches a Git repository (a URL, or a set with `url`, `rev`, `ref`, ...) into the Nix
store and returns a set describing the checkout. Not available in Ferrix yet: it needs network access, which arrives with its own issue.",
    ),
    (
        "fetchMercurial",
        "fetchMercurial args

Fetches a Mercurial repository into the Nix store. Not available in Ferrix yet: it needs network access, which arrives with its own issue.",
    ),
    (
        "fetchTarball",
        "fetchTarball args

Downloads a tarball (a URL, or a set with `url` and optionally `sha256`), unpacks it into
the Nix store and returns the path. Not available in Ferrix yet: it needs network access, which arrives with its own issue.",
    ),
    (
        "fetchTree",
        "fetchTree input

Fetches a source tree described by a flake-style input into the Nix store. Not available in Ferrix yet: it needs network access, which arrives with its own issue.",
    ),
    (
        "fetchurl",
        "fetchurl url

Downloads a file into the Nix store and returns its path. Not available in Ferrix yet: it needs network access, which arrives with its own issue.",
    ),
    (
        "filter",
        "filter pred list

The elements of `list` for which `pred` returns true, in their original order.

  filter (x: x > 1) [ 1 2 3 ]   # [ 2 3 ]",
    ),
    (
        "filterSource",
        "filterSource pred path

Copies `path` into the Nix store, keeping only the files and directories for which
`pred fullPath type` returns true.",
    ),
    (
        "findFile",
        "findFile searchPath name

Looks `name` up in a search path (a list of `{ prefix; path; }` sets, like `nixPath`) and
returns the path found. `<nixpkgs/lib>` is shorthand for
`findFile nixPath \"nixpkgs/lib\"`.",
    ),
    (
        "floor",
        "floor x

Rounds a number down to the nearest integer.",
    ),
    (
        "foldl'",
        "foldl' op start list

Combines the elements of `list` from the left: `op (op (op start x0) x1) x2` and so on.
Each intermediate result is forced straight away, so long lists do not build up a chain
of unevaluated calls.

  foldl' (acc: x: acc + x) 0 [ 1 2 3 ]   # 6",
    ),
    (
        "fromJSON",
        "fromJSON text

Parses a JSON document into a Nix value: objects become sets, arrays lists, and numbers
integers or floats.

  fromJSON ''{\"a\": [1, 2.5]}''   # { a = [ 1 2.5 ]; }",
    ),
    (
        "fromTOML",
        "fromTOML text

Parses a TOML document into a Nix set.",
    ),
    (
        "functionArgs",
        "functionArgs f

For a function with a set pattern, a set from each formal argument's name to whether it
has a default value. For any other function, an empty set.

  functionArgs ({ a, b ? 1 }: a)   # { a = false; b = true; }",
    ),
    (
        "genList",
        "genList f n

A list of `n` elements where element `i` is `f i`.

  genList (i: i * i) 4   # [ 0 1 4 9 ]",
    ),
    (
        "genericClosure",
        "genericClosure { startSet; operator; }

Computes a closure: starting from the sets in `startSet`, repeatedly applies `operator`
to each new set, which returns more sets. Every set needs a `key` attribute; sets whose
key was seen before are dropped. Returns every set kept, in the order found.",
    ),
    (
        "getAttr",
        "getAttr name set

The attribute called `name` of `set`; the same as `set.${name}`. A missing attribute is
an error.",
    ),
    (
        "getContext",
        "getContext s

The string context of `s` as a set: for each store path it refers to, whether it refers
to the path itself, to all outputs of a derivation, or to some of its outputs.",
    ),
    (
        "getEnv",
        "getEnv name

The value of the environment variable `name` of the evaluating process, or an empty
string if it is not set. Makes the evaluation impure.",
    ),
    (
        "groupBy",
        "groupBy f list

Groups the elements of `list` by the string `f` returns for them: a set from each such
string to the list of elements that gave it.

  groupBy (x: if x > 2 then \"big\" else \"small\") [ 1 3 2 4 ]
  # { big = [ 3 4 ]; small = [ 1 2 ]; }",
    ),
    (
        "hasAttr",
        "hasAttr name set

True if `set` has an attribute called `name`; the same as `set ? ${name}`.",
    ),
    (
        "hasContext",
        "hasContext s

True if the string `s` carries string context (refers to store paths).",
    ),
    (
        "hashFile",
        "hashFile type path

The hash of the file at `path`, in base-16. `type` is one of \"md5\", \"sha1\",
\"sha256\" and \"sha512\".",
    ),
    (
        "hashString",
        "hashString type s

The hash of the string `s`, in base-16. `type` is one of \"md5\", \"sha1\", \"sha256\"
and \"sha512\".

  hashString \"sha1\" \"\"   # \"da39a3ee5e6b4b0d3255bfef95601890afd80709\"",
    ),
    (
        "head",
        "head list

The first element of a list. An empty list is an error.",
    ),
    (
        "import",
        "import path

Reads the Nix file at `path` (or `path/default.nix` for a directory), evaluates it and
returns its value. A file is parsed and evaluated once; later imports share the result.",
    ),
    (
        "intersectAttrs",
        "intersectAttrs e1 e2

The attributes of `e2` whose names also occur in `e1`.

  intersectAttrs { a = 0; } { a = 1; b = 2; }   # { a = 1; }",
    ),
    (
        "isAttrs",
        "isAttrs e

True if `e` evaluates to a set.",
    ),
    (
        "isBool",
        "isBool e

True if `e` evaluates to a Boolean.",
    ),
    (
        "isFloat",
        "isFloat e

True if `e` evaluates to a float.",
    ),
    (
        "isFunction",
        "isFunction e

True if `e` evaluates to a function (a lambda or a builtin).",
    ),
    (
        "isInt",
        "isInt e

True if `e` evaluates to an integer.",
    ),
    (
        "isList",
        "isList e

True if `e` evaluates to a list.",
    ),
    (
        "isNull",
        "isNull e

True if `e` evaluates to `null`. Prefer `e == null`.",
    ),
    (
        "isPath",
        "isPath e

True if `e` evaluates to a path (not a string).",
    ),
    (
        "isString",
        "isString e

True if `e` evaluates to a string.",
    ),
    (
        "length",
        "length list

The number of elements of a list.",
    ),
    (
        "lessThan",
        "lessThan a b

True if `a < b`. Works on numbers, strings (compared byte by byte) and paths.",
    ),
    (
        "listToAttrs",
        "listToAttrs list

Builds a set from a list of `{ name; value; }` sets. When a name occurs more than once,
the first occurrence wins.

  listToAttrs [ { name = \"a\"; value = 1; } ]   # { a = 1; }",
    ),
    (
        "map",
        "map f list

A new list holding `f x` for each element `x` of `list`. The calls are made lazily, when
an element is used.

  map (x: x * 10) [ 1 2 ]   # [ 10 20 ]",
    ),
    (
        "mapAttrs",
        "mapAttrs f set

A set with the same names as `set`, where the value of attribute `name` becomes
`f name value`.

  mapAttrs (n: v: v + 1) { a = 1; }   # { a = 2; }",
    ),
    (
        "match",
        "match regex s

Matches the whole of `s` against the POSIX extended regular expression `regex`. Returns
null if it does not match; otherwise a list with the text of each parenthesised group
(null for a group that took no part in the match).

  match \"a(b+)(c)?\" \"abb\"   # [ \"bb\" null ]",
    ),
    (
        "mul",
        "mul a b

The product of two numbers; the same as `a * b`.",
    ),
    (
        "parseDrvName",
        "parseDrvName s

Splits a package name such as \"hello-2.12\" at the first dash followed by a non-letter
into a set `{ name; version; }`.

  parseDrvName \"hello-2.12\"   # { name = \"hello\"; version = \"2.12\"; }",
    ),
    (
        "partition",
        "partition pred list

Splits `list` into a set of two lists: `right` holds the elements for which `pred` is
true, `wrong` the others, each in their original order.",
    ),
    (
        "path",
        "path { path; name ? ...; filter ? ...; sha256 ? ...; recursive ? true; }

Copies a path into the Nix store, like `filterSource` but with a chosen name and an
optional expected hash.",
    ),
    (
        "pathExists",
        "pathExists path

True if the file or directory `path` exists.",
    ),
    (
        "placeholder",
        "placeholder output

A string that stands for the store path of output `output` of the derivation being
defined; the builder sees the real path in its place.",
    ),
    (
        "readDir",
        "readDir path

The entries of the directory `path`, as a set from each name to its type: \"regular\",
\"directory\", \"symlink\" or \"unknown\".",
    ),
    (
        "readFile",
        "readFile path

The contents of the file at `path`, as a string.",
    ),
    (
        "removeAttrs",
        "removeAttrs set names

`set` without the attributes listed in `names` (names it lacks are ignored).

  removeAttrs { a = 1; b = 2; } [ \"a\" ]   # { b = 2; }",
    ),
    (
        "replaceStrings",
        "replaceStrings from to s

Replaces in `s` every occurrence of a string of the list `from` by the string at the same
index of `to`, scanning from left to right and trying the patterns in order at each
position.

  replaceStrings [ \"a\" \"b\" ] [ \"b\" \"a\" ] \"abc\"   # \"bac\"",
    ),
    (
        "scopedImport",
        "scopedImport scope path

Like `import`, but evaluates the file with the attributes of the set `scope` as extra
variables in scope (they can also override builtins). The result is not cached.",
    ),
    (
        "seq",
        "seq a b

Forces `a` to its outermost form (not its contents), then returns `b`.",
    ),
    (
        "sort",
        "sort lessThan list

Sorts `list` with the comparison `lessThan`, which returns true when its first argument
belongs before its second. The sort is stable.

  sort builtins.lessThan [ 3 1 2 ]   # [ 1 2 3 ]",
    ),
    (
        "split",
        "split regex s

Splits `s` at each match of the POSIX extended regular expression `regex`. The result
alternates the text between matches with, for each match, the list of its parenthesised
groups.

  split \"(,)\" \"a,b\"   # [ \"a\" [ \",\" ] \"b\" ]",
    ),
    (
        "splitVersion",
        "splitVersion s

Splits a version string into its components, the way `compareVersions` sees them.

  splitVersion \"1.2pre3\"   # [ \"1\" \"2\" \"pre\" \"3\" ]",
    ),
    (
        "storePath",
        "storePath path

Turns a store path given as a string into a string that depends on that path, checking
that it exists in the store.",
    ),
    (
        "stringLength",
        "stringLength s

The length of the string `s` in bytes.",
    ),
    (
        "sub",
        "sub a b

The difference of two numbers; the same as `a - b`.",
    ),
    (
        "substring",
        "substring start len s

The part of `s` that starts at byte `start` and is at most `len` bytes long. A negative
`len` means up to the end.

  substring 1 3 \"abcde\"   # \"bcd\"",
    ),
    (
        "tail",
        "tail list

The list without its first element. An empty list is an error.",
    ),
    (
        "throw",
        "throw message

Stops the evaluation with `message`. `tryEval` can catch it, so use it for errors a
caller may want to handle.",
    ),
    (
        "toFile",
        "toFile name contents

Writes `contents` to a file called `name` in the Nix store and returns its path.
`contents` may refer to other store paths (they become references of the file) but not
to derivation outputs.",
    ),
    (
        "toJSON",
        "toJSON value

`value` as a JSON string. Paths are copied to the store and shown as their store paths;
sets with `__toString` or `outPath` show as that string.

  toJSON { a = [ 1 \"x\" ]; }   # \"{\\\"a\\\":[1,\\\"x\\\"]}\"",
    ),
    (
        "toPath",
        "toPath s

Deprecated: converts an absolute path given as a string into a string, after normalising
it. Use `/. + s` to get a real path.",
    ),
    (
        "toString",
        "toString e

Turns `e` into a string: strings stay as they are, paths become their text, integers and
floats their decimal form, `true` becomes \"1\", `false` and `null` the empty string,
and lists the conversion of their elements joined by spaces. Sets need `__toString` or
`outPath`.",
    ),
    (
        "toXML",
        "toXML value

`value` as an XML document, in the format of `nix-instantiate --eval --xml`.",
    ),
    (
        "trace",
        "trace e1 e2

Prints `e1` on standard error (as `trace: ...`) when it is evaluated, then returns `e2`.
Handy for debugging.",
    ),
    (
        "tryEval",
        "tryEval e

Evaluates `e` to its outermost form. Returns `{ success = true; value = e; }`, or
`{ success = false; value = false; }` if that raised an error with `throw` or `assert`.
Other errors, such as `abort` or a missing attribute, are not caught.",
    ),
    (
        "typeOf",
        "typeOf e

The type of `e` as a string: \"int\", \"bool\", \"string\", \"path\", \"null\", \"set\",
\"list\", \"lambda\" or \"float\".",
    ),
    (
        "unsafeDiscardOutputDependency",
        "unsafeDiscardOutputDependency s

`s` with any reference to all outputs of a derivation replaced by a reference to the
`.drv` file alone.",
    ),
    (
        "unsafeDiscardStringContext",
        "unsafeDiscardStringContext s

`s` without its string context: the same text, no longer referring to any store path.",
    ),
    (
        "unsafeGetAttrPos",
        "unsafeGetAttrPos name set

Where attribute `name` of `set` was defined, as `{ file; line; column; }`, or null if
that is not known.",
    ),
    (
        "zipAttrsWith",
        "zipAttrsWith f sets

Merges a list of sets: for each attribute name found in any of them, calls `f name values`
with the list of that attribute's values, in list order.

  zipAttrsWith (n: vs: vs) [ { a = 1; } { a = 2; b = 3; } ]
  # { a = [ 1 2 ]; b = [ 3 ]; }",
    ),
];

/// The documentation of the builtin `name`.
pub fn lookup(name: &str) -> Option<&'static str> {
    DOCS.binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| DOCS[i].1)
}

/// A builtin's documentation split into its usage line (without the name) and its
/// description, when it starts with a usage line.
pub fn split_usage<'d>(name: &str, doc: &'d str) -> (Option<&'d str>, &'d str) {
    let (first, rest) = doc.split_once("\n\n").unwrap_or((doc, ""));
    match first.strip_prefix(name) {
        Some(args) if !first.contains('\n') && (args.is_empty() || args.starts_with(' ')) => {
            (Some(args.trim_start()), rest)
        }
        _ => (None, doc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_complete() {
        for w in DOCS.windows(2) {
            assert!(w[0].0 < w[1].0, "{} before {}", w[0].0, w[1].0);
        }
        for table in crate::tables() {
            for op in table {
                let doc = lookup(op.name).unwrap_or_else(|| panic!("no doc for {}", op.name));
                let (usage, body) = split_usage(op.name, doc);
                assert!(usage.is_some(), "{} has no usage line", op.name);
                assert!(!body.is_empty(), "{} has no description", op.name);
            }
        }
    }
}
