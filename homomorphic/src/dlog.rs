//! Bounded discrete logarithm by baby-step giant-step.
//!
//! Decryption yields `m·G`; recovering `m` needs a discrete logarithm,
//! feasible only because `m` is known to be small (at most
//! [`MAX_AMOUNT`]). With `N = 2^bits` baby steps, write `m = i·N + j` with
//! `0 <= j < N`; the table maps `j·G` to `j`, and the search walks the giant
//! steps `M - i·(N·G)` for `i = 0, 1, ...` until one is in the table.
//!
//! Points are compared through their Ristretto encodings, which need a field
//! inversion each; [`RistrettoPoint::double_and_compress_batch`] encodes
//! `2·P` for a whole batch with one inversion, so both the table and the
//! search use the encoding of `2·P` (doubling is injective in a group of odd
//! order, so nothing is lost).
//!
//! # Layout
//!
//! Each entry is one `u64`: the top bits are the bucket (taken from the
//! encoding), then a fingerprint (more bits of the encoding), then `j`.
//! Entries are sorted, so each bucket is a contiguous run, found through an
//! offsets array with one `u32` per bucket; there are `N/4` buckets, so a
//! lookup scans about four adjacent entries. That is 9 bytes per baby step.
//! A fingerprint match is only a candidate: it is confirmed by computing
//! `m·G` in full, so a fingerprint collision costs time, never correctness.

use std::sync::OnceLock;

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;

use crate::MAX_AMOUNT;
use crate::error::{Error, Result};

/// Points encoded per call to `double_and_compress_batch`. The search
/// starts with small batches, so small totals are found without encoding a
/// full batch, and doubles them up to this.
const BATCH: usize = 512;
const FIRST_SEARCH_BATCH: usize = 8;

/// Buckets are a quarter of the baby steps (`bucket bits = bits - 2`).
const BUCKET_SHIFT: u32 = 2;

/// A baby-step table for decrypting totals in `0..=max`.
///
/// Build it once (it takes seconds) and share it: it holds no secret and
/// serves every key. [`DiscreteLogTable::shared`] builds the default table
/// lazily, once per process; [`DiscreteLogTable::new`] and
/// [`DiscreteLogTable::with_params`] build one explicitly.
///
/// ```
/// use homomorphic::DiscreteLogTable;
///
/// // A small table for small totals (the default covers MAX_AMOUNT).
/// let table = DiscreteLogTable::with_params(10, 1 << 20)?;
/// assert_eq!(table.max(), 1 << 20);
/// assert_eq!(table.baby_steps(), 1024);
/// # Ok::<(), homomorphic::Error>(())
/// ```
pub struct DiscreteLogTable {
    bits: u32,
    max: u64,
    /// `offsets[b]..offsets[b + 1]` is bucket `b` in `entries`.
    offsets: Box<[u32]>,
    /// Sorted `bucket | fingerprint | j` words.
    entries: Box<[u64]>,
    /// `-(N·G)`: one giant step.
    giant_step: RistrettoPoint,
}

impl DiscreteLogTable {
    /// Baby-step bits of the default table: 2^23 entries, 72 MiB, and at
    /// most 2^17 giant steps to cover [`MAX_AMOUNT`].
    pub const DEFAULT_BITS: u32 = 23;
    /// Smallest accepted baby-step bits.
    pub const MIN_BITS: u32 = 4;
    /// Largest accepted baby-step bits (2^26 entries, 576 MiB).
    pub const MAX_BITS: u32 = 26;

    /// Builds the default table, which recovers every value in
    /// `0..=`[`MAX_AMOUNT`] with 2^23 baby steps. Takes seconds; prefer
    /// [`DiscreteLogTable::shared`] unless you manage the table's lifetime.
    pub fn new() -> Self {
        Self::with_params(Self::DEFAULT_BITS, MAX_AMOUNT).expect("default parameters are in range")
    }

