//! How the server proves each request to a node agent is its own, for that node, and fresh: the
//! signed-request contract both sides compile against.
//!
//! On Kubernetes the server holds an Ed25519 private key; every agent holds only the public key (not
//! a secret). The server signs, for each request, the [`signing_string`] of: the node it is meant
//! for, the method, the path with its query, the time, a random nonce and the SHA-256 of the body.
//! The agent refuses a request that is unsigned, signed for another node, older or newer than
//! [`MAX_CLOCK_SKEW_SECS`], carries a nonce it has already seen, or whose signature does not verify
//! ([`Refusal`]). So a node whose agent is compromised learns nothing that lets it call another
//! node's agent, and a request captured on the wire cannot be replayed or retargeted.
//!
//! This module is the format only (header names, the string, the checks that need no key): the
//! cryptography (Ed25519 and SHA-256, from `ring`) lives in the server, which signs, and the agent,
//! which verifies, so that `mig` stays free of I/O and crypto for the browser.
//!
//! Embedded fleets (agents on loopback, started by the server) use a bearer token instead.

use std::fmt;

/// The node the request is meant for (`spec.nodeName` on Kubernetes).
pub const NODE_HEADER: &str = "x-migboard-node";
/// Seconds since the Unix epoch when the server signed the request.
pub const TIMESTAMP_HEADER: &str = "x-migboard-timestamp";
/// A random value, fresh for each request (16 to 64 characters of `[A-Za-z0-9_-]`).
pub const NONCE_HEADER: &str = "x-migboard-nonce";
/// The Ed25519 signature of the [`signing_string`], 128 lowercase hex digits.
pub const SIGNATURE_HEADER: &str = "x-migboard-signature";
/// The first line of every signing string: a new format gets a new version.
pub const SIGNATURE_VERSION: &str = "migboard-agent-v1";
/// How far the request's timestamp may be from the agent's clock, either way. Both run NTP on a
/// cluster; a minute absorbs drift and queueing and bounds how long nonces must be remembered.
pub const MAX_CLOCK_SKEW_SECS: u64 = 60;

const NONCE_CHARS: std::ops::RangeInclusive<usize> = 16..=64;

/// The text the server signs and the agent verifies, one field per line:
///
/// ```text
/// migboard-agent-v1
/// <node>
/// <METHOD>
/// <path and query, as sent>
/// <timestamp>
/// <nonce>
/// <hex SHA-256 of the body>
/// ```
///
/// Newlines cannot occur inside a field: node names and nonces are checked, methods and paths
/// cannot hold them in HTTP, so no two requests share a string.
#[must_use]
pub fn signing_string(
    node: &str,
    method: &str,
    path_and_query: &str,
    timestamp: u64,
    nonce: &str,
    body_sha256: &[u8; 32],
) -> String {
    format!(
        "{SIGNATURE_VERSION}\n{node}\n{}\n{path_and_query}\n{timestamp}\n{nonce}\n{}",
        method.to_ascii_uppercase(),
        encode_hex(body_sha256)
    )
}

/// The four headers of a signed request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// The node the request is meant for.
    pub node: String,
    /// When it was signed (Unix seconds).
    pub timestamp: u64,
    /// Its nonce.
    pub nonce: String,
    /// The Ed25519 signature (64 bytes).
    pub signature: [u8; 64],
}

