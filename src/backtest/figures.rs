//! How the backtest writes and divides its figures: 4 significant digits in text, NaN for a
//! ratio to nothing.

/// A figure with 4 significant digits (as peers.py prints them); `n/a` for NaN.
pub fn num(x: f64) -> String {
    if x.is_nan() {
        return "n/a".to_string();
    }
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-4..6).contains(&magnitude) {
        return format!("{x:.3e}");
    }
    let decimals = (3 - magnitude).max(0) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// `a / b`, NaN unless `b` is positive.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(0.812345), "0.8123");
        assert_eq!(num(1234.5678), "1235");
        assert_eq!(num(12.0), "12");
        assert_eq!(num(f64::NAN), "n/a");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(0.00001234), "1.234e-5");
    }

    #[test]
    fn ratios_to_nothing_are_nan() {
        assert_eq!(ratio(3.0, 2.0), 1.5);
        assert!(ratio(3.0, 0.0).is_nan());
    }
}
