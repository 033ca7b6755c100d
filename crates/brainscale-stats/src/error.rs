//! The one error type of this crate.

use thiserror::Error;

/// Why a statistic could not be computed. Every variant names the input (`what`) and says what
/// was expected.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum StatsError {
    /// Fewer observations than the statistic needs (e.g. n < 3 for a regression line with a
    /// standard error).
    #[error("{what}: {n} observations, at least {min} are needed")]
    TooFew {
        /// The input (e.g. `x`, `group a`).
        what: String,
        /// Observations given.
        n: usize,
        /// Observations needed.
        min: usize,
    },
    /// Two inputs that must pair up have different lengths.
    #[error("{what}: expected {expected} values (one per observation), got {got}")]
    LengthMismatch {
        /// The input.
        what: String,
        /// Expected length.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A NaN or infinite value.
    #[error("{what}[{index}] is {value}: every value must be finite (drop or impute missing values first)")]
    NonFinite {
        /// The input.
        what: String,
        /// Position of the first bad value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// An input that must vary is constant (e.g. a regressor: the slope is undefined).
    #[error("{what} is constant ({value} everywhere): {consequence}")]
    Constant {
        /// The input.
        what: String,
        /// Its value.
        value: f64,
        /// What cannot be computed because of it.
        consequence: &'static str,
    },
    /// A predictor of a multiple regression is a linear combination of the others (and the
    /// intercept).
    #[error(
        "predictor `{predictor}` is collinear with the intercept and the predictors before it: drop it or one of them"
    )]
    Collinear {
        /// The predictor's name.
        predictor: String,
    },
    /// A parameter outside its range (confidence level, number of resamples, ...).
    #[error("{name} = {value}: {expected}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// The value given, as text.
        value: String,
        /// The valid range.
        expected: &'static str,
    },
}

/// `Result` with [`StatsError`].
pub type Result<T, E = StatsError> = std::result::Result<T, E>;

/// Checks that `values` are all finite and at least `min` long.
pub(crate) fn check_finite(what: &str, values: &[f64], min: usize) -> Result<()> {
    if values.len() < min {
        return Err(StatsError::TooFew { what: what.to_string(), n: values.len(), min });
    }
    if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(StatsError::NonFinite { what: what.to_string(), index, value });
    }
    Ok(())
}

/// Checks that `values` has `expected` entries.
pub(crate) fn check_len(what: &str, values: &[f64], expected: usize) -> Result<()> {
    if values.len() != expected {
        return Err(StatsError::LengthMismatch { what: what.to_string(), expected, got: values.len() });
    }
    Ok(())
}

/// Checks a confidence level (strictly between 0 and 1).
pub(crate) fn check_level(level: f64) -> Result<()> {
    if level.is_finite() && level > 0.0 && level < 1.0 {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name: "level",
            value: level.to_string(),
            expected: "a confidence level strictly between 0 and 1, e.g. 0.95",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_input() {
        let e = check_finite("log_params", &[1.0, f64::NAN, 2.0], 3).unwrap_err();
        assert_eq!(
            e.to_string(),
            "log_params[1] is NaN: every value must be finite (drop or impute missing values first)"
        );
        let e = check_finite("x", &[1.0, 2.0], 3).unwrap_err();
        assert_eq!(e.to_string(), "x: 2 observations, at least 3 are needed");
        assert!(check_level(1.0).unwrap_err().to_string().contains("level = 1"));
    }
}
