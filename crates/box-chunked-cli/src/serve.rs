//! `box-chunked serve`: the Box-compatible local server as a process.

use crate::args::ServeArgs;
use crate::connect::{data_dir, random_token};
use crate::failure::{exit, Failure};
use box_chunked_server::faults::FaultSpec;
use box_chunked_server::{Server, ServerConfig, ServerTls};
use std::time::Duration;

pub(crate) async fn serve(args: ServeArgs) -> Result<(), Failure> {
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| data_dir().join("server"));
    let (fixtures, seed_specs) = crate::seed::fixtures_of(&args.seeds)?;
    let (config, generated) = config_of(args, data.clone())?;
    let (tls, public) = (config.tls.is_some(), config.public_url.clone());
    let seeds = crate::seed::seeds_of(&seed_specs, &config.tokens)?;
    if tls && !seeds.is_empty() {
        // Whatever the certificate names, the seed goes in through a plain
        // loopback server on the same data first (no faults), which then
        // lets the data directory go to the TLS server.
        seed_before_tls(&config, &seeds, &data).await?;
    }
    let server = Server::bind(config).await.map_err(|e| {
        let hint = if is_locked(&e) {
            " (or start this one with --data DIR)"
        } else {
            ""
        };
        Failure::new(exit::FAILED, format!("{e}{hint}"))
    })?;
    for (path, fixture) in fixtures {
        let done = server.plant(fixture).await.map_err(|e| {
            Failure::new(
                exit::FAILED,
                format!("seeding from {}: {e}", path.display()),
            )
        })?;
        eprintln!(
            "seeded {}: {} items made ({} there already)",
            path.display(),
            done.made,
            done.there
        );
    }
    // The address it listens on comes first; a --public-url is what
    // clients are sent to, said apart.
    let listening = match &public {
        Some(p) => format!(
            "{}://{} (data in {}); session URLs name {p} (--public-url)",
            if tls { "https" } else { "http" },
            server.local_addr(),
            data.display()
        ),
        None => format!("{} (data in {})", server.url(), data.display()),
    };
    let running = server.spawn();
    // The seed is in place before the first line, which scripts wait for.
    let local = format!("http://{}", running.local_addr());
    if !tls {
        if let Err(f) = crate::seed::plant(&local, &seeds, &data).await {
            let _ = running.shutdown().await;
            return Err(f);
        }
    }
    println!("box-chunked server listening on {listening}");
    if let Some(t) = generated {
        println!("no --token given; use this one: {t}");
    }
    shutdown_signal().await;
    running
        .shutdown()
        .await
        .map_err(|e| Failure::new(exit::FAILED, e.to_string()))?;
    println!("box-chunked server stopped");
    Ok(())
}

/// Plants `seeds` through a plain-http server on loopback with `config`'s
/// data and users, no TLS and no faults, and stops it.
async fn seed_before_tls(
    config: &ServerConfig,
    seeds: &[crate::seed::Seed],
    data: &std::path::Path,
) -> Result<(), Failure> {
    let mut plain = config.clone();
    plain.tls = None;
    plain.public_url = None;
    plain.faults = FaultSpec::default();
    plain.link = box_chunked_server::link::LinkModel::default();
    plain.addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let failed = |e: String| Failure::new(exit::FAILED, format!("seeding before TLS: {e}"));
    let running = Server::bind(plain)
        .await
        .map_err(|e| failed(e.to_string()))?
        .spawn();
    let local = format!("http://{}", running.local_addr());
    let planted = crate::seed::plant(&local, seeds, data).await;
    running
        .shutdown()
        .await
        .map_err(|e| failed(e.to_string()))?;
    planted
}

/// The server's configuration from the command line (and the random token
/// generated when none is given).
fn config_of(
    args: ServeArgs,
    data: std::path::PathBuf,
) -> Result<(ServerConfig, Option<String>), Failure> {
    let mut config = ServerConfig::new(data.clone());
    limits_of(&args, &mut config)?;
    config.tls = tls_of(&args, &data)?;
    config.cors_origins.clone_from(&args.cors_origins);
    config.journal_size = args.journal_size;
    config.download_redirect = !args.download_direct;
    if !args.box_versions.is_empty() {
        config.box_versions.clone_from(&args.box_versions);
    }
    if args.admin_token.as_deref() == Some("") {
        return Err(Failure::new(exit::USAGE, "--admin-token needs a token"));
    }
    config.admin_token = args.admin_token.clone();
    if let Some(spec) = &args.faults {
        config.faults = FaultSpec::parse(spec)
            .map_err(|e| Failure::new(exit::USAGE, format!("--faults: {e}")))?;
    }
    if let Some(spec) = &args.link {
        config.link = box_chunked_server::link::LinkModel::parse(spec)
            .map_err(|e| Failure::new(exit::USAGE, format!("--link: {e}")))?;
    }
    if !args.addr.ip().is_loopback() {
        eprintln!(
            "warning: listening on {}, which is not a loopback address: anyone who can reach it and holds a token can upload; prefer 127.0.0.1 unless other machines must reach this server",
            args.addr
        );
    }
    users_of(&args, &mut config)?;
    let mut generated = None;
    if config.tokens.is_empty() && config.clients.is_empty() && config.apps.is_empty() {
        let token = random_token()?;
        config.tokens.push((token.clone(), "user".to_owned()));
        generated = Some(token);
    }
    Ok((config, generated))
}

