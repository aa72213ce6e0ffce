//! Speed of the production scheme (exponential ElGamal over Ristretto255)
//! and, for the choice of scheme, of Paillier with a 2048-bit modulus.
//!
//! ElGamal: one encryption, one homomorphic addition, one
//! rerandomization, one decode of 64 untrusted bytes; decryption with the
//! default table (2^23 baby steps, covering MAX_AMOUNT) of small totals, of
//! 10^12 and of MAX_AMOUNT, and of a total one past the range (refused:
//! the whole range is walked); building the default table (and a 2^20 one
//! to show the scaling).
//!
//! Paillier (g = n + 1, textbook; see `mod paillier`): one encryption
//! `(1 + m·n)·r^n mod n²` by a party knowing only n, one addition (a
//! multiplication mod n²), one decryption with the CRT speed-up the key
//! holder can use. Key generation (two 1024-bit primes) is outside the
//! timing.
//!
//! Contributions (amounts in fen as two limbs, with their well-formedness
//! proof): encrypting both limbs, encrypting and proving (what a provider
//! does), decoding and verifying a proof (what the chain does per
//! contribution), adding two-limb ciphertexts, and decrypting a two-limb
//! total of 10^12 yuan (10^14 fen) with the default table.
//!
//! Ciphertext sizes are printed at the start: 64 bytes against 512.
//!
//! `cargo bench -p credit-homomorphic` (slow groups use 10 samples).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use homomorphic::{
    CIPHERTEXT_LEN, CONTRIBUTION_PROOF_LEN, Ciphertext, ContributionProof, DiscreteLogTable,
    FenCiphertext, KeyPair, KeyShare, MAX_AMOUNT, MAX_FEN_AMOUNT, combine, joint_key,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn elgamal(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let keys = KeyPair::generate(&mut rng);
    let public = *keys.public();
    let a = public.encrypt(123_456, &mut rng).unwrap();
    let b = public.encrypt(654_321, &mut rng).unwrap();
    let encoded = a.to_bytes();

    let mut group = c.benchmark_group("elgamal");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encrypt", |bench| {
        bench.iter(|| public.encrypt(black_box(987_654_321), &mut rng).unwrap())
    });
    group.bench_function("add", |bench| bench.iter(|| black_box(a) + black_box(b)));
    group.bench_function("rerandomize", |bench| {
        bench.iter(|| public.rerandomize(black_box(&a), &mut rng))
    });
    group.bench_function("decode", |bench| {
        bench.iter(|| Ciphertext::from_bytes(black_box(&encoded)).unwrap())
    });
    group.finish();
}

fn elgamal_decrypt(c: &mut Criterion) {
    let start = Instant::now();
    let table = DiscreteLogTable::shared();
    eprintln!(
        "default table: 2^23 baby steps built in {:.2?}, {} bytes ({:.1} MiB)",
        start.elapsed(),
        table.memory_bytes(),
        table.memory_bytes() as f64 / (1 << 20) as f64
    );
    let mut rng = StdRng::seed_from_u64(2);
    let keys = KeyPair::generate(&mut rng);

    let mut group = c.benchmark_group("elgamal_decrypt");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    for (name, amount) in [
        ("1e3", 1_000),
        ("1e6", 1_000_000),
        ("1e9", 10u64.pow(9)),
        ("1e12", 10u64.pow(12)),
        ("max", MAX_AMOUNT),
    ] {
        let ciphertext = keys.public().encrypt(amount, &mut rng).unwrap();
        group.bench_function(name, |bench| {
            bench.iter(|| {
                assert_eq!(
                    keys.secret()
                        .decrypt(black_box(&ciphertext), table)
                        .unwrap(),
                    amount
                )
            })
        });
    }
    let past = keys.public().encrypt(MAX_AMOUNT, &mut rng).unwrap()
        + keys.public().encrypt(1, &mut rng).unwrap();
    group.bench_function("max_plus_1_refused", |bench| {
        bench.iter(|| keys.secret().decrypt(black_box(&past), table).unwrap_err())
    });
    group.finish();
}

