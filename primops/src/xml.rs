//! Builtins: see the module's table.

use ferrix_eval::value::PrimOp;

pub static PRIMOPS: &[PrimOp] = &[];
