//! State-proof verification speed: membership and non-membership proofs for
//! trees of 2^10, 2^16 and 2^20 keys, and building a tree of 2^16 keys.
//!
//! Each verification iteration checks one proof (cycling through 1024
//! prepared proofs of random keys), so criterion's time is per proof and its
//! throughput is proofs per second. Trees are built once per size, outside
//! the timing.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use light_clients::merkle::{
    MembershipProof, NonMembershipProof, StateTree, verify_membership, verify_non_membership,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const PROOFS: usize = 1024;

/// `n` random 16-byte keys with 64-byte values (about the size of a credit record hash entry).
fn state(n: usize, rng: &mut StdRng) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut map = BTreeMap::new();
    while map.len() < n {
        let key: [u8; 16] = rng.r#gen();
        let value: Vec<u8> = (0..64).map(|_| rng.r#gen()).collect();
        map.insert(key.to_vec(), value);
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
            let key: [u8; 16] = rng.r#gen();
            (key.to_vec(), tree.prove_non_membership(&key).unwrap())
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

fn build(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(7);
    let n = 1usize << 16;
    let map = state(n, &mut rng);
    let mut group = c.benchmark_group("merkle");
    group
        .throughput(Throughput::Elements(n as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_with_input(BenchmarkId::new("build", n), &map, |b, map| {
        b.iter(|| StateTree::from_map(black_box(map)).root())
    });
    group.finish();
}

criterion_group!(benches, verify, build);
criterion_main!(benches);
