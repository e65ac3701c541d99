//! `trent`: the one binary. `trent serve` runs the AWS-KMS-compatible server;
//! `trent encrypt` / `trent decrypt` do client-side envelope encryption;
//! `trent audit` verifies and searches the audit trail.

#![forbid(unsafe_code)]

mod envelope;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Trent: a self-hosted key management service that speaks the AWS KMS API.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (development mode without --config).
    Serve {
        /// TOML configuration file (see docs/configuration.md).
        #[arg(long, env = "TRENT_CONFIG")]
        config: Option<PathBuf>,
        /// Listen address.
        #[arg(long)]
        listen: Option<String>,
        /// Data directory (embedded store, development root key).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The account of development-mode callers.
        #[arg(long)]
        account_id: Option<String>,
        /// Allow a non-loopback listen address without TLS (configured mode
        /// only: development mode is always loopback only).
        #[arg(long)]
        allow_insecure_listen: bool,
        /// HTTPS certificate chain (PEM); overrides tls_cert_file.
        #[arg(long)]
        tls_cert_file: Option<PathBuf>,
        /// HTTPS private key (PEM); overrides tls_key_file.
        #[arg(long)]
        tls_key_file: Option<PathBuf>,
        /// Require client certificates signed by these CAs (PEM).
        #[arg(long)]
        tls_client_ca_file: Option<PathBuf>,
        /// HTTPS with a development CA and localhost certificate, generated
        /// into DATA_DIR/tls on first start; prints the AWS_CA_BUNDLE line.
        #[arg(long)]
        dev_tls: bool,
        /// Tests only: expose an endpoint that moves the service clock.
        #[arg(long, hide = true)]
        unsafe_test_clock: bool,
    },
    /// Encrypt a file, stream or directory client-side, in the AWS
    /// Encryption SDK message format (readable by AWS's own tools).
    Encrypt(envelope::EncryptArgs),
    /// Decrypt what `trent encrypt` or the AWS Encryption SDK wrote.
    Decrypt(envelope::DecryptArgs),
    /// The audit trail: verify it offline, search it, export the public key
    /// that signs its digests.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Benchmark tool: create many keys offline (server not running).
    #[command(hide = true)]
    SeedKeys {
        /// TOML configuration file (for the root key source).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// How many keys.
        #[arg(long)]
        count: usize,
        /// Region of the keys.
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// Account of the keys.
        #[arg(long, default_value = "111122223333")]
        account_id: String,
        /// Where to write the key ids.
        #[arg(long)]
        out: PathBuf,
    },
    /// Benchmark baseline: the raw speed of the key primitives on every
    /// core (tab-separated name and operations per second).
    #[command(hide = true)]
    PrimitiveSpeed {
        /// Seconds per primitive.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Benchmark: Encrypt and Decrypt through the service (no HTTP) with an
    /// ordinary key, an imported-material key and a multi-Region replica,
    /// in alternating slices (tab-separated name and requests per second).
    #[command(hide = true)]
    KeySpeed {
        /// Seconds per kind and operation.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Milliseconds per slice.
        #[arg(long, default_value_t = 100)]
        slice_ms: u64,
    },
    /// Benchmark baseline: a bare hyper server on the same stack.
    #[command(hide = true)]
    HelloServer {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: std::net::SocketAddr,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check a trail directory (the audit directory, or one node's) without
    /// the server: record chains, digests, signatures. Exit status 0 only
    /// when everything is intact.
    Verify {
        /// The audit directory (default location: DATA_DIR/audit).
        dir: PathBuf,
        /// The signing key's public half (PEM, from `trent audit
        /// public-key`), kept apart from the trail: without it, signatures
        /// are checked against the key each digest names.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// Print the audit signing key's public half (PEM). Reads the store with
    /// the root key, as `trent serve` would.
    PublicKey {
        /// TOML configuration file (root key source, data directory).
        #[arg(long, env = "TRENT_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Search the trail, newest first; prints one CloudTrail event per line.
    Search {
        /// The audit directory (default: from --config / --data-dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// TOML configuration file (for the audit directory).
        #[arg(long, env = "TRENT_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory (for the audit directory).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Events at or after this time (RFC 3339, or seconds since 1970).
        #[arg(long)]
        start: Option<String>,
        /// Events at or before this time.
        #[arg(long)]
        end: Option<String>,
        /// Events about this key (its ARN).
        #[arg(long)]
        key: Option<String>,
        /// Events by this caller (its ARN).
        #[arg(long)]
        principal: Option<String>,
        /// Events of this operation (`Encrypt`, `AssumeRole`, ...).
        #[arg(long)]
        event_name: Option<String>,
        /// Only successful or only failed requests.
        #[arg(long, value_parser = ["success", "failure"])]
        outcome: Option<String>,
        /// At most this many events.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
}

/// A time argument: RFC 3339 or seconds since 1970, as milliseconds.
fn time_arg(s: &str) -> anyhow::Result<i64> {
    if let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let secs: f64 = s
        .parse()
        .with_context(|| format!("{s:?} is not an RFC 3339 time or seconds since 1970"))?;
    Ok((secs * 1000.0) as i64)
}

fn audit(command: AuditCommand, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    use std::io::Write;
    match command {
        AuditCommand::Verify { dir, public_key } => {
            let key = match public_key {
                Some(path) => {
                    let pem = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    Some(
                        trent_audit::digest::public_key_from_pem(&pem).with_context(|| {
                            format!("{} holds no PUBLIC KEY block", path.display())
                        })?,
                    )
                }
                None => None,
            };
            let report = trent_audit::verify::verify_dir(&dir, key.as_deref())
                .with_context(|| format!("reading {}", dir.display()))?;
            print!("{report}");
            if !report.ok() {
                std::process::exit(1);
            }
        }
        AuditCommand::PublicKey { config, data_dir } => {
            let cfg = trent_server::ServeConfig::load(&trent_server::Overrides {
                config,
                data_dir,
                ..Default::default()
            })?;
            let der = runtime.block_on(trent_server::audit_public_key(&cfg))?;
            print!("{}", trent_audit::digest::public_key_pem(&der));
        }
        AuditCommand::Search {
            dir,
            config,
            data_dir,
            start,
            end,
            key,
            principal,
            event_name,
            outcome,
            limit,
        } => {
            let dir = match dir {
                Some(d) => d,
                None => {
                    let cfg = trent_server::ServeConfig::load(&trent_server::Overrides {
                        config,
                        data_dir,
                        ..Default::default()
                    })?;
                    cfg.audit
                        .map(|a| a.dir)
                        .context("the audit trail is off in this configuration; give --dir")?
                }
            };
            use trent_audit::search::{Attribute, Query};
            if key.is_some() && event_name.is_some() {
                anyhow::bail!(
                    "give --key or --event-name, not both (the index looks up one attribute)"
                );
            }
            let attribute = key
                .map(Attribute::ResourceName)
                .or(event_name.map(Attribute::EventName));
            let mut q = Query {
                start_ms: start.as_deref().map(time_arg).transpose()?,
                end_ms: end.as_deref().map(time_arg).transpose()?,
                scope: None,
                attribute,
                principal,
                failed: outcome.map(|o| o == "failure"),
                limit: limit.min(10_000),
                after: None,
            };
            let mut out = std::io::stdout().lock();
            let mut left = limit;
            while left > 0 {
                q.limit = left.min(10_000);
                let page = trent_audit::search::search(&dir, &q)
                    .with_context(|| format!("reading {}", dir.display()))?;
                for f in &page.found {
                    writeln!(out, "{}", f.record)?;
                }
                left -= page.found.len();
                match page.next {
                    Some(c) if left > 0 => q.after = Some(c),
                    _ => break,
                }
            }
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRENT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Serve {
            config,
            listen,
            data_dir,
            account_id,
            allow_insecure_listen,
            tls_cert_file,
            tls_key_file,
            tls_client_ca_file,
            dev_tls,
            unsafe_test_clock,
        } => {
            let overrides = trent_server::Overrides {
                config,
                listen,
                data_dir,
                account_id,
                allow_insecure_listen,
                tls_cert_file,
                tls_key_file,
                tls_client_ca_file,
                dev_tls,
                unsafe_test_clock,
            };
            let cfg = trent_server::ServeConfig::load(&overrides)?;
            runtime.block_on(trent_server::serve(cfg))?;
        }
        Command::SeedKeys {
            config,
            data_dir,
            count,
            region,
            account_id,
            out,
        } => {
            let overrides = trent_server::Overrides {
                config,
                data_dir: Some(data_dir),
                ..Default::default()
            };
            let cfg = trent_server::ServeConfig::load(&overrides)?;
            runtime.block_on(trent_server::seed_keys(
                &cfg,
                count,
                &region,
                &account_id,
                &out,
            ))?;
        }
        Command::Audit { command } => audit(command, &runtime)?,
        Command::Encrypt(args) => envelope::encrypt(args, &runtime)?,
        Command::Decrypt(args) => envelope::decrypt(args, &runtime)?,
        Command::PrimitiveSpeed { seconds, threads } => {
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let rates = trent_server::speed::primitive_speed(seconds, threads)
                .map_err(|e| anyhow::anyhow!("primitive failed: {e}"))?;
            for (name, rate) in rates {
                println!("{name}\t{rate:.0}");
            }
        }
        Command::KeySpeed { seconds, slice_ms } => {
            let rates = runtime
                .block_on(trent_server::speed::key_speed(
                    seconds,
                    std::time::Duration::from_millis(slice_ms),
                ))
                .map_err(|e| anyhow::anyhow!("key speed: {e}"))?;
            for (name, rate) in rates {
                println!("{name}\t{rate:.0}");
            }
        }
        Command::HelloServer { listen } => {
            runtime.block_on(trent_server::serve_hello(listen))?;
        }
    }
    Ok(())
}