fn contribution(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(4);
    let keys = KeyPair::generate(&mut rng);
    let public = *keys.public();
    let context = b"aggregation / chain / provider";
    let (ciphertext, proof) = public
        .encrypt_contribution(123_456_789_012, context, &mut rng)
        .unwrap();
    let proof_bytes = proof.to_bytes();
    assert_eq!(proof_bytes.len(), CONTRIBUTION_PROOF_LEN);
    let other = public.encrypt_fen(42, &mut rng).unwrap();
    eprintln!(
        "contribution: ciphertext {} bytes, proof {} bytes",
        ciphertext.to_bytes().len(),
        proof_bytes.len()
    );

    let mut group = c.benchmark_group("contribution");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encrypt_fen", |bench| {
        bench.iter(|| {
            public
                .encrypt_fen(black_box(98_765_432_100), &mut rng)
                .unwrap()
        })
    });
    group.bench_function("encrypt_and_prove", |bench| {
        bench.iter(|| {
            public
                .encrypt_contribution(black_box(MAX_FEN_AMOUNT), context, &mut rng)
                .unwrap()
        })
    });
    group.bench_function("decode_and_verify", |bench| {
        bench.iter(|| {
            ContributionProof::from_bytes(black_box(&proof_bytes))
                .unwrap()
                .verify(&public, &ciphertext, context)
                .unwrap()
        })
    });
    group.bench_function("add_fen", |bench| {
        bench.iter(|| black_box(ciphertext) + black_box(other))
    });
    group.finish();

    let table = DiscreteLogTable::shared();
    let mut group = c.benchmark_group("fen_decrypt");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    // 10^12 yuan in fen, as three providers' contributions would add up.
    let total_fen = 100_000_000_000_000u64;
    let sum: FenCiphertext = [total_fen - 99, 50, 49]
        .iter()
        .map(|&a| public.encrypt_fen(a, &mut rng).unwrap())
        .sum();
    group.bench_function("1e12_yuan", |bench| {
        bench.iter(|| {
            assert_eq!(
                keys.secret().decrypt_fen(black_box(&sum), table).unwrap(),
                total_fen
            )
        })
    });
    group.finish();
}

/// Threshold decryption of a joint total: the regulator's share with its
/// DLEQ proof, its verification, and the requester's combination (two
/// bounded discrete logs) — what `relayer aggregate result` does after the
/// total is closed.
fn threshold(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(5);
    let requester = KeyShare::generate(&mut rng);
    let regulator = KeyShare::generate(&mut rng);
    let joint = joint_key(requester.public(), regulator.public()).unwrap();
    let context = b"aggregation / asking chain";
    let amounts = [420_000_000u64, 420_000_000, 123_456_789];
    let total: FenCiphertext = amounts
        .iter()
        .map(|&a| joint.encrypt_fen(a, &mut rng).unwrap())
        .sum();
    let share = regulator.decryption_share(&total, context, &mut rng);
    let verified = share.verify(regulator.public(), &total, context).unwrap();
    let table = DiscreteLogTable::shared();
    let expected: u64 = amounts.iter().sum();

    let mut group = c.benchmark_group("threshold");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    group.bench_function("decryption_share", |bench| {
        bench.iter(|| regulator.decryption_share(black_box(&total), context, &mut rng))
    });
    group.bench_function("verify_share", |bench| {
        bench.iter(|| {
            share
                .verify(regulator.public(), black_box(&total), context)
                .unwrap()
        })
    });
    group.bench_function("combine_and_decrypt", |bench| {
        bench.iter(|| {
            assert_eq!(
                combine(black_box(&total), &requester, &verified, table).unwrap(),
                expected
            )
        })
    });
    group.finish();
}

fn elgamal_table(c: &mut Criterion) {
    let mut group = c.benchmark_group("elgamal_table_build");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for bits in [20, DiscreteLogTable::DEFAULT_BITS] {
        group.bench_function(format!("2^{bits}"), |bench| {
            bench.iter(|| DiscreteLogTable::with_params(bits, MAX_AMOUNT).unwrap())
        });
    }
    group.finish();
}

fn paillier(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(3);
    let start = Instant::now();
    let key = paillier::SecretKey::generate(2048, &mut rng);
    eprintln!("paillier-2048 key generation: {:.2?}", start.elapsed());
    let public = key.public();
    let a = public.encrypt(123_456, &mut rng);
    let b = public.encrypt(654_321, &mut rng);
    assert_eq!(key.decrypt(&public.add(&a, &b)), 777_777);
    assert_eq!(key.decrypt(&a), key.decrypt_textbook(&a));
    eprintln!(
        "ciphertext bytes: elgamal {CIPHERTEXT_LEN}, paillier-2048 {}",
        public.ciphertext_bytes()
    );

    let mut group = c.benchmark_group("paillier2048");
    group.throughput(Throughput::Elements(1));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("encrypt", |bench| {
        bench.iter(|| public.encrypt(black_box(987_654_321), &mut rng))
    });
    group.bench_function("add", |bench| {
        bench.iter(|| public.add(black_box(&a), black_box(&b)))
    });
    group.bench_function("decrypt_crt", |bench| {
        bench.iter(|| key.decrypt(black_box(&a)))
    });
    group.bench_function("decrypt_textbook", |bench| {
        bench.iter(|| key.decrypt_textbook(black_box(&a)))
    });
    group.finish();
}

/// Paillier with g = n + 1, enough to measure; not constant-time, not for
/// use. Amounts are u64 (the plaintext space is Z_n).
mod paillier {
    use num_bigint_dig::{BigUint, ModInverse, RandBigInt, RandPrime};
    use rand::Rng;

