//! `/openapi.json`: the API described as an OpenAPI 3.0 document, written
//! by hand (no code generation: the shapes below are the handlers').

use axum::Json;
use serde_json::{Value, json};

use super::queries::MAX_QUERIES_PER_REQUEST;

pub(super) fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
    })
}

fn ok_response(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } },
    })
}

fn query_parameters() -> Value {
    json!([
        { "name": "source", "in": "path", "required": true, "schema": { "type": "string" },
          "description": "Chain the query was sent from (its requester's chain)." },
        { "name": "destination", "in": "path", "required": true, "schema": { "type": "string" },
          "description": "Chain the query asks." },
        { "name": "sequence", "in": "path", "required": true,
          "schema": { "type": "integer", "format": "int64", "minimum": 1 },
          "description": "The packet's sequence on the (source, destination) path." },
    ])
}

fn hex(description: &str, len: usize) -> Value {
    json!({ "type": "string", "pattern": format!("^[0-9a-f]{{{len}}}$"), "description": description })
}

pub(super) fn unauthorized() -> Value {
    error_response(
        "Unknown or missing bearer token: `{\"error\": \"unknown or missing bearer token\"}`, no data.",
    )
}

/// The 403 of a route that needs the operator's token.
pub(super) fn operator_only() -> Value {
    error_response(
        "The token is not the operator's: this route needs a token with `role = \"operator\"` \
         (`required_role`: `operator`).",
    )
}

/// A path item whose every operation needs the operator's token: each gets
/// `security` naming the role and the 403.
fn for_operator(mut item: Value) -> Value {
    if let Some(operations) = item.as_object_mut() {
        for operation in operations.values_mut() {
            operation["x-required-role"] = json!("operator");
            operation["responses"]["403"] = operator_only();
        }
    }
    item
}

/// The OpenAPI 3.0 document of the API.
pub fn document() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "credit interchain relayer API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Integrators (banks, credit bureaus, lenders) submit cross-chain credit \
                queries signed by their institution's key, poll them, and fetch the verified answer \
                with a proof bundle that they can re-verify offline: `relayer light-client verify \
                --trusted bundle.trusted --untrusted bundle.light_block` must succeed, and every \
                proof must verify against `bundle.light_block.signed_header.header.state_root` \
                (light_clients::merkle::StateProof::verify). The relayer never holds integrators' \
                keys. Errors are `{\"error\": \"...\"}` with a 4xx (bad request) or 5xx (a chain \
                or the store failed) status; no answer carries an endpoint URL (endpoints are \
                named `rpc[i]`). Every bearer token has a role: an `integrator` token is bound \
                to one institution on one chain (INSTITUTION@CHAIN) and submits only that \
                institution's queries on that chain (403 otherwise) and reads only its own \
                queries (another's answers 404, exactly as an unknown query: no enumeration); \
                an `operator` token reaches every route, and the routes marked \
                `x-required-role: operator` (the mesh's peers, routes and bans, the registry) \
                need it (403 otherwise).",
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/queries": path_queries(),
            "/queries/{source}/{destination}/{sequence}": path_query_status(),
            "/queries/{source}/{destination}/{sequence}/result": path_query_result(),
            "/chains": path_chains(),
            "/network/peers": for_operator(super::network::path_peers()),
            "/network/routes": for_operator(super::network::path_routes()),
            "/network/bans": for_operator(super::network::path_bans()),
            "/network/bans/{peer_id}": for_operator(super::network::path_ban()),
            "/registry": for_operator(path_registry()),
            "/registry/proposals": for_operator(path_registry_post(
                "Submit a governance proposal signed by its proposer (register, freeze, deregister, ...)",
                "201 `{id, already_pending, approvals, threshold, decided}`; 200 when pending already.",
            )),
            "/registry/approvals": for_operator(path_registry_post(
                "Approve a pending proposal with a governance key's signature",
                "`{outcome, ...}`: counted, already_counted or decided.",
            )),
            "/health": path_health(),
            "/metrics": path_metrics(),
            "/openapi.json": path_openapi_json(),
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (the relayer config keeps its SHA-256, its \
                        `role` and, for an integrator, its `institution` under [[api.tokens]]).",
                },
            },
            "schemas": {
                "Error": schema_error(),
                "QueryId": schema_query_id(),
                "SignedTransaction": schema_signed_transaction(),
                "SendCreditQuery": schema_send_credit_query(),
                "Money": schema_money(),
                "Submitted": schema_submitted(),
                "Status": schema_status(),
                "Result": schema_result(),
                "Bundle": schema_bundle(),
                "LightBlock": schema_light_block(),
                "Proof": schema_proof(),
                "Chains": schema_chains(),
                "Health": schema_health(),
                "NetworkPeers": super::network::schema_peers(),
                "NetworkRoutes": super::network::schema_routes(),
            },
        },
    })
}

