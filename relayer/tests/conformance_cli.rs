//! Process-level tests of `relayer conformance cometbft DIR`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors/cometbft");

/// The one shared vector that cannot pass: its data was corrupted upstream
/// (see light-clients/tests/cometbft_vectors.rs).
const CORRUPT: &str = "bisection/_worst_case.json";

fn relayer(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relayer"))
        .args(["conformance", "cometbft"])
        .arg(dir)
        .output()
        .expect("run relayer")
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A fresh, empty directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("relayer-conformance-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path, skip: &str, root: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let relative = path
            .strip_prefix(root)
            .unwrap()
            .to_str()
            .unwrap()
            .replace('\\', "/");
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target, skip, root);
        } else if relative != skip {
            fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn shared_vectors() {
    let output = relayer(Path::new(VECTORS));
    let lines = stdout_lines(&output);
    assert_eq!(lines.len(), 42, "{lines:#?}");
    assert_eq!(lines.last().unwrap(), "40 passed, 1 failed");
    assert!(!output.status.success());
    assert_eq!(output.status.code(), Some(1));

    let results = &lines[..41];
    let names: Vec<&str> = results
        .iter()
        .map(|l| l.split([' ', ':']).nth(1).unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "not in sorted path order");
    assert!(names.contains(&"single_step/MC4_4_faulty_TestSuccess.json"));
    for line in results {
        if line.starts_with(&format!("FAIL {CORRUPT}: ")) {
            assert!(line.contains("expected no error, got error"), "{line}");
        } else {
            assert!(line.starts_with("ok "), "{line}");
        }
    }
}

#[test]
fn shared_vectors_without_the_corrupt_one_all_pass() {
    let dir = TempDir::new("clean");
    copy_dir(Path::new(VECTORS), &dir.0, CORRUPT, Path::new(VECTORS));
    let output = relayer(&dir.0);
    let lines = stdout_lines(&output);
    assert_eq!(lines.last().unwrap(), "40 passed, 0 failed", "{lines:#?}");
    assert!(output.status.success());
    assert!(lines[..40].iter().all(|l| l.starts_with("ok ")));
}

#[test]
fn flipped_verdict_and_malformed_file_fail() {
    let dir = TempDir::new("broken");
    let good =
        fs::read_to_string(Path::new(VECTORS).join("single_step/MC4_4_faulty_TestSuccess.json"))
            .unwrap();
    fs::write(dir.0.join("a_good.json"), &good).unwrap();

    let mut flipped: serde_json::Value = serde_json::from_str(&good).unwrap();
    let last = flipped["input"].as_array().unwrap().len() - 1;
    assert_eq!(flipped["input"][last]["verdict"], "SUCCESS");
    flipped["input"][last]["verdict"] = "INVALID".into();
    fs::create_dir_all(dir.0.join("nested")).unwrap();
    fs::write(dir.0.join("nested/b_flipped.json"), flipped.to_string()).unwrap();

    fs::write(
        dir.0.join("c_malformed.json"),
        "{\"initial\": {\"signed_header\": ",
    )
    .unwrap();
    fs::write(dir.0.join("d_not_a_vector.json"), "{\"hello\": 1}").unwrap();
    fs::write(dir.0.join("notes.txt"), "not a vector, ignored").unwrap();

    let output = relayer(&dir.0);
    let lines = stdout_lines(&output);
    assert_eq!(
        lines[0],
        "ok a_good.json",
        "{lines:#?}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        lines[1].starts_with("FAIL c_malformed.json: malformed: not valid JSON"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("FAIL d_not_a_vector.json: malformed: unrecognised vector format"),
        "{}",
        lines[2]
    );
    assert_eq!(
        lines[3],
        format!(
            "FAIL nested/b_flipped.json: expected INVALID for input[{last}] (height 4), got SUCCESS"
        )
    );
    assert_eq!(lines[4], "1 passed, 3 failed");
    assert_eq!(lines.len(), 5);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn missing_or_empty_directory_is_an_error() {
    let dir = TempDir::new("empty");
    let output = relayer(&dir.0);
    assert_eq!(output.status.code(), Some(3));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no *.json vector files under"), "{stderr}");

    let missing = dir.0.join("does-not-exist");
    let output = relayer(&missing);
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");
}
