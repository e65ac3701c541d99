//! Writing a message: header, framed body, footer.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::context::{EncryptionContext, PUBLIC_KEY_FIELD, RESERVED_PREFIX};
use crate::header::{Header, IV_LEN, TAG_LEN};
use crate::keys::{self, frame_iv, DataKey, FrameKey, Part};
use crate::sign::Signer;
use crate::{CommitmentPolicy, EncryptedDataKey, Error, Suite, DEFAULT_FRAME_LENGTH};

/// What to write.
#[derive(Clone, Debug)]
pub struct EncryptConfig {
    /// The algorithm suite.
    pub suite: Suite,
    /// The commitment policy the suite must satisfy.
    pub policy: CommitmentPolicy,
    /// The plaintext length of each frame.
    pub frame_length: u32,
    /// The encryption context.
    pub encryption_context: EncryptionContext,
    /// Keys of the context that are authenticated but not stored in the
    /// message: whoever decrypts must supply their pairs.
    pub required_context_keys: Vec<String>,
}

impl Default for EncryptConfig {
    fn default() -> Self {
        EncryptConfig {
            suite: CommitmentPolicy::default().default_suite(),
            policy: CommitmentPolicy::default(),
            frame_length: DEFAULT_FRAME_LENGTH,
            encryption_context: EncryptionContext::new(),
            required_context_keys: Vec::new(),
        }
    }
}

enum State {
    /// Waiting for the data key and its wrapped copies.
    Materials {
        data_key: Option<DataKey>,
        edks: Vec<EncryptedDataKey>,
    },
    /// Writing frames.
    Body {
        key: FrameKey,
    },
    Done,
}

/// A message being written. Sans-IO: plaintext in, message bytes appended to
/// the caller's buffer; memory is one frame of plaintext at most.
///
/// Use: [`Encryptor::new`], give the data key ([`Encryptor::set_data_key`],
/// typically [`DataKey::generate`] or a KMS GenerateDataKey under
/// [`Encryptor::encryption_context`]) and every wrapped copy of it
/// ([`Encryptor::add_encrypted_data_key`]), then [`Encryptor::update`] and
/// [`Encryptor::finish`].
pub struct Encryptor {
    suite: Suite,
    frame_length: u32,
    context: EncryptionContext,
    required_keys: Vec<String>,
    message_id: Vec<u8>,
    signer: Option<Signer>,
    state: State,
    /// Plaintext short of a frame.
    pending: Vec<u8>,
    /// The sequence number of the next frame.
    seq: u32,
}

