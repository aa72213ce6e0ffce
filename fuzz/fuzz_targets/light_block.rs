//! Light blocks as an RPC endpoint (JSON, mode 0) or a peer (borsh, mode 1)
//! serves them, decoded and then verified by a light client trusting block
//! 1 of the fixture chain, at a fixed local time.
#![no_main]
use credit_fuzz::{assert_canonical, light, write_seeds};
use libfuzzer_sys::fuzz_target;
use protocol::{Canonical, LightBlock};

fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for block in &light().blocks {
        out.push([&[0u8][..], &serde_json::to_vec(block).unwrap_or_default()].concat());
        out.push([&[1u8][..], &block.to_canonical_bytes()].concat());
    }
    out
}

fuzz_target!(init: write_seeds(&seeds()), |data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let block = if mode % 2 == 0 {
        match serde_json::from_slice::<LightBlock>(rest) {
            Ok(block) => block,
            Err(_) => return,
        }
    } else {
        match LightBlock::from_canonical_bytes(rest) {
            Ok(block) => {
                assert_canonical(&block, rest);
                block
            }
            Err(_) => return,
        }
    };
    let fixture = light();
    let mut client = fixture.client.clone();
    let _ = client.update(block, fixture.now);
});
