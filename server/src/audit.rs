//! Who did what: the [`Actor`] every change is recorded under, and the random secrets migboard
//! hands out (share tokens, API tokens, generated passwords).

use mig::wire::{AuditRecord, Caller, Via};

/// Who asked for a change, for the audit log: a user (and how) and the client's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `alice`, `alice (token ci)`, or `system`.
    pub name: String,
    /// The client's address.
    pub source: String,
}

impl Actor {
    /// An actor by name and client address.
    #[must_use]
    pub fn new(name: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            source: source.into(),
        }
    }

    /// The audit record of this actor doing `action` to `target` (its time is set by the store).
    #[must_use]
    pub fn audit(&self, action: &str, target: String, detail: String) -> AuditRecord {
        AuditRecord {
            at_ms: 0,
            actor: self.name.clone(),
            action: action.into(),
            target,
            detail,
            source: self.source.clone(),
        }
    }

    /// The actor of a signed-in request: the user's name, and how they signed in unless it was
    /// the browser's session.
    #[must_use]
    pub fn of(caller: &Caller) -> Self {
        let name = match caller.via {
            Via::Session => caller.username.clone(),
            ref via => format!("{} ({via})", caller.username),
        };
        Self {
            name,
            source: caller.source.clone(),
        }
    }
}

/// The system's random number generator failed: nothing secret can be made.
#[derive(Debug, thiserror::Error)]
#[error("the system's random number generator failed: {0}")]
pub struct NoEntropy(String);

/// 32 random bytes from the operating system, as 64 hex digits: a secret token (256 bits).
///
/// # Errors
/// [`NoEntropy`] when the operating system cannot provide randomness (a server fault: answer 500).
pub fn random_token() -> Result<String, NoEntropy> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| NoEntropy(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mig::wire::Role;

    #[test]
    fn tokens_are_256_bits_of_hex_and_differ() {
        let (a, b) = (random_token().expect("a"), random_token().expect("b"));
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn actors_name_how_a_caller_signed_in_unless_by_session() {
        let caller = |via| Caller {
            user_id: 1,
            username: "alice".into(),
            role: Role::Operator,
            via,
            source: "10.0.0.1".into(),
        };
        assert_eq!(Actor::of(&caller(Via::Session)).name, "alice");
        assert_eq!(
            Actor::of(&caller(Via::Token("ci".into()))).name,
            "alice (token ci)"
        );
        assert_eq!(Actor::of(&caller(Via::Password)).name, "alice (password)");
        assert_eq!(Actor::of(&caller(Via::Session)).source, "10.0.0.1");
    }
}
