//! CometBFT light-block verification (tendermint-light-client-verifier
//! through `light_clients::cometbft::verify_step`) on blocks generated with
//! tendermint-testgen.
//!
//! - `cometbft/sequential/N`: height h -> h+1, N validators, all signing;
//! - `cometbft/skipping/N`: height h -> h+10, same validator set, so the
//!   1/3 trust threshold passes and > 2/3 of the new set signed.
//!
//! Run with `cargo bench -p credit-light-clients --bench cometbft`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use light_clients::cometbft::{LightBlock, Options, Time, TrustThreshold, Verdict, verify_step};
use tendermint_testgen::{Commit, Generator, Header, LightBlock as TestgenBlock, Validator};

const SIZES: [usize; 4] = [4, 21, 100, 150];
const CHAIN_START: i64 = 1_700_000_000;

fn validators(n: usize) -> Vec<Validator> {
    (0..n)
        .map(|i| Validator::new(&format!("validator-{i}")).voting_power(10))
        .collect()
}

/// A signed light block at `height` (one second per height), all validators signing.
fn block(validators: &[Validator], height: u64) -> LightBlock {
    let header = Header::new(validators)
        .next_validators(validators)
        .height(height)
        .chain_id("credit-bench")
        .time(Time::from_unix_timestamp(CHAIN_START + height as i64, 0).unwrap());
    let generated = TestgenBlock::new(header.clone(), Commit::new(header, 1))
        .validators(validators)
        .next_validators(validators)
        .generate()
        .unwrap();
    LightBlock::new(
        generated.signed_header,
        generated.validators,
        generated.next_validators,
        generated.provider,
    )
}

fn options() -> Options {
    Options {
        trust_threshold: TrustThreshold::ONE_THIRD,
        trusting_period: Duration::from_secs(14 * 24 * 3600),
        clock_drift: Duration::from_secs(10),
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("cometbft");
    let options = options();
    let now = Time::from_unix_timestamp(CHAIN_START + 100, 0).unwrap();

    for n in SIZES {
        let vals = validators(n);
        let trusted = block(&vals, 1);
        let next = block(&vals, 2);
        let skip = block(&vals, 11);
        // The generated blocks must verify, or the figures mean nothing.
        assert_eq!(
            verify_step(&trusted, &next, &options, now),
            Verdict::Success
        );
        assert_eq!(
            verify_step(&trusted, &skip, &options, now),
            Verdict::Success
        );

        group.bench_with_input(
            BenchmarkId::new("sequential", n),
            &(&trusted, &next),
            |b, (t, u)| b.iter(|| verify_step(black_box(t), black_box(u), &options, now)),
        );
        group.bench_with_input(
            BenchmarkId::new("skipping", n),
            &(&trusted, &skip),
            |b, (t, u)| b.iter(|| verify_step(black_box(t), black_box(u), &options, now)),
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
