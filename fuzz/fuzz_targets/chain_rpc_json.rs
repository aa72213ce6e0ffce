//! The credit chain RPC's JSON bodies: `POST /tx` (one signed transaction,
//! mode 0) and `POST /txs` (an array, mode 1), decoded as the node does and
//! then checked for admission against the fixture chain.
#![no_main]
use credit_chain::app::App;
use credit_chain::app::auth::sign_transaction;
use credit_fuzz::{chain, chain_id, key, write_seeds};
use libfuzzer_sys::fuzz_target;
use protocol::{SignedTransaction, TxBody};

fn seeds() -> Vec<Vec<u8>> {
    let tx = sign_transaction(
        &key(1),
        chain_id("shaanxi"),
        1,
        TxBody::ReinstateInstitution {
            institution: "bank-a".parse().unwrap_or_else(|e| panic!("{e}")),
        },
    );
    vec![
        [&[0u8][..], &serde_json::to_vec(&tx).unwrap_or_default()].concat(),
        [
            &[1u8][..],
            &serde_json::to_vec(&vec![tx.clone(), tx]).unwrap_or_default(),
        ]
        .concat(),
    ]
}

fuzz_target!(init: write_seeds(&seeds()), |data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fixture = chain();
    let txs = if mode % 2 == 0 {
        serde_json::from_slice::<SignedTransaction>(rest).map(|tx| vec![tx])
    } else {
        serde_json::from_slice::<Vec<SignedTransaction>>(rest)
    };
    for tx in txs.iter().flatten().take(8) {
        let again: SignedTransaction = serde_json::from_slice(&serde_json::to_vec(tx).unwrap_or_default())
            .unwrap_or_else(|e| panic!("a decoded transaction does not round-trip through JSON: {e}"));
        assert_eq!(&again, tx);
        let _ = App::check_tx(&fixture.state, &fixture.context, tx);
    }
});
