//! State-tree speed: proof verification for trees of 2^10, 2^16 and 2^20
//! keys; proof generation at 2^16 keys; committing a block of 1,000 writes
//! to trees of 10,000, 100,000 and 1,000,000 keys; building trees from
//! scratch (2^16 and 1,000,000 keys).
//!
//! Verification and proving iterations handle one proof (cycling through
//! 1024 prepared keys or proofs of random keys), so criterion's time is per
//! proof and its throughput is proofs per second. Trees are built once per
//! size, outside the timing.
//!
//! A commit iteration applies a fresh block — 500 new keys and 500
//! overwrites of existing keys, 64-byte values — with `StateTree::apply`,
//! which returns the new root: hashing the values and keys, updating the
//! buckets and rehashing the touched paths are all timed. Between
//! iterations, outside the timing, the new keys are removed again so the
//! tree keeps its size.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use light_clients::merkle::{
    MembershipProof, NonMembershipProof, StateTree, verify_membership, verify_non_membership,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const PROOFS: usize = 1024;
const WRITES: usize = 1000;

fn random_key(rng: &mut StdRng) -> Vec<u8> {
    rng.r#gen::<[u8; 16]>().to_vec()
}

fn random_value(rng: &mut StdRng) -> Vec<u8> {
    (0..64).map(|_| rng.r#gen()).collect()
}

/// `n` random 16-byte keys with 64-byte values (about the size of a credit record hash entry).
fn state(n: usize, rng: &mut StdRng) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut map = BTreeMap::new();
    while map.len() < n {
        map.insert(random_key(rng), random_value(rng));
    }
    map
}

type Present = Vec<(Vec<u8>, Vec<u8>, MembershipProof)>;
type Absent = Vec<(Vec<u8>, NonMembershipProof)>;

fn proofs(
    map: &BTreeMap<Vec<u8>, Vec<u8>>,
    tree: &StateTree,
    rng: &mut StdRng,
) -> (Present, Absent) {
    let entries: Vec<(&Vec<u8>, &Vec<u8>)> = map.iter().collect();
    let present = (0..PROOFS)
        .map(|_| {
            let (k, v) = entries[rng.gen_range(0..entries.len())];
            (k.clone(), v.clone(), tree.prove_membership(k).unwrap())
        })
        .collect();
    let absent = (0..PROOFS)
        .map(|_| {
            let key = random_key(rng);
            let proof = tree.prove_non_membership(&key).unwrap();
            (key, proof)
        })
        .collect();
    (present, absent)
}

fn verify(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(2024);
    let mut group = c.benchmark_group("merkle");
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for log in [10, 16, 20] {
        let n = 1usize << log;
        let map = state(n, &mut rng);
        let tree = StateTree::from_map(&map);
        let root = tree.root();
        let (present, absent) = proofs(&map, &tree, &mut rng);
        drop((map, tree));

        group.bench_with_input(
            BenchmarkId::new("verify_membership", n),
            &present,
            |b, cases| {
                let mut i = 0;
                b.iter(|| {
                    let (k, v, p) = &cases[i % PROOFS];
                    i += 1;
                    verify_membership(black_box(&root), k, v, p).unwrap();
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("verify_non_membership", n),
            &absent,
            |b, cases| {
                let mut i = 0;
                b.iter(|| {
                    let (k, p) = &cases[i % PROOFS];
                    i += 1;
                    verify_non_membership(black_box(&root), k, p).unwrap();
                })
            },
        );
    }
    group.finish();
}

fn prove(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(11);
    let n = 1usize << 16;
    let map = state(n, &mut rng);
    let tree = StateTree::from_map(&map);
    let entries: Vec<&Vec<u8>> = map.keys().collect();
    let present: Vec<Vec<u8>> = (0..PROOFS)
        .map(|_| entries[rng.gen_range(0..entries.len())].clone())
        .collect();
    let absent: Vec<Vec<u8>> = (0..PROOFS).map(|_| random_key(&mut rng)).collect();
    let mut group = c.benchmark_group("merkle");
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_with_input(BenchmarkId::new("prove", n), &present, |b, keys| {
        let mut i = 0;
        b.iter(|| {
            let k = &keys[i % PROOFS];
            i += 1;
            tree.prove_membership(black_box(k)).unwrap()
        })
    });
    group.bench_with_input(
        BenchmarkId::new("prove_non_membership", n),
        &absent,
        |b, keys| {
            let mut i = 0;
            b.iter(|| {
                let k = &keys[i % PROOFS];
                i += 1;
                tree.prove_non_membership(black_box(k)).unwrap()
            })
        },
    );
    group.finish();
}

/// A block: `WRITES / 2` new keys and `WRITES / 2` overwrites of `existing` keys.
fn block(existing: &[Vec<u8>], rng: &mut StdRng) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    (0..WRITES)
        .map(|i| {
            let key = if i % 2 == 0 {
                random_key(rng)
            } else {
                existing[rng.gen_range(0..existing.len())].clone()
            };
            (key, Some(random_value(rng)))
        })
        .collect()
}

fn commit(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(99);
    let mut group = c.benchmark_group("merkle");
    group
        .throughput(Throughput::Elements(WRITES as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for n in [10_000usize, 100_000, 1_000_000] {
        let keys: Vec<Vec<u8>> = (0..n).map(|_| random_key(&mut rng)).collect();
        let mut tree =
            StateTree::from_entries(keys.iter().map(|k| (k.clone(), random_value(&mut rng))));
        assert_eq!(tree.len(), n);
        group.bench_function(BenchmarkId::new("commit_1000_writes", n), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let writes = block(&keys, &mut rng);
                    let added: Vec<(Vec<u8>, Option<Vec<u8>>)> = writes
                        .iter()
                        .filter(|(k, _)| !tree.contains_key(k))
                        .map(|(k, _)| (k.clone(), None))
                        .collect();
                    let start = Instant::now();
                    black_box(tree.apply(writes));
                    timed += start.elapsed();
                    tree.apply(added);
                }
                timed
            })
        });
        assert_eq!(tree.len(), n);
    }
    group.finish();
}

fn build(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(7);
    let mut group = c.benchmark_group("merkle");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let n = 1usize << 16;
    let map = state(n, &mut rng);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_with_input(BenchmarkId::new("build", n), &map, |b, map| {
        b.iter(|| StateTree::from_map(black_box(map)).root())
    });
    drop(map);
    // The node at start: a million (key, value) pairs from its store.
    let n = 1_000_000usize;
    let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
        .map(|_| (random_key(&mut rng), random_value(&mut rng)))
        .collect();
    group
        .throughput(Throughput::Elements(n as u64))
        .measurement_time(Duration::from_secs(20));
    group.bench_with_input(BenchmarkId::new("build", n), &entries, |b, entries| {
        b.iter_batched(
            || entries.clone(),
            StateTree::from_entries,
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, verify, prove, commit, build);
criterion_main!(benches);
