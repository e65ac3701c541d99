//! Big-endian fields read from a buffer that may not hold the whole
//! structure yet: a short read says how many bytes the structure needs at
//! least, so a streaming caller parses again only once it has them.

use crate::Error;

/// A read that ran past the end of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Short {
    /// The buffer length the failed read needed.
    pub needed: usize,
}

/// Either a short buffer or a malformed structure.
#[derive(Debug)]
pub(crate) enum ParseError {
    Short(Short),
    Bad(Error),
}

impl From<Short> for ParseError {
    fn from(s: Short) -> Self {
        ParseError::Short(s)
    }
}

impl From<Error> for ParseError {
    fn from(e: Error) -> Self {
        ParseError::Bad(e)
    }
}

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Short> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(Short { needed: usize::MAX })?;
        if end > self.buf.len() {
            return Err(Short { needed: end });
        }
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Short> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    pub fn u8(&mut self) -> Result<u8, Short> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16, Short> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, Short> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, Short> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A field with a two-byte length before it.
    pub fn short_bytes(&mut self) -> Result<&'a [u8], Short> {
        let n = self.u16()?;
        self.bytes(n.into())
    }
}

/// Append a field with a two-byte length before it; fails if it is longer
/// than the format allows.
pub(crate) fn put_short_bytes(
    out: &mut Vec<u8>,
    b: &[u8],
    what: &'static str,
) -> Result<(), Error> {
    let n = u16::try_from(b.len()).map_err(|_| Error::TooLong(what))?;
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(b);
    Ok(())
}
