//! Follows a credit chain through the adapter: status, a self-verified light
//! block, a proven state value, new blocks, and the endpoint counters.
//!
//! ```sh
//! cargo run -p credit-adapters --example follow -- shaanxi http://127.0.0.1:26657 [more endpoints]
//! ```

use adapters::{ChainAdapter, CreditChainAdapter, RpcOptions};
use protocol::InstitutionId;
use tokio_stream::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    let chain_id = args.next().ok_or("usage: follow CHAIN_ID ENDPOINT...")?;
    let endpoints: Vec<String> = args.collect();
    let chain = CreditChainAdapter::new(chain_id.parse()?, endpoints, RpcOptions::default())?;

    let status = chain.status().await?;
    println!(
        "status: height {} hash {}",
        status.latest_height, status.latest_hash
    );
    let block = chain.light_block(status.latest_height).await?;
    println!(
        "light block {}: {} signatures, state root {}",
        block.height(),
        block.signed_header.commit.signatures.len(),
        block.header().state_root
    );
    let bank: InstitutionId = "bank-a".parse()?;
    let key = protocol::state_keys::institution(&bank);
    let proven = chain.state(&key).await?;
    println!(
        "state {}: {} at height {} ({} proof verified against its header)",
        String::from_utf8_lossy(&key),
        proven
            .value
            .as_ref()
            .map_or("absent".to_owned(), |v| format!("{} bytes", v.len())),
        proven.height,
        if proven.proof.is_membership() {
            "membership"
        } else {
            "non-membership"
        },
    );
    let absent = chain.state(b"institutions/nobody").await?;
    println!(
        "state institutions/nobody: present = {}",
        absent.value.is_some()
    );
    let packets = chain.packet_events(0).await?;
    println!(
        "packet events up to {}: {}",
        packets.scanned_to,
        packets.events.len()
    );

    let mut blocks = chain.block_stream();
    for _ in 0..3 {
        if let Some(height) = blocks.next().await {
            println!("new block {height}");
        }
    }
    for s in chain.endpoint_stats() {
        println!(
            "{}: {} requests, {} errors, {} faults, healthy {}",
            s.url, s.requests, s.errors, s.faults, s.healthy
        );
    }
    Ok(())
}
