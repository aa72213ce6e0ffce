//! `/queries`: submit signed credit queries, poll their status, fetch their
//! verified results with proof bundles.

use std::collections::BTreeMap;

use adapters::{AdapterError, SubmitOutcome};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use light_clients::credit_chain::{Options, Verdict, verify};
use protocol::tx::{Acknowledgement, SignedTransaction, TxBody};
use protocol::{Canonical, ChainId, Hash, InstitutionId, Packet, PacketPayload, state_keys};
use serde_json::{Value, json};

use super::{ApiError, ApiState, Caller};
use crate::config::TokenRole;
use crate::engine::wall_clock;
use crate::store::{PacketRecord, PacketState};

/// Most transactions in one `POST /queries`.
pub const MAX_QUERIES_PER_REQUEST: usize = 64;

/// A query's id: its packet's (source, destination, sequence).
#[derive(Clone, Debug)]
struct QueryId {
    source: ChainId,
    destination: ChainId,
    sequence: u64,
}

impl QueryId {
    fn json(&self) -> Value {
        json!({
            "source": self.source,
            "destination": self.destination,
            "sequence": self.sequence,
        })
    }

    fn path(&self) -> String {
        format!(
            "/queries/{}/{}/{}",
            self.source, self.destination, self.sequence
        )
    }

    fn from_path(
        raw: Result<Path<(String, String, String)>, PathRejection>,
    ) -> Result<Self, ApiError> {
        let Path(raw) = raw.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        QueryId::parse(raw)
    }

    fn parse((source, destination, sequence): (String, String, String)) -> Result<Self, ApiError> {
        let chain = |what: &str, raw: &str| {
            raw.parse::<ChainId>()
                .map_err(|e| ApiError::bad_request(format!("{what} chain {raw:?}: {e}")))
        };
        let sequence = match sequence.parse::<u64>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "sequence {sequence:?}: expected a whole number from 1"
                )));
            }
        };
        Ok(QueryId {
            source: chain("source", &source)?,
            destination: chain("destination", &destination)?,
            sequence,
        })
    }
}

impl std::fmt::Display for QueryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}→{} #{}", self.source, self.destination, self.sequence)
    }
}

/// What became of one submitted transaction.
enum Sent {
    /// Committed: the query's packet is on its way.
    Committed {
        query: QueryId,
        height: u64,
        tx: Hash,
        commitment: Option<String>,
    },
    /// The chain refused it (nothing committed).
    Refused { outcome: SubmitOutcome },
    /// Unknown: the chain could not be reached, or answered oddly.
    Unknown { tx: Hash, error: String },
}

impl Sent {
    fn from_outcome(source: &ChainId, tx: Hash, outcome: Result<SubmitOutcome, String>) -> Sent {
        let outcome = match outcome {
            Ok(o) => o,
            Err(error) => return Sent::Unknown { tx, error },
        };
        if outcome.code != 0 {
            return Sent::Refused { outcome };
        }
        let event = outcome.events.iter().find(|e| e.kind == "send_packet");
        let destination = event.and_then(|e| e.get("destination")?.parse::<ChainId>().ok());
        let sequence = event.and_then(|e| e.get("sequence")?.parse::<u64>().ok());
        match (outcome.height, destination, sequence) {
            (Some(height), Some(destination), Some(sequence)) => Sent::Committed {
                query: QueryId {
                    source: source.clone(),
                    destination,
                    sequence,
                },
                height: height.value(),
                tx,
                commitment: event.and_then(|e| e.get("commitment").map(str::to_owned)),
            },
            _ => Sent::Unknown {
                tx,
                error: format!(
                    "{source} answered without a committed send_packet event (height {:?})",
                    outcome.height.map(|h| h.value())
                ),
            },
        }
    }

    fn json(&self, source: &ChainId) -> Value {
        match self {
            Sent::Committed {
                query, height, tx, ..
            } => json!({
                "query": query.json(),
                "height": height,
                "tx": tx,
                "status": query.path(),
            }),
            Sent::Refused { outcome } => refusal(source, outcome).body(),
            Sent::Unknown { tx, error } => unknown(source, tx, error).body(),
        }
    }
}

fn refusal(source: &ChainId, outcome: &SubmitOutcome) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!(
            "{source} refused the transaction: code {} ({}): {}",
            outcome.code,
            if outcome.codespace.is_empty() {
                "node"
            } else {
                &outcome.codespace
            },
            outcome.message
        ),
    )
    .with("code", outcome.code)
    .with("codespace", outcome.codespace.clone())
    .with("message", outcome.message.clone())
    .with("tx", outcome.hash.to_string())
}

