//! `trent encrypt` and `trent decrypt`: client-side envelope encryption of
//! files, directories and streams in the AWS Encryption SDK message format.
//! The data never reaches the server; only data keys are wrapped by it (or
//! by a raw key from a file, offline).

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use trent_envelope::kms::DiscoveryFilter;
use trent_envelope::raw::{unwrap_any, Keyring, RawAesKeyring, RawRsaKeyring, RsaPadding};
use trent_envelope::stream::{self, StreamError};
use trent_envelope::{
    CommitmentPolicy, DataKey, DecryptConfig, DecryptRequest, Decryptor, EncryptConfig,
    EncryptionContext, Encryptor, Suite, DEFAULT_FRAME_LENGTH,
};
use trent_kms_keyring::{Kms, KmsError, Settings};

/// The wrapping keys.
#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// An AWS KMS key: key ID, key ARN, alias name or alias ARN (repeat for
    /// several; the first generates the data key, each wraps it). To
    /// decrypt, key ARNs (a multi-Region key's replica in another Region
    /// matches).
    #[arg(long = "key-id", value_name = "KEY")]
    key_ids: Vec<String>,
    /// A raw AES wrapping key file, for offline use: 16, 24 or 32 bytes, or
    /// their base64.
    #[arg(long, value_name = "FILE")]
    raw_aes_key: Option<PathBuf>,
    /// A raw RSA key file (PEM or DER): a PKCS #8 private key (encrypts and
    /// decrypts) or a public key (encrypts only).
    #[arg(long, value_name = "FILE")]
    raw_rsa_key: Option<PathBuf>,
    /// The key namespace (provider ID) of the raw keys.
    #[arg(long, default_value = "trent-raw", value_name = "NAMESPACE")]
    raw_key_namespace: String,
    /// The key name of the raw keys (default: the key file's name).
    #[arg(long, value_name = "NAME")]
    raw_key_name: Option<String>,
    /// The RSA padding of --raw-rsa-key.
    #[arg(long, default_value = "oaep-sha256", value_parser = ["pkcs1", "oaep-sha1", "oaep-sha256", "oaep-sha384", "oaep-sha512"])]
    rsa_padding: String,
}

/// Where AWS KMS is and who calls it (else the standard environment and
/// shared files).
#[derive(Debug, clap::Args)]
pub struct AwsArgs {
    /// The KMS endpoint (else AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL, the
    /// profile's, or AWS's).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// The Region for key identifiers that are not ARNs.
    #[arg(long)]
    region: Option<String>,
    /// The shared-config profile.
    #[arg(long)]
    profile: Option<String>,
}

/// Input and output.
#[derive(Debug, clap::Args)]
pub struct IoArgs {
    /// The input file, directory (with --recursive), or - for stdin.
    #[arg(short = 'i', long, default_value = "-")]
    input: PathBuf,
    /// The output file, directory, or - for stdout.
    #[arg(short = 'o', long, default_value = "-")]
    output: PathBuf,
    /// Process the input directory's tree into the output directory.
    #[arg(short = 'r', long)]
    recursive: bool,
    /// Suffix of output files named after input files (default .encrypted
    /// or .decrypted).
    #[arg(long)]
    suffix: Option<String>,
    /// No progress bar.
    #[arg(short = 'q', long)]
    quiet: bool,
}

/// `trent encrypt`.
#[derive(Debug, clap::Args)]
pub struct EncryptArgs {
    #[command(flatten)]
    keys: KeyArgs,
    /// An encryption context pair, key=value (repeat for several).
    #[arg(short = 'c', long = "encryption-context", value_name = "KEY=VALUE", value_parser = pair)]
    context: Vec<(String, String)>,
    /// The algorithm suite by its official name (default
    /// AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384).
    #[arg(long)]
    algorithm: Option<String>,
    /// The plaintext bytes per frame.
    #[arg(long, default_value_t = DEFAULT_FRAME_LENGTH)]
    frame_length: u32,
    /// forbid-encrypt-allow-decrypt, require-encrypt-allow-decrypt or
    /// require-encrypt-require-decrypt (the default).
    #[arg(long, value_parser = policy)]
    commitment_policy: Option<CommitmentPolicy>,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    io: IoArgs,
}

