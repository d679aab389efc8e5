//! Shared by the golden-test harnesses.

pub mod golden;