fn unknown(source: &ChainId, tx: &Hash, error: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        format!(
            "submitting to {source} failed and the transaction's fate is unknown (look for tx {tx} on {source}): {error}"
        ),
    )
    .with("tx", tx.to_string())
}

/// Reads a `POST /queries` body: one signed transaction, or a non-empty
/// array of them (then `true`). Public for the fuzz targets (`fuzz/`).
pub fn parse_transactions(body: &[u8]) -> Result<(Vec<SignedTransaction>, bool), ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))?;
    let one = |i: Option<usize>, v: Value| {
        serde_json::from_value::<SignedTransaction>(v).map_err(|e| {
            let at = i.map(|i| format!("transaction {i}: ")).unwrap_or_default();
            ApiError::bad_request(format!(
                "{at}not a signed transaction ({{\"tx\": {{chain_id, sender, nonce, body}}, \"signature\"}}): {e}"
            ))
        })
    };
    match value {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(ApiError::bad_request(
                    "an empty array: send at least one signed transaction",
                ));
            }
            if items.len() > MAX_QUERIES_PER_REQUEST {
                return Err(ApiError::bad_request(format!(
                    "{} transactions in one request; at most {MAX_QUERIES_PER_REQUEST}",
                    items.len()
                )));
            }
            let txs = items
                .into_iter()
                .enumerate()
                .map(|(i, v)| one(Some(i), v))
                .collect::<Result<_, _>>()?;
            Ok((txs, true))
        }
        other => Ok((vec![one(None, other)?], false)),
    }
}

/// Checks that `caller` may submit `tx`: an integrator only its own
/// institution's queries on its own chain (403 otherwise); an operator any.
fn authorize(caller: &Caller, tx: &SignedTransaction, at: &str) -> Result<(), ApiError> {
    let TokenRole::Integrator { institution, chain } = &caller.role else {
        return Ok(());
    };
    let requester = match &tx.tx.body {
        TxBody::SendCreditQuery { query, .. } => &query.requester,
        // Refused as not a credit query by `check`.
        _ => return Ok(()),
    };
    if &tx.tx.chain_id == chain && requester == institution {
        return Ok(());
    }
    tracing::warn!(caller = %caller, requester = %requester, chain = %tx.tx.chain_id,
        "a query of another institution refused");
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "{at}{caller} may submit only queries of {institution} on {chain}; this one is of {requester} on {}",
            tx.tx.chain_id
        ),
    )
    .with("requester", requester.to_string())
    .with("chain", tx.tx.chain_id.to_string()))
}

/// The institution a stored packet was sent for: the requester of a query
/// or of an aggregation.
fn owner(packet: &Packet) -> Option<&InstitutionId> {
    match &packet.payload {
        PacketPayload::CreditQuery(q) => Some(&q.requester),
        PacketPayload::AggregationRequest(r) => Some(&r.requester),
        _ => None,
    }
}

/// Whether `caller` may read the query of `packet`: an integrator only its
/// own (sent from its chain for its institution), an operator any.
fn may_read(caller: &Caller, packet: &Packet) -> bool {
    match &caller.role {
        TokenRole::Operator => true,
        TokenRole::Integrator { institution, chain } => {
            &packet.source == chain && owner(packet) == Some(institution)
        }
    }
}