impl SignedHeaders {
    /// Reads the headers through `header` (a lookup by lowercase name).
    ///
    /// # Errors
    /// [`Refusal::Unsigned`] when none of them is present, [`Refusal::Malformed`] naming the first
    /// one missing or unreadable.
    pub fn parse<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Result<Self, Refusal> {
        let names = [NODE_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER];
        if names.iter().all(|n| header(n).is_none()) {
            return Err(Refusal::Unsigned);
        }
        let get = |name: &'static str| {
            header(name).ok_or(Refusal::Malformed {
                header: name,
                why: "missing".to_owned(),
            })
        };
        let bad = |header: &'static str, why: &str| Refusal::Malformed {
            header,
            why: why.to_owned(),
        };
        let node = get(NODE_HEADER)?;
        if node.is_empty() || node.len() > 253 || node.chars().any(|c| c.is_control()) {
            return Err(bad(NODE_HEADER, "not a node name"));
        }
        let timestamp = get(TIMESTAMP_HEADER)?
            .parse::<u64>()
            .map_err(|_| bad(TIMESTAMP_HEADER, "not Unix seconds"))?;
        let nonce = get(NONCE_HEADER)?;
        if !NONCE_CHARS.contains(&nonce.len())
            || !nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad(NONCE_HEADER, "16 to 64 characters of A-Z a-z 0-9 - _"));
        }
        let signature = decode_hex::<64>(get(SIGNATURE_HEADER)?)
            .ok_or_else(|| bad(SIGNATURE_HEADER, "not 128 hex digits"))?;
        Ok(Self {
            node: node.to_owned(),
            timestamp,
            nonce: nonce.to_owned(),
            signature,
        })
    }

    /// The checks that need no key: meant for `this_node`, signed within [`MAX_CLOCK_SKEW_SECS`]
    /// of `now`.
    ///
    /// # Errors
    /// [`Refusal::WrongNode`] or [`Refusal::Stale`].
    pub fn check(&self, this_node: &str, now: u64) -> Result<(), Refusal> {
        if self.node != this_node {
            return Err(Refusal::WrongNode {
                signed_for: self.node.clone(),
                this_node: this_node.to_owned(),
            });
        }
        if self.timestamp.abs_diff(now) > MAX_CLOCK_SKEW_SECS {
            return Err(Refusal::Stale {
                timestamp: self.timestamp,
                now,
            });
        }
        Ok(())
    }
}

