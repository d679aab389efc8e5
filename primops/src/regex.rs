//! `match` and `split`: regular expressions as Nix 2.8 runs them.
//!
//! Nix 2.8 compiles patterns with `std::regex(re, std::regex::extended)` from GNU libstdc++
//! (GCC 12 on the reference system). That engine is not a POSIX leftmost-longest matcher: it
//! is a backtracking search over an NFA that, for the POSIX grammars, keeps the *first* of the
//! longest overall matches in its search order and never revisits fewer iterations of a
//! greedy loop once more iterations led to a match. Capture groups follow from that order,
//! not from POSIX's subexpression rules: `match "(a|ab)(c|bcd)(d*)" "abcd"` is
//! `[ "a" "bcd" "" ]` (POSIX says `[ "ab" "c" "d" ]`), and `match "(a*)*" "aa"` is `[ "" ]`.
//! Neither glibc's `regexec` nor the `regex` crate reproduces that, so this module carries its
//! own engine with the same observable behaviour:
//!
//! - the pattern syntax of libstdc++'s scanner and compiler in `extended` mode, including its
//!   rejections (escaping an ordinary character such as `\n` is an error) and the limit of
//!   100 000 NFA states, counted the way that compiler creates them ("memory limit exceeded");
//! - bytes as signed `char` in the "C" locale: ranges compare signed bytes, classes know
//!   ASCII only, `[[=a=]]` matches `a` and `A`;
//! - the depth-first executor with its repeat guard, run from an explicit stack so that long
//!   inputs cannot overflow the native stack;
//! - `std::regex_match` for `match` and `std::sregex_iterator`'s handling of empty matches
//!   for `split`.
//!
//! Compiled patterns are cached per thread, keyed by the pattern.

use crate::builtin::{prefixed, Builtin};
use crate::util::*;
use ferrix_eval::error::EvalResult;
use ferrix_eval::value::*;
use ferrix_eval::{Evaluator, Pos};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

pub static BUILTINS: &[Builtin] = &[
    prefixed(PrimOp {
        name: "match",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: prim_match,
        doc: "match regex s

Matches the whole of `s` against the POSIX extended regular expression `regex`. Returns
null if it does not match; otherwise a list with the text of each parenthesised group
(null for a group that took no part in the match).

  match \"a(b+)(c)?\" \"abb\"   # [ \"bb\" null ]",
    }),
    prefixed(PrimOp {
        name: "split",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: prim_split,
        doc: "split regex s

Splits `s` at each match of the POSIX extended regular expression `regex`. The result
alternates the text between matches with, for each match, the list of its parenthesised
groups.

  split \"(,)\" \"a,b\"   # [ \"a\" [ \",\" ] \"b\" ]",
    }),
];

// ---------------------------------------------------------------------------------------------
// The builtins

/// The regular expression argument: a string without context, compiled.
fn regex_arg<'a>(ev: &Evaluator<'a>, t: &'a Thunk<'a>, pos: Pos) -> R<Rc<Regex>> {
    let s = string(ev, t, pos)?;
    if let Some(c) = s.context.first() {
        return Err(throw(
            format!(
                "the string '{}' is not allowed to refer to a store path (such as '{}')",
                String::from_utf8_lossy(s.bytes),
                String::from_utf8_lossy(c)
            ),
            pos,
        ));
    }
    // Nix hands the pattern to the compiler as a C string.
    let re = c_str(s.bytes);
    match compile_cached(re) {
        Ok(r) => Ok(r),
        Err(CompileError::Space) => Err(throw(
            format!(
                "memory limit exceeded by regular expression '{}'",
                String::from_utf8_lossy(re)
            ),
            pos,
        )),
        Err(CompileError::Invalid) => Err(throw(
            format!(
                "invalid regular expression '{}'",
                String::from_utf8_lossy(re)
            ),
            pos,
        )),
    }
}

/// The bytes up to the first NUL: Nix 2.8 strings are C strings.
fn c_str(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// The sub-matches as a list of strings (or `null` for groups that took no part); the
/// strings share the input's bytes, which live as long as the arena.
fn group_list<'a>(ev: &Evaluator<'a>, input: &'a [u8], subs: &[Sub]) -> Value<'a> {
    let items: SmallVec<[&'a Thunk<'a>; 8]> = subs
        .iter()
        .map(|s| {
            ev.value_thunk(if s.matched {
                let bytes = input.get(s.first..s.second).unwrap_or_default();
                Value::Str(ev.bump().alloc(NixStr {
                    bytes,
                    context: &[],
                }))
            } else {
                Value::Null
            })
        })
        .collect();
    ev.make_list(&items)
}

fn prim_match<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let re = regex_arg(ev, args[0], pos)?;
    let input = c_str(string(ev, args[1], pos)?.bytes);
    let mut ex = Executor::new(&re, input);
    if !ex.run(0, Mode::Exact, Flags::default()) {
        return Ok(Value::Null);
    }
    Ok(group_list(ev, input, &ex.results[1..]))
}

fn prim_split<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let re = regex_arg(ev, args[0], pos)?;
    let input = c_str(string(ev, args[1], pos)?.bytes);
    let mut items = Vec::new();
    let mut last_end = 0;
    for_each_match(&re, input, |prefix_first, subs| {
        let whole = subs[0];
        let prefix = input.get(prefix_first..whole.first).unwrap_or_default();
        items.push(ev.alloc_thunk(ev.string(prefix)));
        items.push(ev.alloc_thunk(group_list(ev, input, &subs[1..])));
        last_end = whole.second;
    });
    if items.is_empty() {
        // Nix returns the argument itself, context and all.
        return Ok(ev.make_list(&[args[1]]));
    }
    items.push(ev.alloc_thunk(ev.string(input.get(last_end..).unwrap_or_default())));
    Ok(ev.make_list(&items))
}

