//! The step log. Every line is timestamped by the host and kept in
//! `.baton/runs/<run>/logs/<board>.<step>.log`; `print!`/`eprint!` go there too.

use crate::wit::baton::stage::log as host;
pub use crate::wit::baton::stage::types::Level;

/// Writes one message at `level`.
pub fn write(level: Level, message: &str) {
    host::log(level, message);
}

/// Reports progress (`done` of `total`), shown live next to the running step.
pub fn progress(done: u64, total: u64, message: &str) {
    host::progress(done, total, message);
}

/// Logs at info level, with `format!` arguments.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log::write($crate::log::Level::Info, &::std::format!($($arg)+)) };
}

/// Logs at warn level, with `format!` arguments.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log::write($crate::log::Level::Warn, &::std::format!($($arg)+)) };
}

/// Logs at error level, with `format!` arguments.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log::write($crate::log::Level::Error, &::std::format!($($arg)+)) };
}

/// Logs at debug level, with `format!` arguments.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log::write($crate::log::Level::Debug, &::std::format!($($arg)+)) };
}