/// `trent decrypt`.
#[derive(Debug, clap::Args)]
pub struct DecryptArgs {
    #[command(flatten)]
    keys: KeyArgs,
    /// Decrypt with whichever AWS KMS key wrapped the data key (instead of
    /// --key-id), limited by --discovery-account.
    #[arg(long, conflicts_with = "key_ids")]
    discovery: bool,
    /// Accounts whose keys discovery may use (repeat for several).
    #[arg(long, value_name = "ACCOUNT", requires = "discovery")]
    discovery_account: Vec<String>,
    /// The partition of --discovery-account.
    #[arg(long, default_value = "aws", requires = "discovery_account")]
    discovery_partition: String,
    /// Pairs the message must have been encrypted with, key=value (repeat).
    #[arg(short = 'c', long = "encryption-context", value_name = "KEY=VALUE", value_parser = pair)]
    context: Vec<(String, String)>,
    /// Refuse signed messages, right after their header (for a consumer of
    /// stdout that must not see plaintext before the whole message is
    /// verified: an unsigned message's frames are each authenticated).
    #[arg(long)]
    decrypt_unsigned: bool,
    /// Refuse messages whose frames (or non-framed body) are longer than
    /// this many bytes: a frame is held whole in memory.
    #[arg(long, value_name = "BYTES")]
    max_frame_length: Option<u64>,
    /// Refuse messages with more wrapped data keys than this.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    max_encrypted_data_keys: Option<u16>,
    /// forbid-encrypt-allow-decrypt, require-encrypt-allow-decrypt or
    /// require-encrypt-require-decrypt (the default: only committing
    /// messages are read).
    #[arg(long, value_parser = policy)]
    commitment_policy: Option<CommitmentPolicy>,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    io: IoArgs,
}

fn pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

fn policy(s: &str) -> Result<CommitmentPolicy, String> {
    CommitmentPolicy::from_name(s).ok_or_else(|| format!("{s:?} is not a commitment policy"))
}

/// The raw keyrings the arguments name.
fn raw_keyrings(k: &KeyArgs) -> anyhow::Result<Vec<Box<dyn Keyring>>> {
    let name_of = |p: &Path| -> String {
        k.raw_key_name.clone().unwrap_or_else(|| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
    };
    let mut rings: Vec<Box<dyn Keyring>> = Vec::new();
    if let Some(p) = &k.raw_aes_key {
        let bytes = zeroize::Zeroizing::new(
            std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        );
        // Base64 text first (a 24-byte file may be the base64 of a 16-byte
        // key), else raw bytes.
        use base64::Engine;
        let decoded = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|t| {
                base64::engine::general_purpose::STANDARD
                    .decode(t.trim())
                    .ok()
            })
            .map(zeroize::Zeroizing::new)
            .filter(|k| matches!(k.len(), 16 | 24 | 32));
        let key = match decoded {
            Some(k) => k,
            None if matches!(bytes.len(), 16 | 24 | 32) => bytes,
            None => bail!(
                "{}: neither 16, 24 or 32 bytes nor their base64",
                p.display()
            ),
        };
        rings.push(Box::new(
            RawAesKeyring::new(&k.raw_key_namespace, &name_of(p), &key)
                .with_context(|| p.display().to_string())?,
        ));
    }
    if let Some(p) = &k.raw_rsa_key {
        let pem = zeroize::Zeroizing::new(
            std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        );
        let padding = match k.rsa_padding.as_str() {
            "pkcs1" => RsaPadding::Pkcs1,
            "oaep-sha1" => RsaPadding::OaepSha1,
            "oaep-sha384" => RsaPadding::OaepSha384,
            "oaep-sha512" => RsaPadding::OaepSha512,
            _ => RsaPadding::OaepSha256,
        };
        rings.push(Box::new(
            RawRsaKeyring::new(&k.raw_key_namespace, &name_of(p), padding, &pem)
                .with_context(|| p.display().to_string())?,
        ));
    }
    Ok(rings)
}

