//! Catching up on the network registry: gossip reaches only the relayers
//! connected when a proposal or approval is published, so a relayer (or
//! the regulator's supervision node) that was down or not yet connected
//! asks a peer for its registry snapshot
//! ([`MeshRequest::RegistrySnapshot`], page by page) when it connects to
//! it, and every [`CATCH_UP_INTERVAL`] asks one random connected peer.
//!
//! Nothing in a snapshot is trusted: it is merged with
//! [`RegistryService::merge`], which puts every proposal and approval
//! through the checks gossip gets; forged or malformed items are refused
//! and each is a strike against the peer, as a rejected gossip message is.
//! Decisions reached this way are published on the registry's update
//! channel like gossiped ones, so [`super::RegistrySync`] and
//! [`super::SupervisorSync`] act on them the same way.

use std::time::Duration;

use network::{NetworkHandle, PeerId};
use protocol::Hash;

use super::wire::{self, MeshRequest, MeshResponse};
use crate::metrics::Metrics;
use crate::registry::service::MAX_SNAPSHOT_ENTRIES;
use crate::registry::{MAX_GOVERNORS, MergeReport, RegistryService, SnapshotEntry};

/// How often one random connected peer is asked for its snapshot.
pub const CATCH_UP_INTERVAL: Duration = Duration::from_secs(60);

/// Most pages read from one peer in one catch-up.
pub const MAX_SNAPSHOT_PAGES: usize = 64;

/// Why a catch-up with a peer stopped.
#[derive(Debug, thiserror::Error)]
pub enum CatchUpError {
    /// The request failed (peer gone, timeout, network stopped).
    #[error("registry snapshot request to {peer} failed: {source}")]
    Request {
        /// The peer.
        peer: PeerId,
        /// Why.
        source: network::Error,
    },
    /// The peer refused (e.g. it has no registry configured).
    #[error("{peer} refused the registry snapshot: {reason}")]
    Refused {
        /// The peer.
        peer: PeerId,
        /// Its reason.
        reason: String,
    },
    /// The peer's registry grew from another genesis: its items cannot
    /// apply here (a configuration mismatch, not a forgery).
    #[error("{peer}'s registry grew from genesis {theirs}, this one from {ours}")]
    OtherGenesis {
        /// The peer.
        peer: PeerId,
        /// Its genesis hash.
        theirs: Hash,
        /// Ours.
        ours: Hash,
    },
    /// The answer was malformed, over the limits, or not a snapshot (the
    /// peer got a strike).
    #[error("{peer} answered a malformed registry snapshot: {reason}")]
    Malformed {
        /// The peer.
        peer: PeerId,
        /// What was wrong.
        reason: String,
    },
}

/// Reads `peer`'s registry snapshot page by page and merges it into
/// `registry`; every refused item is a strike against `peer`. Returns what
/// the merge did over all pages.
pub async fn catch_up(
    network: &NetworkHandle,
    registry: &RegistryService,
    metrics: &Metrics,
    peer: PeerId,
) -> Result<MergeReport, CatchUpError> {
    let mut total = MergeReport::default();
    let mut from = 0u64;
    for _ in 0..MAX_SNAPSHOT_PAGES {
        let request = wire::encode(&MeshRequest::RegistrySnapshot { from });
        let bytes = network.request(peer, request).await.map_err(|source| {
            metrics.request_sent("registry_snapshot", false);
            CatchUpError::Request { peer, source }
        })?;
        let page = match read_page(&bytes, from) {
            Ok(page) => page,
            Err(Page::Refused(reason)) => {
                metrics.request_sent("registry_snapshot", false);
                return Err(CatchUpError::Refused { peer, reason });
            }
            Err(Page::Malformed(reason)) => {
                metrics.request_sent("registry_snapshot", false);
                let _ = network.penalise(peer).await;
                metrics.registry_catch_up(0, 1);
                return Err(CatchUpError::Malformed { peer, reason });
            }
        };
        metrics.request_sent("registry_snapshot", true);
        let ours = registry.read(|r| r.genesis_hash());
        if page.genesis != ours {
            return Err(CatchUpError::OtherGenesis {
                peer,
                theirs: page.genesis,
                ours,
            });
        }
        let report = registry.merge(&page.entries);
        for reason in &report.rejected {
            tracing::warn!(%peer, %reason, "refused a forged item of a peer's registry snapshot");
            let _ = network.penalise(peer).await;
        }
        metrics.registry_catch_up(
            (report.proposals + report.approvals) as u64,
            report.rejected.len() as u64,
        );
        total.proposals += report.proposals;
        total.approvals += report.approvals;
        total.decided += report.decided;
        total.rejected.extend(report.rejected);
        match page.next {
            None => break,
            Some(next) => from = next,
        }
    }
    Ok(total)
}

