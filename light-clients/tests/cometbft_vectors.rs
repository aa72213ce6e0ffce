//! Runs the CometBFT conformance vectors of `shared/vectors/cometbft` and
//! checks that mutated vectors are caught.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use light_clients::cometbft::{
    BISECTION_CLOCK_DRIFT, BisectionError, Encoding, ExpectedOutput, Height, LightBlock, Options,
    Time, TrustThreshold, Vector, VectorError, VectorReport, Verdict, VerdictKind, parse_vector,
    run_bisection, run_single_step, run_vector, verify_to_target,
};
use serde_json::Value;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors/cometbft");

fn vector_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(Path::new(VECTORS), &mut files);
    files.sort();
    files
}

fn read(relative: &str) -> String {
    fs::read_to_string(Path::new(VECTORS).join(relative)).unwrap()
}

fn json(relative: &str) -> Value {
    serde_json::from_str(&read(relative)).unwrap()
}

fn run(value: &Value) -> VectorReport {
    run_vector(&value.to_string()).unwrap()
}

/// `bisection/_worst_case.json` cannot pass: its data was corrupted upstream
/// (tendermint-rs disables it with the leading underscore): most of its
/// headers do not hash, in either encoding, to the block id their commit
/// signs, and their validator-set hashes do not match the given sets. Any
/// correct light client rejects it, so it must FAIL here, and for that reason.
const CORRUPT: &str = "bisection/_worst_case.json";