fn kms(aws: &AwsArgs, rt: &tokio::runtime::Runtime) -> anyhow::Result<Kms> {
    let settings = Settings {
        endpoint_url: aws.endpoint_url.clone(),
        region: aws.region.clone(),
        profile: aws.profile.clone(),
    };
    Ok(rt.block_on(Kms::load(&settings))?)
}

/// One input and where its result goes.
struct Job {
    input: Option<PathBuf>,
    output: Option<PathBuf>,
}

/// The jobs of a run: one stream, one file, or a directory tree.
fn jobs(io: &IoArgs, default_suffix: &str) -> anyhow::Result<Vec<Job>> {
    let suffix = io.suffix.as_deref().unwrap_or(default_suffix);
    let dash = |p: &Path| p == Path::new("-");
    if io.recursive {
        if dash(&io.input) || !io.input.is_dir() {
            bail!("--recursive needs an input directory");
        }
        if dash(&io.output) {
            bail!("--recursive needs an output directory");
        }
        let mut files = Vec::new();
        walk(&io.input, &mut files)?;
        files.sort();
        return Ok(files
            .into_iter()
            .map(|f| {
                let rel = f.strip_prefix(&io.input).unwrap_or(&f).to_path_buf();
                let mut name = io.output.join(rel).into_os_string();
                name.push(suffix);
                Job {
                    input: Some(f),
                    output: Some(PathBuf::from(name)),
                }
            })
            .collect());
    }
    if !dash(&io.input) && io.input.is_dir() {
        bail!("{} is a directory: use --recursive", io.input.display());
    }
    let input = (!dash(&io.input)).then(|| io.input.clone());
    let output = if dash(&io.output) {
        None
    } else if io.output.is_dir() {
        let name = input
            .as_ref()
            .and_then(|p| p.file_name())
            .ok_or_else(|| anyhow!("reading stdin, the output must be a file"))?;
        let mut name = name.to_os_string();
        name.push(suffix);
        Some(io.output.join(name))
    } else {
        Some(io.output.clone())
    };
    Ok(vec![Job { input, output }])
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let t = entry.file_type()?;
        if t.is_dir() {
            walk(&entry.path(), out)?;
        } else if t.is_file() {
            out.push(entry.path());
        } else {
            eprintln!(
                "trent: skipping {} (not a regular file)",
                entry.path().display()
            );
        }
    }
    Ok(())
}

/// A file output is written beside its final name and renamed into place
/// only when complete: a failure leaves nothing behind.
enum Sink {
    Stdout(io::BufWriter<io::Stdout>),
    File {
        tmp: TempPath,
        target: PathBuf,
        file: io::BufWriter<File>,
    },
}

