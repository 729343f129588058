//! Exact amounts: the one decimal grammar for balances read from a provider and for
//! thresholds written in the config (SPEC §2, §6).

use rust_decimal::Decimal;

/// Why [`exact_decimal`] refused a literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalError {
    /// Not `-?digits(.digits)?([eE][+-]?digits)?`.
    NotANumber,
    /// A number, but not one a `Decimal` holds exactly.
    OutOfRange,
}

/// Parses a decimal literal exactly: amounts from Exotel and thresholds from the config
/// go through here. rust_decimal's own parser is lenient (it takes `1_000`, and rounds
/// digits it cannot hold), so the grammar is checked first (that also rejects NaN,
/// Infinity and the like) and rounding is refused.
pub fn exact_decimal(text: &str) -> Result<Decimal, DecimalError> {
    if !is_decimal_literal(text) {
        return Err(DecimalError::NotANumber);
    }
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str_exact(text)
    };
    parsed.map_err(|_| DecimalError::OutOfRange)
}

/// `-?digits(.digits)?([eE][+-]?digits)?`: JSON's number grammar, minus its ban on
/// leading zeros (a string such as "007.50" is still clearly a number).
fn is_decimal_literal(s: &str) -> bool {
    fn digits(s: &[u8]) -> usize {
        s.iter().take_while(|b| b.is_ascii_digit()).count()
    }
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let n = digits(&b[i..]);
    if n == 0 {
        return false;
    }
    i += n;
    if b.get(i) == Some(&b'.') {
        let n = digits(&b[i + 1..]);
        if n == 0 {
            return false;
        }
        i += 1 + n;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let n = digits(&b[i..]);
        if n == 0 {
            return false;
        }
        i += n;
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_literal_grammar() {
        for ok in ["0", "-1", "1.5", "1e3", "1E-3", "1.5e+2", "007.50"] {
            assert!(is_decimal_literal(ok), "{ok}");
        }
        for bad in [
            "", "-", ".5", "5.", "1e", "1e+", "+1", "1.2.3", "0x10", "1 2", "NaN",
        ] {
            assert!(!is_decimal_literal(bad), "{bad}");
        }
    }
}
