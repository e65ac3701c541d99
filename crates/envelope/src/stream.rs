//! Blocking adapters from `Read` to `Write` around the sans-IO core, with
//! bounded buffers: memory is a read buffer and about one frame, whatever the
//! size of the input.

use std::io::{self, Read, Write};

use crate::{DataKey, DecryptRequest, Decryptor, Encryptor, Error, Progress};

/// How much is read at a time.
pub const CHUNK: usize = 1 << 20;

/// A failure of the stream or of the message.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Reading the input or writing the output failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The message could not be written or read.
    #[error("{0}")]
    Message(#[from] Error),
}

fn read_some<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Encrypt everything `input` yields into `output`. `progress` is told how
/// many plaintext bytes have been read so far.
pub fn encrypt<R: Read + ?Sized, W: Write + ?Sized>(
    mut enc: Encryptor,
    input: &mut R,
    output: &mut W,
    mut progress: impl FnMut(u64),
) -> Result<u64, StreamError> {
    let mut buf = vec![0u8; CHUNK];
    let mut out = Vec::with_capacity(CHUNK + CHUNK / 8);
    let mut total = 0u64;
    loop {
        let n = read_some(input, &mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        enc.update(&buf[..n], &mut out)?;
        output.write_all(&out)?;
        out.clear();
        progress(total);
    }
    enc.finish(&mut out)?;
    output.write_all(&out)?;
    output.flush()?;
    Ok(total)
}

/// Decrypt the message `input` yields into `output`, calling `unwrap` once
/// for the data key. Only authenticated plaintext is written; on an error,
/// what was written is whole frames that authenticated, and the caller must
/// treat all of it as unverified (a file output is discarded).
pub fn decrypt<R: Read + ?Sized, W: Write + ?Sized>(
    mut dec: Decryptor,
    input: &mut R,
    output: &mut W,
    mut unwrap: impl FnMut(&DecryptRequest<'_>) -> Result<DataKey, Error>,
    mut progress: impl FnMut(u64),
) -> Result<(Decryptor, u64), StreamError> {
    let mut buf = vec![0u8; CHUNK];
    let mut out = Vec::with_capacity(CHUNK + CHUNK / 8);
    let mut total = 0u64;
    loop {
        let n = read_some(input, &mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        let r = dec.update(&buf[..n], &mut out).and_then(|step| {
            if step != Progress::NeedDataKey {
                return Ok(());
            }
            let request = dec.request().ok_or(Error::Misuse("no request"))?;
            let key = unwrap(&request)?;
            dec.set_data_key(key, &mut out).map(|_| ())
        });
        // Whatever is in `out` authenticated, even when a later frame of
        // this chunk did not: a stream stops at the last good frame.
        output.write_all(&out)?;
        out.clear();
        r?;
        progress(total);
    }
    let r = dec.finish(&mut out);
    output.write_all(&out)?;
    output.flush()?;
    r?;
    Ok((dec, total))
}
