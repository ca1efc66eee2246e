//! Writes a synthetic benchmark policy to standard output:
//! `wardwall-synth RULES [SEED] [--changed COUNT] [--any-every K] [--networks N] [--expectations N]`.
//!
//! `--changed COUNT` writes the same policy with COUNT rules replaced (the
//! "new version" of a traffic diff); `--expectations N` appends N
//! expectations (the expectation benchmark). See `wardwall::synth`.

use std::io::Write;
use std::process::ExitCode;

use wardwall::synth::Synth;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    let (mut changed, mut any_every, mut networks, mut expectations) = (None, 0u32, None, 0);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Option<usize> {
            let v = it.next().and_then(|v| v.parse().ok());
            if v.is_none() {
                eprintln!("error: {name} takes a number");
            }
            v
        };
        match a.as_str() {
            "--changed" => match value("--changed") {
                Some(v) => changed = Some(v),
                None => return ExitCode::from(2),
            },
            "--any-every" => match value("--any-every") {
                Some(v) => any_every = v as u32,
                None => return ExitCode::from(2),
            },
            "--networks" => match value("--networks") {
                Some(v) => networks = Some(v),
                None => return ExitCode::from(2),
            },
            "--expectations" => match value("--expectations") {
                Some(v) => expectations = v,
                None => return ExitCode::from(2),
            },
            _ => positional.push(a.clone()),
        }
    }
    let parsed: Option<Vec<u64>> = positional.iter().map(|p| p.parse().ok()).collect();
    let (rules, seed) = match parsed.as_deref() {
        Some([rules]) => (*rules, 1),
        Some([rules, seed]) => (*rules, *seed),
        _ => {
            eprintln!(
                "usage: wardwall-synth RULES [SEED] [--changed COUNT] [--any-every K] [--networks N] [--expectations N]"
            );
            return ExitCode::from(2);
        }
    };
    let mut synth = Synth::new(rules as usize, seed);
    synth.any_every = any_every;
    if let Some(n) = networks {
        synth.networks = n.max(1);
    }
    if let Some(c) = changed {
        synth = synth.changed(c);
    }
    if expectations > 0 {
        synth = synth.expectations(expectations);
    }
    let text = synth.generate();
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