/// Calls `f` with each match `std::sregex_iterator` visits (the sub-matches, 0 being the
/// whole match) and where the text before it starts. After an empty match the iterator first
/// looks for a non-empty match at the same place, then searches on from the next byte.
fn for_each_match(re: &Regex, input: &[u8], mut f: impl FnMut(usize, &[Sub])) {
    let mut ex = Executor::new(re, input);
    let mut flags = Flags::default();
    if !ex.search(0, flags) {
        return;
    }
    f(0, &ex.results);
    loop {
        let prev = ex.results[0];
        let mut start = prev.second;
        let prefix_first = prev.second;
        if prev.first == prev.second {
            if start == input.len() {
                return;
            }
            let retry = Flags {
                not_null: true,
                continuous: true,
                ..flags
            };
            if ex.search(start, retry) {
                f(prefix_first, &ex.results);
                continue;
            }
            start += 1;
        }
        flags.prev_avail = true;
        if !ex.search(start, flags) {
            return;
        }
        f(prefix_first, &ex.results);
    }
}

// ---------------------------------------------------------------------------------------------
// Compilation

/// What libstdc++ reports: `error_space` for too many NFA states, anything else is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CompileError {
    Invalid,
    Space,
}

type CResult<T> = Result<T, CompileError>;

/// libstdc++'s `_GLIBCXX_REGEX_STATE_LIMIT`.
const STATE_LIMIT: usize = 100_000;

/// No state.
const NONE: usize = usize::MAX;

#[derive(Clone, Copy, Debug)]
enum Op {
    /// Try `alt` (the left alternative), then `next` (the right one).
    Alternative,
    /// Greedy loop: `alt` is one more iteration, `next` leaves.
    Repeat,
    LineBegin,
    LineEnd,
    SubBegin(u32),
    SubEnd(u32),
    Dummy,
    /// Any byte but NUL.
    Any,
    Char(u8),
    /// A bracket expression: an index into [`Regex::sets`].
    Set(u32),
    Accept,
}

#[derive(Clone, Copy, Debug)]
struct State {
    op: Op,
    next: usize,
    alt: usize,
}

impl State {
    fn new(op: Op) -> Self {
        State {
            op,
            next: NONE,
            alt: NONE,
        }
    }

    fn has_alt(&self) -> bool {
        matches!(self.op, Op::Alternative | Op::Repeat)
    }
}

/// A state of a compiled pattern.
#[derive(Clone, Copy, Debug)]
struct Node {
    op: Op,
    next: u32,
    alt: u32,
}

/// A compiled pattern.
struct Regex {
    nodes: Vec<Node>,
    /// 256-bit byte sets of the bracket expressions.
    sets: Vec<[u64; 4]>,
    /// Sub-expressions, counting the whole match as 0.
    groups: usize,
    /// The bytes a match can start with, if it cannot be empty: other start positions are
    /// skipped, which changes nothing but the time taken.
    first: Option<[u64; 4]>,
}

fn has_byte(bits: &[u64; 4], c: u8) -> bool {
    bits[(c >> 6) as usize] >> (c & 63) & 1 != 0
}

impl Regex {
    /// The bytes that can begin a match, or `None` if a match can be empty.
    fn first_bytes(&self) -> Option<[u64; 4]> {
        let n = self.nodes.len();
        let mut seen = vec![false; n];
        let mut stack = vec![0u32];
        let mut bits = [0u64; 4];
        while let Some(i) = stack.pop() {
            let i = i as usize;
            if i >= n || seen[i] {
                continue;
            }
            seen[i] = true;
            let st = self.nodes[i];
            match st.op {
                Op::Accept => return None,
                Op::Any => {
                    for (i, b) in bits.iter_mut().enumerate() {
                        *b |= if i == 0 { !1 } else { !0 };
                    }
                }
                Op::Char(c) => bits[(c >> 6) as usize] |= 1 << (c & 63),
                Op::Set(k) => {
                    for (b, s) in bits.iter_mut().zip(self.sets[k as usize]) {
                        *b |= s;
                    }
                }
                Op::Alternative | Op::Repeat => {
                    stack.push(st.next);
                    stack.push(st.alt);
                }
                Op::SubBegin(_) | Op::SubEnd(_) | Op::LineBegin | Op::LineEnd => {
                    stack.push(st.next)
                }
                Op::Dummy => {}
            }
        }
        Some(bits)
    }

    /// Whether a byte matcher state accepts `c`.
    fn byte_matches(&self, op: Op, c: u8) -> bool {
        match op {
            Op::Any => c != 0,
            Op::Char(x) => c == x,
            Op::Set(k) => self
                .sets
                .get(k as usize)
                .is_some_and(|bits| has_byte(bits, c)),
            _ => false,
        }
    }
}

/// A fragment of the NFA under construction: its first and last state.
#[derive(Clone, Copy)]
struct Seq {
    start: usize,
    end: usize,
}

struct Nfa {
    states: Vec<State>,
    sets: Vec<[u64; 4]>,
    groups: usize,
    open: Vec<u32>,
}

impl Nfa {
    fn insert(&mut self, s: State) -> CResult<usize> {
        self.states.push(s);
        if self.states.len() > STATE_LIMIT {
            return Err(CompileError::Space);
        }
        Ok(self.states.len() - 1)
    }

    fn insert_op(&mut self, op: Op) -> CResult<usize> {
        self.insert(State::new(op))
    }

    fn insert_single(&mut self, op: Op) -> CResult<Seq> {
        let s = self.insert_op(op)?;
        Ok(Seq { start: s, end: s })
    }

    fn insert_branch(&mut self, op: Op, next: usize, alt: usize) -> CResult<usize> {
        self.insert(State { op, next, alt })
    }

    fn sub_begin(&mut self) -> CResult<usize> {
        let id = self.groups as u32;
        self.groups += 1;
        self.open.push(id);
        self.insert_op(Op::SubBegin(id))
    }

