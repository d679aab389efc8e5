//! Evaluation errors with positions and a trace, printed as Nix 2.8 prints them.

use crate::value::Value;
use crate::Pos;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `throw`: caught by `tryEval`.
    Throw,
    /// A failed `assert`: caught by `tryEval`.
    Assert,
    /// `abort`: never caught.
    Abort,
    /// Any other evaluation error (type errors, missing attributes, …).
    Eval,
}

#[derive(Debug, Clone)]
pub struct TraceFrame {
    pub message: String,
    pub pos: Option<Pos>,
}

/// What an error is, for code that acts on it (the REPL, hints); the message is for people
/// only, and nothing reads it to find this out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Detail {
    #[default]
    None,
    /// A parse error, of this kind; `position` is its rendered place (`at file:line:col:`
    /// and the source lines), as the parser saw it.
    Parse {
        kind: ferrix_parser::actions::ErrorKind,
        position: Vec<u8>,
    },
    /// `attribute 'NAME' missing` (selecting from a set).
    MissingAttribute(String),
}

#[derive(Debug, Clone)]
pub struct EvalError {
    pub kind: ErrorKind,
    pub detail: Detail,
    pub message: String,
    pub pos: Option<Pos>,
    /// Innermost first.
    pub trace: Vec<TraceFrame>,
    /// "Did you mean …?"
    pub suggestions: Vec<String>,
    /// The exit status Nix gives for this error when it ends the command (102 for a hash
    /// mismatch of a fetched file); `None` for the usual 1.
    pub exit_status: Option<i32>,
}

pub type EvalResult<'a> = Result<Value<'a>, Box<EvalError>>;

impl EvalError {
    /// The kind of parse error this is, if it is one.
    pub fn parse_kind(&self) -> Option<&ferrix_parser::actions::ErrorKind> {
        match &self.detail {
            Detail::Parse { kind, .. } => Some(kind),
            _ => None,
        }
    }

    pub fn new(kind: ErrorKind, message: impl Into<String>, pos: Option<Pos>) -> Box<Self> {
        Box::new(EvalError {
            kind,
            detail: Detail::None,
            message: message.into(),
            pos,
            trace: Vec::new(),
            suggestions: Vec::new(),
            exit_status: None,
        })
    }

    /// Sets the exit status the command ends with.
    pub fn with_exit_status(mut self: Box<Self>, status: i32) -> Box<Self> {
        self.exit_status = Some(status);
        self
    }

    pub fn eval(message: impl Into<String>, pos: Pos) -> Box<Self> {
        Self::new(ErrorKind::Eval, message, Some(pos))
    }

    /// Adds a trace frame ("while evaluating …").
    pub fn with_frame(
        mut self: Box<Self>,
        message: impl Into<String>,
        pos: Option<Pos>,
    ) -> Box<Self> {
        self.trace.push(TraceFrame {
            message: message.into(),
            pos,
        });
        self
    }
}
