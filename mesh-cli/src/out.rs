//! Output that never panics or hangs on a closed pipe: `mesh demo | head -1`
//! must end quietly. `println!` panics when stdout is gone; these end the
//! process (status 141, as a shell reports a SIGPIPE death) instead.
//! Standard error lines are best effort: a closed stderr loses them.

use std::io::Write;

/// Writes one line to stdout and flushes it; a closed stdout ends the process.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(141);
    }
}

/// Writes one line to stderr, ignoring a closed stderr.
pub fn err_line(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}

/// `println!` that ends the process quietly on a closed stdout.
macro_rules! outln {
    () => { $crate::out::line(format_args!("")) };
    ($($t:tt)*) => { $crate::out::line(format_args!($($t)*)) };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    () => { $crate::out::err_line(format_args!("")) };
    ($($t:tt)*) => { $crate::out::err_line(format_args!($($t)*)) };
}

pub(crate) use {errln, outln};