    fn sub_end(&mut self) -> CResult<usize> {
        let id = self.open.pop().unwrap_or(0);
        self.insert_op(Op::SubEnd(id))
    }

    /// Points the end of `seq` at `to` and returns the longer fragment.
    fn append(&mut self, seq: Seq, to: Seq) -> Seq {
        self.link(seq.end, to.start);
        Seq {
            start: seq.start,
            end: to.end,
        }
    }

    fn link(&mut self, from: usize, to: usize) {
        if let Some(s) = self.states.get_mut(from) {
            s.next = to;
        }
    }

    /// A copy of a fragment, made by the same depth-first walk as libstdc++'s (which may
    /// copy a state twice; the spare copies count towards the state limit all the same).
    fn clone_seq(&mut self, seq: Seq) -> CResult<Seq> {
        let mut map: BTreeMap<usize, usize> = BTreeMap::new();
        let mut stack = vec![seq.start];
        while let Some(u) = stack.pop() {
            let Some(&dup) = self.states.get(u) else {
                continue;
            };
            let id = self.insert(dup)?;
            map.insert(u, id);
            if dup.has_alt() && dup.alt != NONE && !map.contains_key(&dup.alt) {
                stack.push(dup.alt);
            }
            if u == seq.end {
                continue;
            }
            if dup.next != NONE && !map.contains_key(&dup.next) {
                stack.push(dup.next);
            }
        }
        for &v in map.values() {
            let s = self.states[v];
            if s.next != NONE {
                if let Some(&n) = map.get(&s.next) {
                    self.states[v].next = n;
                }
            }
            if s.has_alt() && s.alt != NONE {
                if let Some(&a) = map.get(&s.alt) {
                    self.states[v].alt = a;
                }
            }
        }
        Ok(Seq {
            start: map.get(&seq.start).copied().unwrap_or(NONE),
            end: map.get(&seq.end).copied().unwrap_or(NONE),
        })
    }

