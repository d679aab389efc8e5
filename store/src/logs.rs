//! Where build logs are kept: `<log dir>/drvs/<2 chars>/<rest>[.bz2]`.

use crate::path::StorePath;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Where the compressed log of `drv` goes: `<log dir>/drvs/<2 chars>/<rest>.bz2`.
pub fn log_path(log_dir: &Path, drv: &StorePath) -> PathBuf {
    let base = drv.base_name();
    log_dir
        .join("drvs")
        .join(&base[..2])
        .join(format!("{}.bz2", &base[2..]))
}

/// The build log of `drv`, decompressed, if one was kept (compressed or not).
pub fn read_log(log_dir: &Path, drv: &StorePath) -> io::Result<Option<Vec<u8>>> {
    let base = drv.base_name();
    let dir = log_dir.join("drvs").join(&base[..2]);
    let plain = dir.join(&base[2..]);
    if let Ok(data) = fs::read(&plain) {
        return Ok(Some(data));
    }
    match File::open(log_path(log_dir, drv)) {
        Ok(f) => {
            let mut out = Vec::new();
            bzip2::read::MultiBzDecoder::new(f).read_to_end(&mut out)?;
            Ok(Some(out))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Keeps `log` as the compressed build log of `drv` (replacing an earlier one).
pub fn write_log(log_dir: &Path, drv: &StorePath, log: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let p = log_path(log_dir, drv);
    if let Some(d) = p.parent() {
        fs::create_dir_all(d)?;
    }
    let tmp = p.with_extension("tmp");
    let mut enc = bzip2::write::BzEncoder::new(File::create(&tmp)?, bzip2::Compression::default());
    enc.write_all(log)?;
    enc.finish()?;
    fs::rename(&tmp, &p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_logs_read_back() {
        let d = tempfile::tempdir().unwrap();
        let drv = StorePath::from_base_name("ivlnvab4q9c7wbsvbfsvgaa15j9p6206-x.drv").unwrap();
        assert_eq!(read_log(d.path(), &drv).unwrap(), None);
        write_log(d.path(), &drv, b"line one\nline two\n").unwrap();
        assert_eq!(
            read_log(d.path(), &drv).unwrap().as_deref(),
            Some(&b"line one\nline two\n"[..])
        );
    }
}