    /// The default table, built on first use and kept for the life of the
    /// process. The first call blocks for the build (seconds); later calls
    /// return at once.
    pub fn shared() -> &'static Self {
        static TABLE: OnceLock<DiscreteLogTable> = OnceLock::new();
        TABLE.get_or_init(Self::new)
    }

    /// Builds a table of `2^bits` baby steps that recovers values in
    /// `0..=max`. Building costs about `2^bits` point additions and
    /// encodings and [`memory_bytes`](Self::memory_bytes) of memory; a
    /// decryption then costs up to `max / 2^bits + 1` giant steps.
    ///
    /// Fails with [`Error::BabyStepBitsOutOfRange`] unless
    /// `MIN_BITS <= bits <= MAX_BITS`.
    pub fn with_params(bits: u32, max: u64) -> Result<Self> {
        if !(Self::MIN_BITS..=Self::MAX_BITS).contains(&bits) {
            return Err(Error::BabyStepBitsOutOfRange {
                bits,
                min: Self::MIN_BITS,
                max: Self::MAX_BITS,
            });
        }
        let layout = Layout::new(bits);
        let n = 1usize << bits;

        let mut entries = Vec::with_capacity(n);
        let mut batch = Vec::with_capacity(BATCH);
        let mut point = RistrettoPoint::identity();
        let mut j = 0u64;
        while entries.len() < n {
            batch.clear();
            while batch.len() < BATCH && entries.len() + batch.len() < n {
                batch.push(point);
                point += RISTRETTO_BASEPOINT_POINT;
            }
            for encoding in RistrettoPoint::double_and_compress_batch(&batch) {
                entries.push(layout.entry(&encoding, j));
                j += 1;
            }
        }
        entries.sort_unstable();

        let buckets = layout.buckets();
        let mut offsets = vec![0u32; buckets + 1];
        let mut at = 0usize;
        for (bucket, offset) in offsets.iter_mut().enumerate() {
            while at < entries.len() && layout.bucket_of(entries[at]) < bucket {
                at += 1;
            }
            *offset = u32::try_from(at).expect("at most 2^26 entries");
        }

        Ok(Self {
            bits,
            max,
            offsets: offsets.into_boxed_slice(),
            entries: entries.into_boxed_slice(),
            // N·G = point after the loop, since it stopped at j = N.
            giant_step: -point,
        })
    }

    /// The largest value this table recovers; decryption of anything larger
    /// fails with [`Error::PlaintextOutOfRange`].
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The number of baby steps, `2^bits`.
    pub fn baby_steps(&self) -> u64 {
        1 << self.bits
    }

    /// Heap bytes held by the table (entries and bucket offsets): 9 bytes
    /// per baby step, 72 MiB for the default table.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.entries) + std::mem::size_of_val(&*self.offsets)
    }

    /// The `m` in `0..=max` with `m·G == point`, if there is one.
    pub(crate) fn solve(&self, point: &RistrettoPoint) -> Result<u64> {
        let layout = Layout::new(self.bits);
        let giant_steps = (self.max >> self.bits) + 1;
        let mut current = *point;
        let mut batch = Vec::with_capacity(BATCH);
        let mut i = 0u64;
        let mut batch_len = FIRST_SEARCH_BATCH;
        while i < giant_steps {
            batch.clear();
            let first = i;
            while batch.len() < batch_len && i < giant_steps {
                batch.push(current);
                current += self.giant_step;
                i += 1;
            }
            for (k, encoding) in RistrettoPoint::double_and_compress_batch(&batch)
                .iter()
                .enumerate()
            {
                let key = layout.key(encoding);
                let bucket = layout.bucket_of(key);
                let run = self.offsets[bucket] as usize..self.offsets[bucket + 1] as usize;
                for &entry in &self.entries[run] {
                    if layout.fingerprint_of(entry) != layout.fingerprint_of(key) {
                        continue;
                    }
                    // u128: near u64::MAX the last giant step reaches past it.
                    let m = (u128::from(first + k as u64) << self.bits)
                        + u128::from(layout.j_of(entry));
                    // Confirm the candidate: a fingerprint is not the point.
                    if RistrettoPoint::mul_base(&Scalar::from(m)) == *point {
                        // The log is unique below the group order, so a
                        // confirmed m above max means none is in range.
                        return u64::try_from(m)
                            .ok()
                            .filter(|&m| m <= self.max)
                            .ok_or(Error::PlaintextOutOfRange { max: self.max });
                    }
                }
            }
            batch_len = (batch_len * 2).min(BATCH);
        }
        Err(Error::PlaintextOutOfRange { max: self.max })
    }
}

impl Default for DiscreteLogTable {
    /// Same as [`DiscreteLogTable::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for DiscreteLogTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscreteLogTable")
            .field("baby_steps", &self.baby_steps())
            .field("max", &self.max)
            .field("memory_bytes", &self.memory_bytes())
            .finish()
    }
}

/// How a 64-bit key taken from an encoding is split, for `bits` baby steps:
/// `[bucket: bits - 2][fingerprint: 64 - (bits - 2) - bits][j: bits]`.
#[derive(Clone, Copy)]
struct Layout {
    bits: u32,
    bucket_bits: u32,
}

impl Layout {
    fn new(bits: u32) -> Self {
        Self {
            bits,
            bucket_bits: bits - BUCKET_SHIFT,
        }
    }

    fn buckets(self) -> usize {
        1 << self.bucket_bits
    }

    /// The first eight bytes of an encoding as a key with the `j` field
    /// cleared. Byte 0's lowest bit is always 0 in a canonical encoding, so
    /// the `j` field (the low bits) is where it goes.
    fn key(self, encoding: &CompressedRistretto) -> u64 {
        let mut first = [0u8; 8];
        first.copy_from_slice(&encoding.as_bytes()[..8]);
        u64::from_le_bytes(first) & !self.j_mask()
    }

