//! `serve --seed USER=DIR`: a directory tree becomes one user's folders and
//! files when the server starts, through the server's own API (as any
//! client would make them), before its first line is printed. A name that
//! is there already (a restart on the same data) is skipped. `--seed
//! FILE.json` is a JSON fixture (`box_chunked_server::fixture`), planted
//! with the ids, versions and timestamps it gives.

use crate::failure::{exit, Failure};
use box_chunked_hyper::job::{Job, JobFile};
use box_chunked_hyper::{BoxClient, OnConflict};
use box_chunked_server::fixture::Fixture;
use std::path::{Path, PathBuf};

/// One `--seed USER=DIR`, with the token the user signs in with.
pub(crate) struct Seed {
    pub(crate) user: String,
    pub(crate) dir: PathBuf,
    pub(crate) token: String,
}

/// A JSON fixture given to `--seed`, with the file it came from.
pub(crate) type FixtureFile = (PathBuf, Fixture);

/// The JSON fixtures among `specs` (values that name a file), read and
/// parsed, and the other specs (`USER=DIR`).
pub(crate) fn fixtures_of(specs: &[String]) -> Result<(Vec<FixtureFile>, Vec<String>), Failure> {
    let mut fixtures = Vec::new();
    let mut rest = Vec::new();
    for spec in specs {
        let path = PathBuf::from(spec);
        if !path.is_file() {
            rest.push(spec.clone());
            continue;
        }
        let usage = |m: String| Failure::new(exit::USAGE, format!("--seed {spec}: {m}"));
        let text = std::fs::read_to_string(&path).map_err(|e| usage(e.to_string()))?;
        let fixture = Fixture::from_json(&text).map_err(|e| usage(e.to_string()))?;
        fixtures.push((path, fixture));
    }
    Ok((fixtures, rest))
}

/// The seeds of `specs` (`USER=DIR`), each with a token of `tokens`
/// (token, user) for its user.
pub(crate) fn seeds_of(
    specs: &[String],
    tokens: &[(String, String)],
) -> Result<Vec<Seed>, Failure> {
    let usage = |m: String| Failure::new(exit::USAGE, m);
    specs
        .iter()
        .map(|spec| {
            let (user, dir) = spec
                .split_once('=')
                .ok_or_else(|| usage(format!("--seed {spec} must be USER=DIR or a JSON fixture file")))?;
            let token = tokens
                .iter()
                .find(|(_, u)| u == user)
                .map(|(t, _)| t.clone())
                .ok_or_else(|| usage(format!("--seed {spec}: no --token is given for {user}, so nothing can be made as {user}")))?;
            let dir = PathBuf::from(dir);
            if !dir.is_dir() {
                return Err(usage(format!("--seed {spec}: {} is not a directory", dir.display())));
            }
            Ok(Seed { user: user.to_owned(), dir, token })
        })
        .collect()
}

/// Makes each seed's tree in its user's root folder on the server at `url`.
pub(crate) async fn plant(url: &str, seeds: &[Seed], data: &Path) -> Result<(), Failure> {
    for s in seeds {
        let failed = |m: String| {
            Failure::new(
                exit::FAILED,
                format!("seeding {} from {}: {m}", s.user, s.dir.display()),
            )
        };
        let client = BoxClient::builder()
            .token(s.token.clone())
            .base_url(url)
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&s.dir)
            .map_err(|e| failed(e.to_string()))?
            .flatten()
            .map(|e| e.path())
            .collect();
        paths.sort();
        if paths.is_empty() {
            continue;
        }
        let job = JobFile::plan(&paths, "0", OnConflict::Skip, false)
            .map_err(|e| failed(e.to_string()))?;
        let job_file = data.join(format!("seed-{}.json", s.user));
        let summary = Job::new(client.uploader(), &job_file)
            .run(job)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let _ = std::fs::remove_file(&job_file);
        if summary.failed > 0 {
            return Err(failed(format!("{} files failed", summary.failed)));
        }
        eprintln!(
            "seeded {}: {} files from {} ({} there already)",
            s.user,
            summary.uploaded,
            s.dir.display(),
            summary.skipped
        );
    }
    Ok(())
}
