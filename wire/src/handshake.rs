//! The greeting that opens a connection.
//!
//! | client sends                  | server sends                      |
//! |-------------------------------|-----------------------------------|
//! | `WORKER_MAGIC_1`              |                                   |
//! |                               | `WORKER_MAGIC_2`, its version     |
//! | its version                   |                                   |
//! | from 1.14: 0 (no CPU affinity; a non-zero word is followed by the obsolete affinity) | |
//! | from 1.11: 0 (obsolete `reserveSpace`) |                          |
//! |                               | from 1.33: its Nix version string |
//!
//! The conditions test the lower of the two versions. After the greeting the server sends
//! log messages ended by `STDERR_LAST` (or an error if it refuses the client): that is up to
//! the caller, with [`crate::StderrMsg`].

use crate::codec::{read_string, read_u32, read_u64, write_string, write_u64};
use crate::error::{Result, WireError};
use crate::{Version, WORKER_MAGIC_1, WORKER_MAGIC_2};
use std::io::{Read, Write};

/// What the client learns from the server's greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// The version the server announced.
    pub daemon_version: Version,
    /// The version both sides speak: the lower of the two.
    pub version: Version,
    /// The server's Nix version (`2.8.0`), sent from 1.33 on.
    pub nix_version: Option<String>,
}

/// What the server learns from the client's greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// The version the client announced.
    pub client_version: Version,
    /// The version both sides speak: the lower of the two.
    pub version: Version,
    /// The obsolete CPU affinity the client asked for, if any (1.14 and later).
    pub cpu_affinity: Option<u32>,
    /// The obsolete `reserveSpace` flag (1.11 and later).
    pub reserve_space: bool,
}

/// Checks a peer's version: major 1, minor at least 10.
fn check_major(v: Version) -> Result<()> {
    if v.major() != 1 {
        return Err(WireError::UnsupportedMajor(v));
    }
    Ok(())
}

/// The client's side of the greeting, speaking `ours` (normally [`Version::CURRENT`]).
/// Flushes `w` where the server must see what was sent before it answers.
pub fn client_handshake<R, W>(r: &mut R, w: &mut W, ours: Version) -> Result<ServerInfo>
where
    R: Read + ?Sized,
    W: Write + ?Sized,
{
    write_u64(w, WORKER_MAGIC_1)?;
    w.flush()?;
    let magic = read_u64(r)?;
    if magic != WORKER_MAGIC_2 {
        return Err(WireError::BadMagic {
            expected: WORKER_MAGIC_2,
            got: magic,
        });
    }
    let daemon_version = Version(read_u32(r, "protocol version")?);
    check_major(daemon_version)?;
    if daemon_version.minor() < 10 {
        return Err(WireError::DaemonTooOld(daemon_version));
    }
    let version = ours.min(daemon_version);
    write_u64(w, u64::from(ours.0))?;
    if version.at_least(14) {
        write_u64(w, 0)?;
    }
    if version.at_least(11) {
        write_u64(w, 0)?;
    }
    w.flush()?;
    let nix_version = if version.at_least(33) {
        Some(read_string(r, "Nix version")?)
    } else {
        None
    };
    Ok(ServerInfo {
        daemon_version,
        version,
        nix_version,
    })
}

/// The server's side of the greeting, speaking `ours` (normally [`Version::CURRENT`]) and
/// announcing `nix_version` to clients of 1.33 and later. Clients of another major version
/// or older than 1.10 are refused.
pub fn server_handshake<R, W>(
    r: &mut R,
    w: &mut W,
    ours: Version,
    nix_version: &str,
) -> Result<ClientInfo>
where
    R: Read + ?Sized,
    W: Write + ?Sized,
{
    let magic = u64::from(read_u32(r, "magic number")?);
    if magic != WORKER_MAGIC_1 {
        return Err(WireError::BadMagic {
            expected: WORKER_MAGIC_1,
            got: magic,
        });
    }
    write_u64(w, WORKER_MAGIC_2)?;
    write_u64(w, u64::from(ours.0))?;
    w.flush()?;
    let client_version = Version(read_u32(r, "protocol version")?);
    check_major(client_version)?;
    if client_version < Version::OLDEST {
        return Err(WireError::ClientTooOld(client_version));
    }
    let version = ours.min(client_version);
    let mut cpu_affinity = None;
    if version.at_least(14) && read_u32(r, "CPU affinity flag")? != 0 {
        cpu_affinity = Some(read_u32(r, "CPU affinity")?);
    }
    let reserve_space = version.at_least(11) && read_u32(r, "reserveSpace")? != 0;
    if version.at_least(33) {
        write_string(w, nix_version)?;
    }
    w.flush()?;
    Ok(ClientInfo {
        client_version,
        version,
        cpu_affinity,
        reserve_space,
    })
}
