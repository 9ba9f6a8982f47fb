//! Parse amounts like `1.5pht`, `2gwei`, `100wei`.

use alloy::primitives::U256;
use alloy::primitives::utils::{ParseUnits, parse_units};

/// Parse an amount with an optional unit suffix (`pht`, `ether`, `gwei`, `wei`); plain
/// numbers are PHT.
pub(crate) fn parse_amount(text: &str) -> anyhow::Result<U256> {
    let lower = text.trim().to_ascii_lowercase();
    let (number, decimals) = if let Some(n) = lower.strip_suffix("pht") {
        (n, 18)
    } else if let Some(n) = lower.strip_suffix("ether") {
        (n, 18)
    } else if let Some(n) = lower.strip_suffix("gwei") {
        (n, 9)
    } else if let Some(n) = lower.strip_suffix("wei") {
        (n, 0)
    } else {
        (lower.as_str(), 18)
    };
    let parsed = parse_units(number.trim(), decimals).map_err(|e| {
        anyhow::anyhow!("cannot read amount {text:?} ({e}); write e.g. 1.5pht, 2gwei or 100wei")
    })?;
    match parsed {
        ParseUnits::U256(value) => Ok(value),
        ParseUnits::I256(_) => Err(anyhow::anyhow!("amount {text:?} is negative")),
    }
}

/// Format wei as PHT with up to 18 decimals, trailing zeros trimmed.
pub(crate) fn format_pht(wei: U256) -> String {
    let text = alloy::primitives::utils::format_units(wei, 18).unwrap_or_else(|_| wei.to_string());
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    format!("{trimmed} PHT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(
            parse_amount("1.5pht").expect("ok"),
            U256::from(1_500_000_000_000_000_000u128)
        );
        assert_eq!(
            parse_amount("2 gwei").expect("ok"),
            U256::from(2_000_000_000u64)
        );
        assert_eq!(parse_amount("100wei").expect("ok"), U256::from(100));
        assert_eq!(
            parse_amount("3").expect("ok"),
            U256::from(3_000_000_000_000_000_000u128)
        );
        assert!(parse_amount("lots").is_err());
        assert!(parse_amount("-1pht").is_err());
        assert_eq!(
            format_pht(U256::from(1_500_000_000_000_000_000u128)),
            "1.5 PHT"
        );
    }
}
