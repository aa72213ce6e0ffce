//! Turns a chain's packet events into store records.

use adapters::{MAX_BATCH_KEYS, PacketEvent};
use credit_chain::app::state::PacketResult;
use protocol::{Canonical, ChainId, Packet, Time, state_keys};

use crate::engine::{ChainRuntime, EngineError};
use crate::store::{PacketState, Store};

fn attr<'a>(chain: &ChainId, event: &'a PacketEvent, key: &str) -> Result<&'a str, EngineError> {
    event.event.get(key).ok_or_else(|| EngineError::Unexpected {
        chain: chain.clone(),
        reason: format!(
            "{} event at height {} has no {key:?}",
            event.event.kind, event.height
        ),
    })
}

fn parse<T: std::str::FromStr>(
    chain: &ChainId,
    event: &PacketEvent,
    key: &str,
) -> Result<T, EngineError>
where
    T::Err: std::fmt::Display,
{
    let raw = attr(chain, event, key)?;
    raw.parse().map_err(|e| EngineError::Unexpected {
        chain: chain.clone(),
        reason: format!("{} event attribute {key}={raw:?}: {e}", event.event.kind),
    })
}

/// Reads `chain`'s packet events since the last scanned height and records
/// them: new packets (read from the chain's state and checked against the
/// event's commitment), receipts, acknowledgements and timeouts. The chain
/// answers a long range in pieces; progress is saved after each piece,
/// once every event of it is recorded. Returns the new packets recorded.
pub async fn scan_chain(chain: &ChainRuntime, store: &Store) -> Result<usize, EngineError> {
    let mut recorded = 0;
    loop {
        let (count, caught_up) = scan_piece(chain, store).await?;
        recorded += count;
        if caught_up {
            return Ok(recorded);
        }
    }
}

/// One `packet_events` answer: (new packets recorded, whether the scan
/// reached the chain's latest height).
async fn scan_piece(chain: &ChainRuntime, store: &Store) -> Result<(usize, bool), EngineError> {
    let id = chain.id().clone();
    let since = store.scanned(&id)?;
    let events = chain.adapter().packet_events(since).await?;
    let now = super::wall_clock();
    let mut new_packets = Vec::new();
    let mut ended = Vec::new();
    for event in &events.events {
        match event.event.kind.as_str() {
            "send_packet" => {
                let destination: ChainId = parse(&id, event, "destination")?;
                let sequence: u64 = parse(&id, event, "sequence")?;
                new_packets.push((
                    destination,
                    sequence,
                    attr(&id, event, "commitment")?.to_owned(),
                    event.height,
                ));
            }
            "recv_packet" | "write_acknowledgement" => {
                let source: ChainId = parse(&id, event, "source")?;
                let sequence: u64 = parse(&id, event, "sequence")?;
                store.advance(
                    &source,
                    &id,
                    sequence,
                    PacketState::Received {
                        height: Some(event.height),
                    },
                    now,
                )?;
            }
            // Only hints: a packet's end is read from the chain's proven
            // state below, never taken from an endpoint's say-so.
            "acknowledge_packet" | "timeout_packet" => {
                let destination: ChainId = parse(&id, event, "destination")?;
                let sequence: u64 = parse(&id, event, "sequence")?;
                ended.push((destination, sequence));
            }
            _ => {}
        }
    }
    record_ends(chain, store, &ended, now).await?;
    // The packets themselves, read in batches of proofs verified by the
    // relayer's light client.
    let count = new_packets.len();
    for chunk in new_packets.chunks(MAX_BATCH_KEYS) {
        let keys: Vec<Vec<u8>> = chunk
            .iter()
            .map(|(d, s, _, _)| state_keys::packet(d, *s))
            .collect();
        let states = chain.verified_states(&keys).await?;
        for ((destination, sequence, commitment, height), (_, value, _)) in
            chunk.iter().zip(&states.entries)
        {
            let Some(bytes) = value else {
                // Already acknowledged or timed out and pruned: nothing to do.
                continue;
            };
            let packet =
                Packet::from_canonical_bytes(bytes).map_err(|e| EngineError::Unexpected {
                    chain: id.clone(),
                    reason: format!("packet {destination}/{sequence}: {e}"),
                })?;
            if packet.commitment().to_string() != *commitment {
                return Err(EngineError::Unexpected {
                    chain: id.clone(),
                    reason: format!(
                        "packet {destination}/{sequence} does not match its send_packet commitment"
                    ),
                });
            }
            store.record_committed(packet, *height, now)?;
        }
    }
    store.set_scanned(&id, events.scanned_to)?;
    Ok((
        count,
        events.scanned_to >= events.latest_height || events.scanned_to <= since,
    ))
}

