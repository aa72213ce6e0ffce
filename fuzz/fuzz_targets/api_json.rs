//! The integrator API's JSON bodies: `POST /queries` (mode 0: one signed
//! transaction or an array, decoded as the route does), `POST
//! /registry/proposals` (mode 1) and `POST /registry/approvals` (mode 2),
//! the latter two then put through the registry's checks.
#![no_main]
use credit_chain::app::auth::sign_transaction;
use credit_fuzz::{chain_id, key, registry, registry_messages, write_seeds};
use libfuzzer_sys::fuzz_target;
use protocol::{Approval, SignedProposal, TxBody};

fn seeds() -> Vec<Vec<u8>> {
    let tx = sign_transaction(
        &key(2),
        chain_id("shaanxi"),
        1,
        TxBody::ReinstateInstitution {
            institution: "bank-a".parse().unwrap_or_else(|e| panic!("{e}")),
        },
    );
    let (proposals, approvals) = registry_messages();
    let tagged = |mode: u8, bytes: Vec<u8>| [&[mode][..], &bytes].concat();
    let mut out = vec![
        tagged(0, serde_json::to_vec(&tx).unwrap_or_default()),
        tagged(0, serde_json::to_vec(&[&tx, &tx]).unwrap_or_default()),
    ];
    out.extend(
        proposals
            .iter()
            .map(|p| tagged(1, serde_json::to_vec(p).unwrap_or_default())),
    );
    out.extend(
        approvals
            .iter()
            .map(|a| tagged(2, serde_json::to_vec(a).unwrap_or_default())),
    );
    out
}

fuzz_target!(init: write_seeds(&seeds()), |data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let _ = relayer::api::parse_transactions(rest);
        }
        1 => {
            if let Ok(proposal) = serde_json::from_slice::<SignedProposal>(rest) {
                let _ = registry().clone().submit(proposal, credit_fuzz::FIXED_NOW_SECS);
            }
        }
        _ => {
            if let Ok(approval) = serde_json::from_slice::<Approval>(rest) {
                let _ = registry().clone().approve(approval);
            }
        }
    }
});
