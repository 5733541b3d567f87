//! Who may call the agent: a bearer token (embedded fleets, agents run by hand) or requests signed
//! by the migboard server for this node ([`mig::agent_auth`], on Kubernetes).
//!
//! The signed mode holds no secret: only the server's Ed25519 *public* key and this node's name. It
//! remembers each accepted nonce until its timestamp is too old to be accepted anyway, so a captured
//! request is accepted once, on its own node, within the clock-skew window.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use mig::agent_auth::{
    ED25519_SPKI_PREFIX, MAX_CLOCK_SKEW_SECS, Refusal, SignedHeaders, pem_block, signing_string,
};
use ring::signature::{ED25519, UnparsedPublicKey};

/// Verifies the server's signed requests for one node.
pub struct Verifier {
    node: String,
    key: UnparsedPublicKey<[u8; 32]>,
    nonces: Mutex<Nonces>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Nonces {
    /// Nonce → the timestamp it was signed with.
    seen: HashMap<String, u64>,
    pruned_at: u64,
}

impl Verifier {
    /// A verifier for requests meant for `node`, signed by the holder of `public_key`.
    ///
    /// # Errors
    /// When `node` is empty.
    pub fn new(node: &str, public_key: [u8; 32]) -> Result<Self, String> {
        let node = node.trim();
        if node.is_empty() {
            return Err("the agent needs its node's name to check signed requests: set NODE_NAME (the downward API's spec.nodeName) or --node-name".to_owned());
        }
        Ok(Self {
            node: node.to_owned(),
            key: UnparsedPublicKey::new(&ED25519, public_key),
            nonces: Mutex::default(),
        })
    }

    /// The node this agent serves.
    #[must_use]
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Checks one request: its headers, the method, the path with query and the whole body, at
    /// `now` (Unix seconds). An accepted nonce is remembered, so the same request is refused next time.
    ///
    /// # Errors
    /// The [`Refusal`] that names what is wrong.
    pub fn verify(
        &self,
        headers: &SignedHeaders,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now: u64,
    ) -> Result<(), Refusal> {
        headers.check(&self.node, now)?;
        let digest = ring::digest::digest(&ring::digest::SHA256, body);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(digest.as_ref());
        let text = signing_string(
            &headers.node,
            method,
            path_and_query,
            headers.timestamp,
            &headers.nonce,
            &hash,
        );
        self.key
            .verify(text.as_bytes(), &headers.signature)
            .map_err(|_| Refusal::BadSignature)?;
        // Only after the signature holds, so nobody without the key can fill the cache.
        let mut nonces = self.nonces.lock().unwrap_or_else(|e| e.into_inner());
        if now.saturating_sub(nonces.pruned_at) >= MAX_CLOCK_SKEW_SECS {
            // A nonce signed before `now - skew` is refused as stale from here on: forget it.
            let horizon = now.saturating_sub(MAX_CLOCK_SKEW_SECS);
            nonces.seen.retain(|_, signed| *signed >= horizon);
            nonces.pruned_at = now;
        }
        if nonces
            .seen
            .insert(headers.nonce.clone(), headers.timestamp)
            .is_some()
        {
            return Err(Refusal::Replayed);
        }
        Ok(())
    }

    /// How many nonces are remembered (for tests and metrics).
    #[must_use]
    pub fn remembered(&self) -> usize {
        self.nonces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seen
            .len()
    }
}

/// The 32-byte Ed25519 public key in a PEM `PUBLIC KEY` block (what
/// `openssl pkey -in signing.pem -pubout` writes).
///
/// # Errors
/// Says what the text is instead, and how to make the right one.
pub fn public_key_from_pem(pem: &str) -> Result<[u8; 32], String> {
    const HOW: &str = "make one with `openssl pkey -in agent-signing.pem -pubout -out agent-verify.pem`";
    let body = pem_block(pem, "PUBLIC KEY").ok_or_else(|| {
        format!("expected a PEM block `-----BEGIN PUBLIC KEY-----`: {HOW}")
    })?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| format!("the PUBLIC KEY block is not base64 ({e}): {HOW}"))?;
    match der.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
        Some(key) if key.len() == 32 => {
            let mut out = [0u8; 32];
            out.copy_from_slice(key);
            Ok(out)
        }
        _ => Err(format!(
            "the PUBLIC KEY is not an Ed25519 key (generate the pair with `openssl genpkey -algorithm ed25519`): {HOW}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_key_pem_is_read_and_other_pems_are_named() {
        let key: Vec<u8> = (0u8..32).collect();
        let der: Vec<u8> = ED25519_SPKI_PREFIX.iter().chain(&key).copied().collect();
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(der)
        );
        assert_eq!(public_key_from_pem(&pem).expect("reads").to_vec(), key);
        let private = pem.replace("PUBLIC KEY", "PRIVATE KEY");
        assert!(public_key_from_pem(&private)
            .unwrap_err()
            .contains("BEGIN PUBLIC KEY"));
        let rsa = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode([0x30u8; 44])
        );
        assert!(public_key_from_pem(&rsa).unwrap_err().contains("not an Ed25519 key"));
    }

    #[test]
    fn a_node_name_is_required() {
        assert!(Verifier::new(" ", [0; 32]).unwrap_err().contains("NODE_NAME"));
    }
}
