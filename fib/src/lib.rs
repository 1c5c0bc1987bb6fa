//! fib: kernel FIB programming over rtnetlink (DESIGN.md section 4, step 4).
