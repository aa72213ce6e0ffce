//! The reference chain's throughput: signed transactions per second, block
//! commit time (execution, state tree, sled) at 10k / 100k / 1M record
//! commitments, and proof generation.
//!
//! `cargo bench -p credit-chain --bench chain`

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use credit_chain::app::keys;
use credit_chain::genesis::{InitOptions, init};
use credit_chain::keys::KeyFile;
use credit_chain::node::{BlockTimings, Chain};
use credit_chain::rpc::now;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey};
use protocol::sealed::RecordCommitment;
use protocol::tx::{SignedTransaction, Transaction, TxBody};
use protocol::{
    ChainId, CreditRecord, Currency, EnterpriseId, Hash, Money, PublicKey, RecordKind,
    RecordStatus, Signature,
};

const BLOCK_TXS: usize = 1_000;

fn enterprise(i: usize) -> EnterpriseId {
    EnterpriseId::with_check_digit(&format!("91110000{i:09}")).unwrap()
}

fn record(i: usize) -> CreditRecord {
    CreditRecord {
        enterprise: enterprise(i),
        kind: RecordKind::Loan,
        amount: Money {
            minor_units: 1_000 + i as u64,
            currency: Currency::CNY,
        },
        start: "2026-01-01T00:00:00Z".parse().unwrap(),
        end: None,
        status: RecordStatus::Active,
        provider: "provider-a".parse().unwrap(),
        document_digest: None,
    }
}

/// The chain's commitment to record `i` (records stay with their
/// provider); a deterministic salt keeps runs comparable.
fn commitment(i: usize) -> RecordCommitment {
    let salt = *Hash::tagged(b"bench-salt", &[&i.to_le_bytes()]).as_bytes();
    RecordCommitment::of(&record(i), &salt)
}

struct Bench {
    home: PathBuf,
    chain: Chain,
    chain_id: ChainId,
    provider: SigningKey,
    nonce: u64,
    next_enterprise: usize,
    phases: Vec<BlockTimings>,
}

impl Bench {
    /// Median of each phase over the blocks committed so far.
    fn report_phases(&self, records: usize) {
        let median = |f: fn(&BlockTimings) -> Duration| {
            let mut v: Vec<Duration> = self.phases.iter().map(f).collect();
            v.sort();
            v.get(v.len() / 2).copied().unwrap_or_default()
        };
        eprintln!(
            "phases at {records} records (median of {} blocks): execute {:?}, state root {:?}, sign {:?}, store {:?}",
            self.phases.len(),
            median(|t| t.execute),
            median(|t| t.state_root),
            median(|t| t.sign),
            median(|t| t.store),
        );
    }

    /// A fresh chain with `records` record commitments preloaded.
    fn new(records: usize) -> Bench {
        let home = std::env::temp_dir().join(format!(
            "credit-chain-bench-{}-{records}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&home);
        let chain_id: ChainId = "bench-chain".parse().unwrap();
        init(
            &home,
            &InitOptions {
                chain_id: chain_id.clone(),
                validators: 4,
                block_time: Duration::from_secs(1),
                genesis_time: now(),
            },
        )
        .unwrap();
        let mut chain = Chain::open(&home).unwrap();
        let provider = "provider-a".parse().unwrap();
        chain
            .import_entries((0..records).map(|i| {
                (
                    keys::record(&enterprise(i), &provider, 1),
                    borsh::to_vec(&commitment(i)).unwrap(),
                )
            }))
            .unwrap();
        chain.produce_block(vec![], now()).unwrap();
        let provider = KeyFile::read(&home.join("keys/institutions/provider-a.json"))
            .unwrap()
            .signing_key()
            .unwrap();
        Bench {
            home,
            chain,
            chain_id,
            provider,
            nonce: 0,
            next_enterprise: records,
            phases: Vec::new(),
        }
    }

    /// A block's worth of signed record commitments about new enterprises.
    fn transactions(&mut self) -> Vec<SignedTransaction> {
        (0..BLOCK_TXS)
            .map(|_| {
                self.nonce += 1;
                self.next_enterprise += 1;
                let tx = Transaction {
                    chain_id: self.chain_id.clone(),
                    sender: PublicKey(self.provider.verifying_key().to_bytes()),
                    nonce: self.nonce,
                    body: TxBody::CommitRecord {
                        commitment: commitment(self.next_enterprise),
                    },
                };
                let signature = Signature(self.provider.sign(&tx.sign_bytes()).to_bytes());
                SignedTransaction { tx, signature }
            })
            .collect()
    }

    /// Commits one block of transactions; returns the time it took.
    fn commit_block(&mut self) -> Duration {
        let txs = self.transactions();
        let start = Instant::now();
        let produced = self.chain.produce_block(txs, now()).unwrap();
        let took = start.elapsed();
        self.phases.push(produced.timings);
        assert!(
            produced.results.iter().all(|r| r.is_ok()),
            "{:?}",
            produced.results[0]
        );
        took
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn chain(c: &mut Criterion) {
    let mut group = c.benchmark_group("chain");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1));
    for records in [10_000usize, 100_000, 1_000_000] {
        let mut bench = Bench::new(records);
        group.throughput(Throughput::Elements(BLOCK_TXS as u64));
        group.bench_with_input(
            BenchmarkId::new("commit_block_1000_txs", records),
            &records,
            |b, _| b.iter_custom(|iters| (0..iters).map(|_| bench.commit_block()).sum()),
        );
        bench.report_phases(records);
        let probe: Vec<Vec<u8>> = (0..1024)
            .map(|i| {
                keys::record(
                    &enterprise(i * (records / 1024)),
                    &"provider-a".parse().unwrap(),
                    1,
                )
            })
            .collect();
        group.throughput(Throughput::Elements(1));
        let mut i = 0;
        group.bench_with_input(BenchmarkId::new("prove", records), &records, |b, _| {
            b.iter(|| {
                i = (i + 1) % probe.len();
                black_box(bench.chain.prove(&probe[i]))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, chain);
criterion_main!(benches);