/// Checks that `tx` is a credit query between chains this relayer serves.
async fn check(state: &ApiState, tx: &SignedTransaction, at: &str) -> Result<(), ApiError> {
    let TxBody::SendCreditQuery { destination, .. } = &tx.tx.body else {
        return Err(ApiError::bad_request(format!(
            "{at}the transaction is a {}, not a send_credit_query",
            tx.tx.body.name()
        )));
    };
    let source = &tx.tx.chain_id;
    for (what, chain) in [("source", source), ("destination", destination)] {
        match state.chain(chain) {
            None => {
                return Err(ApiError::not_found(format!(
                    "{at}unknown {what} chain {chain}: this relayer serves {}",
                    state.chain_list()
                )));
            }
            Some(runtime) if runtime.is_frozen().await => {
                let why = runtime.suspension().unwrap_or_else(|| {
                    "the relayer's light client of it is frozen on misbehaviour".into()
                });
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("{at}traffic of {chain} is stopped: {why}"),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// `POST /queries`: forwards signed `send_credit_query` transactions to
/// their source chains; 201 with each query's id once committed.
pub(super) async fn submit(
    State(state): State<ApiState>,
    Extension(who): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = body.map_err(|e| {
        ApiError::new(
            e.status(),
            format!("cannot read the body: {}", e.body_text()),
        )
    })?;
    let (txs, many) = parse_transactions(&body)?;
    for (i, tx) in txs.iter().enumerate() {
        let at = if many {
            format!("transaction {i}: ")
        } else {
            String::new()
        };
        authorize(&who, tx, &at)?;
        check(&state, tx, &at).await?;
    }

    // One batch per source chain (one block where they fit), in order.
    let mut by_chain: BTreeMap<ChainId, Vec<usize>> = BTreeMap::new();
    for (i, tx) in txs.iter().enumerate() {
        by_chain.entry(tx.tx.chain_id.clone()).or_default().push(i);
    }
    let mut results: Vec<Option<Sent>> = (0..txs.len()).map(|_| None).collect();
    for (source, indices) in &by_chain {
        let Some(runtime) = state.chain(source) else {
            continue; // checked above
        };
        let batch: Vec<SignedTransaction> = indices.iter().map(|&i| txs[i].clone()).collect();
        let outcomes: Vec<Result<SubmitOutcome, String>> = if batch.len() == 1 {
            vec![
                runtime
                    .adapter()
                    .submit(&batch[0])
                    .await
                    .map_err(|e: AdapterError| e.to_string()),
            ]
        } else {
            match runtime.adapter().submit_batch(&batch).await {
                Ok(outcomes) => outcomes,
                Err(e) => vec![Err(e.to_string()); batch.len()],
            }
        };
        let mut outcomes = outcomes.into_iter();
        for &i in indices {
            let outcome = outcomes
                .next()
                .unwrap_or_else(|| Err(format!("{source} did not answer for this transaction")));
            results[i] = Some(Sent::from_outcome(source, txs[i].hash(), outcome));
        }
    }
    let results: Vec<Sent> = results
        .into_iter()
        .zip(&txs)
        .map(|(r, tx)| {
            r.unwrap_or_else(|| Sent::Unknown {
                tx: tx.hash(),
                error: "not submitted".into(),
            })
        })
        .collect();
    remember(&state, &results).await;
    for r in &results {
        if let Sent::Committed { query, tx, .. } = r {
            tracing::info!(caller = %who, %query, %tx, "credit query submitted");
        }
    }

    if !many {
        let source = &txs[0].tx.chain_id;
        return match &results[0] {
            sent @ Sent::Committed { .. } => Ok((StatusCode::CREATED, Json(sent.json(source)))),
            Sent::Refused { outcome } => Err(refusal(source, outcome)),
            Sent::Unknown { tx, error } => Err(unknown(source, tx, error)),
        };
    }
    let items: Vec<Value> = results
        .iter()
        .zip(&txs)
        .map(|(r, tx)| r.json(&tx.tx.chain_id))
        .collect();
    let failed = results
        .iter()
        .filter(|r| !matches!(r, Sent::Committed { .. }))
        .count();
    if failed == 0 {
        return Ok((StatusCode::CREATED, Json(json!({ "queries": items }))));
    }
    let status = if results.iter().any(|r| matches!(r, Sent::Refused { .. })) {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::BAD_GATEWAY
    };
    Err(ApiError::new(
        status,
        format!(
            "{failed} of {} transactions were not committed; the others were (see queries, in request order)",
            results.len()
        ),
    )
    .with("queries", items))
}

/// Records the committed queries' packets in the store right away (read
/// from their source chains, checked against the send_packet commitments),
/// so their status is known before the next scan. Best effort: the scanner
/// records whatever this misses.
async fn remember(state: &ApiState, results: &[Sent]) {
    /// One committed query: its id, source height and commitment.
    struct Committed<'a> {
        query: &'a QueryId,
        height: u64,
        commitment: Option<&'a str>,
    }
    let mut by_chain: BTreeMap<&ChainId, Vec<Committed<'_>>> = BTreeMap::new();
    for r in results {
        if let Sent::Committed {
            query,
            height,
            commitment,
            ..
        } = r
        {
            by_chain.entry(&query.source).or_default().push(Committed {
                query,
                height: *height,
                commitment: commitment.as_deref(),
            });
        }
    }
    for (source, queries) in by_chain {
        let Some(runtime) = state.chain(source) else {
            continue;
        };
        let keys: Vec<Vec<u8>> = queries
            .iter()
            .map(|c| state_keys::packet(&c.query.destination, c.query.sequence))
            .collect();
        let states = match runtime.adapter().states(&keys).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(chain = %source, error = %e, "reading submitted packets; the scanner will");
                continue;
            }
        };
        for (c, entry) in queries.iter().zip(&states.entries) {
            let query = c.query;
            let Some(packet) = entry
                .value
                .as_deref()
                .and_then(|b| Packet::from_canonical_bytes(b).ok())
            else {
                continue;
            };
            if c.commitment != Some(packet.commitment().to_string().as_str()) {
                tracing::warn!(%query, "packet does not match its send_packet commitment; left to the scanner");
                continue;
            }
            let Ok(height) = protocol::Height::new(c.height) else {
                continue;
            };
            if let Err(e) = state
                .engine
                .store()
                .record_committed(packet, height, wall_clock())
            {
                tracing::warn!(%query, error = %e, "recording a submitted packet");
            }
        }
    }
}

fn state_name(state: &PacketState) -> &'static str {
    match state {
        PacketState::Committed => "committed",
        PacketState::Received { .. } => "received",
        PacketState::Acknowledged => "acknowledged",
        PacketState::TimedOut => "timed_out",
    }
}