    fn entry(self, encoding: &CompressedRistretto, j: u64) -> u64 {
        self.key(encoding) | j
    }

    fn j_mask(self) -> u64 {
        (1 << self.bits) - 1
    }

    fn bucket_of(self, word: u64) -> usize {
        (word >> (64 - self.bucket_bits)) as usize
    }

    fn fingerprint_of(self, word: u64) -> u64 {
        (word << self.bucket_bits) >> (self.bucket_bits + self.bits)
    }

    fn j_of(self, entry: u64) -> u64 {
        entry & self.j_mask()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mul_base(m: u64) -> RistrettoPoint {
        RistrettoPoint::mul_base(&Scalar::from(m))
    }

    #[test]
    fn every_value_of_a_small_range_is_recovered() {
        let table = DiscreteLogTable::with_params(6, 1000).unwrap();
        for m in 0..=1000 {
            assert_eq!(table.solve(&mul_base(m)), Ok(m), "m = {m}");
        }
    }

    #[test]
    fn values_just_above_the_bound_are_refused_not_misread() {
        let table = DiscreteLogTable::with_params(6, 1000).unwrap();
        // 1001..1023 lie in the last giant step's reach: found, then refused.
        for m in [1001, 1023, 1024, 5000] {
            assert_eq!(
                table.solve(&mul_base(m)),
                Err(Error::PlaintextOutOfRange { max: 1000 }),
                "m = {m}"
            );
        }
        // A "negative" total (the group order minus one) is refused too.
        let minus_one = -mul_base(1);
        assert_eq!(
            table.solve(&minus_one),
            Err(Error::PlaintextOutOfRange { max: 1000 })
        );
    }

    #[test]
    fn bounds_that_are_not_multiples_of_the_table_size_work() {
        let table = DiscreteLogTable::with_params(4, 17).unwrap();
        assert_eq!(table.solve(&mul_base(16)), Ok(16));
        assert_eq!(table.solve(&mul_base(17)), Ok(17));
        assert_eq!(
            table.solve(&mul_base(18)),
            Err(Error::PlaintextOutOfRange { max: 17 })
        );
    }

    #[test]
    fn buckets_partition_the_entries_in_order() {
        let table = DiscreteLogTable::with_params(12, 1 << 20).unwrap();
        let layout = Layout::new(12);
        assert_eq!(table.entries.len(), 1 << 12);
        assert_eq!(table.offsets.len(), (1 << 10) + 1);
        assert_eq!(table.offsets[0], 0);
        assert_eq!(*table.offsets.last().unwrap() as usize, table.entries.len());
        for bucket in 0..layout.buckets() {
            for &entry in
                &table.entries[table.offsets[bucket] as usize..table.offsets[bucket + 1] as usize]
            {
                assert_eq!(layout.bucket_of(entry), bucket);
            }
        }
        let mut js: Vec<u64> = table.entries.iter().map(|&e| layout.j_of(e)).collect();
        js.sort_unstable();
        assert_eq!(js, (0..1 << 12).collect::<Vec<u64>>());
        assert_eq!(table.memory_bytes(), (1 << 12) * 8 + ((1 << 10) + 1) * 4);
    }

    #[test]
    fn layout_fields_do_not_overlap() {
        for bits in DiscreteLogTable::MIN_BITS..=DiscreteLogTable::MAX_BITS {
            let layout = Layout::new(bits);
            let word = u64::MAX;
            let bucket = layout.bucket_of(word) as u64;
            let fingerprint = layout.fingerprint_of(word);
            let j = layout.j_of(word);
            let fingerprint_bits = 64 - layout.bucket_bits - bits;
            assert_eq!(bucket, (1 << layout.bucket_bits) - 1);
            assert_eq!(fingerprint, (1 << fingerprint_bits) - 1);
            assert_eq!(j, (1 << bits) - 1);
            assert_eq!(layout.fingerprint_of(1 << bits), 1, "bits = {bits}");
            assert_eq!(layout.bucket_of(1 << (64 - layout.bucket_bits)), 1);
        }
    }

    #[test]
    fn table_size_outside_the_supported_range_is_refused() {
        assert_eq!(
            DiscreteLogTable::with_params(3, 10).unwrap_err(),
            Error::BabyStepBitsOutOfRange {
                bits: 3,
                min: 4,
                max: 26
            }
        );
        assert_eq!(
            DiscreteLogTable::with_params(27, 10).unwrap_err(),
            Error::BabyStepBitsOutOfRange {
                bits: 27,
                min: 4,
                max: 26
            }
        );
    }
}