    /// Short-circuits the placeholder states.
    fn eliminate_dummies(&mut self) {
        let n = self.states.len();
        let is_dummy = |states: &[State], i: usize| {
            i != NONE && i < states.len() && matches!(states[i].op, Op::Dummy)
        };
        for i in 0..n {
            let mut next = self.states[i].next;
            let mut guard = 0;
            while is_dummy(&self.states, next) && guard <= n {
                next = self.states[next].next;
                guard += 1;
            }
            self.states[i].next = next;
            if self.states[i].has_alt() {
                let mut alt = self.states[i].alt;
                let mut guard = 0;
                while is_dummy(&self.states, alt) && guard <= n {
                    alt = self.states[alt].next;
                    guard += 1;
                }
                self.states[i].alt = alt;
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    AnyChar,
    OrdChar,
    SubBegin,
    SubEnd,
    BracketBegin,
    BracketNegBegin,
    BracketEnd,
    IntervalBegin,
    IntervalEnd,
    CharClassName,
    CollSymbol,
    EquivClassName,
    Opt,
    Or,
    Closure0,
    Closure1,
    LineBegin,
    LineEnd,
    Comma,
    DupCount,
    BracketDash,
    Eof,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ScanState {
    Normal,
    Brace,
    Bracket,
}

/// The characters with a meaning of their own in extended syntax; only these may be escaped.
const SPECIAL: &[u8] = b".[\\()*+?{|^$";

/// The tokenizer, one token ahead of the parser as in libstdc++.
struct Scanner<'r> {
    re: &'r [u8],
    pos: usize,
    state: ScanState,
    at_bracket_start: bool,
    token: Tok,
    value: Vec<u8>,
}

impl<'r> Scanner<'r> {
    fn new(re: &'r [u8]) -> CResult<Self> {
        let mut s = Scanner {
            re,
            pos: 0,
            state: ScanState::Normal,
            at_bracket_start: false,
            token: Tok::Eof,
            value: Vec::new(),
        };
        s.advance()?;
        Ok(s)
    }

    fn set_char(&mut self, tok: Tok, c: u8) {
        self.token = tok;
        self.value.clear();
        self.value.push(c);
    }

    fn advance(&mut self) -> CResult<()> {
        if self.pos == self.re.len() {
            self.token = Tok::Eof;
            return Ok(());
        }
        match self.state {
            ScanState::Normal => self.scan_normal(),
            ScanState::Bracket => self.scan_bracket(),
            ScanState::Brace => self.scan_brace(),
        }
    }

    fn scan_normal(&mut self) -> CResult<()> {
        let c = self.re[self.pos];
        self.pos += 1;
        if c == 0 {
            // Rejected outside ECMAScript; cannot occur here, as patterns end at a NUL.
            return Err(CompileError::Invalid);
        }
        if !SPECIAL.contains(&c) {
            self.set_char(Tok::OrdChar, c);
            return Ok(());
        }
        match c {
            b'\\' => {
                // Only the special characters may be escaped (libstdc++ built with
                // __STRICT_ANSI__ rejects the rest).
                let Some(&e) = self.re.get(self.pos) else {
                    return Err(CompileError::Invalid);
                };
                if e == 0 || !SPECIAL.contains(&e) {
                    return Err(CompileError::Invalid);
                }
                self.pos += 1;
                self.set_char(Tok::OrdChar, e);
            }
            b'(' => self.token = Tok::SubBegin,
            b')' => self.token = Tok::SubEnd,
            b'[' => {
                self.state = ScanState::Bracket;
                self.at_bracket_start = true;
                if self.re.get(self.pos) == Some(&b'^') {
                    self.token = Tok::BracketNegBegin;
                    self.pos += 1;
                } else {
                    self.token = Tok::BracketBegin;
                }
            }
            b'{' => {
                self.state = ScanState::Brace;
                self.token = Tok::IntervalBegin;
            }
            b'^' => self.token = Tok::LineBegin,
            b'$' => self.token = Tok::LineEnd,
            b'.' => self.token = Tok::AnyChar,
            b'*' => self.token = Tok::Closure0,
            b'+' => self.token = Tok::Closure1,
            b'?' => self.token = Tok::Opt,
            b'|' => self.token = Tok::Or,
            _ => self.set_char(Tok::OrdChar, c),
        }
        Ok(())
    }

    fn scan_bracket(&mut self) -> CResult<()> {
        let c = self.re[self.pos];
        self.pos += 1;
        if c == b'-' {
            self.token = Tok::BracketDash;
        } else if c == b'[' {
            let Some(&k) = self.re.get(self.pos) else {
                return Err(CompileError::Invalid);
            };
            let tok = match k {
                b'.' => Some(Tok::CollSymbol),
                b':' => Some(Tok::CharClassName),
                b'=' => Some(Tok::EquivClassName),
                _ => None,
            };
            match tok {
                Some(tok) => {
                    self.pos += 1;
                    self.token = tok;
                    self.eat_class(k)?;
                }
                None => self.set_char(Tok::OrdChar, c),
            }
        } else if c == b']' && !self.at_bracket_start {
            self.token = Tok::BracketEnd;
            self.state = ScanState::Normal;
        } else {
            self.set_char(Tok::OrdChar, c);
        }
        self.at_bracket_start = false;
        Ok(())
    }

    /// The name of `[:name:]`, `[.name.]` or `[=name=]`, up to the closing `k]`.
    fn eat_class(&mut self, k: u8) -> CResult<()> {
        self.value.clear();
        while self.pos < self.re.len() && self.re[self.pos] != k {
            self.value.push(self.re[self.pos]);
            self.pos += 1;
        }
        if self.re.get(self.pos) != Some(&k) || self.re.get(self.pos + 1) != Some(&b']') {
            return Err(CompileError::Invalid);
        }
        self.pos += 2;
        Ok(())
    }

    fn scan_brace(&mut self) -> CResult<()> {
        let c = self.re[self.pos];
        self.pos += 1;
        if c.is_ascii_digit() {
            self.set_char(Tok::DupCount, c);
            while let Some(&d) = self.re.get(self.pos) {
                if !d.is_ascii_digit() {
                    break;
                }
                self.value.push(d);
                self.pos += 1;
            }
        } else if c == b',' {
            self.token = Tok::Comma;
        } else if c == b'}' {
            self.state = ScanState::Normal;
            self.token = Tok::IntervalEnd;
        } else {
            return Err(CompileError::Invalid);
        }
        Ok(())
    }
}

/// One alternative being parsed: the pieces so far, and the alternatives before it.
struct Frame {
    /// The group's opening state, or `None` for the whole pattern.
    group: Option<usize>,
    disjunction: Option<Seq>,
    terms: Vec<Seq>,
}

/// The last item of a bracket expression, kept back because it may start a range.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    None,
    Char(u8),
    Class,
}

/// A bracket expression under construction.
#[derive(Default)]
struct Bracket {
    chars: Vec<u8>,
    ranges: Vec<(i8, i8)>,
    classes: u16,
    word: bool,
    equiv: Vec<u8>,
}

// Character classes of the "C" locale.
const UPPER: u16 = 1;
const LOWER: u16 = 2;
const ALPHA: u16 = 4;
const DIGIT: u16 = 8;
const XDIGIT: u16 = 16;
const SPACE: u16 = 32;
const PRINT: u16 = 64;
const GRAPH: u16 = 128;
const CNTRL: u16 = 256;
const PUNCT: u16 = 512;
const BLANK: u16 = 1024;

/// The classes of a byte in the "C" locale (nothing above 0x7f).
fn ctype(c: u8) -> u16 {
    let mut m = 0;
    if c.is_ascii_uppercase() {
        m |= UPPER | ALPHA;
    }
    if c.is_ascii_lowercase() {
        m |= LOWER | ALPHA;
    }
    if c.is_ascii_digit() {
        m |= DIGIT;
    }
    if c.is_ascii_hexdigit() {
        m |= XDIGIT;
    }
    if matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        m |= SPACE;
    }
    if (0x20..0x7f).contains(&c) {
        m |= PRINT;
    }
    if (0x21..0x7f).contains(&c) {
        m |= GRAPH;
        if !c.is_ascii_alphanumeric() {
            m |= PUNCT;
        }
    }
    if c < 0x20 || c == 0x7f {
        m |= CNTRL;
    }
    if c == b' ' || c == b'\t' {
        m |= BLANK;
    }
    m
}

/// `[:name:]`: the class mask and whether `_` is included. Names ignore case.
fn class_mask(name: &[u8]) -> Option<(u16, bool)> {
    let name = name.to_ascii_lowercase();
    Some(match &name[..] {
        b"d" | b"digit" => (DIGIT, false),
        b"w" => (ALPHA | DIGIT, true),
        b"s" | b"space" => (SPACE, false),
        b"alnum" => (ALPHA | DIGIT, false),
        b"alpha" => (ALPHA, false),
        b"blank" => (BLANK, false),
        b"cntrl" => (CNTRL, false),
        b"graph" => (GRAPH, false),
        b"lower" => (LOWER, false),
        b"print" => (PRINT, false),
        b"punct" => (PUNCT, false),
        b"upper" => (UPPER, false),
        b"xdigit" => (XDIGIT, false),
        _ => return None,
    })
}

/// The names of the characters 0 to 31 and the punctuation, for `[.name.]` and `[=name=]`;
/// letters name themselves.
fn collating_element(name: &[u8]) -> Option<u8> {
    const CONTROLS: [&str; 32] = [
        "NUL",
        "SOH",
        "STX",
        "ETX",
        "EOT",
        "ENQ",
        "ACK",
        "alert",
        "backspace",
        "tab",
        "newline",
        "vertical-tab",
        "form-feed",
        "carriage-return",
        "SO",
        "SI",
        "DLE",
        "DC1",
        "DC2",
        "DC3",
        "DC4",
        "NAK",
        "SYN",
        "ETB",
        "CAN",
        "EM",
        "SUB",
        "ESC",
        "IS4",
        "IS3",
        "IS2",
        "IS1",
    ];
    const NAMED: &[(&str, u8)] = &[
        ("space", b' '),
        ("exclamation-mark", b'!'),
        ("quotation-mark", b'"'),
        ("number-sign", b'#'),
        ("dollar-sign", b'$'),
        ("percent-sign", b'%'),
        ("ampersand", b'&'),
        ("apostrophe", b'\''),
        ("left-parenthesis", b'('),
        ("right-parenthesis", b')'),
        ("asterisk", b'*'),
        ("plus-sign", b'+'),
        ("comma", b','),
        ("hyphen", b'-'),
        ("period", b'.'),
        ("slash", b'/'),
        ("zero", b'0'),
        ("one", b'1'),
        ("two", b'2'),
        ("three", b'3'),
        ("four", b'4'),
        ("five", b'5'),
        ("six", b'6'),
        ("seven", b'7'),
        ("eight", b'8'),
        ("nine", b'9'),
        ("colon", b':'),
        ("semicolon", b';'),
        ("less-than-sign", b'<'),
        ("equals-sign", b'='),
        ("greater-than-sign", b'>'),
        ("question-mark", b'?'),
        ("commercial-at", b'@'),
        ("left-square-bracket", b'['),
        ("backslash", b'\\'),
        ("right-square-bracket", b']'),
        ("circumflex", b'^'),
        ("underscore", b'_'),
        ("grave-accent", b'`'),
        ("left-curly-bracket", b'{'),
        ("vertical-line", b'|'),
        ("right-curly-bracket", b'}'),
        ("tilde", b'~'),
        ("DEL", 0x7f),
    ];
    if let [c] = name {
        if c.is_ascii_alphabetic() {
            return Some(*c);
        }
    }
    if let Some(i) = CONTROLS.iter().position(|n| n.as_bytes() == name) {
        return Some(i as u8);
    }
    NAMED
        .iter()
        .find(|(n, _)| n.as_bytes() == name)
        .map(|&(_, c)| c)
}

impl Bracket {
    fn add_char(&mut self, c: u8) {
        self.chars.push(c);
    }