/// The store's record of a query `caller` may read, or 404 saying it is
/// unknown: the same 404 whether no such query exists or it is another
/// institution's, so that no one learns what others asked.
fn record_of(state: &ApiState, id: &QueryId, caller: &Caller) -> Result<PacketRecord, ApiError> {
    for chain in [&id.source, &id.destination] {
        if state.chain(chain).is_none() {
            return Err(ApiError::not_found(format!(
                "unknown chain {chain}: this relayer serves {}",
                state.chain_list()
            )));
        }
    }
    let unknown = || {
        ApiError::not_found(format!(
            "no query {id} is known to this relayer (not submitted, or not yet seen on {})",
            id.source
        ))
    };
    match state
        .engine
        .store()
        .packet(&id.source, &id.destination, id.sequence)?
    {
        Some(record) if may_read(caller, &record.packet) => Ok(record),
        Some(_) => {
            tracing::warn!(caller = %caller, query = %id, "another institution's query asked for; answered as unknown");
            Err(unknown())
        }
        None => Err(unknown()),
    }
}

/// `GET /queries/{source}/{destination}/{sequence}`: where the query is.
pub(super) async fn status(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    raw: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = QueryId::from_path(raw)?;
    let record = record_of(&state, &id, &caller)?;
    let received_height = match &record.state {
        PacketState::Received { height } => height.map(|h| h.value()),
        _ => None,
    };
    let has_result = matches!(
        record.state,
        PacketState::Received { .. } | PacketState::Acknowledged
    );
    Ok(Json(json!({
        "query": id.json(),
        "state": state_name(&record.state),
        "received_height": received_height,
        "committed_at": record.committed_at,
        "failed_attempts": record.failed_attempts,
        "last_error": record.last_error,
        "updated_at": record.updated_at,
        "timeout_height": record.packet.timeout_height,
        "timeout_time": record.packet.timeout_time,
        "payload": record.packet.payload,
        "result": has_result.then(|| format!("{}/result", id.path())),
    })))
}

