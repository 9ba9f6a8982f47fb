//! Item ids and content addresses: 32 bytes, shown as `0x` + 64 hex digits.

use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 32]);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "0x{}", hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let digits = s.trim().strip_prefix("0x").unwrap_or(s.trim());
                let mut out = [0u8; 32];
                if digits.len() != 64 {
                    return Err(format!("expected 64 hex digits, got {}", digits.len()));
                }
                hex::decode_to_slice(digits, &mut out).map_err(|e| e.to_string())?;
                Ok(Self(out))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// An item's id: 32 random bytes that say nothing about its content.
    ItemId
);

id_type!(
    /// A content address: the BLAKE3 hash of a sealed blob.
    Address
);

impl ItemId {
    /// A fresh random id (operating-system randomness).
    pub fn random() -> Self {
        Self(rand::random())
    }
}

impl Address {
    /// The address of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// `Ok` if `bytes` hash to this address, else [`crate::Error::Corrupt`] naming both.
    pub fn check(&self, bytes: &[u8]) -> Result<(), crate::Error> {
        self.expect(Self::of(bytes))
    }

    /// `Ok` if `actual` (what some bytes hash to) is this address, else
    /// [`crate::Error::Corrupt`] naming both.
    pub fn expect(&self, actual: Address) -> Result<(), crate::Error> {
        if actual == *self {
            return Ok(());
        }
        Err(crate::Error::Corrupt {
            expected: self.to_string(),
            actual: actual.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_errors() {
        let id = ItemId::random();
        assert_eq!(id.to_string().parse::<ItemId>(), Ok(id));
        assert!("0x12".parse::<ItemId>().is_err());
        assert!(format!("0x{}", "zz".repeat(32)).parse::<ItemId>().is_err());
        let json = serde_json::to_string(&id).unwrap_or_default();
        assert_eq!(serde_json::from_str::<ItemId>(&json).ok(), Some(id));
    }
}
