//! Credit-chain header verification against raw ed25519-dalek strict (one
//! by one, what the verifier does) and batch verification of the same
//! number of signatures, in the same run.
//!
//! `cargo bench -p credit-light-clients --bench headers`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use light_clients::credit_chain::signing::TestChain;
use light_clients::credit_chain::{
    KeyCache, Options, TrustedState, Verdict, verify, verify_cached,
};

const SIZES: [usize; 4] = [4, 21, 100, 150];

fn headers(c: &mut Criterion) {
    let mut group = c.benchmark_group("credit_chain");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for n in SIZES {
        let mut chain = TestChain::new("bench-chain", n);
        let trusted = TrustedState::from(chain.next_block());
        let adjacent = chain.next_block();
        let skipped = chain.skip(9);
        let now = skipped.header().time;
        let options = Options::default();
        assert_eq!(verify(&trusted, &adjacent, &options, now), Verdict::Success);
        assert_eq!(verify(&trusted, &skipped, &options, now), Verdict::Success);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("sequential", n), &n, |b, _| {
            b.iter(|| verify(black_box(&trusted), black_box(&adjacent), &options, now))
        });
        group.bench_with_input(BenchmarkId::new("skipping", n), &n, |b, _| {
            b.iter(|| verify(black_box(&trusted), black_box(&skipped), &options, now))
        });

        // A client following the chain has the set's keys decompressed.
        let mut cache = KeyCache::new();
        cache.insert(&trusted.next_validators).unwrap();
        assert_eq!(
            verify_cached(&trusted, &skipped, &options, now, &cache),
            Verdict::Success
        );
        group.bench_with_input(BenchmarkId::new("sequential_cached_keys", n), &n, |b, _| {
            b.iter(|| {
                verify_cached(
                    black_box(&trusted),
                    black_box(&adjacent),
                    &options,
                    now,
                    &cache,
                )
            })
        });
        group.bench_with_input(BenchmarkId::new("skipping_cached_keys", n), &n, |b, _| {
            b.iter(|| {
                verify_cached(
                    black_box(&trusted),
                    black_box(&skipped),
                    &options,
                    now,
                    &cache,
                )
            })
        });

        // The floor: dalek's batch verification alone, keys already parsed.
        let keys: Vec<SigningKey> = (0..n)
            .map(|i| SigningKey::from_bytes(&[i as u8 + 1; 32]))
            .collect();
        let message =
            b"credit-chain/vote/v1 a typical sign-bytes length of about eighty bytes....".to_vec();
        let signatures: Vec<Signature> = keys.iter().map(|k| k.sign(&message)).collect();
        let verifying: Vec<VerifyingKey> = keys.iter().map(|k| k.verifying_key()).collect();
        let messages: Vec<&[u8]> = vec![message.as_slice(); n];
        group.bench_with_input(BenchmarkId::new("raw_dalek_batch", n), &n, |b, _| {
            b.iter(|| ed25519_dalek::verify_batch(black_box(&messages), &signatures, &verifying))
        });
        // The floor of a verifier that refuses non-canonical signatures.
        group.bench_with_input(BenchmarkId::new("raw_dalek_strict", n), &n, |b, _| {
            b.iter(|| {
                verifying
                    .iter()
                    .zip(&signatures)
                    .all(|(k, s)| k.verify_strict(black_box(&message), s).is_ok())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, headers);
criterion_main!(benches);
