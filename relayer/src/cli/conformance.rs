//! `relayer conformance cometbft DIR`: runs CometBFT light-client
//! conformance vectors through `light_clients::cometbft`.
//!
//! The file I/O lives here; verification itself is pure and lives in the
//! light-clients crate.

use std::fs;
use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use light_clients::cometbft::run_vector;

/// Longest failure reason printed on a result line, in characters.
const MAX_REASON: usize = 400;

/// Runs every `*.json` file under `dir` (recursively) as a CometBFT vector,
/// detecting its format by its fields (`initial` + `input`: single_step;
/// `trust_options` + `primary`: bisection).
///
/// Prints one line per file in sorted path order, named by its path relative
/// to `dir`: `ok NAME`, `FAIL NAME: expected X, got Y`, or
/// `FAIL NAME: malformed: REASON` for a file that is not a valid vector; then
/// `N passed, M failed`. Returns failure when any file failed, and an error
/// when `dir` does not exist, is not a directory, or holds no `*.json` file.
/// Symbolic links to files are followed, links to directories are not.
pub fn run_cometbft(dir: &Path) -> anyhow::Result<ExitCode> {
    if !dir.exists() {
        bail!("vector directory {} does not exist", dir.display());
    }
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let mut files = Vec::new();
    collect_json_files(dir, &mut files)?;
    if files.is_empty() {
        bail!("no *.json vector files under {}", dir.display());
    }
    files.sort();

    let mut out = io::stdout().lock();
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        let name = display_name(dir, file);
        match check_file(file) {
            Ok(()) => {
                passed += 1;
                writeln!(out, "ok {name}")?;
            }
            Err(reason) => {
                failed += 1;
                writeln!(out, "FAIL {name}: {}", one_line(&reason))?;
            }
        }
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    out.flush()?;
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs one file; `Err` is the text after `FAIL NAME: `.
fn check_file(path: &Path) -> Result<(), String> {
    let bytes = fs::read(path).map_err(|e| format!("unreadable: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| format!("malformed: not UTF-8 text: {e}"))?;
    // Verification never panics on bad input by design; should a dependency
    // still do so, that file fails and the others still run.
    let result = panic::catch_unwind(AssertUnwindSafe(|| run_vector(&text)))
        .map_err(|_| "internal error: verification panicked".to_owned())?;
    match result {
        Err(e) => Err(format!("malformed: {e}")),
        Ok(report) => match report.mismatch() {
            None => Ok(()),
            Some(m) => Err(format!("expected {}, got {}", m.expected, m.got)),
        },
    }
}

fn collect_json_files(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot stat {}", path.display()))?;
        if kind.is_dir() {
            collect_json_files(&path, files)?;
        } else if is_json(&path) && (kind.is_file() || (kind.is_symlink() && path.is_file())) {
            files.push(path);
        }
    }
    Ok(())
}

fn is_json(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// The path relative to `dir`, with `/` separators.
fn display_name(dir: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(dir).unwrap_or(file);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A reason on one line of bounded length.
fn one_line(reason: &str) -> String {
    let flat: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= MAX_REASON {
        flat
    } else {
        let mut short: String = flat.chars().take(MAX_REASON).collect();
        short.push('…');
        short
    }
}
