//! The data key, what the suite derives from it, and the AES-GCM operations
//! on the header and the frames.

use std::fmt;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::header::{COMMITMENT_LEN, IV_LEN, TAG_LEN};
use crate::{Error, Kdf, Suite};

/// A plaintext data key. Zeroized when dropped; its `Debug` shows nothing.
pub struct DataKey(Zeroizing<Vec<u8>>);

impl DataKey {
    /// A data key from its bytes (as a keyring unwrapped it).
    pub fn new(bytes: Vec<u8>) -> Self {
        DataKey(Zeroizing::new(bytes))
    }

    /// A fresh random key of the suite's length.
    pub fn generate(suite: Suite) -> Result<Self, Error> {
        let mut k = Zeroizing::new(vec![0u8; suite.key_len()]);
        SystemRandom::new()
            .fill(&mut k)
            .map_err(|_| Error::Crypto("random data key"))?;
        Ok(DataKey(k))
    }

    /// The key's bytes, for a keyring to wrap.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey({} bytes)", self.0.len())
    }
}

/// What a frame is, for its AAD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    Frame,
    FinalFrame,
    SingleBlock,
}

impl Part {
    fn aad_content(self) -> &'static [u8] {
        match self {
            Part::Frame => b"AWSKMSEncryptionClient Frame",
            Part::FinalFrame => b"AWSKMSEncryptionClient Final Frame",
            Part::SingleBlock => b"AWSKMSEncryptionClient Single Block",
        }
    }
}

/// The derived key of one message, bound to its message ID: seals and opens
/// the header tag and the frames. `Sync`, so frames can be processed on
/// several threads.
pub struct FrameKey {
    key: LessSafeKey,
    message_id: Vec<u8>,
}

impl fmt::Debug for FrameKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FrameKey(..)")
    }
}

/// HKDF output of a given length.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// The frame key and, for a committing suite, the commitment to the data key.
pub(crate) fn derive(
    suite: Suite,
    data_key: &DataKey,
    message_id: &[u8],
) -> Result<(FrameKey, Option<[u8; COMMITMENT_LEN]>), Error> {
    if data_key.expose().len() != suite.key_len() {
        return Err(Error::DataKeyLength);
    }
    let mut derived = Zeroizing::new(vec![0u8; suite.key_len()]);
    let mut commitment = None;
    let alg = match suite.kdf() {
        Kdf::Identity => None,
        Kdf::HkdfSha256 => Some(hkdf::HKDF_SHA256),
        Kdf::HkdfSha384 => Some(hkdf::HKDF_SHA384),
        Kdf::HkdfSha512 => Some(hkdf::HKDF_SHA512),
    };
    let id = suite.id().to_be_bytes();
    match alg {
        None => derived.copy_from_slice(data_key.expose()),
        Some(alg) if suite.committing() => {
            let prk = hkdf::Salt::new(alg, message_id).extract(data_key.expose());
            let info: [&[u8]; 2] = [&id, b"DERIVEKEY"];
            prk.expand(&info, Len(derived.len()))
                .and_then(|okm| okm.fill(&mut derived))
                .map_err(|_| Error::Crypto("HKDF"))?;
            let mut c = [0u8; COMMITMENT_LEN];
            prk.expand(&[b"COMMITKEY"], Len(COMMITMENT_LEN))
                .and_then(|okm| okm.fill(&mut c))
                .map_err(|_| Error::Crypto("HKDF"))?;
            commitment = Some(c);
        }
        Some(alg) => {
            let zeros = [0u8; 64];
            let salt = hkdf::Salt::new(
                alg,
                &zeros[..alg.hmac_algorithm().digest_algorithm().output_len()],
            );
            let info: [&[u8]; 2] = [&id, message_id];
            salt.extract(data_key.expose())
                .expand(&info, Len(derived.len()))
                .and_then(|okm| okm.fill(&mut derived))
                .map_err(|_| Error::Crypto("HKDF"))?;
        }
    }
    let key = UnboundKey::new(suite.aead(), &derived).map_err(|_| Error::Crypto("AES key"))?;
    Ok((
        FrameKey {
            key: LessSafeKey::new(key),
            message_id: message_id.to_vec(),
        },
        commitment,
    ))
}