/// Records the end of each packet of `chain` an event said ended, as the
/// chain's proven state has it: its `packet_result`, read with proofs the
/// relayer's light client verified. An event with no proven result behind
/// it (a lying or lagging endpoint) changes nothing: the packet stays
/// pending and is relayed on.
async fn record_ends(
    chain: &ChainRuntime,
    store: &Store,
    ended: &[(ChainId, u64)],
    now: Time,
) -> Result<(), EngineError> {
    let id = chain.id();
    for chunk in ended.chunks(MAX_BATCH_KEYS) {
        let keys: Vec<Vec<u8>> = chunk
            .iter()
            .map(|(d, s)| state_keys::packet_result(d, *s))
            .collect();
        let states = chain.verified_states(&keys).await?;
        for ((destination, sequence), (_, value, _)) in chunk.iter().zip(&states.entries) {
            let Some(bytes) = value else {
                tracing::warn!(chain = %id, %destination, sequence,
                    "an event says this packet ended, but the chain's proven state has no result: ignored");
                continue;
            };
            let state = match borsh::from_slice::<PacketResult>(bytes) {
                Ok(PacketResult::Acknowledged(_)) => PacketState::Acknowledged,
                Ok(PacketResult::TimedOut) => PacketState::TimedOut,
                Err(e) => {
                    return Err(EngineError::Unexpected {
                        chain: id.clone(),
                        reason: format!("result of packet {destination}/{sequence}: {e}"),
                    });
                }
            };
            store.advance(id, destination, *sequence, state, now)?;
        }
    }
    Ok(())
}

/// Most packets one call of [`recover_omitted`] looks for, per destination:
/// bounds the work when a long history must be checked.
pub const MAX_RECOVERED_PER_PASS: u64 = 1_000;

/// Finds the packets `chain` sent to `destinations` that no event
/// announced: the chain's proven `next_sequence` per destination says how
/// many were sent, and every sequence below it the store does not know is
/// read back from the chain's proven state and recorded. An endpoint that
/// hides `send_packet` events (or claims it scanned past them) therefore
/// delays a packet, never loses it. Returns the packets recovered.
pub async fn recover_omitted(
    chain: &ChainRuntime,
    store: &Store,
    destinations: &[ChainId],
) -> Result<usize, EngineError> {
    if destinations.is_empty() {
        return Ok(0);
    }
    let id = chain.id();
    let keys: Vec<Vec<u8>> = destinations.iter().map(state_keys::next_sequence).collect();
    let sent = chain.verified_states(&keys).await?;
    let mut wanted = Vec::new();
    let mut marks = Vec::new();
    for (destination, (_, value, _)) in destinations.iter().zip(&sent.entries) {
        let next = match value {
            Some(bytes) => {
                borsh::from_slice::<u64>(bytes).map_err(|e| EngineError::Unexpected {
                    chain: id.clone(),
                    reason: format!("next sequence to {destination}: {e}"),
                })?
            }
            None => 1,
        };
        let from = store.complete_upto(id, destination)?.saturating_add(1);
        let to = next.min(from.saturating_add(MAX_RECOVERED_PER_PASS));
        for sequence in from..to {
            if store.packet(id, destination, sequence)?.is_none() {
                wanted.push((destination.clone(), sequence));
            }
        }
        if to > from {
            marks.push((destination.clone(), to - 1));
        }
    }
    let now = super::wall_clock();
    let mut recovered = 0;
    for chunk in wanted.chunks(MAX_BATCH_KEYS) {
        let keys: Vec<Vec<u8>> = chunk
            .iter()
            .map(|(d, s)| state_keys::packet(d, *s))
            .collect();
        let states = chain.verified_states(&keys).await?;
        let height = states.light_block.height();
        for ((destination, sequence), (_, value, _)) in chunk.iter().zip(&states.entries) {
            // Absent: it already ended (acknowledged or timed out).
            let Some(bytes) = value else { continue };
            let packet =
                Packet::from_canonical_bytes(bytes).map_err(|e| EngineError::Unexpected {
                    chain: id.clone(),
                    reason: format!("packet {destination}/{sequence}: {e}"),
                })?;
            if &packet.destination != destination || packet.sequence != *sequence {
                return Err(EngineError::Unexpected {
                    chain: id.clone(),
                    reason: format!(
                        "the packet stored under {destination}/{sequence} names another"
                    ),
                });
            }
            if store.record_committed(packet, height, now)? {
                tracing::warn!(chain = %id, %destination, sequence,
                    "a packet no event announced was found in the chain's proven state: recorded");
                recovered += 1;
            }
        }
    }
    for (destination, upto) in marks {
        store.set_complete_upto(id, &destination, upto)?;
    }
    Ok(recovered)
}
