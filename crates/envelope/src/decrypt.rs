//! Reading a message: parse the header, let the caller unwrap the data key,
//! authenticate the header, then release each frame's plaintext only once
//! its tag has verified (and a signed message's last frame only once the
//! signature has).

use crate::context::{EncryptionContext, PUBLIC_KEY_FIELD};
use crate::header::{ContentType, Header, IV_LEN, TAG_LEN};
use crate::keys::{self, commitment_matches, DataKey, FrameKey, Part};
use crate::sign::Verifier;
use crate::wire::{ParseError, Reader};
use crate::{CommitmentPolicy, EncryptedDataKey, Error, Suite};

/// The largest non-framed body the format allows: 2^36 - 32 bytes.
const MAX_NON_FRAMED: u64 = (1 << 36) - 32;
const FINAL_MARK: u32 = u32::MAX;

/// How to read.
#[derive(Clone, Debug, Default)]
pub struct DecryptConfig {
    /// Which suites may be read.
    pub policy: CommitmentPolicy,
    /// Refuse a message with more wrapped data keys than this, before
    /// reading them.
    pub max_encrypted_data_keys: Option<u16>,
    /// Pairs the message must have: a pair stored in the message must have
    /// the same value; a pair not stored must be one the message
    /// authenticated without storing (its header tag fails otherwise).
    pub reproduced_context: EncryptionContext,
    /// Refuse a signed message as soon as its header is read: for a reader
    /// that must not act on a byte before the whole message is verified and
    /// cannot hold the output back (the specification's option; the
    /// official CLI's `--decrypt-unsigned`).
    pub unsigned_only: bool,
    /// Refuse frames (or a non-framed body) longer than this many bytes:
    /// what a message declares is what the reader must buffer.
    pub max_frame_length: Option<u64>,
}

/// The largest header this reader accepts. The format allows about 12 GiB
/// (65,535 wrapped keys of 192 KiB); real headers are a few kilobytes, and
/// a header is held whole before anything in it can be checked.
pub const MAX_HEADER_LENGTH: usize = 16 << 20;

/// What the caller must do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Give more of the message (or call `finish` at its end).
    NeedInput,
    /// Unwrap a data key for [`Decryptor::request`] and give it with
    /// [`Decryptor::set_data_key`].
    NeedDataKey,
    /// The whole message was read and verified.
    Done,
}

/// What a keyring needs to unwrap the data key.
#[derive(Debug)]
pub struct DecryptRequest<'a> {
    /// The message's suite (its key length).
    pub suite: Suite,
    /// The context the data keys are bound to: the stored pairs and the
    /// reproduced ones.
    pub encryption_context: &'a EncryptionContext,
    /// The wrapped data keys, in the message's order.
    pub encrypted_data_keys: &'a [EncryptedDataKey],
    /// Reproduced context keys the message does not store (it must have
    /// been encrypted with them, unstored, for any keyring to succeed).
    pub unstored_context_keys: &'a [String],
}

enum State {
    Header,
    Materials,
    Frames,
    NonFramed,
    Footer,
    Done,
    Failed(Error),
}

/// A message being read. Sans-IO: message bytes in, authenticated plaintext
/// appended to the caller's buffer. Memory is one frame (a non-framed body
/// is held whole: the format authenticates it only at its end).
pub struct Decryptor {
    cfg: DecryptConfig,
    buf: Vec<u8>,
    start: usize,
    /// Parse the header again only once this many bytes are buffered.
    need: usize,
    state: State,
    header: Option<Header>,
    context: EncryptionContext,
    required_keys: Vec<String>,
    key: Option<FrameKey>,
    verifier: Option<Verifier>,
    seq: u32,
    /// A signed message's final plaintext, until the signature verifies.
    held: Vec<u8>,
}

