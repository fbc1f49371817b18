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

/// `--parallel` of an upload: `auto` (tuned while it runs) or 1 to 64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parallel {
    /// Self-tuning, within `--max-memory`.
    Auto,
    /// A fixed number of parts in flight.
    Fixed(usize),
}

impl std::fmt::Display for Parallel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Fixed(n) => write!(f, "{n}"),
        }
    }
}

impl Parallel {
    /// The uploader with this parallelism (and memory budget, when tuned).
    pub(crate) fn apply(
        self,
        u: box_chunked_hyper::Uploader,
        max_memory: u64,
    ) -> box_chunked_hyper::Uploader {
        match self {
            Self::Auto => u
                .tuning(box_chunked_hyper::Tuning::default())
                .max_memory(max_memory),
            Self::Fixed(n) => u.parallelism(n),
        }
    }
}

/// `--parallel` of an upload: `auto` or a number of parts from 1 to 64.
pub(crate) fn parse_upload_parallel(v: &str) -> Result<Parallel, String> {
    if v.trim().eq_ignore_ascii_case("auto") {
        return Ok(Parallel::Auto);
    }
    parse_parallel(v)
        .map(Parallel::Fixed)
        .map_err(|_| format!("{v:?} is not \"auto\" or a number of parts from 1 to 64"))
}

/// `--max-memory`: a size of at least 1 MiB.
pub(crate) fn parse_max_memory(v: &str) -> Result<u64, String> {
    match parse_size(v) {
        Ok(n) if n >= 1 << 20 => Ok(n),
        Ok(_) => Err(format!("{v:?} is less than 1M: no part fits in it")),
        Err(e) => Err(e),
    }
}

/// `--parallel`: parts in flight at once, 1 to 64.
pub(crate) fn parse_parallel(v: &str) -> Result<usize, String> {
    match v.trim().parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => Err(format!("{v:?} is not a number of parts from 1 to 64")),
    }
}