#[test]
fn shared_vectors_pass() {
    let files = vector_files();
    assert_eq!(files.len(), 41, "expected the 41 shared vectors");
    let mut failures = Vec::new();
    for file in &files {
        let name = file
            .strip_prefix(VECTORS)
            .unwrap()
            .to_str()
            .unwrap()
            .trim_start_matches('/')
            .to_owned();
        let text = fs::read_to_string(file).unwrap();
        match run_vector(&text) {
            Ok(report) if report.passed() => assert_ne!(name, CORRUPT, "the corrupt vector passed"),
            Ok(report) if name == CORRUPT => {
                let VectorReport::Bisection(report) = report else {
                    panic!("{name} is not bisection")
                };
                assert!(
                    matches!(
                        report.outcome.result,
                        Err(BisectionError::TrustedHashMismatch { height: 1, .. })
                    ),
                    "{report:?}"
                );
            }
            Ok(report) => failures.push(format!("{name}: {:?}", report.mismatch())),
            Err(e) => failures.push(format!("{name}: malformed: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "failing vectors:\n{}",
        failures.join("\n")
    );
}

#[test]
fn corrupt_worst_case_is_inconsistent_data() {
    let Vector::Bisection(vector) = parse_vector(&read(CORRUPT)).unwrap() else {
        panic!()
    };
    let unsigned = vector
        .primary
        .lite_blocks
        .iter()
        .filter(|b| {
            let header = &b.signed_header.header;
            Encoding::ALL
                .iter()
                .all(|e| e.header_hash(header) != b.signed_header.commit.block_id.hash)
        })
        .count();
    assert!(
        unsigned >= 8,
        "only {unsigned} headers differ from what their commit signs"
    );
}

#[test]
fn single_step_reports_every_input() {
    let text = read("single_step/MC4_4_faulty_Test3NotEnoughTrustSuccess.json");
    let Vector::SingleStep(vector) = parse_vector(&text).unwrap() else {
        panic!("not single_step")
    };
    let report = run_single_step(&vector);
    let kinds: Vec<VerdictKind> = report.steps.iter().map(|s| s.got.kind()).collect();
    use VerdictKind::*;
    assert_eq!(
        kinds,
        [
            NotEnoughTrust,
            NotEnoughTrust,
            Success,
            NotEnoughTrust,
            Success,
            Success
        ]
    );
    assert_eq!(
        report.steps.iter().map(|s| s.height).collect::<Vec<_>>(),
        [4, 3, 2, 4, 3, 4]
    );
    assert!(report.passed());
}

#[test]
fn flipped_single_step_verdict_fails() {
    let mut value = json("single_step/MC4_4_faulty_TestSuccess.json");
    assert!(run(&value).passed());
    // The last input is a SUCCESS; claim it should not be trusted.
    let last = value["input"].as_array().unwrap().len() - 1;
    value["input"][last]["verdict"] = "NOT_ENOUGH_TRUST".into();
    let report = run(&value);
    assert!(!report.passed());
    let mismatch = report.mismatch().unwrap();
    assert!(
        mismatch
            .expected
            .starts_with(&format!("NOT_ENOUGH_TRUST for input[{last}]")),
        "{mismatch:?}"
    );
    assert_eq!(mismatch.got, "SUCCESS");
}

#[test]
fn corrupted_signature_is_invalid() {
    let mut value = json("single_step/MC4_4_faulty_TestSuccess.json");
    let inputs = value["input"].as_array().unwrap();
    let index = inputs
        .iter()
        .position(|i| i["verdict"] == "SUCCESS")
        .unwrap();
    let signatures = value["input"][index]["block"]["signed_header"]["commit"]["signatures"]
        .as_array_mut()
        .unwrap();
    let sig = signatures
        .iter_mut()
        .find(|s| s["signature"].is_string())
        .unwrap();
    // Flip one bit of the signature (base64: change the first character).
    let original = sig["signature"].as_str().unwrap().to_owned();
    let first = if original.starts_with('A') { "B" } else { "A" };
    sig["signature"] = format!("{first}{}", &original[1..]).into();

    let report = run(&value);
    assert!(!report.passed());
    let VectorReport::SingleStep(report) = report else {
        panic!("not single_step")
    };
    let step = &report.steps[index];
    assert_eq!(step.expected, VerdictKind::Success);
    match &step.got {
        Verdict::Invalid(reason) => assert!(reason.contains("signature"), "{reason}"),
        other => panic!("expected INVALID, got {other}"),
    }
}

#[test]
fn flipped_bisection_expectation_fails() {
    for (file, flipped) in [
        ("bisection/_happy_path.json", "error"),
        ("bisection/not_enough_commits.json", "no error"),
        ("bisection/header_out_of_trusting_period.json", "no error"),
    ] {
        let mut value = json(file);
        assert!(run(&value).passed(), "{file}");
        value["expected_output"] = flipped.into();
        assert!(
            !run(&value).passed(),
            "{file} with expected_output={flipped}"
        );
    }
}

#[test]
fn bisection_skips_and_falls_back() {
    let Vector::Bisection(happy) = parse_vector(&read("bisection/_happy_path.json")).unwrap()
    else {
        panic!()
    };
    let report = run_bisection(&happy);
    assert_eq!(report.expected, ExpectedOutput::NoError);
    let verified = report.outcome.result.as_ref().unwrap();
    assert_eq!(verified.height().value(), 11);
    assert_eq!(report.outcome.verified.last(), Some(&11));
    assert!(
        report.outcome.verified.len() < 10,
        "skipped nothing: {:?}",
        report.outcome.verified
    );

    let Vector::Bisection(expired) =
        parse_vector(&read("bisection/header_out_of_trusting_period.json")).unwrap()
    else {
        panic!()
    };
    let report = run_bisection(&expired);
    assert!(
        matches!(
            report.outcome.result,
            Err(BisectionError::TrustExpired { height: 1, .. })
        ),
        "{report:?}"
    );

    let Vector::Bisection(commits) =
        parse_vector(&read("bisection/not_enough_commits.json")).unwrap()
    else {
        panic!()
    };
    let report = run_bisection(&commits);
    match &report.outcome.result {
        Err(BisectionError::Invalid {
            height: 6, reason, ..
        }) => assert!(reason.contains("signers"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

/// A generated chain (protobuf encoding) whose validator sets follow `sets`:
/// block `h` (1-based) is signed by `sets[h - 1]`, one second apart.
fn chain(sets: &[Vec<&str>]) -> Vec<LightBlock> {
    use tendermint_testgen::{Commit, Generator, Header, LightBlock as TestgenBlock, Validator};
    let validators = |ids: &Vec<&str>| {
        ids.iter()
            .map(|id| Validator::new(id).voting_power(10))
            .collect::<Vec<_>>()
    };
    let mut blocks = Vec::new();
    let mut last_hash = None;
    for (i, set) in sets.iter().enumerate() {
        let height = i as u64 + 1;
        let next = sets.get(i + 1).unwrap_or(set);
        let mut header = Header::new(&validators(set))
            .next_validators(&validators(next))
            .height(height)
            .chain_id("credit-test")
            .time(Time::from_unix_timestamp(1_700_000_000 + height as i64, 0).unwrap());
        if let Some(hash) = last_hash {
            header = header.last_block_id_hash(hash);
        }
        let block = TestgenBlock::new(header.clone(), Commit::new(header, 1))
            .validators(&validators(set))
            .next_validators(&validators(next))
            .generate()
            .unwrap();
        last_hash = Some(block.signed_header.header.hash());
        blocks.push(LightBlock::new(
            block.signed_header,
            block.validators,
            block.next_validators,
            block.provider,
        ));
    }
    blocks
}

fn options() -> Options {
    Options {
        trust_threshold: TrustThreshold::ONE_THIRD,
        trusting_period: Duration::from_secs(3600),
        clock_drift: BISECTION_CLOCK_DRIFT,
    }
}

fn now() -> Time {
    Time::from_unix_timestamp(1_700_000_100, 0).unwrap()
}

#[test]
fn generated_chain_with_a_stable_set_is_verified_in_one_skip() {
    let blocks = chain(&vec![vec!["a", "b", "c", "d"]; 10]);
    let outcome = verify_to_target(
        Encoding::Protobuf,
        &blocks[0],
        &blocks,
        Height::from(10u32),
        &options(),
        now(),
    );
    assert_eq!(outcome.verified, [10]);
    assert_eq!(outcome.attempts, 1);
    assert_eq!(outcome.result.unwrap(), blocks[9]);
}

#[test]
fn generated_chain_whose_set_changes_every_block_is_verified_height_by_height() {
    let ids = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"];
    let sets: Vec<Vec<&str>> = ids.iter().map(|id| vec![*id]).collect();
    let blocks = chain(&sets);
    let outcome = verify_to_target(
        Encoding::Protobuf,
        &blocks[0],
        &blocks,
        Height::from(11u32),
        &options(),
        now(),
    );
    assert_eq!(outcome.verified, (2..=11).collect::<Vec<u64>>());
    assert!(outcome.result.is_ok());

    // Without the intermediate blocks there is no way to the target.
    let sparse = [blocks[0].clone(), blocks[10].clone()];
    let outcome = verify_to_target(
        Encoding::Protobuf,
        &sparse[0],
        &sparse,
        Height::from(11u32),
        &options(),
        now(),
    );
    assert_eq!(
        outcome.result,
        Err(BisectionError::NoPivot {
            height: 11,
            trusted: 1
        })
    );

    // Verification that starts below the trusted height is refused.
    let outcome = verify_to_target(
        Encoding::Protobuf,
        &blocks[5],
        &blocks,
        Height::from(3u32),
        &options(),
        now(),
    );
    assert_eq!(
        outcome.result,
        Err(BisectionError::TargetBelowTrusted {
            target: 3,
            trusted: 6
        })
    );
}

#[test]
fn generated_chain_half_change_needs_a_pivot() {
    // a,b,c,d -> c,d,e,f at height 6 -> e,f,g,h at height 11: 1 -> 11 lacks
    // trust, so an intermediate height must be verified first.
    let mut sets = vec![vec!["a", "b", "c", "d"]; 5];
    sets.extend(vec![vec!["c", "d", "e", "f"]; 5]);
    sets.push(vec!["e", "f", "g", "h"]);
    let blocks = chain(&sets);
    let outcome = verify_to_target(
        Encoding::Protobuf,
        &blocks[0],
        &blocks,
        Height::from(11u32),
        &options(),
        now(),
    );
    assert!(outcome.result.is_ok(), "{outcome:?}");
    assert!(
        outcome.verified.len() >= 2 && outcome.verified.len() < 10,
        "{:?}",
        outcome.verified
    );

    // A block whose signatures are tampered with stops the run.
    let mut tampered = blocks.clone();
    tampered[10].signed_header.commit.signatures.truncate(1);
    let outcome = verify_to_target(
        Encoding::Protobuf,
        &tampered[0],
        &tampered,
        Height::from(11u32),
        &options(),
        now(),
    );
    assert!(
        matches!(
            outcome.result,
            Err(BisectionError::Invalid { height: 11, .. })
        ),
        "{outcome:?}"
    );
}

#[test]
fn conflicting_witness_is_an_error() {
    let mut value = json("bisection/_happy_path.json");
    // Make the witness serve the header of height 10 at height 11 (a different header).
    let blocks = value["witnesses"][0]["value"]["lite_blocks"]
        .as_array_mut()
        .unwrap();
    let eleven = blocks
        .iter()
        .position(|b| b["signed_header"]["header"]["height"] == "11")
        .unwrap();
    blocks[eleven]["signed_header"]["header"]["app_hash"] = "DEADBEEF".into();
    let report = run(&value);
    assert!(!report.passed());
    let VectorReport::Bisection(report) = report else {
        panic!()
    };
    assert!(matches!(
        report.outcome.result,
        Err(BisectionError::WitnessConflict {
            witness: 0,
            height: 11,
            ..
        })
    ));
}

#[test]
fn wrong_trusted_hash_is_an_error() {
    let mut value = json("bisection/_happy_path.json");
    value["trust_options"]["hash"] =
        "0000000000000000000000000000000000000000000000000000000000000000".into();
    let VectorReport::Bisection(report) = run(&value) else {
        panic!()
    };
    assert!(matches!(
        report.outcome.result,
        Err(BisectionError::TrustedHashMismatch { .. })
    ));
}

#[test]
fn malformed_vectors_name_the_field() {
    let cases: Vec<(Value, &str)> = {
        let mut out = Vec::new();

        let mut v = json("single_step/MC4_4_faulty_TestSuccess.json");
        v["input"][1]["verdict"] = "MAYBE".into();
        out.push((v, "input[1].verdict"));

        let mut v = json("single_step/MC4_4_faulty_TestSuccess.json");
        v["input"][0]["block"]["signed_header"]["commit"]["height"] = "not a number".into();
        out.push((v, "input[0].block.signed_header.commit"));

        let mut v = json("single_step/MC4_4_faulty_TestSuccess.json");
        v["initial"]["trusting_period"] = "-5".into();
        out.push((v, "initial.trusting_period"));

        let mut v = json("single_step/MC4_4_faulty_TestSuccess.json");
        v["input"][0]["block"]
            .as_object_mut()
            .unwrap()
            .remove("validator_set");
        out.push((v, "input[0].block.validator_set"));

        let mut v = json("bisection/not_enough_commits.json");
        v["trust_options"]["trust_level"] =
            serde_json::json!({"numerator": "1", "denominator": "0"});
        out.push((v, "trust_options.trust_level"));

        let mut v = json("bisection/not_enough_commits.json");
        v["primary"]["lite_blocks"][3]["validator_set"]["validators"][0]["pub_key"]["value"] =
            "!!".into();
        out.push((v, "primary.lite_blocks[3].validator_set"));

        let mut v = json("bisection/not_enough_commits.json");
        v["expected_output"] = "maybe".into();
        out.push((v, "expected_output"));

        let mut v = json("bisection/not_enough_commits.json");
        v["witnesses"] = 7.into();
        out.push((v, "witnesses"));
        out
    };
    for (value, field) in cases {
        let err = run_vector(&value.to_string()).unwrap_err();
        assert_eq!(err.field(), Some(field), "{err}");
        assert!(err.to_string().contains(field), "{err}");
    }

    assert!(matches!(
        run_vector("{ not json"),
        Err(VectorError::Json(_))
    ));
    assert_eq!(run_vector("[1, 2]"), Err(VectorError::UnknownFormat));
    assert_eq!(
        run_vector(r#"{"description": "x"}"#),
        Err(VectorError::UnknownFormat)
    );
}

#[test]
fn truncated_vectors_never_panic() {
    // Every prefix-truncation is malformed JSON; every field removal at the top
    // level is a named error. None may panic.
    let text = read("bisection/not_enough_commits.json");
    for cut in (0..text.len()).step_by(997) {
        assert!(run_vector(&text[..cut]).is_err());
    }
    let value = json("single_step/MC10_3_faulty_TestFailure.json");
    for key in ["initial", "input"] {
        let mut v = value.clone();
        v.as_object_mut().unwrap().remove(key);
        assert_eq!(run_vector(&v.to_string()), Err(VectorError::UnknownFormat));
    }
    for key in [
        "signed_header",
        "next_validator_set",
        "trusting_period",
        "now",
    ] {
        let mut v = value.clone();
        v["initial"].as_object_mut().unwrap().remove(key);
        let err = run_vector(&v.to_string()).unwrap_err();
        assert_eq!(err.field(), Some(format!("initial.{key}").as_str()));
    }
}

#[test]
fn extreme_numbers_do_not_panic() {
    // A trust level so fine-grained that power * denominator overflows u64.
    let mut v = json("bisection/not_enough_commits.json");
    v["trust_options"]["trust_level"] = serde_json::json!({"numerator": "6148914691236517205", "denominator": "6148914691236517206"});
    let VectorReport::Bisection(report) = run(&v) else {
        panic!()
    };
    match report.outcome.result {
        Err(BisectionError::Invalid { reason, .. }) => {
            assert!(reason.contains("overflows"), "{reason}")
        }
        other => panic!("{other:?}"),
    }

    // Numerator so large that 3 * numerator overflows.
    let mut v = json("bisection/not_enough_commits.json");
    v["trust_options"]["trust_level"] = serde_json::json!({"numerator": "18446744073709551614", "denominator": "18446744073709551615"});
    assert_eq!(
        run_vector(&v.to_string()).unwrap_err().field(),
        Some("trust_options.trust_level")
    );

    // The highest possible trusted height.
    let mut v = json("single_step/MC4_4_faulty_TestSuccess.json");
    v["initial"]["signed_header"]["header"]["height"] = "9223372036854775807".into();
    v["initial"]["signed_header"]["commit"]["height"] = "9223372036854775807".into();
    let VectorReport::SingleStep(report) = run(&v) else {
        panic!()
    };
    assert!(
        report
            .steps
            .iter()
            .all(|s| matches!(&s.got, Verdict::Invalid(r) if r.contains("highest")))
    );

    // Voting power beyond the protocol's maximum is rejected when parsing.
    let mut v = json("single_step/MC4_4_faulty_TestSuccess.json");
    v["input"][0]["block"]["validator_set"]["validators"][0]["voting_power"] =
        "9223372036854775807".into();
    assert_eq!(
        run_vector(&v.to_string()).unwrap_err().field(),
        Some("input[0].block.validator_set")
    );

    // A trusting period that overflows the time arithmetic.
    let mut v = json("single_step/MC4_4_faulty_TestSuccess.json");
    v["initial"]["trusting_period"] = u64::MAX.to_string().into();
    let VectorReport::SingleStep(report) = run(&v) else {
        panic!()
    };
    assert!(!report.steps.is_empty());
}

mod fuzz {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]

        /// One byte of a vector replaced by a JSON-ish character: the result
        /// is malformed or a report, never a panic.
        #[test]
        fn mutated_vectors_never_panic(
            file in prop::sample::select(vec![
                "single_step/MC4_4_faulty_TestSuccess.json",
                "bisection/not_enough_commits.json",
            ]),
            at in any::<prop::sample::Index>(),
            byte in prop::sample::select(b"0123456789ABCDEFabcdef\"{}[],:-.e ".to_vec()),
        ) {
            let mut bytes = read(file).into_bytes();
            let i = at.index(bytes.len());
            bytes[i] = byte;
            if let Ok(text) = String::from_utf8(bytes) {
                let _ = run_vector(&text);
            }
        }
    }
}

#[test]
fn corrupted_signature_in_a_legacy_amino_vector_is_caught() {
    let mut value = json("bisection/_happy_path.json");
    assert!(run(&value).passed());
    let blocks = value["primary"]["lite_blocks"].as_array_mut().unwrap();
    let last = blocks.len() - 1;
    for sig in blocks[last]["signed_header"]["commit"]["signatures"]
        .as_array_mut()
        .unwrap()
    {
        if let Some(s) = sig["signature"].as_str() {
            let first = if s.starts_with('A') { "B" } else { "A" };
            sig["signature"] = format!("{first}{}", &s[1..]).into();
        }
    }
    let VectorReport::Bisection(report) = run(&value) else {
        panic!()
    };
    assert!(!report.passed());
    match &report.outcome.result {
        Err(BisectionError::Invalid {
            height: 11, reason, ..
        }) => assert!(reason.contains("signature"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn trusted_block_with_swapped_next_validators_is_refused() {
    // A genuine trusted block whose next validators were swapped for an
    // outsider set, and a skip signed by those outsiders alone.
    let honest = chain(&vec![vec!["a", "b", "c", "d"]; 10]);
    let outsiders = chain(&vec![vec!["w", "x", "y", "z"]; 10]);
    let mut trusted = honest[0].clone();
    trusted.next_validators = outsiders[0].next_validators.clone();
    let verdict = light_clients::cometbft::verify_step(&trusted, &outsiders[9], &options(), now());
    match verdict {
        Verdict::Invalid(reason) => assert!(
            reason.contains("trusted next validator set hashes to")
                && reason.contains(
                    &honest[0]
                        .signed_header
                        .header
                        .next_validators_hash
                        .to_string()
                ),
            "{reason}"
        ),
        other => panic!("expected Invalid, got {other:?}"),
    }
    // The same skip is refused by bisection, naming the step.
    let outcome = verify_to_target(
        Encoding::Protobuf,
        &trusted,
        &outsiders,
        Height::from(10u32),
        &options(),
        now(),
    );
    assert!(
        matches!(
            outcome.result,
            Err(BisectionError::Invalid { height: 10, .. })
        ),
        "{:?}",
        outcome.result
    );
}
