//! Times each stage of `check` on a policy file: `cargo run --release
//! --example check_timing -- POLICY`.

use std::path::Path;
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("a policy path");
    let t = Instant::now();
    let mut compiled =
        wardwall::compile(Path::new(&path), "2026-11-25".parse().unwrap()).expect("readable");
    let t_compile = t.elapsed();
    let t = Instant::now();
    compiled.analyze();
    println!(
        "compile {t_compile:?}, analysis {:?}, {} diagnostics",
        t.elapsed(),
        compiled.diagnostics.items.len()
    );
}
