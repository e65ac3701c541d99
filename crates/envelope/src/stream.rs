//! Blocking adapters from `Read` to `Write` around the sans-IO core, with
//! bounded buffers: memory is a few read and write buffers and about one
//! frame, whatever the size of the input.
//!
//! Reading, the crypto and writing run on three threads, so the kernel's
//! copies in and out of the page cache overlap with AES-GCM: on two cores a
//! file is encrypted at the speed of the page cache, not of the sum of the
//! three.

use std::io::{self, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crate::{DataKey, DecryptRequest, Decryptor, Encryptor, Error, Progress};

/// How much is read at a time.
pub const CHUNK: usize = 1 << 18;
/// Buffers in flight between each pair of threads.
const DEPTH: usize = 4;

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

/// Run `step` over every chunk of `input` and `last` at its end, with the
/// reads and writes on their own threads. `step` appends what may be
/// released to its output buffer; that buffer is written even when `step`
/// fails (it holds only what was complete and authenticated before the
/// failure), then the failure is returned.
fn pipeline<R, W>(
    input: R,
    output: &mut W,
    mut step: impl FnMut(&[u8], &mut Vec<u8>) -> Result<(), Error>,
    last: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>,
    mut progress: impl FnMut(u64),
) -> Result<u64, StreamError>
where
    R: Read + Send + 'static,
    W: Write + Send + ?Sized,
{
    let (to_main, from_reader) = sync_channel::<io::Result<Vec<u8>>>(DEPTH);
    let (free_in_tx, free_in_rx) = sync_channel::<Vec<u8>>(DEPTH + 2);
    let (to_writer, from_main) = sync_channel::<Vec<u8>>(DEPTH);
    let (free_out_tx, free_out_rx) = sync_channel::<Vec<u8>>(DEPTH + 2);
    // The reader owns the input and is not joined: after a failure it may
    // be blocked in a read (a terminal, an idle pipe) that nothing will
    // end; it stops at its next send, or with the process.
    std::thread::spawn(move || reader(input, &to_main, &free_in_rx));
    std::thread::scope(|s| {
        let writer = s.spawn(move || writer(output, &from_main, &free_out_tx));
        let mut total = 0u64;
        let mut result: Result<(), StreamError> = Ok(());
        let mut last = Some(last);
        loop {
            let chunk = match from_reader.recv() {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    result = Err(e.into());
                    break;
                }
                Err(_) => break,
            };
            let mut out = free_out_rx
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(CHUNK + CHUNK / 8));
            out.clear();
            let r = if chunk.is_empty() {
                last.take().map_or(Ok(()), |f| f(&mut out))
            } else {
                total += chunk.len() as u64;
                step(&chunk, &mut out)
            };
            let done = chunk.is_empty();
            let _ = free_in_tx.try_send(chunk);
            if !out.is_empty() && to_writer.send(out).is_err() {
                break; // the writer failed: its error is reported below
            }
            if let Err(e) = r {
                result = Err(e.into());
                break;
            }
            progress(total);
            if done {
                break;
            }
        }
        drop(to_writer);
        drop(from_reader);
        drop(free_in_tx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the writer thread panicked")));
        result?;
        written?;
        Ok(total)
    })
}

fn reader<R: Read>(
    mut input: R,
    to_main: &SyncSender<io::Result<Vec<u8>>>,
    free: &Receiver<Vec<u8>>,
) {
    loop {
        let mut buf = free.try_recv().unwrap_or_default();
        buf.resize(CHUNK, 0);
        let r = read_some(&mut input, &mut buf).map(|n| {
            buf.truncate(n);
            buf
        });
        let end = !matches!(&r, Ok(b) if !b.is_empty());
        if to_main.send(r).is_err() || end {
            return;
        }
    }
}

fn writer<W: Write + ?Sized>(
    output: &mut W,
    from_main: &Receiver<Vec<u8>>,
    free: &SyncSender<Vec<u8>>,
) -> io::Result<()> {
    for buf in from_main {
        output.write_all(&buf)?;
        let _ = free.try_send(buf);
    }
    output.flush()
}

/// Encrypt everything `input` yields into `output`. `progress` is told how
/// many plaintext bytes have been read so far.
pub fn encrypt<R, W>(
    mut enc: Encryptor,
    input: R,
    output: &mut W,
    progress: impl FnMut(u64),
) -> Result<u64, StreamError>
where
    R: Read + Send + 'static,
    W: Write + Send + ?Sized,
{
    let enc = std::cell::RefCell::new(&mut enc);
    pipeline(
        input,
        output,
        |chunk, out| enc.borrow_mut().update(chunk, out),
        |out| enc.borrow_mut().finish(out),
        progress,
    )
}

/// Decrypt the message `input` yields into `output`, calling `unwrap` once
/// for the data key. Only authenticated plaintext is written; on an error,
/// what was written is whole frames that authenticated, and the caller must
/// treat all of it as unverified (a file output is discarded).
pub fn decrypt<R, W>(
    mut dec: Decryptor,
    input: R,
    output: &mut W,
    mut unwrap: impl FnMut(&DecryptRequest<'_>) -> Result<DataKey, Error>,
    progress: impl FnMut(u64),
) -> Result<(Decryptor, u64), StreamError>
where
    R: Read + Send + 'static,
    W: Write + Send + ?Sized,
{
    let total = {
        let dec = std::cell::RefCell::new(&mut dec);
        pipeline(
            input,
            output,
            |chunk, out| {
                let mut d = dec.borrow_mut();
                if d.update(chunk, out)? == Progress::NeedDataKey {
                    let request = d.request().ok_or(Error::Misuse("no request"))?;
                    let key = unwrap(&request)?;
                    d.set_data_key(key, out)?;
                }
                Ok(())
            },
            |out| dec.borrow_mut().finish(out),
            progress,
        )?
    };
    Ok((dec, total))
}