/// Schema `Error`.
fn schema_error() -> Value {
    json!({
        "type": "object", "required": ["error"],
        "properties": { "error": { "type": "string", "description": "What was wrong, naming the value." } },
        "additionalProperties": true,
    })
}

/// Schema `QueryId`.
fn schema_query_id() -> Value {
    json!({
        "type": "object", "required": ["source", "destination", "sequence"],
        "properties": {
            "source": { "type": "string" },
            "destination": { "type": "string" },
            "sequence": { "type": "integer", "format": "int64" },
        },
    })
}

/// Schema `SignedTransaction`.
fn schema_signed_transaction() -> Value {
    json!({
        "type": "object", "required": ["tx", "signature"],
        "description": "Signed by the requester institution's key over \"credit-chain/tx/v1\" ‖ canonical(tx).",
        "properties": {
            "tx": {
                "type": "object", "required": ["chain_id", "sender", "nonce", "body"],
                "properties": {
                    "chain_id": { "type": "string", "description": "The source chain." },
                    "sender": hex("The requester institution's ed25519 public key.", 64),
                    "nonce": { "type": "integer", "format": "int64", "description": "The sender's next nonce on the source chain." },
                    "body": { "$ref": "#/components/schemas/SendCreditQuery" },
                },
            },
            "signature": hex("ed25519 signature.", 128),
        },
    })
}

/// Schema `SendCreditQuery`.
fn schema_send_credit_query() -> Value {
    json!({
        "type": "object", "required": ["type", "destination", "query", "timeout_height", "timeout_time"],
        "properties": {
            "type": { "type": "string", "enum": ["send_credit_query"] },
            "destination": { "type": "string", "description": "The chain to ask." },
            "query": {
                "type": "object",
                "required": ["requester", "enterprise", "kinds", "purpose", "consent_id", "max_fee", "encryption_key"],
                "properties": {
                    "requester": { "type": "string", "description": "The asking institution (the sender)." },
                    "enterprise": { "type": "string", "description": "Unified social credit code (GB 32100-2015)." },
                    "kinds": { "type": "array", "items": { "type": "string",
                        "enum": ["loan", "repayment", "overdue", "tax", "utility", "judgement"] } },
                    "purpose": { "type": "string" },
                    "consent_id": hex("Id of the enterprise's consent on the destination chain.", 64),
                    "max_fee": { "$ref": "#/components/schemas/Money" },
                    "encryption_key": hex("The requester's X25519 key registered on the source chain: every provider's answer is sealed to it (HPKE).", 64),
                },
            },
            "timeout_height": { "type": "integer", "format": "int64", "nullable": true },
            "timeout_time": { "type": "string", "format": "date-time", "nullable": true },
        },
    })
}

/// Schema `Money`.
fn schema_money() -> Value {
    json!({
        "type": "object", "required": ["minor_units", "currency"],
        "properties": {
            "minor_units": { "type": "integer", "format": "int64" },
            "currency": { "type": "string", "example": "CNY" },
        },
    })
}

/// Schema `Submitted`.
fn schema_submitted() -> Value {
    json!({
        "type": "object", "required": ["query", "height", "tx", "status"],
        "properties": {
            "query": { "$ref": "#/components/schemas/QueryId" },
            "height": { "type": "integer", "format": "int64", "description": "Source block that committed it." },
            "tx": hex("The transaction's hash.", 64),
            "status": { "type": "string", "description": "Path of its status." },
        },
    })
}