    fn make_range(&mut self, l: u8, r: u8) -> CResult<()> {
        // `char` is signed: bytes from 0x80 sort below ASCII.
        let (l, r) = (l as i8, r as i8);
        if l > r {
            return Err(CompileError::Invalid);
        }
        self.ranges.push((l, r));
        Ok(())
    }

    fn matches(&self, c: u8) -> bool {
        if self.chars.contains(&c) {
            return true;
        }
        let s = c as i8;
        if self.ranges.iter().any(|&(l, r)| l <= s && s <= r) {
            return true;
        }
        if ctype(c) & self.classes != 0 || (self.word && c == b'_') {
            return true;
        }
        // Equivalence classes compare the lower-cased byte.
        self.equiv.contains(&c.to_ascii_lowercase())
    }

    fn bits(&self, negate: bool) -> [u64; 4] {
        let mut bits = [0u64; 4];
        for c in 0..=255u8 {
            if self.matches(c) != negate {
                bits[(c >> 6) as usize] |= 1 << (c & 63);
            }
        }
        bits
    }
}

struct Compiler<'r> {
    sc: Scanner<'r>,
    nfa: Nfa,
    /// The value of the token just accepted.
    value: Vec<u8>,
}

/// `regex_traits::value`-style decimal conversion, wrapping like the C++ `long` and truncated
/// to `int` as libstdc++ does.
fn int_value(digits: &[u8]) -> i64 {
    let mut v: i64 = 0;
    for &d in digits {
        v = v.wrapping_mul(10).wrapping_add((d - b'0') as i64);
    }
    v as i32 as i64
}

impl<'r> Compiler<'r> {
    fn accept(&mut self, t: Tok) -> CResult<bool> {
        if self.sc.token != t {
            return Ok(false);
        }
        self.value.clear();
        self.value.extend_from_slice(&self.sc.value);
        self.sc.advance()?;
        Ok(true)
    }

    fn first_value(&self) -> u8 {
        self.value.first().copied().unwrap_or(0)
    }

    fn compile(re: &'r [u8]) -> CResult<Regex> {
        let sc = Scanner::new(re)?;
        let mut c = Compiler {
            sc,
            nfa: Nfa {
                states: Vec::new(),
                sets: Vec::new(),
                groups: 0,
                open: Vec::new(),
            },
            value: Vec::new(),
        };
        c.parse()?;
        c.nfa.eliminate_dummies();
        let index = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
        let nodes = c
            .nfa
            .states
            .iter()
            .map(|s| Node {
                op: s.op,
                next: index(s.next),
                alt: index(s.alt),
            })
            .collect();
        let mut re = Regex {
            nodes,
            sets: c.nfa.sets,
            groups: c.nfa.groups,
            first: None,
        };
        re.first = re.first_bytes();
        Ok(re)
    }

