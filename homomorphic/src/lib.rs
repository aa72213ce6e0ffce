//! Additively homomorphic encryption for joint credit totals without
//! disclosure: exponential ElGamal over Ristretto255 with a bounded discrete
//! logarithm for decryption.
//!
//! Institution A wants enterprise M's total outstanding loans across all
//! institutions on all regional chains. A generates a [`KeyPair`] and sends
//! its [`PublicKey`]; every data provider encrypts its own amount for M
//! under it ([`PublicKey::encrypt`]); each chain adds its providers'
//! [`Ciphertext`]s, the partial sums of all chains are added again, and
//! only A decrypts the total ([`SecretKey::decrypt`], with a
//! [`DiscreteLogTable`]). Nobody but A learns anything, and A learns only
//! the total.
//!
//! ```
//! use homomorphic::{Ciphertext, DiscreteLogTable, KeyPair};
//!
//! let mut rng = rand::rngs::OsRng;
//! let a = KeyPair::generate(&mut rng);
//! let public = *a.public(); // sent to every chain
//!
//! let chain_1: Ciphertext = [120_000u64, 5_000]
//!     .iter()
//!     .map(|&amount| public.encrypt(amount, &mut rng))
//!     .sum::<Result<_, _>>()?;
//! let chain_2 = public.encrypt(75_000, &mut rng)?;
//! let total = public.rerandomize(&(chain_1 + chain_2), &mut rng);
//!
//! // In production: DiscreteLogTable::shared(), which covers MAX_AMOUNT.
//! let table = DiscreteLogTable::with_params(12, 1 << 24)?;
//! assert_eq!(a.secret().decrypt(&total, &table)?, 200_000);
//! # Ok::<(), homomorphic::Error>(())
//! ```
//!
//! Amounts in fen travel as two limbs (yuan and fen, a [`FenCiphertext`])
//! so that totals up to 10^12 yuan decrypt exactly to the fen
//! ([`SecretKey::decrypt_fen`]); a data provider encrypts its amount with
//! [`PublicKey::encrypt_contribution`], which also returns a
//! [`ContributionProof`] — zero-knowledge, bound to a context — that each
//! limb is in range and well formed, for whoever adds it to check
//! ([`ContributionProof::verify`]) before adding:
//!
//! ```
//! use homomorphic::{DiscreteLogTable, FenCiphertext, KeyPair};
//!
//! let mut rng = rand::rngs::OsRng;
//! let a = KeyPair::generate(&mut rng);
//! let mut sum = FenCiphertext::zero();
//! for (provider, amount_fen) in [("p1", 1_234_567_890u64), ("p2", 99)] {
//!     let context = format!("aggregation 1 / {provider}");
//!     let (c, proof) = a.public().encrypt_contribution(amount_fen, context.as_bytes(), &mut rng)?;
//!     proof.verify(a.public(), &c, context.as_bytes())?; // on the chain
//!     sum += c;
//! }
//! let table = DiscreteLogTable::with_params(12, 1 << 24)?;
//! assert_eq!(a.secret().decrypt_fen(&sum, &table)?, 1_234_567_890 + 99);
//! # Ok::<(), homomorphic::Error>(())
//! ```
//!
//! So that no single party can open a total, the key can be split in two
//! ([`KeyShare`], [`joint_key`]): each share is registered with a proof of
//! knowledge of its secret ([`KeyShareProof`]), and a total is decrypted
//! only when the second party releases its [`DecryptionShare`] — with a
//! DLEQ proof anyone can check — for the first to [`combine`] with its own
//! (an example is on [`combine`]).
//!
//! This crate never does I/O and never spawns threads; given the RNG, every
//! function is deterministic, and decoding untrusted bytes never panics.
//! It does not authenticate anything: a ciphertext says nothing about who
//! made it or under which key, and a missing partial sum is not zero —
//! keeping track of which chains answered is the caller's job.

#![deny(missing_docs)]

mod ciphertext;
mod dlog;
mod error;
mod fen;
mod keys;
mod point;
mod proof;
mod threshold;

pub use ciphertext::{CIPHERTEXT_LEN, Ciphertext};
pub use dlog::DiscreteLogTable;
pub use error::{Error, Result};
pub use fen::{FEN_CIPHERTEXT_LEN, FEN_PER_YUAN, FenCiphertext, MAX_FEN_AMOUNT};
pub use keys::{KEY_LEN, KeyPair, PublicKey, SecretKey};
pub use proof::{CONTRIBUTION_PROOF_LEN, ContributionProof};
pub use threshold::{
    DECRYPTION_SHARE_LEN, DecryptionShare, KEY_SHARE_PROOF_LEN, KeyShare, KeyShareProof,
    VerifiedDecryptionShare, combine, joint_key,
};

/// The largest amount [`PublicKey::encrypt`] accepts and the largest total
/// the default [`DiscreteLogTable`] decrypts: 2^40 - 1 = 1,099,511,627,775,
/// so any total up to 10^12 (yuan) decrypts exactly.
///
/// Each encrypted amount must be at most this; so must their sum, or
/// decryption fails with [`Error::PlaintextOutOfRange`].
pub const MAX_AMOUNT: u64 = (1 << 40) - 1;
