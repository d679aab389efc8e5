//! The server's side channel: while it works on an operation, the server sends log
//! messages, activities and requests for data, each a code word and its fields, until
//! `STDERR_LAST` (the reply follows) or `STDERR_ERROR` (the operation failed).

use crate::codec::{
    read_bytes, read_count, read_string, read_u32, read_u64, write_bytes, write_string, write_u64,
};
use crate::error::{Result, WireError};
use crate::settings::Verbosity;
use crate::Version;
use std::io::{Read, Write};

/// A log line for the client (`printError` on its side).
pub const STDERR_NEXT: u64 = 0x6f6c_6d67;
/// The server wants data from the client (`ImportPaths`, `AddToStoreNar` in 1.21–1.22).
pub const STDERR_READ: u64 = 0x6461_7461;
/// Data for the client (`ExportPath`).
pub const STDERR_WRITE: u64 = 0x6461_7416;
/// The operation's log is over; the reply follows.
pub const STDERR_LAST: u64 = 0x616c_7473;
/// The operation failed.
pub const STDERR_ERROR: u64 = 0x6378_7470;
pub const STDERR_START_ACTIVITY: u64 = 0x5354_5254;
pub const STDERR_STOP_ACTIVITY: u64 = 0x5354_4f50;
pub const STDERR_RESULT: u64 = 0x5253_4c54;

macro_rules! open_enum {
    ($(#[$doc:meta])* $name:ident { $($v:ident = $c:literal,)* }) => {
        $(#[$doc])*
        ///
        /// Codes this version does not name are kept as `Other`, so that a newer peer's
        /// messages still read.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($v,)*
            Other(u32),
        }

        impl $name {
            pub fn from_code(code: u32) -> $name {
                match code {
                    $($c => $name::$v,)*
                    c => $name::Other(c),
                }
            }

            pub fn code(self) -> u32 {
                match self {
                    $($name::$v => $c,)*
                    $name::Other(c) => c,
                }
            }
        }
    };
}

open_enum! {
    /// What an activity is (`actBuild`…).
    ActivityType {
        Unknown = 0,
        CopyPath = 100,
        FileTransfer = 101,
        Realise = 102,
        CopyPaths = 103,
        Builds = 104,
        Build = 105,
        OptimiseStore = 106,
        VerifyPaths = 107,
        Substitute = 108,
        QueryPathInfo = 109,
        PostBuildHook = 110,
        BuildWaiting = 111,
    }
}

open_enum! {
    /// What an activity reports (`resBuildLogLine`…).
    ResultType {
        FileLinked = 100,
        BuildLogLine = 101,
        UntrustedPath = 102,
        CorruptedPath = 103,
        SetPhase = 104,
        Progress = 105,
        SetExpected = 106,
        PostBuildLogLine = 107,
    }
}

/// One field of an activity or result: type 0 and a word, or type 1 and a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Int(u64),
    /// Bytes: build log lines are not always UTF-8.
    String(Vec<u8>),
}

fn read_fields<R: Read + ?Sized>(r: &mut R) -> Result<Vec<Field>> {
    let n = read_u32(r, "number of fields")?;
    let mut v = Vec::new();
    for _ in 0..n {
        match read_u32(r, "field type")? {
            0 => v.push(Field::Int(read_u64(r)?)),
            1 => v.push(Field::String(read_bytes(r)?)),
            t => {
                return Err(WireError::UnknownValue {
                    what: "field type",
                    value: u64::from(t),
                })
            }
        }
    }
    Ok(v)
}

fn write_fields<W: Write + ?Sized>(w: &mut W, fields: &[Field]) -> Result<()> {
    write_u64(w, fields.len() as u64)?;
    for f in fields {
        match f {
            Field::Int(i) => {
                write_u64(w, 0)?;
                write_u64(w, *i)?;
            }
            Field::String(s) => {
                write_u64(w, 1)?;
                write_bytes(w, s)?;
            }
        }
    }
    Ok(())
}

/// An error the server reports for an operation.
///
/// From 1.26 it is structured: the word `Error`, the level, a name (always `Error`, and
/// ignored), the message, a position (always 0, none), and the traces, each a position (0)
/// and a text. Before, it is the message and an exit status. Each form carries defaults for
/// the other's fields: level `ERROR`, status 1, no traces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    pub level: Verbosity,
    /// The message as the server renders it (it may quote build output).
    pub message: Vec<u8>,
    /// The error's traces, outermost last, as rendered text.
    pub traces: Vec<Vec<u8>>,
    /// The exit status the client should use (legacy form only).
    pub status: u32,
}

impl RemoteError {
    /// An error at level `ERROR` with exit status 1 and no traces.
    pub fn new(message: impl Into<Vec<u8>>) -> RemoteError {
        RemoteError {
            level: Verbosity::ERROR,
            message: message.into(),
            traces: Vec::new(),
            status: 1,
        }
    }