    /// The grammar of libstdc++'s compiler (disjunction, alternative, term, atom, quantifier),
    /// creating the states in the same order, with the nesting of groups on an explicit stack.
    fn parse(&mut self) -> CResult<()> {
        let whole = self.nfa.sub_begin()?;
        let mut frames = vec![Frame {
            group: None,
            disjunction: None,
            terms: Vec::new(),
        }];
        loop {
            let Some(frame) = frames.last_mut() else {
                return Err(CompileError::Invalid);
            };
            // A term: an assertion, or an atom with its quantifiers.
            if self.accept(Tok::LineBegin)? {
                let s = self.nfa.insert_single(Op::LineBegin)?;
                frame.terms.push(s);
                continue;
            }
            if self.accept(Tok::LineEnd)? {
                let s = self.nfa.insert_single(Op::LineEnd)?;
                frame.terms.push(s);
                continue;
            }
            let atom = if self.accept(Tok::AnyChar)? {
                Some(self.nfa.insert_single(Op::Any)?)
            } else if self.accept(Tok::OrdChar)? {
                let c = self.first_value();
                Some(self.nfa.insert_single(Op::Char(c))?)
            } else if self.accept(Tok::SubBegin)? {
                let b = self.nfa.sub_begin()?;
                frames.push(Frame {
                    group: Some(b),
                    disjunction: None,
                    terms: Vec::new(),
                });
                continue;
            } else if self.accept(Tok::BracketNegBegin)? {
                Some(self.bracket(true)?)
            } else if self.accept(Tok::BracketBegin)? {
                Some(self.bracket(false)?)
            } else {
                None
            };
            if let Some(atom) = atom {
                let t = self.quantifiers(atom)?;
                if let Some(frame) = frames.last_mut() {
                    frame.terms.push(t);
                }
                continue;
            }
            // No more terms: the alternative ends with a placeholder state.
            let Some(mut frame) = frames.pop() else {
                return Err(CompileError::Invalid);
            };
            let mut alt = self.nfa.insert_single(Op::Dummy)?;
            for &t in frame.terms.iter().rev() {
                alt = self.nfa.append(t, alt);
            }
            frame.disjunction = Some(match frame.disjunction {
                None => alt,
                Some(left) => {
                    let end = self.nfa.insert_op(Op::Dummy)?;
                    self.nfa.link(left.end, end);
                    self.nfa.link(alt.end, end);
                    let a = self
                        .nfa
                        .insert_branch(Op::Alternative, alt.start, left.start)?;
                    Seq { start: a, end }
                }
            });
            if self.accept(Tok::Or)? {
                frame.terms.clear();
                frames.push(frame);
                continue;
            }
            let body = frame.disjunction.unwrap_or(Seq {
                start: NONE,
                end: NONE,
            });
            match frame.group {
                Some(b) => {
                    if !self.accept(Tok::SubEnd)? {
                        return Err(CompileError::Invalid);
                    }
                    self.nfa.link(b, body.start);
                    let e = self.nfa.sub_end()?;
                    self.nfa.link(body.end, e);
                    let t = self.quantifiers(Seq { start: b, end: e })?;
                    match frames.last_mut() {
                        Some(parent) => parent.terms.push(t),
                        None => return Err(CompileError::Invalid),
                    }
                }
                None => {
                    if !self.accept(Tok::Eof)? {
                        return Err(CompileError::Invalid);
                    }
                    self.nfa.link(whole, body.start);
                    let e = self.nfa.sub_end()?;
                    self.nfa.link(body.end, e);
                    let a = self.nfa.insert_op(Op::Accept)?;
                    self.nfa.link(e, a);
                    return Ok(());
                }
            }
        }
    }

    /// `*`, `+`, `?` and `{m,n}` after an atom, any number of them.
    fn quantifiers(&mut self, mut e: Seq) -> CResult<Seq> {
        loop {
            if self.accept(Tok::Closure0)? {
                let r = self.nfa.insert_branch(Op::Repeat, NONE, e.start)?;
                self.nfa.link(e.end, r);
                e = Seq { start: r, end: r };
            } else if self.accept(Tok::Closure1)? {
                let r = self.nfa.insert_branch(Op::Repeat, NONE, e.start)?;
                self.nfa.link(e.end, r);
                e.end = r;
            } else if self.accept(Tok::Opt)? {
                let end = self.nfa.insert_op(Op::Dummy)?;
                let r = self.nfa.insert_branch(Op::Repeat, NONE, e.start)?;
                self.nfa.link(e.end, end);
                self.nfa.link(r, end);
                e = Seq { start: r, end };
            } else if self.accept(Tok::IntervalBegin)? {
                e = self.interval(e)?;
            } else {
                return Ok(e);
            }
        }
    }

    fn interval(&mut self, r: Seq) -> CResult<Seq> {
        if !self.accept(Tok::DupCount)? {
            return Err(CompileError::Invalid);
        }
        let mut e = self.nfa.insert_single(Op::Dummy)?;
        let min = int_value(&self.value);
        let mut infinite = false;
        let mut n: i64 = 0;
        if self.accept(Tok::Comma)? {
            if self.accept(Tok::DupCount)? {
                n = int_value(&self.value) - min;
            } else {
                infinite = true;
            }
        }
        if !self.accept(Tok::IntervalEnd)? {
            return Err(CompileError::Invalid);
        }
        for _ in 0..min {
            let c = self.nfa.clone_seq(r)?;
            e = self.nfa.append(e, c);
        }
        if infinite {
            let tmp = self.nfa.clone_seq(r)?;
            let s = self.nfa.insert_branch(Op::Repeat, NONE, tmp.start)?;
            self.nfa.link(tmp.end, s);
            e = self.nfa.append(e, Seq { start: s, end: s });
        } else {
            if n < 0 {
                return Err(CompileError::Invalid);
            }
            let end = self.nfa.insert_op(Op::Dummy)?;
            for _ in 0..n {
                let tmp = self.nfa.clone_seq(r)?;
                // "One more" is the alternative, leaving is `next`.
                let a = self.nfa.insert_branch(Op::Repeat, end, tmp.start)?;
                e = self.nfa.append(
                    e,
                    Seq {
                        start: a,
                        end: tmp.end,
                    },
                );
            }
            e = self.nfa.append(e, Seq { start: end, end });
        }
        Ok(e)
    }

    /// A bracket expression after its `[` or `[^`.
    fn bracket(&mut self, negate: bool) -> CResult<Seq> {
        let mut b = Bracket::default();
        let mut last = Last::None;
        if self.accept(Tok::OrdChar)? {
            last = Last::Char(self.first_value());
        } else if self.accept(Tok::BracketDash)? {
            last = Last::Char(b'-');
        }
        while self.bracket_term(&mut last, &mut b)? {}
        if let Last::Char(c) = last {
            b.add_char(c);
        }
        let bits = b.bits(negate);
        let id = self.nfa.sets.len() as u32;
        self.nfa.sets.push(bits);
        self.nfa.insert_single(Op::Set(id))
    }

