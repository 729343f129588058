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
    match text.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => scientific(mantissa, exponent),
        None => Decimal::from_str_exact(text).map_err(|_| DecimalError::OutOfRange),
    }
}

/// `mantissa × 10^exponent`, exactly or not at all (SPEC §17): `Decimal::from_scientific`
/// rounds a mantissa with more digits than it holds, which would turn
/// `999.99999999999999999999999999999e0` into 1000 and hide a crossing of 1000.
fn scientific(mantissa: &str, exponent: &str) -> Result<Decimal, DecimalError> {
    // Trailing zeros after the point are exact whatever their number.
    let mantissa = match mantissa.contains('.') {
        true => mantissa.trim_end_matches('0').trim_end_matches('.'),
        false => mantissa,
    };
    let m = Decimal::from_str_exact(mantissa)
        .map_err(|_| DecimalError::OutOfRange)?
        .normalize();
    if m.is_zero() {
        return Ok(Decimal::ZERO);
    }
    // An exponent too large for i64 is out of range whatever the mantissa.
    let exponent: i64 = exponent.parse().map_err(|_| DecimalError::OutOfRange)?;
    let scale = i64::from(m.scale()) - exponent;
    let digits = m.mantissa();
    if scale >= 0 {
        let scale = u32::try_from(scale).map_err(|_| DecimalError::OutOfRange)?;
        return Decimal::try_from_i128_with_scale(digits, scale)
            .map_err(|_| DecimalError::OutOfRange);
    }
    // A positive power of ten: multiply, refusing overflow.
    let up = u32::try_from(-scale).map_err(|_| DecimalError::OutOfRange)?;
    let factor = 10i128.checked_pow(up).ok_or(DecimalError::OutOfRange)?;
    let value = digits.checked_mul(factor).ok_or(DecimalError::OutOfRange)?;
    Decimal::try_from_i128_with_scale(value, 0).map_err(|_| DecimalError::OutOfRange)
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
    fn scientific_notation_is_exact_or_refused() {
        let d = |s: &str| exact_decimal(s);
        assert_eq!(d("1.5e3"), Ok(Decimal::from(1500)));
        assert_eq!(d("15E-1"), Ok("1.5".parse().unwrap()));
        assert_eq!(d("-2.50e+2"), Ok(Decimal::from(-250)));
        assert_eq!(d("0e99999999999999999999"), Ok(Decimal::ZERO));
        assert_eq!(d("1e-28"), Ok(Decimal::new(1, 28)));
        // Issue 7: these were rounded, hiding a crossing of 1000.
        assert_eq!(
            d("0.12345678901234567890123456789012345e0"),
            Err(DecimalError::OutOfRange)
        );
        assert_eq!(
            d("999.99999999999999999999999999999e0"),
            Err(DecimalError::OutOfRange)
        );
        // Too small or too large to hold exactly.
        assert_eq!(d("1e-29"), Err(DecimalError::OutOfRange));
        assert_eq!(d("1e29"), Err(DecimalError::OutOfRange));
        assert_eq!(d("1e99999999999999999999"), Err(DecimalError::OutOfRange));
        // Trailing zeros of the mantissa are not digits it cannot hold.
        assert_eq!(
            d("1.0000000000000000000000000000000e2"),
            Ok(Decimal::from(100))
        );
    }

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