/// Schema `Status`.
fn schema_status() -> Value {
    json!({
        "type": "object",
        "required": ["query", "state", "committed_at", "failed_attempts", "updated_at", "payload"],
        "properties": {
            "query": { "$ref": "#/components/schemas/QueryId" },
            "state": { "type": "string", "enum": ["committed", "received", "acknowledged", "timed_out"] },
            "received_height": { "type": "integer", "nullable": true, "description": "Destination height of the receipt, when received." },
            "committed_at": { "type": "integer", "description": "Source height of the commitment." },
            "failed_attempts": { "type": "integer", "description": "Relay attempts that failed (retried)." },
            "last_error": { "type": "string", "nullable": true },
            "updated_at": { "type": "string", "format": "date-time" },
            "timeout_height": { "type": "integer", "nullable": true },
            "timeout_time": { "type": "string", "format": "date-time", "nullable": true },
            "payload": { "type": "object", "description": "The packet's payload (`{kind: credit_query, body}`)." },
            "result": { "type": "string", "nullable": true, "description": "Path of the result once received." },
        },
    })
}

/// Schema `Result`.
fn schema_result() -> Value {
    json!({
        "type": "object", "required": ["query", "state", "packet", "acknowledgement", "bundle"],
        "properties": {
            "query": { "$ref": "#/components/schemas/QueryId" },
            "packet": { "type": "object", "description": "The query packet as committed on the source: what the sealed answers are bound to (open them with `relayer query result --key FILE`)." },
            "state": { "type": "string", "enum": ["received", "acknowledged"] },
            "acknowledgement": {
                "type": "object",
                "description": "`{kind: result, body: {kind: credit_response, body: {query_packet, outcome: {outcome: answered | consent_refused | fee_refused, detail}, answers: [{provider, commitments, encapsulated_key, ciphertext}], missing: [provider], fee_charged, charges: [{provider, fee}]}}}` or `{kind: error, body: reason}`. Each answer is sealed to the requester's key: the relayer sees ciphertext only. Its hash is the value of the `interchain/acks/...` proof.",
            },
            "bundle": { "$ref": "#/components/schemas/Bundle" },
        },
    })
}

/// Schema `Bundle`.
fn schema_bundle() -> Value {
    json!({
        "type": "object", "required": ["chain_id", "height", "trusted", "light_block", "proofs"],
        "properties": {
            "chain_id": { "type": "string", "description": "The destination chain." },
            "height": { "type": "integer", "description": "Height of the proofs." },
            "trusted": { "$ref": "#/components/schemas/LightBlock" },
            "light_block": { "$ref": "#/components/schemas/LightBlock" },
            "proofs": { "type": "array", "items": { "$ref": "#/components/schemas/Proof" } },
        },
    })
}

/// Schema `LightBlock`.
fn schema_light_block() -> Value {
    json!({
        "type": "object", "required": ["signed_header", "validators", "next_validators"],
        "description": "A credit-chain light block (input of `relayer light-client verify`, see the README).",
        "properties": {
            "signed_header": { "type": "object", "properties": {
                "header": { "type": "object" }, "commit": { "type": "object" } } },
            "validators": { "type": "object" },
            "next_validators": { "type": "object" },
        },
    })
}

/// Schema `Proof`.
fn schema_proof() -> Value {
    json!({
        "type": "object", "required": ["key", "key_text", "value", "proof"],
        "properties": {
            "key": { "type": "string", "pattern": "^([0-9a-f]{2})*$", "description": "The state key, hex." },
            "key_text": { "type": "string", "description": "The key, readable." },
            "value": { "type": "string", "nullable": true, "description": "Hex of the value; null when proven absent." },
            "proof": { "type": "object", "description": "A membership or non-membership StateProof against the light block's state root." },
        },
    })
}

