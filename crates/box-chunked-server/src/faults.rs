//! Faults on request, so that clients can be tested against the failures Box
//! really produces.
//!
//! Grammar (`--faults`, or `PUT /__box-chunked/faults` with the spec as body):
//!
//! ```text
//! SPEC   := RULE (',' RULE)*              (whitespace ignored; empty = no faults)
//! RULE   := 'seed=' N                     (seeds the probabilities; default 0)
//!         | TARGET ':' ACTION '@' WHEN
//! TARGET := create | part | list | commit | abort | get | plan | upload | token | any
//!                                         (token: POST /oauth2/token, which `any` leaves out)
//! ACTION := 500 | 502 | 503 | 504         (Box error body, request not applied)
//!         | 429[=SECS]                    (rate_limit_exceeded with Retry-After, default 1)
//!         | reset                         (the connection drops; for parts, half way through the body)
//!         | lose                          (the request is applied, then the connection drops)
//!         | delay=MS                      (the answer is held back)
//!         | 202[=SECS]                    (commit only: 202 with Retry-After, default 1; 202=none: no header)
//!         | parts_mismatch                (commit only: 400 parts_mismatch)
//!         | expire                        (the session expires before the request is handled)
//! WHEN   := P                             (a probability, 0 to 1)
//!         | '#' N ('/' N)*                (the Nth matching requests, 1-based)
//!         | 'first' N                     (the first N matching requests)
//! ```
//!
//! Examples: `part:500@0.05`, `commit:202=2@first3`, `part:reset@#2/5`,
//! `seed=7,part:429=1@0.02,any:delay=300@0.1`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

/// Which requests a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultTarget {
    /// Session creation (new file or new version).
    Create,
    /// Part uploads.
    Part,
    /// Listing parts.
    List,
    /// Commits.
    Commit,
    /// Aborts.
    Abort,
    /// Getting a session.
    Get,
    /// Upload session plans.
    Plan,
    /// One-shot uploads (`POST /files/content`, `POST /files/{id}/content`).
    Upload,
    /// The OAuth token endpoint (`POST /oauth2/token`); `any` does not
    /// include it.
    Token,
    /// Every request of the upload root.
    Any,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer this 5xx status.
    Status(u16),
    /// `429` with `Retry-After`.
    Throttle(u64),
    /// Drop the connection (mid-body for parts).
    Reset,
    /// The disk is full when the part's bytes are written (`507
    /// insufficient_storage`; parts only).
    NoSpace,
    /// Apply the request, then drop the connection.
    Lose,
    /// Hold the answer back.
    Delay(Duration),
    /// `202` on commit, with `Retry-After` seconds when given.
    Accepted(Option<u64>),
    /// `400 parts_mismatch` on commit.
    PartsMismatch,
    /// Expire the session first.
    Expire,
}

/// When a rule fires.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultWhen {
    /// With this probability.
    Probability(f64),
    /// On these matching requests (1-based).
    Nth(Vec<u64>),
    /// On the first N matching requests.
    First(u64),
}

/// One rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// Which requests.
    pub target: FaultTarget,
    /// What happens.
    pub action: FaultAction,
    /// When.
    pub when: FaultWhen,
}

/// A parsed fault specification.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultSpec {
    /// Seed of the probabilities.
    pub seed: u64,
    /// The rules, tried in order; the first that fires wins.
    pub rules: Vec<FaultRule>,
}

