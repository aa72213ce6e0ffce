//! A provider's contribution to a joint aggregation: its own sum in fen,
//! encrypted by itself under the request's key, with the well-formedness
//! proof the chain verifies.

use borsh::BorshSerialize;
use protocol::{ChainId, Currency, Hash, InstitutionId, SaltedRecord};

use crate::Error;

/// The context a contribution's proof is bound to: which aggregation, on
/// which chain (the request's destination, the chain that sums), which
/// request packet (source chain, sequence) and which provider.
///
/// Byte for byte the chain's own (`credit_chain::app::aggregation::
/// contribution_context`), which the chain verifies against; re-derived
/// here because the agent must not depend on the chain's crate. Both
/// belong in `homomorphic` (a function of protocol types only): once it is
/// there, this body becomes a call to it.
pub fn contribution_context(
    aggregation_id: &Hash,
    chain: &ChainId,
    source: &ChainId,
    sequence: u64,
    provider: &InstitutionId,
) -> Vec<u8> {
    let mut context = b"credit-chain/contribute_aggregation/v1".to_vec();
    // Writing to a Vec cannot fail.
    let _ = (aggregation_id, chain, source, sequence, provider).serialize(&mut context);
    context
}

/// The sum in fen of `records` (all in CNY, whose minor unit is the fen),
/// within what one contribution may carry
/// ([`homomorphic::MAX_FEN_AMOUNT`]). Errors name the record, never an
/// amount.
pub fn sum_fen(records: &[(Hash, SaltedRecord)], what: &str) -> Result<u64, Error> {
    let mut total: u64 = 0;
    for (digest, salted) in records {
        let amount = salted.record.amount;
        let unfit = |reason: String| Error::UnfitRecord {
            digest: *digest,
            what: what.to_owned(),
            reason,
        };
        if amount.currency != Currency::CNY {
            return Err(unfit(format!(
                "its currency is {}, contributions are in fen (CNY)",
                amount.currency
            )));
        }
        total = total
            .checked_add(amount.minor_units)
            .filter(|t| *t <= homomorphic::MAX_FEN_AMOUNT)
            .ok_or_else(|| {
                unfit("with it the sum exceeds what one contribution can carry".to_owned())
            })?;
    }
    Ok(total)
}
