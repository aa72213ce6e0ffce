//! A peer's registry snapshot page (answer to `RegistrySnapshot`), as
//! catch-up reads it: decoded, bounded like `mesh::catch_up` bounds it,
//! then every proposal and approval put through the registry's checks.
#![no_main]
use credit_fuzz::{registry, registry_messages, submit_approval, submit_proposal, write_seeds};
use libfuzzer_sys::fuzz_target;
use protocol::{Canonical, Hash};
use relayer::mesh::wire::{self, HexBytes, MeshResponse, WireProposal};
use relayer::registry::MAX_GOVERNORS;
use relayer::registry::service::MAX_SNAPSHOT_ENTRIES;

fn seeds() -> Vec<Vec<u8>> {
    let (proposals, approvals) = registry_messages();
    let page = |with_approvals: bool| MeshResponse::RegistrySnapshot {
        genesis: registry().genesis_hash(),
        proposals: proposals
            .iter()
            .map(|p| WireProposal {
                proposal: HexBytes(p.to_canonical_bytes()),
                approvals: approvals
                    .iter()
                    .filter(|a| with_approvals && a.proposal_id == p.id())
                    .map(|a| HexBytes(a.to_canonical_bytes()))
                    .collect(),
            })
            .collect(),
        next: None,
    };
    vec![
        wire::encode(&page(true)),
        wire::encode(&page(false)),
        wire::encode(&MeshResponse::RegistrySnapshot {
            genesis: Hash::ZERO,
            proposals: vec![],
            next: Some(1),
        }),
    ]
}

fuzz_target!(init: write_seeds(&seeds()), |data: &[u8]| {
    let Ok(MeshResponse::RegistrySnapshot { proposals, .. }) =
        wire::decode::<MeshResponse>(data, "registry snapshot")
    else {
        return;
    };
    if proposals.len() > MAX_SNAPSHOT_ENTRIES
        || proposals.iter().any(|p| p.approvals.len() > MAX_GOVERNORS)
    {
        return;
    }
    let mut registry = registry().clone();
    for entry in &proposals {
        submit_proposal(&mut registry, &entry.proposal.0);
        for approval in &entry.approvals {
            submit_approval(&mut registry, &approval.0);
        }
    }
});
