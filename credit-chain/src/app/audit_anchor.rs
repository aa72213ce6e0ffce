//! `anchor_audit_checkpoint`: the regulator anchors checkpoints of its
//! audit log (kept by its supervision node, off chain) in this chain's
//! state, so that a later rewrite of the log is caught against a root the
//! regulator could not change alone — the chain's state root commits to
//! it and any member can prove it with a Merkle proof.
//!
//! The chain checks the regulator's role and its signature of the
//! checkpoint (the same signature the log keeps), and that each anchor
//! covers more entries than the last. It never sees an entry.

use protocol::tx::{AuditAnchor, Role};

use super::auth::{Sender, verify_signature};
use super::error::TxError;
use super::keys;
use super::state;
use super::store::KvStoreMut;
use super::{BlockContext, Event};

const ACTION: &str = "anchor_audit_checkpoint";

/// How far a checkpoint's time may be ahead of the block time (the
/// regulator's clock is not the validators').
pub const MAX_CLOCK_DRIFT: std::time::Duration = std::time::Duration::from_secs(60);

/// Stores `anchor` (its `regulator` is the sender's key), a checkpoint
/// signed by the sender, a regulator, under `audit/anchors/<upto>`.
pub(crate) fn anchor_audit_checkpoint<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    sender: &Sender,
    anchor: AuditAnchor,
) -> Result<Vec<Event>, TxError> {
    let regulator = sender.require_role(ACTION, &[Role::Regulator])?;
    let upto = anchor.upto;
    let time = anchor.time;
    let bytes = AuditAnchor::sign_bytes(upto, &anchor.merkle_root, &anchor.head_hash, &time);
    if !verify_signature(&sender.key, &bytes, &anchor.signature) {
        return Err(TxError::invalid(
            ACTION,
            format!(
                "the checkpoint up to entry {upto} is not signed by the sender's key {}",
                sender.key
            ),
        ));
    }
    if ctx
        .time
        .checked_add(MAX_CLOCK_DRIFT)
        .is_some_and(|latest| time > latest)
    {
        return Err(TxError::invalid(
            ACTION,
            format!(
                "checkpoint made at {time}, more than {}s after the block time {}",
                MAX_CLOCK_DRIFT.as_secs(),
                ctx.time
            ),
        ));
    }
    let latest: Option<u64> = state::read(&*store, &keys::latest_audit_anchor())?;
    if let Some(latest) = latest
        && upto <= latest
    {
        return Err(TxError::invalid(
            ACTION,
            format!(
                "a checkpoint up to entry {latest} is already anchored: the next must cover more (upto {upto})"
            ),
        ));
    }
    let merkle_root = anchor.merkle_root;
    state::write(store, keys::audit_anchor(upto), &anchor);
    state::write(store, keys::latest_audit_anchor(), &upto);
    Ok(vec![
        Event::new("audit_checkpoint_anchored")
            .attr("regulator", &regulator.id)
            .attr("upto", upto)
            .attr("merkle_root", merkle_root),
    ])
}