/// Where it listens, its part sizes, lifetimes, quotas and timeouts.
fn limits_of(args: &ServeArgs, config: &mut ServerConfig) -> Result<(), Failure> {
    config.addr = args.addr;
    config.public_url.clone_from(&args.public_url);
    if args.part_size == Some(0) {
        return Err(Failure::new(exit::USAGE, "--part-size must be positive"));
    }
    config.part_size = args.part_size;
    config.min_file_size = args.min_file_size;
    config.session_lifetime = Duration::from_secs(args.session_lifetime);
    config.trash_retention =
        (args.trash_retention > 0).then(|| Duration::from_secs(args.trash_retention));
    config.token_ttl = Duration::from_secs(args.token_ttl);
    config.commit_wait = Duration::from_millis(args.commit_wait_ms);
    config.verify_only = args.verify_only;
    config.quota = args.quota;
    config.max_open_sessions = (args.max_open_sessions > 0).then_some(args.max_open_sessions);
    config.header_timeout = Duration::from_secs_f64(args.header_timeout);
    config.idle_timeout = Duration::from_secs_f64(args.idle_timeout);
    config.json_body_timeout = Duration::from_secs_f64(args.json_body_timeout);
    if args.max_connections == Some(0) {
        return Err(Failure::new(
            exit::USAGE,
            "--max-connections must be at least 1",
        ));
    }
    config.max_connections = args.max_connections;
    Ok(())
}

/// The certificate and key of `--tls-cert` and `--tls-key`, or those
/// `--tls-self-signed` makes in `data`, when asked for; a warning for a
/// certificate that rustls clients would refuse.
fn tls_of(args: &ServeArgs, data: &std::path::Path) -> Result<Option<ServerTls>, Failure> {
    if args.tls_self_signed {
        let (tls, ca) = ServerTls::self_signed_in(&data.join("tls"))
            .map_err(|e| Failure::new(exit::FAILED, e.to_string()))?;
        eprintln!(
            "TLS: clients trust this server with --ca-cert {} (or SSL_CERT_FILE)",
            crate::connect::shell_quote(&ca.display().to_string())
        );
        return Ok(Some(tls));
    }
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let read = |p: &std::path::Path, what: &str| {
        std::fs::read(p).map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!("cannot read the TLS {what} {}: {e}", p.display()),
            )
        })
    };
    let tls = ServerTls {
        cert_chain_pem: read(cert, "certificate")?,
        key_pem: read(key, "key")?,
    };
    if let Some(why) = tls.refusal() {
        eprintln!(
            "warning: clients will refuse the certificate {}: {why}; `box-chunked serve --tls-self-signed` makes a certificate authority and a server certificate that work",
            cert.display()
        );
    }
    Ok(Some(tls))
}

/// The users: tokens (from the flags and the tokens file), OAuth clients
/// with their redirect URIs, and Box apps.
fn users_of(args: &ServeArgs, config: &mut ServerConfig) -> Result<(), Failure> {
    let usage = |m: String| Failure::new(exit::USAGE, m);
    let mut tokens = args.tokens.clone();
    if let Some(f) = &args.tokens_file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| usage(format!("cannot read the tokens file {}: {e}", f.display())))?;
        tokens.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    for t in &tokens {
        if t.is_empty() || t.starts_with('=') {
            return Err(usage("--token needs a token: TOKEN or TOKEN=USER".into()));
        }
        config.tokens.push(ServerConfig::parse_token(t));
    }
    for c in &args.clients {
        let parsed = c
            .split_once(':')
            .and_then(|(id, rest)| {
                rest.split_once('=')
                    .map(|(secret, user)| (id, secret, user))
            })
            .filter(|(id, secret, user)| !id.is_empty() && !secret.is_empty() && !user.is_empty());
        let Some((id, secret, user)) = parsed else {
            return Err(usage("--client must be ID:SECRET=USER".into()));
        };
        let client = (id.to_owned(), secret.to_owned(), user.to_owned());
        config.clients.push(client);
    }
    for r in &args.redirect_uris {
        let Some((id, uri)) = r.split_once('=').filter(|(id, uri)| {
            !id.is_empty() && (uri.starts_with("http://") || uri.starts_with("https://"))
        }) else {
            return Err(usage(format!(
                "--redirect-uri must be CLIENT_ID=URI with an http:// or https:// URI, not {r:?}"
            )));
        };
        if !config.clients.iter().any(|(c, _, _)| c == id) {
            return Err(usage(format!(
                "--redirect-uri names client {id:?}, which no --client gives"
            )));
        }
        config.redirect_uris.push((id.to_owned(), uri.to_owned()));
    }
    for path in &args.apps {
        let text = std::fs::read_to_string(path).map_err(|e| {
            usage(format!(
                "cannot read the Box app config file {}: {e}",
                path.display()
            ))
        })?;
        let app = box_chunked_server::ServerApp::from_config_json(&text)
            .map_err(|e| usage(format!("--app {}: {e}", path.display())))?;
        config.apps.push(app);
    }
    Ok(())
}

/// Whether another server holds the data directory.
pub(crate) fn is_locked(e: &box_chunked_server::ServerError) -> bool {
    matches!(
        e,
        box_chunked_server::ServerError::Store(box_chunked_server::StoreError::Locked { .. })
    )
}

pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