/// A fault specification that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault rule {rule:?}: {reason}")]
pub struct FaultSpecError {
    /// The rule's text.
    pub rule: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FaultSpec {
    /// Parses the grammar above.
    ///
    /// ```
    /// use box_chunked_server::faults::{FaultSpec, FaultAction, FaultWhen};
    /// let spec = FaultSpec::parse("seed=7, part:500@0.1, commit:202=3@first2").unwrap();
    /// assert_eq!(spec.seed, 7);
    /// assert_eq!(spec.rules[1].action, FaultAction::Accepted(Some(3)));
    /// assert_eq!(spec.rules[1].when, FaultWhen::First(2));
    /// assert!(FaultSpec::parse("part:explode@1").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, FaultSpecError> {
        let mut spec = Self::default();
        for raw in text.split(',') {
            let rule: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
            if rule.is_empty() {
                continue;
            }
            let err = |reason: &str| FaultSpecError {
                rule: rule.clone(),
                reason: reason.to_owned(),
            };
            if let Some(seed) = rule.strip_prefix("seed=") {
                spec.seed = seed
                    .parse()
                    .map_err(|_| err("the seed must be a whole number"))?;
                continue;
            }
            let (target, rest) = rule
                .split_once(':')
                .ok_or_else(|| err("expected TARGET:ACTION@WHEN"))?;
            let (action, when) = rest
                .split_once('@')
                .ok_or_else(|| err("expected ACTION@WHEN"))?;
            let target = parse_target(target).map_err(err)?;
            let (name, arg) = match action.split_once('=') {
                Some((n, a)) => (n, Some(a)),
                None => (action, None),
            };
            let num = |a: Option<&str>, default: u64| -> Result<u64, FaultSpecError> {
                a.map_or(Ok(default), |a| {
                    a.parse()
                        .map_err(|_| err("the argument must be a whole number"))
                })
            };
            let action = match name {
                "500" | "502" | "503" | "504" => FaultAction::Status(name.parse().unwrap_or(500)),
                "429" => FaultAction::Throttle(num(arg, 1)?),
                "reset" => FaultAction::Reset,
                "enospc" if target == FaultTarget::Part => FaultAction::NoSpace,
                "enospc" => return Err(err("this action applies to part only")),
                "lose" => FaultAction::Lose,
                "delay" => FaultAction::Delay(Duration::from_millis(num(arg, 100)?)),
                "202" if target == FaultTarget::Commit => {
                    FaultAction::Accepted(if arg == Some("none") {
                        None
                    } else {
                        Some(num(arg, 1)?)
                    })
                }
                "parts_mismatch" if target == FaultTarget::Commit => FaultAction::PartsMismatch,
                "202" | "parts_mismatch" => return Err(err("this action applies to commit only")),
                "expire" => FaultAction::Expire,
                _ => return Err(err("unknown action")),
            };
            let when = parse_when(when).map_err(err)?;
            spec.rules.push(FaultRule {
                target,
                action,
                when,
            });
        }
        Ok(spec)
    }
}

/// `create`, `part`, ... as a target; the reason otherwise.
fn parse_target(t: &str) -> Result<FaultTarget, &'static str> {
    Ok(match t {
        "create" => FaultTarget::Create,
        "part" => FaultTarget::Part,
        "list" => FaultTarget::List,
        "commit" => FaultTarget::Commit,
        "abort" => FaultTarget::Abort,
        "get" => FaultTarget::Get,
        "plan" => FaultTarget::Plan,
        "upload" => FaultTarget::Upload,
        "token" => FaultTarget::Token,
        "any" => FaultTarget::Any,
        _ => {
            return Err(
                "target must be create, part, list, commit, abort, get, plan, upload, token or any",
            )
        }
    })
}

/// `#N/M`, `firstN` or a probability; the reason otherwise.
fn parse_when(when: &str) -> Result<FaultWhen, &'static str> {
    if let Some(list) = when.strip_prefix('#') {
        let ns = list
            .split('/')
            .map(|n| n.parse::<u64>().ok().filter(|n| *n > 0))
            .collect::<Option<Vec<_>>>()
            .ok_or("#N takes positive whole numbers separated by /")?;
        return Ok(FaultWhen::Nth(ns));
    }
    if let Some(n) = when.strip_prefix("first") {
        return Ok(FaultWhen::First(
            n.parse().map_err(|_| "firstN takes a whole number")?,
        ));
    }
    let p: f64 = when
        .parse()
        .map_err(|_| "WHEN must be a probability, #N or firstN")?;
    if !(0.0..=1.0).contains(&p) {
        return Err("a probability is between 0 and 1");
    }
    Ok(FaultWhen::Probability(p))
}

impl fmt::Display for FaultTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Create => "create",
            Self::Part => "part",
            Self::List => "list",
            Self::Commit => "commit",
            Self::Abort => "abort",
            Self::Get => "get",
            Self::Plan => "plan",
            Self::Upload => "upload",
            Self::Token => "token",
            Self::Any => "any",
        })
    }
}

impl fmt::Display for FaultAction {
    /// The action in the grammar above (`503`, `429=2`, `delay=300`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(s) => write!(f, "{s}"),
            Self::Throttle(s) => write!(f, "429={s}"),
            Self::Reset => f.write_str("reset"),
            Self::NoSpace => f.write_str("enospc"),
            Self::Lose => f.write_str("lose"),
            Self::Delay(d) => write!(f, "delay={}", d.as_millis()),
            Self::Accepted(Some(s)) => write!(f, "202={s}"),
            Self::Accepted(None) => f.write_str("202=none"),
            Self::PartsMismatch => f.write_str("parts_mismatch"),
            Self::Expire => f.write_str("expire"),
        }
    }
}

