//! Borsh transactions as a credit chain receives them: one transaction's
//! canonical bytes (mode 0: decoded, checked for admission and delivered
//! against the fixture chain's genesis state) or a relayer's batch (mode 1:
//! the `POST /txs` binary body, each transaction then checked).
#![no_main]
use credit_chain::app::App;
use credit_chain::app::auth::sign_transaction;
use credit_fuzz::{assert_canonical, chain, chain_id, key, write_seeds};
use libfuzzer_sys::fuzz_target;
use protocol::{Canonical, SignedTransaction, TxBody};

/// At most this many transactions of a batch are checked (each a signature).
const CHECKED_PER_BATCH: usize = 8;

fn seeds() -> Vec<Vec<u8>> {
    let txs = vec![
        sign_transaction(
            &key(2),
            chain_id("shaanxi"),
            1,
            TxBody::Transfer {
                to: "shaanxi/bank-a".parse().unwrap_or_else(|e| panic!("{e}")),
                amount: protocol::Money {
                    minor_units: 10,
                    currency: protocol::Currency::CNY,
                },
            },
        ),
        sign_transaction(
            &key(1),
            chain_id("shaanxi"),
            1,
            TxBody::ReinstateInstitution {
                institution: "bank-a".parse().unwrap_or_else(|e| panic!("{e}")),
            },
        ),
    ];
    let mut out: Vec<Vec<u8>> = txs
        .iter()
        .map(|tx| [&[0u8][..], &tx.to_canonical_bytes()].concat())
        .collect();
    out.push([&[1u8][..], &borsh::to_vec(&txs).unwrap_or_default()].concat());
    out
}

fn check_and_deliver(tx: &SignedTransaction) {
    let fixture = chain();
    if App::check_tx(&fixture.state, &fixture.context, tx).is_ok() {
        let mut state = fixture.state.clone();
        let _ = App::deliver_tx(&mut state, &fixture.context, tx);
    }
}

fuzz_target!(init: write_seeds(&seeds()), |data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(tx) = App::decode_tx(rest) {
            assert_canonical(&tx, rest);
            check_and_deliver(&tx);
        }
        return;
    }
    if let Ok(txs) = borsh::from_slice::<Vec<SignedTransaction>>(rest) {
        for tx in txs.iter().take(CHECKED_PER_BATCH) {
            check_and_deliver(tx);
        }
    }
});
