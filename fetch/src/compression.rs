//! The compressions of NARs in binary caches (the `Compression` field of a `.narinfo`):
//! `xz`, `bzip2`, `zstd`, `br`, `gzip` and `none`, as streams.

use std::io::{self, Read, Write};
use thiserror::Error;

/// A compression method a binary cache names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Xz,
    Bzip2,
    Zstd,
    Brotli,
    Gzip,
}

#[derive(Debug, Error)]
#[error("unknown compression method '{0}'")]
pub struct UnknownCompression(pub String);

impl Compression {
    /// Parses a method name as `.narinfo` files and `?compression=` give it. An empty
    /// name is `none`.
    pub fn parse(s: &str) -> Result<Compression, UnknownCompression> {
        Ok(match s {
            "" | "none" => Compression::None,
            "xz" => Compression::Xz,
            "bzip2" => Compression::Bzip2,
            "zstd" => Compression::Zstd,
            "br" => Compression::Brotli,
            "gzip" => Compression::Gzip,
            _ => return Err(UnknownCompression(s.to_string())),
        })
    }

    /// The method's name in a `.narinfo`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Xz => "xz",
            Compression::Bzip2 => "bzip2",
            Compression::Zstd => "zstd",
            Compression::Brotli => "br",
            Compression::Gzip => "gzip",
        }
    }

    /// The file name extension of a NAR compressed this way (`.nar.xz`, …).
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Xz => ".xz",
            Compression::Bzip2 => ".bz2",
            Compression::Zstd => ".zst",
            Compression::Brotli => ".br",
            Compression::Gzip => ".gz",
        }
    }

    /// A reader of the uncompressed stream of `r`.
    pub fn decoder<'r>(
        self,
        r: Box<dyn Read + Send + 'r>,
    ) -> io::Result<Box<dyn Read + Send + 'r>> {
        self.decoder_with(r, true)
    }

    /// [`Compression::decoder`] without the format's own integrity check where it has one
    /// that costs (xz's CRC64), for a stream whose hash the reader checks anyway.
    pub fn decoder_unchecked<'r>(
        self,
        r: Box<dyn Read + Send + 'r>,
    ) -> io::Result<Box<dyn Read + Send + 'r>> {
        self.decoder_with(r, false)
    }

    fn decoder_with<'r>(
        self,
        r: Box<dyn Read + Send + 'r>,
        check: bool,
    ) -> io::Result<Box<dyn Read + Send + 'r>> {
        let r = io::BufReader::with_capacity(64 * 1024, r);
        let xz_flags = if check {
            xz2::stream::CONCATENATED
        } else {
            xz2::stream::CONCATENATED | xz2::stream::IGNORE_CHECK
        };
        Ok(match self {
            Compression::None => Box::new(r),
            // Concatenated streams, as Nix reads them.
            Compression::Xz => Box::new(xz2::bufread::XzDecoder::new_stream(
                r,
                xz2::stream::Stream::new_stream_decoder(u64::MAX, xz_flags)
                    .map_err(io::Error::other)?,
            )),
            Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(r)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
            Compression::Brotli => Box::new(brotli::Decompressor::new(r, 64 * 1024)),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        })
    }

    /// A writer that compresses into `w`; [`Encoder::finish`] ends the stream.
    pub fn encoder<'w, W: Write + 'w>(self, w: W, level: Option<i32>) -> io::Result<Encoder<'w>> {
        Ok(Encoder(match self {
            Compression::None => Enc::None(Box::new(w)),
            Compression::Xz => Enc::Xz(xz2::write::XzEncoder::new(
                Box::new(w),
                level.unwrap_or(6).clamp(0, 9) as u32,
            )),
            Compression::Bzip2 => Enc::Bzip2(bzip2::write::BzEncoder::new(
                Box::new(w),
                bzip2::Compression::new(level.unwrap_or(9).clamp(1, 9) as u32),
            )),
            Compression::Zstd => {
                let b: BoxW<'w> = Box::new(w);
                Enc::Zstd(zstd::stream::write::Encoder::new(b, level.unwrap_or(3))?)
            }
            Compression::Brotli => Enc::Brotli(Box::new(brotli::CompressorWriter::new(
                Box::new(w),
                64 * 1024,
                level.unwrap_or(6).clamp(0, 11) as u32,
                22,
            ))),
            Compression::Gzip => Enc::Gzip(flate2::write::GzEncoder::new(
                Box::new(w),
                flate2::Compression::new(level.unwrap_or(6).clamp(0, 9) as u32),
            )),
        }))
    }
}

type BoxW<'w> = Box<dyn Write + 'w>;

enum Enc<'w> {
    None(BoxW<'w>),
    Xz(xz2::write::XzEncoder<BoxW<'w>>),
    Bzip2(bzip2::write::BzEncoder<BoxW<'w>>),
    Zstd(zstd::stream::write::Encoder<'static, BoxW<'w>>),
    Brotli(Box<brotli::CompressorWriter<BoxW<'w>>>),
    Gzip(flate2::write::GzEncoder<BoxW<'w>>),
}

/// A compressing writer.
pub struct Encoder<'w>(Enc<'w>);

impl Write for Encoder<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Enc::None(w) => w.write(buf),
            Enc::Xz(w) => w.write(buf),
            Enc::Bzip2(w) => w.write(buf),
            Enc::Zstd(w) => w.write(buf),
            Enc::Brotli(w) => w.write(buf),
            Enc::Gzip(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Enc::None(w) => w.flush(),
            Enc::Xz(w) => w.flush(),
            Enc::Bzip2(w) => w.flush(),
            Enc::Zstd(w) => w.flush(),
            Enc::Brotli(w) => w.flush(),
            Enc::Gzip(w) => w.flush(),
        }
    }
}

impl Encoder<'_> {
    /// Ends the compressed stream and flushes it.
    pub fn finish(self) -> io::Result<()> {
        let mut w = match self.0 {
            Enc::None(w) => w,
            Enc::Xz(w) => w.finish()?,
            Enc::Bzip2(w) => w.finish()?,
            Enc::Zstd(w) => w.finish()?,
            Enc::Brotli(w) => w.into_inner(),
            Enc::Gzip(w) => w.finish()?,
        };
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_round_trips() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        for m in ["none", "xz", "bzip2", "zstd", "br", "gzip"] {
            let c = Compression::parse(m).unwrap();
            assert_eq!(c.name(), m);
            let mut out = Vec::new();
            let mut e = c.encoder(&mut out, None).unwrap();
            e.write_all(&data).unwrap();
            e.finish().unwrap();
            if c != Compression::None {
                assert!(out.len() < data.len() / 4, "{m}: {}", out.len());
            }
            let mut back = Vec::new();
            c.decoder(Box::new(io::Cursor::new(out)))
                .unwrap()
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == data, "{m}");
        }
        assert!(Compression::parse("lz5").is_err());
    }

    #[test]
    fn corrupt_input_is_an_error() {
        let mut out = Vec::new();
        let mut e = Compression::Xz.encoder(&mut out, None).unwrap();
        e.write_all(b"hello hello hello").unwrap();
        e.finish().unwrap();
        let n = out.len();
        out[n / 2] ^= 0xff;
        let mut back = Vec::new();
        let r = Compression::Xz
            .decoder(Box::new(io::Cursor::new(out)))
            .unwrap()
            .read_to_end(&mut back);
        assert!(r.is_err());
    }
}