/// Why an agent refused a request's credentials. Each message says what to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No credential at all.
    Unsigned,
    /// A signature header is missing or unreadable.
    Malformed {
        /// Which header.
        header: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// Signed for another node: a request captured on one node and sent to another.
    WrongNode {
        /// The node the signature names.
        signed_for: String,
        /// This agent's node.
        this_node: String,
    },
    /// Signed too long ago (or in the future): a replay, or clocks that disagree.
    Stale {
        /// The request's timestamp.
        timestamp: u64,
        /// The agent's clock.
        now: u64,
    },
    /// This nonce was already used: a replay.
    Replayed,
    /// The signature does not verify with the agent's public key.
    BadSignature,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsigned => write!(
                f,
                "this agent accepts only requests signed by the migboard server (headers {NODE_HEADER}, {TIMESTAMP_HEADER}, {NONCE_HEADER}, {SIGNATURE_HEADER})"
            ),
            Self::Malformed { header, why } => write!(f, "header {header}: {why}"),
            Self::WrongNode {
                signed_for,
                this_node,
            } => write!(
                f,
                "the request is signed for node {signed_for:?}, this agent serves {this_node:?}: requests cannot be moved between nodes"
            ),
            Self::Stale { timestamp, now } => write!(
                f,
                "the request was signed at {timestamp}, {} s from this node's clock ({now}); at most {MAX_CLOCK_SKEW_SECS} s is accepted: check that the server's and the node's clocks are synchronised (NTP)",
                timestamp.abs_diff(*now)
            ),
            Self::Replayed => f.write_str("this request's nonce was already used: a request is accepted once"),
            Self::BadSignature => f.write_str(
                "the signature does not verify with this agent's public key: the server's signing key and the agents' verify key must be one pair",
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the 32-byte key follows. What
/// `openssl pkey -pubout` writes in a PEM `PUBLIC KEY` block for an Ed25519 key.
pub const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The base64 text between `-----BEGIN {label}-----` and `-----END {label}-----` of a PEM file,
/// whitespace removed (decoding it is the caller's).
#[must_use]
pub fn pem_block(pem: &str, label: &str) -> Option<String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    Some(
        pem[start..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect(),
    )
}

/// Lowercase hex of `bytes`.
#[must_use]
pub fn encode_hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Exactly `N` bytes from `2N` hex digits.
#[must_use]
pub fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        let value = digit(pair[0])? * 16 + digit(pair[1])?;
        out[i] = u8::try_from(value).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &'a [(&'static str, String)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    fn good() -> Vec<(&'static str, String)> {
        vec![
            (NODE_HEADER, "gpu-1".to_owned()),
            (TIMESTAMP_HEADER, "1700000000".to_owned()),
            (NONCE_HEADER, "abcdefghijklmnop".to_owned()),
            (SIGNATURE_HEADER, "ab".repeat(64)),
        ]
    }

    #[test]
    fn the_signing_string_has_one_field_per_line() {
        let s = signing_string("gpu-1", "post", "/v1/apply?x=1", 17, "n0nce", &[0xab; 32]);
        assert_eq!(
            s,
            format!(
                "migboard-agent-v1\ngpu-1\nPOST\n/v1/apply?x=1\n17\nn0nce\n{}",
                "ab".repeat(32)
            )
        );
    }

    #[test]
    fn headers_parse_and_each_fault_is_named() {
        let ok = SignedHeaders::parse(headers(&good())).expect("parses");
        assert_eq!(ok.node, "gpu-1");
        assert_eq!(ok.signature, [0xab; 64]);
        assert_eq!(SignedHeaders::parse(headers(&[])), Err(Refusal::Unsigned));
        for (i, value) in [
            (0, "a\u{7f}b".to_owned()),
            (1, "yesterday".to_owned()),
            (2, "short".to_owned()),
            (2, "has space in it, sixteen".to_owned()),
            (3, "zz".repeat(64)),
            (3, "ab".repeat(63)),
        ] {
            let mut h = good();
            h[i].1 = value.clone();
            match SignedHeaders::parse(headers(&h)) {
                Err(Refusal::Malformed { header, .. }) => assert_eq!(header, h[i].0, "{value}"),
                other => panic!("{value}: {other:?}"),
            }
        }
        let mut h = good();
        h.remove(2);
        assert!(matches!(
            SignedHeaders::parse(headers(&h)),
            Err(Refusal::Malformed { header: NONCE_HEADER, .. })
        ));
    }

    #[test]
    fn another_node_or_a_stale_time_is_refused() {
        let h = SignedHeaders::parse(headers(&good())).expect("parses");
        assert_eq!(h.check("gpu-1", 1_700_000_000 + MAX_CLOCK_SKEW_SECS), Ok(()));
        assert_eq!(h.check("gpu-1", 1_700_000_000 - MAX_CLOCK_SKEW_SECS), Ok(()));
        assert!(matches!(h.check("gpu-2", 1_700_000_000), Err(Refusal::WrongNode { .. })));
        let stale = h.check("gpu-1", 1_700_000_000 + MAX_CLOCK_SKEW_SECS + 1);
        assert!(matches!(stale, Err(Refusal::Stale { .. })));
        assert!(stale.unwrap_err().to_string().contains("NTP"));
    }

    #[test]
    fn a_pem_block_is_found_by_its_label() {
        let pem = "junk\n-----BEGIN PUBLIC KEY-----\nAAAA\nBBBB\n-----END PUBLIC KEY-----\n";
        assert_eq!(pem_block(pem, "PUBLIC KEY").as_deref(), Some("AAAABBBB"));
        assert_eq!(pem_block(pem, "PRIVATE KEY"), None);
        assert_eq!(pem_block("-----BEGIN PUBLIC KEY-----\nAAAA", "PUBLIC KEY"), None);
    }

    #[test]
    fn hex_round_trips() {
        let bytes = [0u8, 1, 0x7f, 0xff];
        assert_eq!(decode_hex::<4>(&encode_hex(&bytes)), Some(bytes));
        assert_eq!(decode_hex::<4>("0001"), None);
        assert_eq!(decode_hex::<2>("+1ff"), None);
    }
}
