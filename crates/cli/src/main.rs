//! `trent`: the one binary. `trent serve` runs the AWS-KMS-compatible server.

#![forbid(unsafe_code)]

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
    /// Benchmark baseline: a bare hyper server on the same stack.
    #[command(hide = true)]
    HelloServer {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: std::net::SocketAddr,
    },
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
        Command::HelloServer { listen } => {
            runtime.block_on(trent_server::serve_hello(listen))?;
        }
    }
    Ok(())
}