/// `GET /queries/{source}/{destination}/{sequence}/result`: the
/// acknowledgement read from the destination chain with proofs, and the
/// bundle to re-verify it offline.
pub(super) async fn result(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    raw: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = QueryId::from_path(raw)?;
    let record = record_of(&state, &id, &caller)?;
    match record.state {
        PacketState::Committed => {
            return Err(ApiError::not_found(format!(
                "no result yet: query {id} is committed on {} and not yet received on {}",
                id.source, id.destination
            ))
            .with("state", "committed"));
        }
        PacketState::TimedOut => {
            return Err(ApiError::not_found(format!(
                "no result: query {id} timed out ({} never received it; the fee was refunded on {})",
                id.destination, id.source
            ))
            .with("state", "timed_out"));
        }
        PacketState::Received { .. } | PacketState::Acknowledged => {}
    }
    let Some(destination) = state.chain(&id.destination) else {
        return Err(ApiError::not_found(format!(
            "unknown chain {}",
            id.destination
        )));
    };
    let keys = vec![
        state_keys::packet_ack(&id.source, id.sequence),
        state_keys::packet_ack_data(&id.source, id.sequence),
    ];
    let verified = destination.verified_states(&keys).await?;
    let [(_, ack_hash, _), (_, ack_data, _)] = verified.entries.as_slice() else {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "{} answered a proof request with the wrong number of entries",
                id.destination
            ),
        ));
    };
    let (Some(ack_hash), Some(ack_data)) = (ack_hash, ack_data) else {
        return Err(ApiError::not_found(format!(
            "no result yet: query {id} is received on {} but its acknowledgement is not written (proven absent at height {})",
            id.destination,
            verified.light_block.height()
        ))
        .with("state", state_name(&record.state)));
    };
    let acknowledgement = Acknowledgement::from_canonical_bytes(ack_data).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "the acknowledgement of {id} on {} does not decode: {e}",
                id.destination
            ),
        )
    })?;
    if acknowledgement.hash().0.as_slice() != ack_hash.as_slice() {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "the acknowledgement of {id} on {} does not match its committed hash",
                id.destination
            ),
        ));
    }

    // The anchor: the relayer's trusted block below the proof height, from
    // which the proof block must verify as an integrator will check it.
    let height = verified.light_block.height();
    let Some(trusted) = destination.anchor_below(height).await else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the relayer trusts no block of {} below height {height} yet; retry shortly",
                id.destination
            ),
        ));
    };
    match verify(
        &trusted.clone().into(),
        &verified.light_block,
        &Options::default(),
        wall_clock(),
    ) {
        Verdict::Success => {}
        other => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the proof block {height} of {} does not verify from the relayer's trusted block {} with default options ({other:?}); retry shortly",
                    id.destination,
                    trusted.height()
                ),
            ));
        }
    }
    let proofs: Vec<Value> = verified
        .entries
        .iter()
        .map(|(key, value, proof)| {
            json!({
                "key": hex::encode(key),
                "key_text": state_keys::show(key),
                "value": value.as_deref().map(hex::encode),
                "proof": proof,
            })
        })
        .collect();
    Ok(Json(json!({
        "query": id.json(),
        "state": state_name(&record.state),
        // The packet as committed, so the requester can check that the
        // acknowledgement answers it and open its sealed answers offline.
        "packet": record.packet,
        "acknowledgement": acknowledgement,
        "bundle": {
            "chain_id": id.destination,
            "height": height,
            "trusted": trusted,
            "light_block": verified.light_block,
            "proofs": proofs,
        },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of<T>(r: Result<T, ApiError>) -> (StatusCode, String) {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => (e.status, e.message),
        }
    }

    #[test]
    fn bodies_that_are_not_signed_transactions_are_named() {
        let (status, message) = error_of(parse_transactions(b"{\"tx\": "));
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(message.starts_with("malformed JSON body"), "{message}");
        let (_, message) = error_of(parse_transactions(b"[]"));
        assert!(message.contains("empty array"), "{message}");
        let (_, message) = error_of(parse_transactions(b"[{\"tx\": 1}]"));
        assert!(
            message.starts_with("transaction 0: not a signed transaction"),
            "{message}"
        );
        let many = format!("[{}]", vec!["{}"; MAX_QUERIES_PER_REQUEST + 1].join(","));
        let (_, message) = error_of(parse_transactions(many.as_bytes()));
        assert!(message.contains("at most 64"), "{message}");
    }

    #[test]
    fn query_ids_in_paths_are_checked() {
        let id = |s: &str, d: &str, n: &str| QueryId::parse((s.into(), d.into(), n.into()));
        let ok = id("shaanxi", "guangdong", "7").unwrap();
        assert_eq!(ok.path(), "/queries/shaanxi/guangdong/7");
        assert_eq!(ok.to_string(), "shaanxi→guangdong #7");
        for (s, d, n, needle) in [
            ("shaanxi", "guangdong", "0", "sequence \"0\""),
            ("shaanxi", "guangdong", "-1", "sequence"),
            ("Shaanxi", "guangdong", "1", "source chain \"Shaanxi\""),
            ("shaanxi", "g", "1", "destination chain \"g\""),
        ] {
            let (status, message) = error_of(id(s, d, n));
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(message.contains(needle), "{message}");
        }
    }
}