impl std::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryptor")
            .field("suite", &self.suite)
            .field("frame_length", &self.frame_length)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Encryptor {
    /// Check the configuration, make the message ID and, for a signing
    /// suite, the signing key (whose public half joins the encryption
    /// context).
    pub fn new(cfg: EncryptConfig) -> Result<Encryptor, Error> {
        if !cfg.policy.allows_encrypt(cfg.suite) {
            return Err(Error::Policy {
                suite: cfg.suite,
                policy: cfg.policy,
            });
        }
        if cfg.frame_length == 0 {
            return Err(Error::Misuse("the frame length must be at least 1 byte"));
        }
        if let Some((k, _)) = cfg
            .encryption_context
            .iter()
            .find(|(k, _)| k.starts_with(RESERVED_PREFIX))
        {
            return Err(Error::ReservedContextKey(k.to_owned()));
        }
        if let Some(k) = cfg
            .required_context_keys
            .iter()
            .find(|k| cfg.encryption_context.get(k).is_none())
        {
            return Err(Error::ContextMismatch(k.clone()));
        }
        let mut context = cfg.encryption_context;
        let signer = match cfg.suite.signature() {
            Some(sig) => {
                let (signer, public) = Signer::generate(sig)?;
                context.insert(PUBLIC_KEY_FIELD, public);
                Some(signer)
            }
            None => None,
        };
        let mut message_id = vec![0u8; cfg.suite.message_id_len()];
        SystemRandom::new()
            .fill(&mut message_id)
            .map_err(|_| Error::Crypto("random message ID"))?;
        Ok(Encryptor {
            suite: cfg.suite,
            frame_length: cfg.frame_length,
            context,
            required_keys: cfg.required_context_keys,
            message_id,
            signer,
            state: State::Materials {
                data_key: None,
                edks: Vec::new(),
            },
            pending: Vec::new(),
            seq: 1,
        })
    }

    /// The suite being written.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The full encryption context (with the verification key of a signing
    /// suite): what keyrings bind the wrapped data keys to.
    pub fn encryption_context(&self) -> &EncryptionContext {
        &self.context
    }

    /// Set the plaintext data key (of the suite's length).
    pub fn set_data_key(&mut self, key: DataKey) -> Result<(), Error> {
        if key.expose().len() != self.suite.key_len() {
            return Err(Error::DataKeyLength);
        }
        match &mut self.state {
            State::Materials { data_key, .. } => {
                *data_key = Some(key);
                Ok(())
            }
            _ => Err(Error::Misuse(
                "the data key is set before the body is written",
            )),
        }
    }

    /// The data key set, for further keyrings to wrap.
    pub fn data_key(&self) -> Option<&DataKey> {
        match &self.state {
            State::Materials { data_key, .. } => data_key.as_ref(),
            _ => None,
        }
    }

    /// Add a wrapped copy of the data key.
    pub fn add_encrypted_data_key(&mut self, edk: EncryptedDataKey) -> Result<(), Error> {
        match &mut self.state {
            State::Materials { edks, .. } => {
                edks.push(edk);
                Ok(())
            }
            _ => Err(Error::Misuse(
                "encrypted data keys are added before the body is written",
            )),
        }
    }

    /// Write the header once the materials are complete.
    fn start(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        let State::Materials { data_key, edks } = &mut self.state else {
            return Ok(());
        };
        let data_key = data_key
            .take()
            .ok_or(Error::Misuse("no data key was set"))?;
        if edks.is_empty() {
            return Err(Error::Misuse("no encrypted data key was added"));
        }
        let (key, commitment) = keys::derive(self.suite, &data_key, &self.message_id)?;
        drop(data_key);
        let mut stored = self.context.clone();
        for k in &self.required_keys {
            stored.remove(k);
        }
        let body = Header::write_body(
            self.suite,
            &self.message_id,
            &stored,
            edks,
            self.frame_length,
            commitment.as_ref(),
        )?;
        let mut aad = body.clone();
        aad.extend_from_slice(&self.context.only(&self.required_keys).serialize()?);
        let tag = key.header_tag([0; IV_LEN], &aad)?;
        let start = out.len();
        out.extend_from_slice(&body);
        if self.suite.version() == 1 {
            out.extend_from_slice(&[0; IV_LEN]);
        }
        out.extend_from_slice(&tag);
        if let Some(s) = &mut self.signer {
            s.update(&out[start..]);
        }
        self.state = State::Body { key };
        Ok(())
    }

    /// Encrypt more plaintext; every full frame is appended to `out`.
    pub fn update(&mut self, mut plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.start(out)?;
        let frame = self.frame_length as usize;
        if !self.pending.is_empty() {
            let take = (frame - self.pending.len()).min(plaintext.len());
            self.pending.extend_from_slice(&plaintext[..take]);
            plaintext = &plaintext[take..];
            if self.pending.len() < frame {
                return Ok(());
            }
            let pending = std::mem::take(&mut self.pending);
            self.seal_frame(Part::Frame, &pending, out)?;
            self.pending = pending;
            self.pending.clear();
        }
        while plaintext.len() >= frame {
            self.seal_frame(Part::Frame, &plaintext[..frame], out)?;
            plaintext = &plaintext[frame..];
        }
        if self.pending.capacity() == 0 && !plaintext.is_empty() {
            self.pending.reserve_exact(frame);
        }
        self.pending.extend_from_slice(plaintext);
        Ok(())
    }

    /// Write the final frame (what is left, possibly nothing) and the
    /// footer. A plaintext that ends on a frame boundary gets an empty final
    /// frame, which every reader of the format accepts.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.start(out)?;
        let pending = std::mem::take(&mut self.pending);
        self.seal_frame(Part::FinalFrame, &pending, out)?;
        if let Some(signer) = self.signer.take() {
            out.extend_from_slice(&signer.footer()?);
        }
        self.state = State::Done;
        Ok(())
    }

    fn seal_frame(&mut self, part: Part, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let State::Body { key } = &self.state else {
            return Err(Error::Misuse("the message is already finished"));
        };
        let seq = self.seq;
        if part == Part::Frame && seq == u32::MAX {
            // The final frame would need sequence number 2^32.
            return Err(Error::PlaintextTooLong);
        }
        let start = out.len();
        if part == Part::FinalFrame {
            out.extend_from_slice(&u32::MAX.to_be_bytes());
        }
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&frame_iv(seq));
        if part == Part::FinalFrame {
            out.extend_from_slice(&(plaintext.len() as u32).to_be_bytes());
        }
        let ct = out.len();
        out.resize(ct + plaintext.len(), 0);
        let tag = key.seal(part, seq, plaintext, &mut out[ct..])?;
        out.extend_from_slice(&tag);
        debug_assert_eq!(tag.len(), TAG_LEN);
        if let Some(s) = &mut self.signer {
            s.update(&out[start..]);
        }
        self.seq = seq.wrapping_add(1);
        Ok(())
    }
}