    pub struct PublicKey {
        n: BigUint,
        n_squared: BigUint,
    }

    pub struct SecretKey {
        public: PublicKey,
        /// φ(n) and its inverse mod n, for the textbook decryption.
        phi: BigUint,
        phi_inverse: BigUint,
        /// Per-prime data for CRT decryption.
        p: Prime,
        q: Prime,
        /// q⁻¹ mod p, to recombine.
        q_inverse_mod_p: BigUint,
    }

    struct Prime {
        prime: BigUint,
        square: BigUint,
        minus_one: BigUint,
        /// L_p(g^(p-1) mod p²)⁻¹ mod p.
        h: BigUint,
    }

    fn inverse(a: &BigUint, modulus: &BigUint) -> BigUint {
        let inverse = a.clone().mod_inverse(modulus).expect("invertible");
        let modulus = num_bigint_dig::BigInt::from(modulus.clone());
        ((inverse % &modulus + &modulus) % &modulus)
            .to_biguint()
            .expect("non-negative")
    }

    impl Prime {
        fn new(prime: BigUint, n: &BigUint) -> Self {
            let one = BigUint::from(1u32);
            let square = &prime * &prime;
            let minus_one = &prime - &one;
            let g = n + &one;
            let l = (g.modpow(&minus_one, &square) - &one) / &prime;
            let h = inverse(&(l % &prime), &prime);
            Self {
                prime,
                square,
                minus_one,
                h,
            }
        }

        /// c^(p-1) mod p², L_p of it, times h, mod p.
        fn decrypt(&self, c: &BigUint) -> BigUint {
            let x = (c % &self.square).modpow(&self.minus_one, &self.square);
            ((x - 1u32) / &self.prime * &self.h) % &self.prime
        }
    }

    impl SecretKey {
        pub fn generate<R: Rng>(bits: usize, rng: &mut R) -> Self {
            loop {
                let p = rng.gen_prime(bits / 2);
                let q = rng.gen_prime(bits / 2);
                let n = &p * &q;
                if p == q || n.bits() != bits {
                    continue;
                }
                let one = BigUint::from(1u32);
                let phi = (&p - &one) * (&q - &one);
                let phi_inverse = inverse(&phi, &n);
                let q_inverse_mod_p = inverse(&q, &p);
                let n_squared = &n * &n;
                let (p, q) = (Prime::new(p, &n), Prime::new(q, &n));
                return Self {
                    public: PublicKey { n, n_squared },
                    phi,
                    phi_inverse,
                    p,
                    q,
                    q_inverse_mod_p,
                };
            }
        }

        pub fn public(&self) -> &PublicKey {
            &self.public
        }

        /// CRT: m mod p and m mod q from two half-size exponentiations.
        pub fn decrypt(&self, c: &BigUint) -> u64 {
            let m_p = self.p.decrypt(c);
            let m_q = self.q.decrypt(c);
            let p = &self.p.prime;
            let difference = (m_p + p - (&m_q % p)) % p;
            let m = m_q + &self.q.prime * ((difference * &self.q_inverse_mod_p) % p);
            to_u64(&m)
        }

        /// m = L(c^φ mod n²)·φ⁻¹ mod n.
        pub fn decrypt_textbook(&self, c: &BigUint) -> u64 {
            let n = &self.public.n;
            let x = c.modpow(&self.phi, &self.public.n_squared);
            to_u64(&(((x - 1u32) / n * &self.phi_inverse) % n))
        }
    }

    fn to_u64(m: &BigUint) -> u64 {
        let bytes = m.to_bytes_le();
        assert!(bytes.len() <= 8, "plaintext does not fit in u64");
        bytes
            .iter()
            .rev()
            .fold(0, |acc, &b| (acc << 8) | u64::from(b))
    }

    impl PublicKey {
        /// (1 + m·n)·r^n mod n², r uniform in [1, n).
        pub fn encrypt<R: Rng>(&self, m: u64, rng: &mut R) -> BigUint {
            let r = rng.gen_biguint_range(&BigUint::from(1u32), &self.n);
            let g_m = (BigUint::from(m) * &self.n + 1u32) % &self.n_squared;
            (g_m * r.modpow(&self.n, &self.n_squared)) % &self.n_squared
        }

        pub fn add(&self, a: &BigUint, b: &BigUint) -> BigUint {
            (a * b) % &self.n_squared
        }

        pub fn ciphertext_bytes(&self) -> usize {
            self.n_squared.bits().div_ceil(8)
        }
    }
}

criterion_group!(
    benches,
    elgamal,
    contribution,
    threshold,
    elgamal_decrypt,
    paillier,
    elgamal_table
);
criterion_main!(benches);
