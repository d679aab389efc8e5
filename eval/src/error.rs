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

#[derive(Debug, Clone)]
pub struct EvalError {
    pub kind: ErrorKind,
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
    pub fn new(kind: ErrorKind, message: impl Into<String>, pos: Option<Pos>) -> Box<Self> {
        Box::new(EvalError {
            kind,
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