/// Schema `Chains`.
fn schema_chains() -> Value {
    json!({
        "type": "object", "required": ["chains"],
        "properties": { "chains": { "type": "array", "items": {
            "type": "object",
            "properties": {
                "id": { "type": "string" },
                "reachable": { "type": "boolean" },
                "latest_height": { "type": "integer", "nullable": true },
                "latest_time": { "type": "string", "nullable": true },
                "error": { "type": "string", "nullable": true },
                "light_client": { "type": "object", "properties": {
                    "trusted_height": { "type": "integer", "nullable": true },
                    "frozen": { "type": "boolean" } } },
                "stopped_by_registry": { "type": "string", "nullable": true,
                    "description": "Why the network registry stopped the chain's traffic (frozen or deregistered by governance)." },
                "endpoints": { "type": "array", "description": "Operator tokens only.",
                  "items": { "type": "object", "properties": {
                    "endpoint": { "type": "string", "description": "`rpc[i]`: the i-th of the chain's configured `rpc` URLs (never the URL), or `p2p:<peer id>`." },
                    "requests": { "type": "integer" },
                    "errors": { "type": "integer" }, "faults": { "type": "integer" },
                    "errors_by_kind": { "type": "object" }, "healthy": { "type": "boolean" },
                    "last_error": { "type": "string", "nullable": true } } } },
            },
        } } },
    })
}

/// Schema `Health`.
fn schema_health() -> Value {
    json!({
        "type": "object", "required": ["status", "chains"],
        "description": "From the latest survey of the chains, made in the background every few seconds (`surveyed_at`).",
        "properties": {
            "status": { "type": "string", "enum": ["ok", "unavailable", "starting"] },
            "surveyed_at": { "type": "string", "description": "When the chains were last asked (RFC 3339)." },
            "chains": { "type": "array", "items": { "type": "object", "properties": {
                "id": { "type": "string" }, "reachable": { "type": "boolean" },
                "latest_height": { "type": "integer", "nullable": true },
                "frozen": { "type": "boolean" } } } },
        },
    })
}

/// Path item `/queries`.
fn path_queries() -> Value {
    json!({
        "post": {
            "summary": "Submit a cross-chain credit query",
            "description": format!(
                "The body is a signed `send_credit_query` transaction of the requester institution on the \
                source chain (`tx.chain_id`), or an array of up to {MAX_QUERIES_PER_REQUEST} of them (one per \
                destination, to ask \"all\" chains; consecutive nonces). The relayer forwards them to the \
                source chain and answers once they are committed."),
            "requestBody": {
                "required": true,
                "content": { "application/json": { "schema": { "oneOf": [
                    { "$ref": "#/components/schemas/SignedTransaction" },
                    { "type": "array", "minItems": 1, "maxItems": MAX_QUERIES_PER_REQUEST,
                      "items": { "$ref": "#/components/schemas/SignedTransaction" } },
                ] } } },
            },
            "responses": {
                "201": {
                    "description": "Committed on the source chain: the query's id (one transaction), or `{\"queries\": [...]}` in request order (an array).",
                    "content": { "application/json": { "schema": { "oneOf": [
                        { "$ref": "#/components/schemas/Submitted" },
                        { "type": "object", "required": ["queries"], "properties": {
                            "queries": { "type": "array", "items": { "$ref": "#/components/schemas/Submitted" } } } },
                    ] } } },
                },
                "400": error_response("Malformed JSON, not a signed transaction, or not a `send_credit_query`."),
                "401": unauthorized(),
                "403": error_response("An integrator token submitting a query whose requester is not its institution, or whose source chain is not its chain (`requester`, `chain`); nothing was submitted."),
                "404": error_response("The source or destination chain is not served by this relayer (named)."),
                "422": error_response("The source chain refused a transaction: `code`, `codespace`, `message`, `tx`. For an array, `queries` holds each transaction's outcome in request order."),
                "502": error_response("The source chain could not be reached: the transaction's fate is unknown (`tx`)."),
                "503": error_response("A chain's traffic is stopped (its light client is frozen on misbehaviour)."),
            },
        },
    })
}

/// Path item `/queries/{source}/{destination}/{sequence}`.
fn path_query_status() -> Value {
    json!({
        "get": {
            "summary": "Where a query is",
            "parameters": query_parameters(),
            "responses": {
                "200": ok_response("The query's state as the relayer's store records it.", "Status"),
                "400": error_response("A malformed chain id or sequence."),
                "401": unauthorized(),
                "404": error_response("Unknown chain, or a query this relayer has not seen, or (the same answer) another institution's query asked with an integrator token."),
            },
        },
    })
}

