//! The message header, versions 1.0 and 2.0: what was encrypted how, under
//! which wrapped data keys, with which encryption context.

use crate::context::EncryptionContext;
use crate::wire::{put_short_bytes, ParseError, Reader};
use crate::{Error, Suite};

/// Version 1's only message type, "customer authenticated encrypted data".
const TYPE_CUSTOMER_AED: u8 = 0x80;
pub(crate) const IV_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;
/// Version 2's suite data: the commitment key.
pub(crate) const COMMITMENT_LEN: usize = 32;

/// A data key wrapped by one keyring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedDataKey {
    /// Which kind of keyring wrapped it (`aws-kms`, or a raw keyring's
    /// namespace).
    pub provider_id: String,
    /// Keyring-specific: a KMS key ARN, a raw key's name and IV.
    pub provider_info: Vec<u8>,
    /// The wrapped data key.
    pub ciphertext: Vec<u8>,
}

/// How the body is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentType {
    /// One AES-GCM block for the whole plaintext.
    NonFramed,
    /// Frames of a fixed length and a final frame.
    Framed,
}

/// A parsed header. Nothing in it is authenticated until the decryptor has
/// the data key and has checked the header's tag.
#[derive(Clone, Debug)]
pub struct Header {
    /// The algorithm suite (whose version is the header's).
    pub suite: Suite,
    /// The message ID: 16 bytes in version 1, 32 in version 2.
    pub message_id: Vec<u8>,
    /// The encryption context stored in the message.
    pub encryption_context: EncryptionContext,
    /// The wrapped data keys, at least one.
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
    /// The body layout.
    pub content_type: ContentType,
    /// The plaintext length of each regular frame (0 when non-framed).
    pub frame_length: u32,
    /// Version 2: the commitment to the data key.
    pub(crate) commitment: Option<[u8; COMMITMENT_LEN]>,
    /// The header body as written: the AAD of its tag, and the start of what
    /// the footer signs.
    pub(crate) body: Vec<u8>,
    /// Version 1: the IV of the header tag.
    pub(crate) auth_iv: [u8; IV_LEN],
    pub(crate) auth_tag: [u8; TAG_LEN],
}

impl Header {
    /// Serialize a header body (everything but the authentication).
    pub(crate) fn write_body(
        suite: Suite,
        message_id: &[u8],
        stored_context: &EncryptionContext,
        edks: &[EncryptedDataKey],
        frame_length: u32,
        commitment: Option<&[u8; COMMITMENT_LEN]>,
    ) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(256);
        out.push(suite.version());
        if suite.version() == 1 {
            out.push(TYPE_CUSTOMER_AED);
        }
        out.extend_from_slice(&suite.id().to_be_bytes());
        out.extend_from_slice(message_id);
        put_short_bytes(&mut out, &stored_context.serialize()?, "encryption context")?;
        let n =
            u16::try_from(edks.len()).map_err(|_| Error::TooLong("list of encrypted data keys"))?;
        if n == 0 {
            return Err(Error::Misuse(
                "a message needs at least one encrypted data key",
            ));
        }
        out.extend_from_slice(&n.to_be_bytes());
        for edk in edks {
            put_short_bytes(&mut out, edk.provider_id.as_bytes(), "key provider ID")?;
            put_short_bytes(&mut out, &edk.provider_info, "key provider information")?;
            put_short_bytes(&mut out, &edk.ciphertext, "encrypted data key")?;
        }
        out.push(2); // framed: this writer never writes non-framed bodies
        if suite.version() == 1 {
            out.extend_from_slice(&[0, 0, 0, 0]);
            out.push(IV_LEN as u8);
        }
        out.extend_from_slice(&frame_length.to_be_bytes());
        if let Some(c) = commitment {
            out.extend_from_slice(c);
        }
        Ok(out)
    }

    /// Parse a whole header (body and authentication) from the start of
    /// `buf`; returns it and its length. A header with more encrypted data
    /// keys than `max_edks` fails as soon as their count is read.
    pub(crate) fn parse(buf: &[u8], max_edks: Option<u16>) -> Result<(Header, usize), ParseError> {
        let bad = |what| ParseError::Bad(Error::Malformed(what));
        let mut r = Reader::new(buf);
        let version = r.u8()?;
        if version != 1 && version != 2 {
            return Err(ParseError::Bad(Error::UnsupportedVersion(version)));
        }
        if version == 1 && r.u8()? != TYPE_CUSTOMER_AED {
            return Err(bad("the message type is not 0x80"));
        }
        let id = r.u16()?;
        let suite = Suite::from_id(id).ok_or(ParseError::Bad(Error::UnknownSuite(id)))?;
        if suite.version() != version {
            return Err(bad(
                "the algorithm suite belongs to the other message format version",
            ));
        }
        let message_id = r.bytes(suite.message_id_len())?.to_vec();
        let encryption_context = EncryptionContext::parse(r.short_bytes()?)?;
        let count = r.u16()?;
        if count == 0 {
            return Err(bad("the header has no encrypted data keys"));
        }
        if let Some(max) = max_edks {
            if count > max {
                return Err(ParseError::Bad(Error::TooManyEncryptedDataKeys {
                    count,
                    max,
                }));
            }
        }
        let mut encrypted_data_keys = Vec::with_capacity(count.min(64).into());
        for _ in 0..count {
            let provider_id = std::str::from_utf8(r.short_bytes()?)
                .map_err(|_| bad("a key provider ID is not UTF-8"))?
                .to_owned();
            let provider_info = r.short_bytes()?.to_vec();
            let ciphertext = r.short_bytes()?.to_vec();
            encrypted_data_keys.push(EncryptedDataKey {
                provider_id,
                provider_info,
                ciphertext,
            });
        }
        let content_type = match r.u8()? {
            1 => ContentType::NonFramed,
            2 => ContentType::Framed,
            _ => return Err(bad("the content type is neither framed nor non-framed")),
        };
        if version == 1 {
            if r.u32()? != 0 {
                return Err(bad("the reserved field is not zero"));
            }
            if usize::from(r.u8()?) != IV_LEN {
                return Err(bad("the IV length is not the algorithm suite's"));
            }
        }
        let frame_length = r.u32()?;
        match content_type {
            ContentType::NonFramed if frame_length != 0 => {
                return Err(bad("a non-framed message has a frame length"))
            }
            ContentType::Framed if frame_length == 0 => {
                return Err(bad("a framed message has a frame length of zero"))
            }
            _ => {}
        }
        let commitment = if version == 2 {
            Some(r.array::<COMMITMENT_LEN>()?)
        } else {
            None
        };
        let body_len = r.pos();
        let auth_iv = if version == 1 {
            r.array::<IV_LEN>()?
        } else {
            [0; IV_LEN]
        };
        let auth_tag = r.array::<TAG_LEN>()?;
        let header = Header {
            suite,
            message_id,
            encryption_context,
            encrypted_data_keys,
            content_type,
            frame_length,
            commitment,
            body: buf[..body_len].to_vec(),
            auth_iv,
            auth_tag,
        };
        Ok((header, r.pos()))
    }
}
