//! Framed streams: data of unknown length sent as frames, each a word giving its length and
//! that many bytes (no padding), ended by an empty frame. From protocol 1.23 on, NARs of
//! `AddToStoreNar`, and the payloads of `AddToStore` (1.25), `AddMultipleToStore` and
//! `AddBuildLog`, travel this way.

use crate::codec::{read_u64, write_u64};
use crate::error::WireError;
use std::io::{self, Read, Write};

/// Reads the data of a framed stream. It returns end-of-file at the terminating empty frame
/// and leaves the underlying reader right after it.
pub struct FramedReader<R> {
    inner: R,
    /// Bytes left in the current frame.
    left: u64,
    done: bool,
}

impl<R: Read> FramedReader<R> {
    pub fn new(inner: R) -> Self {
        FramedReader {
            inner,
            left: 0,
            done: false,
        }
    }

    /// Whether the terminating frame has been read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Reads and discards what is left of the stream, through its terminator, so that the
    /// connection stays in step after a consumer stopped early.
    pub fn drain(&mut self) -> io::Result<u64> {
        io::copy(self, &mut io::sink())
    }

    /// The underlying reader. Unless [`is_done`](Self::is_done), it is in mid-stream.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

fn to_io(e: WireError) -> io::Error {
    match e {
        WireError::Eof => io::Error::new(io::ErrorKind::UnexpectedEof, "unexpected end-of-file"),
        WireError::Io(e) => e,
        e => io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
    }
}

impl<R: Read> Read for FramedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.left == 0 {
            if self.done {
                return Ok(0);
            }
            let len = read_u64(&mut self.inner).map_err(to_io)?;
            if len == 0 {
                self.done = true;
                return Ok(0);
            }
            self.left = len;
        }
        let want = usize::try_from(self.left).map_or(buf.len(), |l| l.min(buf.len()));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(to_io(WireError::Eof));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Writes data as a framed stream. Data is gathered into frames of up to `frame_size`
/// bytes; [`finish`](Self::finish) sends what is pending and the terminating empty frame.
/// Dropping the writer without finishing sends no terminator.
pub struct FramedWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    frame_size: usize,
}

impl<W: Write> FramedWriter<W> {
    /// Frames of at most 32 KiB.
    pub fn new(inner: W) -> Self {
        Self::with_frame_size(inner, 32 * 1024)
    }

    /// Frames of at most `frame_size` bytes (at least 1).
    pub fn with_frame_size(inner: W, frame_size: usize) -> Self {
        let frame_size = frame_size.max(1);
        FramedWriter {
            inner,
            buf: Vec::with_capacity(frame_size),
            frame_size,
        }
    }

    fn send_pending(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            write_u64(&mut self.inner, self.buf.len() as u64).map_err(to_io)?;
            self.inner.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Sends pending data and the end of the stream, flushes, and gives back the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.send_pending()?;
        write_u64(&mut self.inner, 0).map_err(to_io)?;
        self.inner.flush()?;
        let FramedWriter { inner, .. } = self;
        Ok(inner)
    }
}

impl<W: Write> Write for FramedWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        if self.buf.is_empty() && data.len() >= self.frame_size {
            // A whole frame straight from the caller's buffer.
            let n = self.frame_size;
            write_u64(&mut self.inner, n as u64).map_err(to_io)?;
            self.inner.write_all(&data[..n])?;
            return Ok(n);
        }
        let n = (self.frame_size - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == self.frame_size {
            self.send_pending()?;
        }
        Ok(n)
    }

    /// Sends pending data as a frame and flushes the writer underneath.
    fn flush(&mut self) -> io::Result<()> {
        self.send_pending()?;
        self.inner.flush()
    }
}
