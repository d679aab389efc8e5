#!/usr/bin/env bash
# (Re)record the expected results of the evaluation corpus from Nix 2.8 (the reference).
#
#   tests/eval/record.sh                 # every tests/eval/{ok,fail}/*.nix
#   tests/eval/record.sh FILE.nix ...    # only these
#
# For each X.nix, runs `nix-instantiate --eval --strict X.nix` from the repository root with a
# relative path, and stores stdout as X.exp (exit 0) or stderr as X.err.exp (exit != 0); the
# other file is removed. Flags depend on the file name:
#
#   lazy-*.nix    without --strict (unevaluated values print as <CODE>)
#   trace-*.nix   with --show-trace
#
# In the recorded text the absolute directory of the test file becomes `$DIR`, its parent
# directory becomes `$DIR/..`, and $HOME becomes `$HOME` (tests/eval_golden.rs applies the same
# substitutions). Nix runs with a throwaway HOME, NIX_PATH unset and NIX_REMOTE=dummy:// so it
# never touches /nix. Helper files that the tests import or read live in tests/eval/data/.
#
# Files under ok/ must evaluate and files under fail/ must not; the script reports any that
# are misplaced, and any success that wrote to stderr, and then exits non-zero.
set -euo pipefail

cd "$(dirname "$0")/../.."
repo=$(pwd -P)

command -v nix-instantiate >/dev/null || { echo "record.sh: nix-instantiate not found" >&2; exit 2; }
command -v perl >/dev/null || { echo "record.sh: perl not found" >&2; exit 2; }
case "$(nix-instantiate --version)" in
    *" 2.8."*) ;;
    *) echo "record.sh: warning: the corpus is meant to be recorded with Nix 2.8, not $(nix-instantiate --version)" >&2 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/home"
home=$(cd "$tmp/home" && pwd -P)

unset NIX_PATH XDG_CONFIG_HOME XDG_CONFIG_DIRS XDG_DATA_HOME XDG_CACHE_HOME XDG_STATE_HOME
export NIX_REMOTE=dummy:// HOME="$home" LC_ALL=C

if [ $# -gt 0 ]; then
    files=()
    for f in "$@"; do
        abs=$(cd "$(dirname "$f")" && pwd -P)/$(basename "$f")
        files+=("${abs#"$repo"/}")
    done
else
    files=(tests/eval/ok/*.nix tests/eval/fail/*.nix)
fi

# Substitute the test directory, its parent and $HOME (literal, not regex).
subst() {
    D="$1" P="$2" H="$home" perl -pe 's/\Q$ENV{D}\E/\$DIR/g; s/\Q$ENV{P}\E/\$DIR\/../g; s/\Q$ENV{H}\E/\$HOME/g'
}

bad=0 nok=0 nfail=0
for rel in "${files[@]}"; do
    base=${rel%.nix}
    name=$(basename "$rel")
    dir="$repo/$(dirname "$rel")"
    parent=$(dirname "$dir")
    flags=(--eval)
    case "$name" in lazy-*) ;; *) flags+=(--strict) ;; esac
    case "$name" in trace-*) flags+=(--show-trace) ;; esac
    status=0
    nix-instantiate "${flags[@]}" "$rel" >"$tmp/out" 2>"$tmp/err" </dev/null || status=$?
    rm -f "$base.exp" "$base.err.exp"
    if [ "$status" -eq 0 ]; then
        subst "$dir" "$parent" <"$tmp/out" >"$base.exp"
        nok=$((nok + 1))
        if [ -s "$tmp/err" ]; then
            echo "record.sh: note: $rel succeeded but wrote to stderr (not recorded):" >&2
            sed 's/^/    /' "$tmp/err" >&2
        fi
    else
        subst "$dir" "$parent" <"$tmp/err" >"$base.err.exp"
        nfail=$((nfail + 1))
    fi
    case "$rel:$status" in
        */ok/*:0 | */fail/*:1) ;;
        *) echo "record.sh: $rel: nix-instantiate exited with $status (misplaced?)" >&2; bad=1 ;;
    esac
done
echo "recorded ${#files[@]} files: $nok evaluated, $nfail failed"
exit $bad
