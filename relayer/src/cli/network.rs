//! `relayer network peers|routes|bans|unban`: a relayer's place in the
//! mesh, through its API (`/network/peers`, `/network/routes`,
//! `/network/bans`).
//!
//! Exit statuses, as for `relayer query`: 0 shown, 1 not found (`peers` of
//! a relayer that is not in a mesh), 2 refused (an unknown token, the
//! network task stopped), 3 malformed input (the API URL), 4 the API is
//! unreachable.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;

use super::governance::{ApiArgs, Failure, call, finish, pretty};
use super::query::exit;

/// `relayer network ...`
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// The relayer's mesh node, its connected peers (peer id, operator key,
    /// addresses, agent) and the network's counters (connections refused,
    /// gossip rejected, bans, ...).
    Peers(ApiArgs),
    /// How each chain is reached: its RPC endpoints (local) or the relayers
    /// serving it in the order tried (remote), with their requests, errors,
    /// faults and last error, and the round-trip percentiles.
    Routes(ApiArgs),
    /// The peers banned for misbehaviour (strikes, when); bans are kept in
    /// the store and outlive a restart.
    Bans(ApiArgs),
    /// Lifts the ban of a peer (its strikes cleared): it may connect again
    /// if it is admitted. Exit 1 if the peer is not banned.
    Unban(UnbanArgs),
}

/// Arguments of `network unban`.
#[derive(Debug, clap::Args)]
pub struct UnbanArgs {
    /// The banned peer's id (as `network bans` shows it).
    pub peer_id: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Runs `network ...`.
pub fn run(cmd: NetworkCommand) -> ExitCode {
    match &cmd {
        NetworkCommand::Peers(api) => finish(api.json, peers(api)),
        NetworkCommand::Routes(api) => finish(api.json, routes(api)),
        NetworkCommand::Bans(api) => finish(api.json, bans(api)),
        NetworkCommand::Unban(args) => finish(args.api.json, unban(args)),
    }
}

fn get(api: &ApiArgs, path: &str) -> Result<Value, Failure> {
    call(&api.api, &api.token, reqwest::Method::GET, path, None)
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("-")
}

fn peers(api: &ApiArgs) -> Result<u8, Failure> {
    let answer = get(api, "/network/peers")?;
    if api.json {
        println!("{}", pretty(&answer));
        return Ok(exit::OK);
    }
    print!("{}", describe_peers(&answer));
    Ok(exit::OK)
}

/// The human view of a `/network/peers` answer.
fn describe_peers(answer: &Value) -> String {
    let empty = Vec::new();
    let mut out = String::new();
    let local = &answer["local"];
    out.push_str(&format!(
        "this relayer: {} (operator key {})\n",
        text(&local["peer_id"]),
        text(&local["operator_key"])
    ));
    let peers = answer["peers"].as_array().unwrap_or(&empty);
    out.push_str(&format!("{} peer(s) connected\n", peers.len()));
    if !peers.is_empty() {
        out.push_str(&format!(
            "{:<54} {:<66} {:<28} AGENT\n",
            "PEER ID", "OPERATOR KEY", "ADDRESS"
        ));
    }
    for p in peers {
        let addresses: Vec<&str> = p["addresses"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .filter_map(Value::as_str)
            .collect();
        out.push_str(&format!(
            "{:<54} {:<66} {:<28} {}\n",
            text(&p["peer_id"]),
            text(&p["operator_key"]),
            if addresses.is_empty() {
                "-".to_owned()
            } else {
                addresses.join(",")
            },
            text(&p["agent"])
        ));
    }
    let s = &answer["stats"];
    out.push_str(&format!(
        "connections refused: {} inbound, {} outbound; peers banned: {}\n",
        s["connections_refused_inbound"], s["connections_refused_outbound"], s["bans"]
    ));
    out.push_str(&format!(
        "gossip: {} received, {} published, {} rejected, {} invalid envelopes\n",
        s["gossip_received"], s["gossip_published"], s["gossip_rejected"], s["gossip_invalid"]
    ));
    out.push_str(&format!(
        "requests: {} sent, {} received, {} invalid; {} responses sent; {} events dropped\n",
        s["requests_sent"],
        s["requests_received"],
        s["requests_invalid"],
        s["responses_sent"],
        s["events_dropped"]
    ));
    out.push_str(&format!(
        "discovery: {} lookups of admitted peers, {} dials to found addresses\n",
        s["discovery_lookups"], s["discovery_dials"]
    ));
    out
}

fn bans(api: &ApiArgs) -> Result<u8, Failure> {
    let answer = get(api, "/network/bans")?;
    if api.json {
        println!("{}", pretty(&answer));
    } else {
        print!("{}", describe_bans(&answer));
    }
    Ok(exit::OK)
}

/// The human view of a `/network/bans` answer.
fn describe_bans(answer: &Value) -> String {
    let empty = Vec::new();
    let bans = answer["bans"].as_array().unwrap_or(&empty);
    let mut out = format!("{} peer(s) banned\n", bans.len());
    if !bans.is_empty() {
        out.push_str(&format!("{:<54} {:>7} BANNED AT\n", "PEER ID", "STRIKES"));
    }
    for ban in bans {
        let at = ban["banned_at"]
            .as_u64()
            .map(|s| {
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(s),
                )
                .to_string()
            })
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{:<54} {:>7} {at}\n",
            text(&ban["peer_id"]),
            ban["strikes"]
        ));
    }
    out
}