/// The partial output's path, removed when dropped unless committed: an
/// error anywhere (including a panic) leaves no partial file.
struct TempPath(Option<PathBuf>);

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Sink {
    /// `private`: the file is created readable by its owner only (decrypted
    /// plaintext).
    fn open(output: Option<&Path>, private: bool) -> anyhow::Result<Sink> {
        use std::hash::{BuildHasher, RandomState};
        use std::os::unix::fs::OpenOptionsExt;
        let Some(target) = output else {
            return Ok(Sink::Stdout(io::BufWriter::with_capacity(
                1 << 20,
                io::stdout(),
            )));
        };
        let dir = target
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let name = target
            .file_name()
            .ok_or_else(|| anyhow!("{} is not a file name", target.display()))?;
        // A new file (never through an existing name or symlink) with a
        // random name, so concurrent runs and other users cannot collide.
        let random = RandomState::new().hash_one(std::process::id());
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".trent-partial-{random:016x}"));
        let tmp = dir.join(tmp_name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if private { 0o600 } else { 0o666 })
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        Ok(Sink::File {
            tmp: TempPath(Some(tmp)),
            target: target.to_path_buf(),
            file: io::BufWriter::with_capacity(1 << 20, file),
        })
    }

    fn commit(self) -> anyhow::Result<()> {
        match self {
            Sink::Stdout(mut s) => Ok(s.flush()?),
            Sink::File {
                mut tmp,
                target,
                file,
            } => {
                // Like cp, gpg or the official CLI, no fsync: the file is
                // complete when renamed, and the page cache writes it out.
                file.into_inner().map_err(|e| e.into_error())?;
                let path = tmp.0.as_ref().ok_or_else(|| anyhow!("committed twice"))?;
                std::fs::rename(path, &target)
                    .with_context(|| format!("writing {}", target.display()))?;
                tmp.0 = None;
                Ok(())
            }
        }
    }

    /// After a failure: a file output is removed (by its `TempPath`); what
    /// went to stdout (whole authenticated frames) stays there, and the exit
    /// status says it is incomplete.
    fn discard(self) {
        if let Sink::Stdout(mut s) = self {
            let _ = s.flush();
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Stdout(s) => s.write(buf),
            Sink::File { file, .. } => file.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Stdout(s) => s.flush(),
            // The file is flushed by `commit`, once complete.
            Sink::File { .. } => Ok(()),
        }
    }
}

fn open_input(input: Option<&Path>) -> anyhow::Result<(Box<dyn Read + Send>, Option<u64>)> {
    match input {
        None => Ok((Box::new(io::stdin()), None)),
        Some(p) => {
            let f = File::open(p).with_context(|| format!("opening {}", p.display()))?;
            let len = f.metadata().ok().map(|m| m.len());
            Ok((Box::new(f), len))
        }
    }
}

fn progress_bar(quiet: bool, len: Option<u64>) -> ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (pb, template) = match len {
        Some(n) => (
            ProgressBar::new(n),
            "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{spinner} {bytes} {binary_bytes_per_sec}",
        ),
    };
    pb.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// Run one job: open the input and output, stream, and keep the output
/// only if all went well.
fn run_job(
    job: &Job,
    quiet: bool,
    private: bool,
    f: impl FnOnce(Box<dyn Read + Send>, &mut Sink, &dyn Fn(u64)) -> Result<(), StreamError>,
) -> anyhow::Result<()> {
    let name = job
        .input
        .as_deref()
        .map_or("stdin".into(), |p| p.display().to_string());
    let (input, len) = open_input(job.input.as_deref())?;
    let mut sink = Sink::open(job.output.as_deref(), private)?;
    let pb = progress_bar(quiet, len);
    let r = f(input, &mut sink, &|n| pb.set_position(n));
    pb.finish_and_clear();
    match r {
        Ok(()) => sink.commit(),
        Err(e) => {
            sink.discard();
            Err(anyhow!("{name}: {e}"))
        }
    }
}

/// `trent encrypt`.
pub fn encrypt(args: EncryptArgs, rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let raw = raw_keyrings(&args.keys)?;
    if raw.is_empty() && args.keys.key_ids.is_empty() {
        bail!("name at least one wrapping key: --key-id, --raw-aes-key or --raw-rsa-key");
    }
    let policy = args.commitment_policy.unwrap_or_default();
    let suite = match &args.algorithm {
        Some(name) => {
            Suite::from_name(name).ok_or_else(|| anyhow!("{name:?} is not an algorithm suite"))?
        }
        None => policy.default_suite(),
    };
    let context: EncryptionContext = args.context.iter().cloned().collect();
    let kms = if args.keys.key_ids.is_empty() {
        None
    } else {
        Some(kms(&args.aws, rt)?)
    };
    for job in jobs(&args.io, ".encrypted")? {
        let cfg = EncryptConfig {
            suite,
            policy,
            frame_length: args.frame_length,
            encryption_context: context.clone(),
            required_context_keys: vec![],
        };
        let mut enc = Encryptor::new(cfg)?;
        // The data key: from the first KMS key, else generated here; every
        // other key wraps a copy.
        let mut wrap_with_kms = args.keys.key_ids.as_slice();
        if let (Some(kms), Some((first, rest))) = (&kms, args.keys.key_ids.split_first()) {
            let (key, edk) = rt.block_on(kms.generate(first, suite, enc.encryption_context()))?;
            enc.set_data_key(key)?;
            enc.add_encrypted_data_key(edk)?;
            wrap_with_kms = rest;
        } else {
            enc.set_data_key(DataKey::generate(suite)?)?;
        }
        for ring in &raw {
            let key = enc.data_key().ok_or_else(|| anyhow!("no data key"))?;
            let edk = ring.wrap(suite, enc.encryption_context(), key)?;
            enc.add_encrypted_data_key(edk)?;
        }
        if let Some(kms) = &kms {
            for key_id in wrap_with_kms {
                let key = enc.data_key().ok_or_else(|| anyhow!("no data key"))?;
                let edk = rt.block_on(kms.wrap(key_id, key, enc.encryption_context()))?;
                enc.add_encrypted_data_key(edk)?;
            }
        }
        run_job(&job, args.io.quiet, false, |input, sink, progress| {
            stream::encrypt(enc, input, sink, progress).map(|_| ())
        })?;
    }
    Ok(())
}