impl std::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Decryptor {
    /// A reader with this configuration.
    pub fn new(cfg: DecryptConfig) -> Decryptor {
        Decryptor {
            cfg,
            buf: Vec::new(),
            start: 0,
            need: 0,
            state: State::Header,
            header: None,
            context: EncryptionContext::new(),
            required_keys: Vec::new(),
            key: None,
            verifier: None,
            seq: 1,
            held: Vec::new(),
        }
    }

    /// The header, once it is authenticated.
    pub fn header(&self) -> Option<&Header> {
        match self.state {
            State::Header | State::Materials | State::Failed(_) => None,
            _ => self.header.as_ref(),
        }
    }

    /// The encryption context the message was authenticated with (stored and
    /// reproduced pairs), once the header is authenticated.
    pub fn encryption_context(&self) -> Option<&EncryptionContext> {
        self.header().map(|_| &self.context)
    }

    /// What the keyrings need, while the decryptor waits for the data key.
    pub fn request(&self) -> Option<DecryptRequest<'_>> {
        match (&self.state, &self.header) {
            (State::Materials, Some(h)) => Some(DecryptRequest {
                suite: h.suite,
                encryption_context: &self.context,
                encrypted_data_keys: &h.encrypted_data_keys,
                unstored_context_keys: &self.required_keys,
            }),
            _ => None,
        }
    }

    /// Give more of the message; authenticated plaintext is appended to
    /// `out`.
    pub fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Progress, Error> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        if matches!(self.state, State::Done) && !input.is_empty() {
            return self.fail(Error::TrailingBytes);
        }
        // Parse straight from the caller's slice when nothing is pending
        // (the common case: no copy); keep only an incomplete tail.
        let mut buf = std::mem::take(&mut self.buf);
        let pending = buf.len() - self.start;
        let r = if pending == 0 {
            buf.clear();
            self.start = 0;
            self.run(input, out).map(|(p, used)| {
                buf.extend_from_slice(&input[used..]);
                p
            })
        } else {
            if self.start > buf.len() / 2 {
                buf.drain(..self.start);
                self.start = 0;
            }
            buf.extend_from_slice(input);
            self.run(&buf[self.start..], out).map(|(p, used)| {
                self.start += used;
                p
            })
        };
        self.buf = buf;
        match r {
            Ok(p) => Ok(p),
            Err(e) => self.fail(e),
        }
    }

    /// The end of the message: fails if it is incomplete, or if the data
    /// key was never given.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        match self.update(&[], out)? {
            Progress::Done => Ok(()),
            Progress::NeedDataKey => Err(Error::Misuse("the data key was never given")),
            Progress::NeedInput => {
                let what = match self.state {
                    State::Header => "header",
                    State::Footer => "signature",
                    _ => "final frame",
                };
                self.fail::<()>(Error::Truncated(what))
            }
        }
    }

    /// Give the data key a keyring unwrapped: checks the key commitment and
    /// the header's tag, and continues with whatever input is buffered.
    pub fn set_data_key(
        &mut self,
        data_key: DataKey,
        out: &mut Vec<u8>,
    ) -> Result<Progress, Error> {
        if !matches!(self.state, State::Materials) {
            return Err(Error::Misuse("no data key is expected now"));
        }
        let r = self.authenticate(&data_key);
        drop(data_key);
        if let Err(e) = r {
            return self.fail(e);
        }
        self.update(&[], out)
    }

    fn fail<T>(&mut self, e: Error) -> Result<T, Error> {
        self.state = State::Failed(e.clone());
        self.buf = Vec::new();
        self.held = Vec::new();
        self.key = None;
        Err(e)
    }

    fn authenticate(&mut self, data_key: &DataKey) -> Result<(), Error> {
        let h = self.header.as_ref().ok_or(Error::Misuse("no header"))?;
        let (key, commitment) = keys::derive(h.suite, data_key, &h.message_id)?;
        if let (Some(derived), Some(stored)) = (&commitment, &h.commitment) {
            if !commitment_matches(derived, stored) {
                return Err(Error::Commitment);
            }
        }
        let mut aad = h.body.clone();
        aad.extend_from_slice(&self.context.only(&self.required_keys).serialize()?);
        key.check_header(h.auth_iv, &aad, &h.auth_tag)
            .map_err(|e| {
                if self.required_keys.is_empty() {
                    e
                } else {
                    Error::UnstoredContext(self.required_keys.clone())
                }
            })?;
        self.state = match h.content_type {
            ContentType::Framed => State::Frames,
            ContentType::NonFramed => State::NonFramed,
        };
        self.key = Some(key);
        Ok(())
    }

    /// Process as much of `data` (the unconsumed bytes) as possible; returns
    /// the progress and how many bytes were consumed.
    fn run(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(Progress, usize), Error> {
        let mut used = 0;
        loop {
            let rest = &data[used..];
            let step = match self.state {
                State::Header => self.read_header(rest)?,
                State::Materials => return Ok((Progress::NeedDataKey, used)),
                State::Frames => self.read_frame(rest, out)?,
                State::NonFramed => self.read_non_framed(rest, out)?,
                State::Footer => self.read_footer(rest, out)?,
                State::Done => {
                    return if rest.is_empty() {
                        Ok((Progress::Done, used))
                    } else {
                        Err(Error::TrailingBytes)
                    };
                }
                State::Failed(ref e) => return Err(e.clone()),
            };
            match step {
                Some(n) => used += n,
                None => return Ok((Progress::NeedInput, used)),
            }
        }
    }

    /// Feed consumed message bytes to the signature's hash.
    fn hash(&mut self, bytes: &[u8]) {
        if let Some(v) = &mut self.verifier {
            v.update(bytes);
        }
    }

    fn read_header(&mut self, data: &[u8]) -> Result<Option<usize>, Error> {
        if data.len() < self.need.max(1) {
            return Ok(None);
        }
        let (header, len) = match Header::parse(data, self.cfg.max_encrypted_data_keys) {
            Ok(h) => h,
            Err(ParseError::Short(s)) => {
                if s.needed > MAX_HEADER_LENGTH {
                    return Err(Error::TooLong("header"));
                }
                self.need = s.needed;
                return Ok(None);
            }
            Err(ParseError::Bad(e)) => return Err(e),
        };
        let suite = header.suite;
        if !self.cfg.policy.allows_decrypt(suite) {
            return Err(Error::Policy {
                suite,
                policy: self.cfg.policy,
            });
        }
        if self.cfg.unsigned_only && suite.signature().is_some() {
            return Err(Error::Signed(suite));
        }
        let declared = match header.content_type {
            ContentType::Framed => u64::from(header.frame_length),
            ContentType::NonFramed => 0,
        };
        self.check_length(declared)?;
        // The materials' context: the stored pairs, and the reproduced ones
        // the message did not store (those must be authenticated by the
        // header tag).
        let mut context = header.encryption_context.clone();
        let mut required = Vec::new();
        for (k, v) in self.cfg.reproduced_context.iter() {
            match context.get(k) {
                Some(stored) if stored != v => return Err(Error::ContextMismatch(k.to_owned())),
                Some(_) => {}
                None => {
                    context.insert(k, v);
                    required.push(k.to_owned());
                }
            }
        }
        match (suite.signature(), context.get(PUBLIC_KEY_FIELD)) {
            (Some(sig), Some(pk)) => self.verifier = Some(Verifier::new(sig, pk)?),
            (Some(_), None) => return Err(Error::PublicKey("a signing suite needs it")),
            (None, Some(_)) => {
                return Err(Error::PublicKey(
                    "a suite that does not sign must not have it",
                ))
            }
            (None, None) => {}
        }
        self.context = context;
        self.required_keys = required;
        self.header = Some(header);
        self.hash(&data[..len]);
        self.state = State::Materials;
        Ok(Some(len))
    }

    fn check_length(&self, len: u64) -> Result<(), Error> {
        match self.cfg.max_frame_length {
            Some(max) if len > max => Err(Error::FrameTooLong { len, max }),
            _ => Ok(()),
        }
    }

    fn frame_length(&self) -> usize {
        self.header.as_ref().map_or(0, |h| h.frame_length as usize)
    }

    fn read_frame(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>, Error> {
        let frame_length = self.frame_length();
        let mut r = Reader::new(data);
        let Ok(first) = r.u32() else { return Ok(None) };
        let is_final = first == FINAL_MARK;
        let seq = if is_final {
            match r.u32() {
                Ok(s) => s,
                Err(_) => return Ok(None),
            }
        } else {
            first
        };
        if seq != self.seq {
            return Err(Error::Malformed("a frame is out of sequence"));
        }
        let Ok(iv) = r.bytes(IV_LEN) else {
            return Ok(None);
        };
        let len = if is_final {
            let Ok(len) = r.u32() else { return Ok(None) };
            if len as usize > frame_length {
                return Err(Error::Malformed(
                    "the final frame is longer than the frame length",
                ));
            }
            len as usize
        } else {
            frame_length
        };
        let Ok(ct) = r.bytes(len) else {
            return Ok(None);
        };
        let Ok(tag) = r.bytes(TAG_LEN) else {
            return Ok(None);
        };
        let total = r.pos();
        let part = if is_final {
            Part::FinalFrame
        } else {
            Part::Frame
        };
        let key = self.key.as_ref().ok_or(Error::Misuse("no key"))?;
        // A signed message's final frame waits for the signature.
        let hold = is_final && self.verifier.is_some();
        let target = if hold { &mut self.held } else { &mut *out };
        let at = target.len();
        target.resize(at + len, 0);
        if let Err(e) = key.open(part, seq, iv, ct, tag, &mut target[at..]) {
            target.truncate(at);
            return Err(e);
        }
        self.hash(&data[..total]);
        if is_final {
            self.state = if self.verifier.is_some() {
                State::Footer
            } else {
                State::Done
            };
        } else {
            self.seq = seq
                .checked_add(1)
                .ok_or(Error::Malformed("too many frames"))?;
            // After frame 2^32 - 2 only the final frame (number 2^32 - 1)
            // can follow: a regular frame cannot carry that number.
        }
        Ok(Some(total))
    }

    fn read_non_framed(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>, Error> {
        let mut r = Reader::new(data);
        let Ok(iv) = r.bytes(IV_LEN) else {
            return Ok(None);
        };
        let Ok(len) = r.u64() else { return Ok(None) };
        if len > MAX_NON_FRAMED {
            return Err(Error::Malformed(
                "the non-framed body is longer than the format allows",
            ));
        }
        self.check_length(len)?;
        let len = usize::try_from(len)
            .map_err(|_| Error::Malformed("the body does not fit in memory"))?;
        let Ok(ct) = r.bytes(len) else {
            return Ok(None);
        };
        let Ok(tag) = r.bytes(TAG_LEN) else {
            return Ok(None);
        };
        let total = r.pos();
        let key = self.key.as_ref().ok_or(Error::Misuse("no key"))?;
        let hold = self.verifier.is_some();
        let target = if hold { &mut self.held } else { &mut *out };
        let at = target.len();
        target.resize(at + len, 0);
        if let Err(e) = key.open(Part::SingleBlock, 1, iv, ct, tag, &mut target[at..]) {
            target.truncate(at);
            return Err(e);
        }
        self.hash(&data[..total]);
        self.state = if hold { State::Footer } else { State::Done };
        Ok(Some(total))
    }

    fn read_footer(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>, Error> {
        let mut r = Reader::new(data);
        let Ok(sig) = r.short_bytes() else {
            return Ok(None);
        };
        let total = r.pos();
        let v = self.verifier.take().ok_or(Error::Misuse("no verifier"))?;
        v.verify(sig)?;
        out.append(&mut self.held);
        self.state = State::Done;
        Ok(Some(total))
    }
}
