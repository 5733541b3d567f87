//! JSON shapes the server's REST API and the browser share, by audience: the MIG catalogue
//! ([`catalogue`]), the fleet ([`fleet`]), deployments and their events ([`deployments`]), signed
//! embed links ([`embeds`]) and accounts ([`accounts`]). What node agents answer is [`crate::agent_api`], the agent protocol;
//! the fleet embeds its inventory types, re-exported here.

/// `as_str`, `parse` and `Display` for an enum stored and sent by name: one table per enum.
macro_rules! spelled {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// The stored and wire spelling.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }

            /// Parses the stored and wire spelling.
            #[must_use]
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($name => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

pub mod accounts;
pub mod browse;
pub mod catalogue;
pub mod deployments;
pub mod embeds;
pub mod fleet;

pub use crate::agent_api::{BusySlice, Inventory, InventoryGpu};
pub use accounts::*;
pub use browse::*;
pub use catalogue::*;
pub use deployments::*;
pub use embeds::*;
pub use fleet::*;
