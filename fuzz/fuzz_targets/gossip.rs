//! Gossip message bodies, by topic: light blocks of the fixture chain
//! (mode 0: decoded, chain checked, verified by the light client),
//! registrations (mode 1: signed proposals through the registry's checks)
//! and governance (mode 2: approvals through the registry's checks).
#![no_main]
use credit_fuzz::{
    assert_canonical, chain_id, light, registry, registry_messages, submit_approval,
    submit_proposal, write_seeds,
};
use libfuzzer_sys::fuzz_target;
use protocol::{Canonical, LightBlock};

fn seeds() -> Vec<Vec<u8>> {
    let (proposals, approvals) = registry_messages();
    let tagged = |mode: u8, bytes: Vec<u8>| [&[mode][..], &bytes].concat();
    let mut out: Vec<Vec<u8>> = light()
        .blocks
        .iter()
        .map(|b| tagged(0, b.to_canonical_bytes()))
        .collect();
    out.extend(proposals.iter().map(|p| tagged(1, p.to_canonical_bytes())));
    out.extend(approvals.iter().map(|a| tagged(2, a.to_canonical_bytes())));
    out
}

fuzz_target!(init: write_seeds(&seeds()), |data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let Ok(block) = LightBlock::from_canonical_bytes(rest) else {
                return;
            };
            assert_canonical(&block, rest);
            if block.header().chain_id != chain_id("guangdong") {
                return;
            }
            let fixture = light();
            let _ = fixture.client.clone().update(block, fixture.now);
        }
        1 => submit_proposal(&mut registry().clone(), rest),
        _ => submit_approval(&mut registry().clone(), rest),
    }
});