impl fmt::Display for FaultWhen {
    /// When, in the grammar above (`0.1`, `#1/3`, `first2`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Probability(p) => write!(f, "{p}"),
            Self::Nth(ns) => {
                let list: Vec<String> = ns.iter().map(u64::to_string).collect();
                write!(f, "#{}", list.join("/"))
            }
            Self::First(n) => write!(f, "first{n}"),
        }
    }
}

impl fmt::Display for FaultRule {
    /// The rule as `TARGET:ACTION@WHEN`, which [`FaultSpec::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}@{}", self.target, self.action, self.when)
    }
}

/// The live injector: counts matching requests and draws probabilities.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    inner: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    spec: FaultSpec,
    rng: u64,
    counts: HashMap<usize, u64>,
    /// How often each rule fired.
    fired: HashMap<usize, u64>,
}

impl Faults {
    pub(crate) fn new(spec: FaultSpec) -> Self {
        let f = Self::default();
        f.set(spec);
        f
    }

    /// Replaces the rules (and resets the counts).
    pub(crate) fn set(&self, spec: FaultSpec) {
        let mut s = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.rng = spec.seed ^ 0x9e37_79b9_7f4a_7c15;
        s.counts.clear();
        s.fired.clear();
        s.spec = spec;
    }

    /// The rules in force, each with the requests it has matched and fired
    /// on, as the admin route shows them.
    pub(crate) fn snapshot(&self) -> serde_json::Value {
        let s = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let rules: Vec<serde_json::Value> = s
            .spec
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                serde_json::json!({
                    "rule": r.to_string(),
                    "matched": s.counts.get(&i).copied().unwrap_or(0),
                    "fired": s.fired.get(&i).copied().unwrap_or(0),
                })
            })
            .collect();
        serde_json::json!({ "seed": s.spec.seed, "rules": rules })
    }

    /// The fault for this request, if one fires.
    pub(crate) fn pick(&self, target: FaultTarget) -> Option<FaultAction> {
        let mut s = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let State {
            spec,
            rng,
            counts,
            fired: fires,
        } = &mut *s;
        let mut fired = None;
        for (i, rule) in spec.rules.iter().enumerate() {
            let any = rule.target == FaultTarget::Any && target != FaultTarget::Token;
            if rule.target != target && !any {
                continue;
            }
            let n = {
                let c = counts.entry(i).or_insert(0);
                *c += 1;
                *c
            };
            let hit = match &rule.when {
                FaultWhen::Probability(p) => {
                    let draw = splitmix(rng) as f64 / u64::MAX as f64;
                    draw < *p
                }
                FaultWhen::Nth(ns) => ns.contains(&n),
                FaultWhen::First(k) => n <= *k,
            };
            if hit && fired.is_none() {
                fired = Some(rule.action.clone());
                *fires.entry(i).or_insert(0) += 1;
            }
        }
        fired
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        let s = FaultSpec::parse(
            " seed=3 , part:reset@#2/5, any:delay=300@0.5, commit:202=none@first1 ",
        )
        .unwrap();
        assert_eq!(s.seed, 3);
        assert_eq!(s.rules.len(), 3);
        assert_eq!(s.rules[0].when, FaultWhen::Nth(vec![2, 5]));
        assert_eq!(
            s.rules[1].action,
            FaultAction::Delay(Duration::from_millis(300))
        );
        assert_eq!(s.rules[2].action, FaultAction::Accepted(None));
        assert_eq!(FaultSpec::parse("").unwrap(), FaultSpec::default());
        for bad in [
            "part",
            "part:500",
            "disk:500@1",
            "part:500@2",
            "part:202@1",
            "part:500@#0",
            "seed=x",
            "part:429=x@1",
        ] {
            assert!(FaultSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schedules_fire_when_asked() {
        let f = Faults::new(FaultSpec::parse("part:500@#2/3, commit:202@first2").unwrap());
        let parts: Vec<bool> = (0..5)
            .map(|_| f.pick(FaultTarget::Part).is_some())
            .collect();
        assert_eq!(parts, vec![false, true, true, false, false]);
        let commits: Vec<bool> = (0..3)
            .map(|_| f.pick(FaultTarget::Commit).is_some())
            .collect();
        assert_eq!(commits, vec![true, true, false]);
        let p = Faults::new(FaultSpec::parse("seed=1,any:503@0.5").unwrap());
        let hits = (0..1000)
            .filter(|_| p.pick(FaultTarget::List).is_some())
            .count();
        assert!((400..600).contains(&hits), "{hits}");
    }
}