    pub fn read<R: Read + ?Sized>(r: &mut R, ver: Version) -> Result<RemoteError> {
        if !ver.at_least(26) {
            let message = read_bytes(r)?;
            let status = read_u32(r, "exit status")?;
            return Ok(RemoteError {
                status,
                ..RemoteError::new(message)
            });
        }
        let kind = read_string(r, "error kind")?;
        if kind != "Error" {
            return Err(WireError::BadText {
                what: "error kind",
                text: kind,
            });
        }
        let level = Verbosity(read_u32(r, "error level")?);
        read_bytes(r)?; // the name, no longer used
        let message = read_bytes(r)?;
        if read_u64(r)? != 0 {
            return Err(WireError::ErrorPosition);
        }
        let mut traces = Vec::new();
        for _ in 0..read_count(r)? {
            if read_u64(r)? != 0 {
                return Err(WireError::ErrorPosition);
            }
            traces.push(read_bytes(r)?);
        }
        Ok(RemoteError {
            level,
            message,
            traces,
            status: 1,
        })
    }

    pub fn write<W: Write + ?Sized>(&self, w: &mut W, ver: Version) -> Result<()> {
        if !ver.at_least(26) {
            write_bytes(w, &self.message)?;
            return write_u64(w, u64::from(self.status));
        }
        write_string(w, "Error")?;
        write_u64(w, u64::from(self.level.0))?;
        write_string(w, "Error")?;
        write_bytes(w, &self.message)?;
        write_u64(w, 0)?;
        write_u64(w, self.traces.len() as u64)?;
        for t in &self.traces {
            write_u64(w, 0)?;
            write_bytes(w, t)?;
        }
        Ok(())
    }
}

/// A message of the side channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StderrMsg {
    /// A log line (with its newline, as the server sends it).
    Next(Vec<u8>),
    /// The server asks for up to this many bytes; the client answers with a byte string.
    Read(u64),
    /// Data for the client.
    Write(Vec<u8>),
    /// The log is over and the reply follows.
    Last,
    /// The operation failed.
    Error(RemoteError),
    /// From 1.20.
    StartActivity {
        id: u64,
        level: Verbosity,
        kind: ActivityType,
        text: Vec<u8>,
        fields: Vec<Field>,
        parent: u64,
    },
    /// From 1.20.
    StopActivity { id: u64 },
    /// From 1.20.
    Result {
        id: u64,
        kind: ResultType,
        fields: Vec<Field>,
    },
}

impl StderrMsg {
    /// The code word of the message.
    pub fn code(&self) -> u64 {
        match self {
            StderrMsg::Next(_) => STDERR_NEXT,
            StderrMsg::Read(_) => STDERR_READ,
            StderrMsg::Write(_) => STDERR_WRITE,
            StderrMsg::Last => STDERR_LAST,
            StderrMsg::Error(_) => STDERR_ERROR,
            StderrMsg::StartActivity { .. } => STDERR_START_ACTIVITY,
            StderrMsg::StopActivity { .. } => STDERR_STOP_ACTIVITY,
            StderrMsg::Result { .. } => STDERR_RESULT,
        }
    }

    /// Reads one message.
    pub fn read<R: Read + ?Sized>(r: &mut R, ver: Version) -> Result<StderrMsg> {
        let code = read_u64(r)?;
        Ok(match code {
            STDERR_NEXT => StderrMsg::Next(read_bytes(r)?),
            STDERR_READ => StderrMsg::Read(read_u64(r)?),
            STDERR_WRITE => StderrMsg::Write(read_bytes(r)?),
            STDERR_LAST => StderrMsg::Last,
            STDERR_ERROR => StderrMsg::Error(RemoteError::read(r, ver)?),
            STDERR_START_ACTIVITY => StderrMsg::StartActivity {
                id: read_u64(r)?,
                level: Verbosity(read_u32(r, "activity level")?),
                kind: ActivityType::from_code(read_u32(r, "activity type")?),
                text: read_bytes(r)?,
                fields: read_fields(r)?,
                parent: read_u64(r)?,
            },
            STDERR_STOP_ACTIVITY => StderrMsg::StopActivity { id: read_u64(r)? },
            STDERR_RESULT => StderrMsg::Result {
                id: read_u64(r)?,
                kind: ResultType::from_code(read_u32(r, "result type")?),
                fields: read_fields(r)?,
            },
            other => return Err(WireError::UnknownStderr(other)),
        })
    }