/// Compare a derived commitment with the header's, in constant time.
pub(crate) fn commitment_matches(
    derived: &[u8; COMMITMENT_LEN],
    stored: &[u8; COMMITMENT_LEN],
) -> bool {
    bool::from(derived.ct_eq(stored))
}

/// The IV of frame `seq`: the sequence number, big-endian, padded on the
/// left with zeros.
pub(crate) fn frame_iv(seq: u32) -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    iv[IV_LEN - 4..].copy_from_slice(&seq.to_be_bytes());
    iv
}

impl FrameKey {
    fn body_aad(&self, part: Part, seq: u32, len: u64) -> Vec<u8> {
        let content = part.aad_content();
        let mut aad = Vec::with_capacity(self.message_id.len() + content.len() + 12);
        aad.extend_from_slice(&self.message_id);
        aad.extend_from_slice(content);
        aad.extend_from_slice(&seq.to_be_bytes());
        aad.extend_from_slice(&len.to_be_bytes());
        aad
    }

    /// The header tag: AES-GCM over nothing, with the header body and the
    /// context that is authenticated but not stored as AAD.
    pub(crate) fn header_tag(&self, iv: [u8; IV_LEN], aad: &[u8]) -> Result<[u8; TAG_LEN], Error> {
        let tag = self
            .key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(iv), Aad::from(aad), &mut [])
            .map_err(|_| Error::Crypto("header tag"))?;
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(tag.as_ref());
        Ok(t)
    }

    /// Check the header tag.
    pub(crate) fn check_header(
        &self,
        iv: [u8; IV_LEN],
        aad: &[u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), Error> {
        self.key
            .open_separate_gather(
                Nonce::assume_unique_for_key(iv),
                Aad::from(aad),
                &[],
                tag,
                &mut [],
            )
            .map_err(|_| Error::HeaderAuthentication)
    }

    /// Encrypt one frame's plaintext into `out` (which must be as long), and
    /// return its tag. The IV is the sequence number: never reused within a
    /// message, and each message has its own key.
    pub(crate) fn seal(
        &self,
        part: Part,
        seq: u32,
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], Error> {
        let aad = self.body_aad(part, seq, plaintext.len() as u64);
        let mut tag = [0u8; TAG_LEN];
        self.key
            .seal_out_of_place_scatter(
                Nonce::assume_unique_for_key(frame_iv(seq)),
                Aad::from(aad),
                plaintext,
                out,
                &[],
                &mut tag,
            )
            .map_err(|_| Error::Crypto("frame encryption"))?;
        Ok(tag)
    }

    /// Decrypt one frame into `out` (as long as the ciphertext). On failure
    /// `out` may hold garbage: the caller discards it.
    pub(crate) fn open(
        &self,
        part: Part,
        seq: u32,
        iv: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
        out: &mut [u8],
    ) -> Result<(), Error> {
        let fail = || match part {
            Part::SingleBlock => Error::BodyAuthentication,
            _ => Error::FrameAuthentication(seq),
        };
        let expected = frame_iv(seq);
        if iv != expected {
            // The IV is determined by the sequence number; a message that
            // says otherwise was not written by a conforming encryptor.
            return Err(fail());
        }
        let aad = self.body_aad(part, seq, ciphertext.len() as u64);
        self.key
            .open_separate_gather(
                Nonce::assume_unique_for_key(expected),
                Aad::from(aad),
                ciphertext,
                tag,
                out,
            )
            .map_err(|_| fail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iv_is_the_sequence_number() {
        assert_eq!(frame_iv(1), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(frame_iv(0x01020304)[8..], [1, 2, 3, 4]);
    }

    #[test]
    fn derivation_depends_on_message_id_and_commitment_on_key() {
        let suite = Suite::Aes256HkdfSha512Commit;
        let k = DataKey::new(vec![7; 32]);
        let (_, c1) = derive(suite, &k, &[1; 32]).unwrap();
        let (_, c2) = derive(suite, &k, &[2; 32]).unwrap();
        let (_, c3) = derive(suite, &DataKey::new(vec![8; 32]), &[1; 32]).unwrap();
        assert_ne!(c1, c2);
        assert_ne!(c1, c3);
        assert!(derive(suite, &DataKey::new(vec![7; 16]), &[1; 32]).is_err());
        assert_eq!(format!("{k:?}"), "DataKey(32 bytes)");
    }
}