/// Path item `/queries/{source}/{destination}/{sequence}/result`.
fn path_query_result() -> Value {
    json!({
        "get": {
            "summary": "The verified result of a query, with its proof bundle",
            "parameters": query_parameters(),
            "responses": {
                "200": ok_response("The acknowledgement written by the destination chain (the answer, or the refusal with its reason), proven.", "Result"),
                "400": error_response("A malformed chain id or sequence."),
                "401": unauthorized(),
                "404": error_response("No result (yet): the message says the query's state (`state`: committed, received, timed_out); or a query this relayer has not seen, or (the same answer) another institution's query asked with an integrator token."),
                "502": error_response("The destination chain could not be reached or served data that does not verify."),
                "503": error_response("No anchor to re-verify from yet; retry shortly."),
            },
        },
    })
}

/// Path item `/chains`.
fn path_chains() -> Value {
    json!({
        "get": {
            "summary": "The chains with their heights and the relayer's light clients (and, for an operator, the RPC endpoints' counters)",
            "description": "From the latest survey of the chains (`surveyed_at`).",
            "responses": {
                "200": ok_response("One entry per chain.", "Chains"),
                "401": unauthorized(),
                "503": error_response("The chains have not been surveyed yet (`status`: `starting`); retry shortly."),
            },
        },
    })
}

/// Path item `/registry` (served by a relayer in a mesh with governance).
fn path_registry() -> Value {
    json!({
        "get": {
            "summary": "The network registry: governance, chains, pending proposals, admitted peers",
            "responses": {
                "200": { "description": "`genesis`, `governors`, `threshold`, `chains`, `proposals`, `allowed_peers`." },
                "401": unauthorized(),
            },
        },
    })
}

/// A `POST` path item of the registry.
fn path_registry_post(summary: &str, answer: &str) -> Value {
    json!({
        "post": {
            "summary": summary,
            "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object" } } } },
            "responses": {
                "200": { "description": answer },
                "400": error_response("Malformed body or content."),
                "401": unauthorized(),
                "404": error_response("Unknown chain."),
                "409": error_response("The registry's state forbids it (already registered, frozen, proposal closed)."),
                "503": error_response("Too many pending proposals."),
            },
        },
    })
}

/// Path item `/health`.
fn path_health() -> Value {
    json!({
        "get": {
            "summary": "Whether every chain is reachable and no light client is frozen",
            "security": [],
            "responses": {
                "200": ok_response("`{\"status\": \"ok\", \"chains\": [...]}`", "Health"),
                "503": error_response("The message names the unreachable chains and frozen clients; `status` is `unavailable`, `chains` as for 200 (or `starting`: no survey yet)."),
            },
        },
    })
}

/// Path item `/metrics`.
fn path_metrics() -> Value {
    json!({
        "get": {
            "summary": "Prometheus metrics (text format)",
            "description": "relayer_packets_relayed_total and relayer_packets_failed_total per path, \
                relayer_header_verification_seconds per chain, relayer_rpc_errors per endpoint, \
                relayer_pending_packets, relayer_store_bytes; for a relayer in a mesh, relayer_mesh_* \
                (peers connected, connections refused, gossip received / published / accepted / \
                rejected per topic kind, envelopes rejected, peers banned, requests sent and served \
                per kind, relayer_mesh_route_latency_seconds per destination chain).",
            "security": [],
            "responses": { "200": {
                "description": "The metrics.",
                "content": { "text/plain; version=0.0.4": { "schema": { "type": "string" } } },
            } },
        },
    })
}

/// Path item `/openapi.json`.
fn path_openapi_json() -> Value {
    json!({
        "get": {
            "summary": "This document",
            "security": [],
            "responses": { "200": { "description": "OpenAPI 3.0 document.",
                "content": { "application/json": { "schema": { "type": "object" } } } } },
        },
    })
}

/// `GET /openapi.json`.
pub(super) async fn serve() -> Json<Value> {
    Json(document())
}