/// A page of a peer's snapshot, checked against the limits.
struct CheckedPage {
    genesis: Hash,
    entries: Vec<SnapshotEntry>,
    next: Option<u64>,
}

/// Why a page is not usable.
enum Page {
    Refused(String),
    Malformed(String),
}

/// Decodes an answer to `RegistrySnapshot { from }`: a snapshot within the
/// limits whose next page (if any) starts after `from`. Never panics.
fn read_page(bytes: &[u8], from: u64) -> Result<CheckedPage, Page> {
    let response: MeshResponse =
        wire::decode(bytes, "registry snapshot").map_err(Page::Malformed)?;
    let (genesis, proposals, next) = match response {
        MeshResponse::RegistrySnapshot {
            genesis,
            proposals,
            next,
        } => (genesis, proposals, next),
        MeshResponse::Refused { reason } => return Err(Page::Refused(reason)),
        _ => return Err(Page::Malformed("not a registry snapshot".into())),
    };
    if proposals.len() > MAX_SNAPSHOT_ENTRIES {
        return Err(Page::Malformed(format!(
            "{} proposals in a page, at most {MAX_SNAPSHOT_ENTRIES}",
            proposals.len()
        )));
    }
    if let Some(p) = proposals.iter().find(|p| p.approvals.len() > MAX_GOVERNORS) {
        return Err(Page::Malformed(format!(
            "a proposal with {} approvals, there are at most {MAX_GOVERNORS} governors",
            p.approvals.len()
        )));
    }
    if let Some(next) = next
        && (next <= from || proposals.is_empty())
    {
        return Err(Page::Malformed(format!(
            "page from {from} points to the next page at {next}"
        )));
    }
    Ok(CheckedPage {
        genesis,
        entries: proposals
            .into_iter()
            .map(|p| SnapshotEntry {
                proposal: p.proposal.0,
                approvals: p.approvals.into_iter().map(|a| a.0).collect(),
            })
            .collect(),
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::wire::{HexBytes, WireProposal};

    fn page(proposals: Vec<WireProposal>, next: Option<u64>) -> Vec<u8> {
        wire::encode(&MeshResponse::RegistrySnapshot {
            genesis: Hash::digest(b"g"),
            proposals,
            next,
        })
    }

    #[test]
    fn pages_are_checked_against_the_limits_without_panicking() {
        let one = WireProposal {
            proposal: HexBytes(vec![1, 2, 3]),
            approvals: vec![HexBytes(vec![4])],
        };
        let ok = read_page(&page(vec![one.clone()], Some(1)), 0).unwrap_or_else(|_| panic!());
        assert_eq!(ok.entries[0].proposal, vec![1, 2, 3]);
        assert_eq!(ok.entries[0].approvals, vec![vec![4]]);
        assert_eq!(ok.next, Some(1));
        // A next page that does not move forward would loop.
        assert!(matches!(
            read_page(&page(vec![one.clone()], Some(3)), 3),
            Err(Page::Malformed(_))
        ));
        assert!(matches!(
            read_page(&page(Vec::new(), Some(1)), 0),
            Err(Page::Malformed(_))
        ));
        let many = vec![one.clone(); MAX_SNAPSHOT_ENTRIES + 1];
        assert!(matches!(
            read_page(&page(many, None), 0),
            Err(Page::Malformed(_))
        ));
        let crowded = WireProposal {
            proposal: HexBytes(vec![1]),
            approvals: vec![HexBytes(vec![2]); MAX_GOVERNORS + 1],
        };
        assert!(matches!(
            read_page(&page(vec![crowded], None), 0),
            Err(Page::Malformed(_))
        ));
        for garbage in [
            &b""[..],
            b"{",
            b"\xff\xfe",
            b"{\"kind\":\"registry_snapshot\"}",
        ] {
            assert!(matches!(read_page(garbage, 0), Err(Page::Malformed(_))));
        }
        let refused = wire::encode(&MeshResponse::Refused {
            reason: "no registry".into(),
        });
        assert!(matches!(read_page(&refused, 0), Err(Page::Refused(_))));
    }
}
