//! `interop`: the understudy lab's command line.
fn main() {}