    fn bracket_term(&mut self, last: &mut Last, b: &mut Bracket) -> CResult<bool> {
        fn push_char(last: &mut Last, b: &mut Bracket, c: u8) {
            if let Last::Char(p) = *last {
                b.add_char(p);
            }
            *last = Last::Char(c);
        }
        fn push_class(last: &mut Last, b: &mut Bracket) {
            if let Last::Char(p) = *last {
                b.add_char(p);
            }
            *last = Last::Class;
        }
        if self.accept(Tok::BracketEnd)? {
            return Ok(false);
        }
        if self.accept(Tok::CollSymbol)? {
            let c = collating_element(&self.value).ok_or(CompileError::Invalid)?;
            b.add_char(c);
            push_char(last, b, c);
        } else if self.accept(Tok::EquivClassName)? {
            push_class(last, b);
            let c = collating_element(&self.value).ok_or(CompileError::Invalid)?;
            b.equiv.push(c.to_ascii_lowercase());
        } else if self.accept(Tok::CharClassName)? {
            push_class(last, b);
            let (mask, word) = class_mask(&self.value).ok_or(CompileError::Invalid)?;
            b.classes |= mask;
            b.word |= word;
        } else if self.accept(Tok::OrdChar)? {
            let c = self.first_value();
            push_char(last, b, c);
        } else if self.accept(Tok::BracketDash)? {
            if self.accept(Tok::BracketEnd)? {
                push_char(last, b, b'-');
                return Ok(false);
            }
            match *last {
                Last::Class | Last::None => return Err(CompileError::Invalid),
                Last::Char(l) => {
                    if self.accept(Tok::OrdChar)? {
                        let r = self.first_value();
                        b.make_range(l, r)?;
                    } else if self.accept(Tok::BracketDash)? {
                        b.make_range(l, b'-')?;
                    } else {
                        return Err(CompileError::Invalid);
                    }
                    *last = Last::None;
                }
            }
        } else {
            return Err(CompileError::Invalid);
        }
        Ok(true)
    }
}

/// Compiled patterns by pattern text, failures included.
#[derive(Default)]
struct Cache {
    map: FxHashMap<Vec<u8>, Result<Rc<Regex>, CompileError>>,
    /// The NFA states and pattern bytes held, to bound the memory.
    size: usize,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Past this size (states plus pattern bytes) the cache starts over.
const CACHE_LIMIT: usize = 1 << 22;

fn compile_cached(re: &[u8]) -> Result<Rc<Regex>, CompileError> {
    if let Some(r) = CACHE.with(|c| c.borrow().map.get(re).cloned()) {
        return r;
    }
    let r = Compiler::compile(re).map(Rc::new);
    let size = re.len() + r.as_ref().map_or(0, |r| r.nodes.len());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.size + size > CACHE_LIMIT {
            c.map.clear();
            c.size = 0;
        }
        c.size += size;
        c.map.insert(re.to_vec(), r.clone());
    });
    r
}

// ---------------------------------------------------------------------------------------------
// Execution

/// A sub-match: `first..second` of the input, if `matched`.
#[derive(Clone, Copy, Debug, Default)]
struct Sub {
    first: usize,
    second: usize,
    matched: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `regex_match`: the match must reach the end of the input.
    Exact,
    /// `regex_search`: any match starting at the current start.
    Prefix,
}

/// The `match_flag_type` bits the iterator uses.
#[derive(Clone, Copy, Default)]
struct Flags {
    not_null: bool,
    continuous: bool,
    prev_avail: bool,
}

/// The pending work of the depth-first search. Each recursive call of libstdc++'s executor
/// becomes a step along a chain of states; what it does once a nested call has returned (undo
/// a change, try the other branch) becomes a task that runs when everything pushed after it
/// has run.
#[derive(Clone, Copy)]
enum Task {
    SetCurrent(usize),
    /// Sub-match `.0` started at `.1`.
    RestoreFirst(u32, usize),
    /// Sub-match `.0` was `.1` (matched) up to `.2`.
    RestoreEnd(u32, bool, usize),
    /// Loop state `.0` was entered `.1` times in a row at `.2`.
    RestoreRep(u32, u8, usize),
    /// The left alternative of this state is done: try the right one.
    AltRight(u32),
    /// Both alternatives are done: merge in whether the left one matched.
    AltJoin(bool),
    /// One more iteration of this loop was tried: leave it unless that found a match.
    RepLeave(u32),
}

/// The buffers of an executor, kept between calls.
#[derive(Default)]
struct Scratch {
    cur_results: Vec<Sub>,
    results: Vec<Sub>,
    rep_count: Vec<(usize, u8)>,
    tasks: Vec<Task>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Past this many tasks, a buffer is not worth keeping.
const SCRATCH_LIMIT: usize = 1 << 16;

impl Drop for Executor<'_> {
    fn drop(&mut self) {
        if self.tasks.capacity() > SCRATCH_LIMIT || self.rep_count.capacity() > SCRATCH_LIMIT {
            return;
        }
        let scratch = Scratch {
            cur_results: std::mem::take(&mut self.cur_results),
            results: std::mem::take(&mut self.results),
            rep_count: std::mem::take(&mut self.rep_count),
            tasks: std::mem::take(&mut self.tasks),
        };
        SCRATCH.with(|s| s.replace(scratch));
    }
}

struct Executor<'r> {
    re: &'r Regex,
    input: &'r [u8],
    /// Where the current attempt starts.
    begin: usize,
    flags: Flags,
    cur_results: Vec<Sub>,
    /// The sub-matches of the last successful attempt.
    results: Vec<Sub>,
    /// Per state: where the loop was last entered, and how often there in a row.
    rep_count: Vec<(usize, u8)>,
    tasks: Vec<Task>,
}

