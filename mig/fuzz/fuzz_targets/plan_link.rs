//! Any query string → the planner's link codec: never a panic; a plan it reads writes back to a
//! link that reads as the same plan (the round trip the shared URL relies on).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mig::planner::NodePlan;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    let params: Vec<(&str, &str)> = input
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    if let Ok(plan) = NodePlan::from_query(params) {
        let query = plan.to_query();
        let again: Vec<(String, String)> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), percent_decode(v)))
            .collect();
        let back = NodePlan::from_query(again.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .unwrap_or_else(|e| panic!("its own link does not read: {query}: {e:?}"));
        assert_eq!(back, plan, "round trip through {query}");
    }
});

/// `%XX` decoding, as the browser does before the page reads its parameters.
fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
