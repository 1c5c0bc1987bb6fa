//! `understudy`: the admin CLI of understudy.
fn main() {}