impl<'r> Executor<'r> {
    fn new(re: &'r Regex, input: &'r [u8]) -> Self {
        let mut scratch = SCRATCH.with(|s| s.take());
        scratch.cur_results.clear();
        scratch.cur_results.resize(re.groups, Sub::default());
        scratch.results.clear();
        scratch.results.resize(re.groups, Sub::default());
        scratch.rep_count.clear();
        scratch.rep_count.resize(re.nodes.len(), (usize::MAX, 0));
        Executor {
            re,
            input,
            begin: 0,
            flags: Flags::default(),
            cur_results: scratch.cur_results,
            results: scratch.results,
            rep_count: scratch.rep_count,
            tasks: scratch.tasks,
        }
    }

    /// One match attempt anchored at `begin` (`regex_match` or one start of a search).
    fn run(&mut self, begin: usize, mode: Mode, flags: Flags) -> bool {
        self.begin = begin;
        self.flags = flags;
        self.results.fill(Sub::default());
        self.attempt(mode)
    }

    /// `regex_search` from `start`: the first start position with a match.
    fn search(&mut self, start: usize, flags: Flags) -> bool {
        if self.run(start, Mode::Prefix, flags) {
            return true;
        }
        if self.flags.continuous {
            return false;
        }
        self.flags.prev_avail = true;
        while self.begin < self.input.len() {
            self.begin += 1;
            if self.attempt(Mode::Prefix) {
                return true;
            }
        }
        false
    }

    /// The depth-first search from the start state at `begin`. Among the matches it meets it
    /// keeps the first of the longest (libstdc++'s POSIX mode); a greedy loop that found a
    /// match with one more iteration is not tried with fewer.
    fn attempt(&mut self, mode: Mode) -> bool {
        let re = self.re;
        let input = self.input;
        let begin = self.begin;
        if let Some(first) = &re.first {
            if !input.get(begin).is_some_and(|&c| has_byte(first, c)) {
                return false;
            }
        }
        let exact = mode == Mode::Exact;
        let not_null = self.flags.not_null;
        let at_bol = !self.flags.prev_avail;
        let Executor {
            cur_results,
            results,
            rep_count,
            tasks,
            ..
        } = self;
        let nodes = &re.nodes[..];
        cur_results.copy_from_slice(results);
        tasks.clear();
        let mut cur = begin;
        let mut has_sol = false;
        // The end of the longest match so far.
        let mut sol_pos: Option<usize> = None;
        let mut resume = Some(0u32);
        loop {
            let mut i = match resume.take() {
                Some(i) => i,
                None => match tasks.pop() {
                    None => break,
                    Some(Task::SetCurrent(p)) => {
                        cur = p;
                        continue;
                    }
                    Some(Task::RestoreFirst(k, first)) => {
                        cur_results[k as usize].first = first;
                        continue;
                    }
                    Some(Task::RestoreEnd(k, matched, second)) => {
                        let s = &mut cur_results[k as usize];
                        s.matched = matched;
                        s.second = second;
                        continue;
                    }
                    Some(Task::RestoreRep(i, n, pos)) => {
                        rep_count[i as usize] = (pos, n);
                        continue;
                    }
                    Some(Task::AltRight(i)) => {
                        tasks.push(Task::AltJoin(has_sol));
                        has_sol = false;
                        nodes[i as usize].next
                    }
                    Some(Task::AltJoin(left)) => {
                        has_sol |= left;
                        continue;
                    }
                    Some(Task::RepLeave(i)) => {
                        if has_sol {
                            continue;
                        }
                        nodes[i as usize].next
                    }
                },
            };
            // Follow the chain of states until one has nowhere (more) to go.
            while let Some(n) = nodes.get(i as usize) {
                match n.op {
                    Op::Repeat => {
                        // Another iteration, unless entered twice in a row at this position.
                        tasks.push(Task::RepLeave(i));
                        let rc = &mut rep_count[i as usize];
                        let (pos, count) = *rc;
                        if count == 0 || pos != cur {
                            *rc = (cur, 1);
                        } else if count < 2 {
                            rc.1 += 1;
                        } else {
                            break;
                        }
                        tasks.push(Task::RestoreRep(i, count, pos));
                        i = n.alt;
                    }
                    Op::Alternative => {
                        tasks.push(Task::AltRight(i));
                        i = n.alt;
                    }
                    Op::SubBegin(k) => {
                        let s = &mut cur_results[k as usize];
                        if s.first != cur {
                            tasks.push(Task::RestoreFirst(k, s.first));
                            s.first = cur;
                        }
                        i = n.next;
                    }
                    Op::SubEnd(k) => {
                        let s = &mut cur_results[k as usize];
                        if !s.matched || s.second != cur {
                            tasks.push(Task::RestoreEnd(k, s.matched, s.second));
                            s.second = cur;
                            s.matched = true;
                        }
                        i = n.next;
                    }
                    Op::LineBegin if cur == begin && at_bol => i = n.next,
                    Op::LineEnd if cur == input.len() => i = n.next,
                    Op::Accept => {
                        has_sol = !exact || cur == input.len();
                        if cur == begin && not_null {
                            has_sol = false;
                        }
                        if has_sol && sol_pos.is_none_or(|p| p < cur) {
                            sol_pos = Some(cur);
                            results.copy_from_slice(cur_results);
                        }
                        break;
                    }
                    Op::Any | Op::Char(_) | Op::Set(_) => match input.get(cur) {
                        Some(&c) if re.byte_matches(n.op, c) => {
                            tasks.push(Task::SetCurrent(cur));
                            cur += 1;
                            i = n.next;
                        }
                        _ => break,
                    },
                    Op::LineBegin | Op::LineEnd | Op::Dummy => break,
                }
            }
        }
        has_sol
    }
}