fn unban(args: &UnbanArgs) -> Result<u8, Failure> {
    let path = format!("/network/bans/{}", args.peer_id.trim());
    let answer = call(
        &args.api.api,
        &args.api.token,
        reqwest::Method::DELETE,
        &path,
        None,
    )?;
    if args.api.json {
        println!("{}", pretty(&answer));
    } else {
        println!("ban of {} lifted", text(&answer["peer_id"]));
    }
    Ok(exit::OK)
}

fn routes(api: &ApiArgs) -> Result<u8, Failure> {
    let answer = get(api, "/network/routes")?;
    if api.json {
        println!("{}", pretty(&answer));
        return Ok(exit::OK);
    }
    print!("{}", describe_routes(&answer));
    Ok(exit::OK)
}

/// The human view of a `/network/routes` answer: a line per chain, then
/// one per endpoint (in the order tried).
fn describe_routes(answer: &Value) -> String {
    let empty = Vec::new();
    let mut out = String::new();
    out.push_str(&format!(
        "{:<20} {:<7} {:<60} {:>8} {:>7} {:>7}  LAST ERROR\n",
        "CHAIN", "ROUTE", "ENDPOINT / RELAYER", "REQUESTS", "ERRORS", "FAULTS"
    ));
    for route in answer["routes"].as_array().unwrap_or(&empty) {
        let latency = &route["latency"];
        let latency = if latency.is_object() {
            format!(
                "  (p50 {:.1} ms, p99 {:.1} ms over {} requests)",
                latency["p50_seconds"].as_f64().unwrap_or(0.0) * 1000.0,
                latency["p99_seconds"].as_f64().unwrap_or(0.0) * 1000.0,
                latency["samples"]
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{:<20} {:<7}{latency}\n",
            text(&route["chain"]),
            text(&route["route"])
        ));
        let endpoints = route["endpoints"].as_array().unwrap_or(&empty);
        if endpoints.is_empty() {
            out.push_str(&format!("{:<28} (no endpoint)\n", ""));
        }
        for e in endpoints {
            out.push_str(&format!(
                "{:<28} {:<60} {:>8} {:>7} {:>7}  {}\n",
                "",
                text(&e["endpoint"]),
                e["requests"],
                e["errors"],
                e["faults"],
                text(&e["last_error"])
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn routes_are_tabulated() {
        let answer = json!({
            "mesh": true,
            "routes": [
                { "chain": "guangdong", "route": "remote", "relayers": ["12D3KooWA"],
                  "endpoints": [{ "endpoint": "p2p:12D3KooWA", "requests": 7, "errors": 1,
                                  "faults": 1, "last_error": "invalid_light_block: forged" }],
                  "latency": { "samples": 7, "p50_seconds": 0.0042, "p99_seconds": 0.012 } },
                { "chain": "shaanxi", "route": "local", "relayers": [],
                  "endpoints": [{ "endpoint": "rpc[0]", "requests": 3, "errors": 0,
                                  "faults": 0, "last_error": null }],
                  "latency": null },
            ],
        });
        let text = describe_routes(&answer);
        assert!(
            text.contains(
                "guangdong            remote   (p50 4.2 ms, p99 12.0 ms over 7 requests)"
            ),
            "{text}"
        );
        assert!(text.contains("p2p:12D3KooWA"), "{text}");
        assert!(text.contains("invalid_light_block: forged"), "{text}");
        assert!(text.contains("shaanxi              local"), "{text}");
        assert!(text.contains("rpc[0]"), "{text}");
    }

    #[test]
    fn bans_are_tabulated_with_their_time() {
        let answer = json!({ "bans": [
            { "peer_id": "12D3KooWP", "strikes": 3, "banned_at": 1_795_000_000u64 },
        ] });
        let text = describe_bans(&answer);
        assert!(text.starts_with("1 peer(s) banned\n"), "{text}");
        assert!(text.contains("12D3KooWP"), "{text}");
        assert!(text.contains("2026-11-18T11:06:40Z"), "{text}");
        assert_eq!(describe_bans(&json!({ "bans": [] })), "0 peer(s) banned\n");
    }

    #[test]
    fn peers_are_tabulated() {
        let answer = json!({
            "local": { "peer_id": "12D3KooWL", "operator_key": "ab", "listen_addrs": [] },
            "peers": [{ "peer_id": "12D3KooWP", "operator_key": "cd",
                        "addresses": ["/ip4/127.0.0.1/tcp/4001"], "listen_addrs": [],
                        "agent": "credit-relayer/0.1" }],
            "stats": { "peers_connected": 1, "connections_refused_inbound": 2,
                       "connections_refused_outbound": 0, "gossip_published": 5,
                       "gossip_received": 4, "gossip_invalid": 0, "gossip_rejected": 3,
                       "requests_sent": 9, "requests_received": 8, "requests_invalid": 0,
                       "responses_sent": 8, "bans": 1, "events_dropped": 0,
                       "discovery_lookups": 3, "discovery_dials": 1 },
        });
        let text = describe_peers(&answer);
        assert!(text.contains("this relayer: 12D3KooWL"), "{text}");
        assert!(text.contains("1 peer(s) connected"), "{text}");
        assert!(
            text.contains("3 lookups of admitted peers, 1 dials"),
            "{text}"
        );
        assert!(text.contains("/ip4/127.0.0.1/tcp/4001"), "{text}");
        assert!(
            text.contains("2 inbound, 0 outbound; peers banned: 1"),
            "{text}"
        );
        assert!(text.contains("3 rejected"), "{text}");
    }
}
