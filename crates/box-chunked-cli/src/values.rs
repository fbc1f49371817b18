//! The values the command line takes, parsed and refused in words: sizes
//! with units (`10G`), seconds above zero, and a parallelism of 1 to 64.

/// A number of seconds above zero, fractions allowed (`0.5`).
pub(crate) fn positive_secs(v: &str) -> Result<f64, String> {
    match v.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(s),
        _ => Err(format!("{v:?} is not a number of seconds above 0")),
    }
}

/// A size in bytes, or with a unit: `k`/`K`, `M`, `G`, `T` (powers of 1024;
/// a trailing `B` or `iB` is allowed), as in `--quota 10G`.
pub(crate) fn parse_size(v: &str) -> Result<u64, String> {
    let t = v.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 1 << 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 1 << 30),
        Some('t' | 'T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let bad =
        || format!("{v:?} is not a size: give bytes, or a number with k, M, G or T (1024-based)");
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    let bytes = n * mult as f64;
    if !n.is_finite() || n < 0.0 || bytes >= 1.8e19 {
        return Err(bad());
    }
    Ok(bytes.round() as u64)
}

/// `--parallel`: parts in flight at once, 1 to 64.
pub(crate) fn parse_parallel(v: &str) -> Result<usize, String> {
    match v.trim().parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => Err(format!("{v:?} is not a number of parts from 1 to 64")),
    }
}