    /// Writes one message. Activities and results cannot be sent before 1.20: see
    /// [`StderrMsg::for_version`].
    pub fn write<W: Write + ?Sized>(&self, w: &mut W, ver: Version) -> Result<()> {
        if matches!(
            self,
            StderrMsg::StartActivity { .. }
                | StderrMsg::StopActivity { .. }
                | StderrMsg::Result { .. }
        ) && !ver.at_least(20)
        {
            return Err(WireError::NotInVersion {
                what: "an activity message",
                version: ver,
            });
        }
        write_u64(w, self.code())?;
        match self {
            StderrMsg::Next(s) | StderrMsg::Write(s) => write_bytes(w, s),
            StderrMsg::Read(n) => write_u64(w, *n),
            StderrMsg::Last => Ok(()),
            StderrMsg::Error(e) => e.write(w, ver),
            StderrMsg::StartActivity {
                id,
                level,
                kind,
                text,
                fields,
                parent,
            } => {
                write_u64(w, *id)?;
                write_u64(w, u64::from(level.0))?;
                write_u64(w, u64::from(kind.code()))?;
                write_bytes(w, text)?;
                write_fields(w, fields)?;
                write_u64(w, *parent)
            }
            StderrMsg::StopActivity { id } => write_u64(w, *id),
            StderrMsg::Result { id, kind, fields } => {
                write_u64(w, *id)?;
                write_u64(w, u64::from(kind.code()))?;
                write_fields(w, fields)
            }
        }
    }

    /// What a server sends for this message to a client of version `ver`: before 1.20 an
    /// activity with a text becomes the log line `<text>...`, and other activity messages
    /// are dropped. (Filtering by the client's verbosity is the server's business.)
    pub fn for_version(self, ver: Version) -> Option<StderrMsg> {
        if ver.at_least(20) {
            return Some(self);
        }
        match self {
            StderrMsg::StartActivity { text, .. } if !text.is_empty() => {
                let mut line = text;
                line.extend_from_slice(b"...\n");
                Some(StderrMsg::Next(line))
            }
            StderrMsg::StartActivity { .. }
            | StderrMsg::StopActivity { .. }
            | StderrMsg::Result { .. } => None,
            m => Some(m),
        }
    }
}

/// The most a [`TunnelReader`] asks for at once, and the most a client answers with
/// ([`answer_read`]): a peer's `STDERR_READ` length is not trusted.
pub const MAX_READ_REQUEST: usize = 64 * 1024;

/// The server's reader of data the client sends on request (`ImportPaths`, and
/// `AddToStoreNar` in 1.21 and 1.22): each read sends `STDERR_READ` with a length, and the
/// client answers with a byte string of at most that many bytes; an empty one is the end.
pub struct TunnelReader<R, W> {
    from: R,
    to: W,
    done: bool,
}

impl<R: Read, W: Write> TunnelReader<R, W> {
    pub fn new(from: R, to: W) -> Self {
        TunnelReader {
            from,
            to,
            done: false,
        }
    }

    pub fn into_inner(self) -> (R, W) {
        (self.from, self.to)
    }
}

fn io_error(e: WireError) -> std::io::Error {
    match e {
        WireError::Io(e) => e,
        WireError::Eof => std::io::ErrorKind::UnexpectedEof.into(),
        e => std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
    }
}

impl<R: Read, W: Write> Read for TunnelReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() || self.done {
            return Ok(0);
        }
        let want = buf.len().min(MAX_READ_REQUEST);
        StderrMsg::Read(want as u64)
            .write(&mut self.to, Version::CURRENT)
            .map_err(io_error)?;
        self.to.flush()?;
        let data = crate::codec::read_bytes_max(&mut self.from, want as u64).map_err(io_error)?;
        if data.is_empty() {
            self.done = true;
        }
        buf[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }
}

/// The client's answer to `STDERR_READ` of `len` bytes: up to that many (and at most
/// [`MAX_READ_REQUEST`]) read from `source`, sent as a byte string. Returns how many; 0
/// tells the server the data is over.
pub fn answer_read<R, W>(source: &mut R, w: &mut W, len: u64) -> Result<usize>
where
    R: Read + ?Sized,
    W: Write + ?Sized,
{
    let n = usize::try_from(len).map_or(MAX_READ_REQUEST, |l| l.min(MAX_READ_REQUEST));
    let mut buf = vec![0u8; n];
    let got = loop {
        match source.read(&mut buf) {
            Ok(got) => break got,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    };
    write_bytes(w, &buf[..got])?;
    w.flush()?;
    Ok(got)
}

/// The server's writer of data for the client (`ExportPath`): each write goes out as a
/// `STDERR_WRITE` message.
pub struct TunnelWriter<W> {
    to: W,
}

impl<W: Write> TunnelWriter<W> {
    pub fn new(to: W) -> Self {
        TunnelWriter { to }
    }

    pub fn into_inner(self) -> W {
        self.to
    }
}

impl<W: Write> Write for TunnelWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        write_u64(&mut self.to, STDERR_WRITE).map_err(io_error)?;
        write_bytes(&mut self.to, data).map_err(io_error)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.to.flush()
    }
}
