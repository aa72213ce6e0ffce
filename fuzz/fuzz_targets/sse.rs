//! The server-sent event stream of a chain's endpoint (new blocks), fed to
//! the adapter's parser in chunks whose sizes the input chooses, with a
//! small event limit; each event's data then parsed as JSON, as the
//! adapter does.
#![no_main]
use adapters::sse::SseParser;
use credit_fuzz::write_seeds;
use libfuzzer_sys::fuzz_target;

fn seeds() -> Vec<Vec<u8>> {
    vec![
        b"\x07event: block\ndata: {\"height\": 5}\n\n: comment\r\ndata: a\ndata: b\n\n".to_vec(),
        b"\x01data: x\n\n".to_vec(),
    ]
}

fuzz_target!(init: write_seeds(&seeds()), |data: &[u8]| {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let mut parser = SseParser::new(256);
    for piece in rest.chunks(usize::from(chunk).max(1)) {
        match parser.feed(piece) {
            Ok(events) => {
                for event in events {
                    assert!(event.data.len() <= 256, "an event over the limit was dispatched");
                    let _ = serde_json::from_str::<serde_json::Value>(&event.data);
                }
            }
            Err(_) => return,
        }
    }
});