/// `trent decrypt`.
pub fn decrypt(args: DecryptArgs, rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let raw = raw_keyrings(&args.keys)?;
    if raw.is_empty() && args.keys.key_ids.is_empty() && !args.discovery {
        bail!(
            "name the keys that may decrypt: --key-id, --discovery, --raw-aes-key or --raw-rsa-key"
        );
    }
    let kms = if args.keys.key_ids.is_empty() && !args.discovery {
        None
    } else {
        Some(kms(&args.aws, rt)?)
    };
    let filter = (!args.discovery_account.is_empty()).then(|| DiscoveryFilter {
        partition: args.discovery_partition.clone(),
        accounts: args.discovery_account.clone(),
    });
    let reproduced: EncryptionContext = args.context.iter().cloned().collect();
    let raw: Vec<&dyn Keyring> = raw.iter().map(|b| b.as_ref()).collect();
    let unwrap = |request: &DecryptRequest<'_>| -> Result<DataKey, trent_envelope::Error> {
        if let Ok(k) = unwrap_any(&raw, request) {
            return Ok(k);
        }
        // Given pairs the message does not store are part of what the
        // wrapped keys are bound to: if the message was not encrypted with
        // them, no key can unwrap; say so rather than only "no key".
        let hint = || {
            if !request.unstored_context_keys.is_empty() {
                eprintln!(
                    "trent: the message does not store the encryption context key(s) {:?} given with -c; \
                     if it was not encrypted with them, no key can decrypt it",
                    request.unstored_context_keys
                );
            }
        };
        let Some(kms) = &kms else {
            hint();
            return Err(trent_envelope::Error::NoDataKey(
                request.encrypted_data_keys.len(),
            ));
        };
        let r = if args.discovery {
            rt.block_on(kms.unwrap_discovery(filter.as_ref(), request))
        } else {
            rt.block_on(kms.unwrap_strict(&args.keys.key_ids, request))
        };
        r.map_err(|e: KmsError| {
            // Keep the service's reason (an unreachable endpoint, a denied
            // key): it is what the user needs.
            eprintln!("trent: {e}");
            hint();
            trent_envelope::Error::NoDataKey(request.encrypted_data_keys.len())
        })
    };
    for job in jobs(&args.io, ".decrypted")? {
        let dec = Decryptor::new(DecryptConfig {
            policy: args.commitment_policy.unwrap_or_default(),
            max_encrypted_data_keys: args.max_encrypted_data_keys,
            reproduced_context: reproduced.clone(),
            unsigned_only: args.decrypt_unsigned,
            max_frame_length: args.max_frame_length,
        });
        run_job(&job, args.io.quiet, true, |input, sink, progress| {
            stream::decrypt(dec, input, sink, &unwrap, progress).map(|_| ())
        })?;
    }
    Ok(())
}
