//! Root confinement: a requested name may only ever open a regular file under the root.
//!
//! The root is canonicalized once, at start-up. A request is refused outright if it is
//! absolute or has a `..` component; otherwise it is joined to the root and canonicalized,
//! which resolves every symlink, and the result must still lie under the root (so a symlink
//! that leads outside is refused, one that stays inside is followed). The canonical path is
//! then opened with `O_NOFOLLOW`, so a symlink swapped in at the last component after the
//! check is not followed either.
//!
//! `canonicalize`, `metadata` and `open` are blocking filesystem calls made inside the loop,
//! once per request. On a local disk they take microseconds and touch only metadata; a root
//! on a slow network filesystem would stall every client during each. (Linux's `openat2`
//! with `RESOLVE_BENEATH` would do the check and the open in one call.)

use log::debug;
use std::ffi::OsStr;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// The directory files are served from, canonical.
#[derive(Clone, Debug)]
pub struct Root(PathBuf);

/// A file that may be served, open, with its metadata as of the open.
#[derive(Debug)]
pub struct Opened {
    pub file: File,
    pub meta: Metadata,
}

/// Why a name does not lead to a file we serve: each is one `ERR` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Empty, or a NUL byte.
    BadName,
    /// Absolute, `..`, or a symlink that leads out of the root.
    Outside,
    NotFound,
    Directory,
    /// A device, FIFO or socket.
    NotRegular,
    /// The server may not read it.
    Unreadable,
}

impl Refusal {
    pub fn code(self) -> u16 {
        match self {
            Refusal::BadName => 400,
            Refusal::NotFound => 404,
            Refusal::Outside | Refusal::Directory | Refusal::NotRegular | Refusal::Unreadable => 403,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::BadName => "bad file name",
            Refusal::Outside => "not allowed",
            Refusal::NotFound => "not found",
            Refusal::Directory => "is a directory",
            Refusal::NotRegular => "not a regular file",
            Refusal::Unreadable => "permission denied",
        }
    }
}

impl Root {
    pub fn new(dir: &Path) -> io::Result<Root> {
        let canon = dir.canonicalize()?;
        if !canon.is_dir() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a directory"));
        }
        Ok(Root(canon))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Opens `name` (relative to the root) for reading, if it is a regular file under it.
    pub fn open(&self, name: &[u8]) -> Result<Opened, Refusal> {
        if name.is_empty() || name.contains(&0) {
            return Err(Refusal::BadName);
        }
        let rel = Path::new(OsStr::from_bytes(name));
        if rel.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
            return Err(Refusal::Outside); // `/...`, `..`
        }
        let canon = self.0.join(rel).canonicalize().map_err(|e| refusal(&e))?;
        if !canon.starts_with(&self.0) {
            debug!("{} leads outside the root to {}", rel.display(), canon.display());
            return Err(Refusal::Outside);
        }
        check_kind(&std::fs::metadata(&canon).map_err(|e| refusal(&e))?)?;
        let file = OpenOptions::new()
            .read(true)
            // O_NONBLOCK: should a FIFO be swapped in after the check, the open does not hang.
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&canon)
            .map_err(|e| refusal(&e))?;
        let meta = file.metadata().map_err(|e| refusal(&e))?;
        check_kind(&meta)?;
        Ok(Opened { file, meta })
    }
}

fn check_kind(meta: &Metadata) -> Result<(), Refusal> {
    match () {
        _ if meta.is_file() => Ok(()),
        _ if meta.is_dir() => Err(Refusal::Directory),
        _ => Err(Refusal::NotRegular),
    }
}

fn refusal(e: &io::Error) -> Refusal {
    match e.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => Refusal::Unreadable,
        Some(libc::ELOOP) => Refusal::Outside, // a symlink where none should be
        _ => Refusal::NotFound,                // ENOENT, ENOTDIR, and the rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, Root) {
        let top = tempfile::tempdir().expect("temp dir");
        let root = top.path().join("root");
        std::fs::create_dir_all(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("a.txt"), b"a").expect("write");
        std::fs::write(root.join("sub/b.txt"), b"b").expect("write");
        std::fs::write(top.path().join("secret.txt"), b"s").expect("write");
        symlink(top.path().join("secret.txt"), root.join("out")).expect("symlink");
        symlink(top.path(), root.join("updir")).expect("symlink");
        symlink("sub/b.txt", root.join("in")).expect("symlink");
        let r = Root::new(&root).expect("root");
        (top, r)
    }

    #[test]
    fn files_under_the_root_open() {
        let (_top, root) = tree();
        for ok in [&b"a.txt"[..], b"sub/b.txt", b"./a.txt", b"sub//b.txt", b"in"] {
            assert!(root.open(ok).is_ok(), "{:?}", String::from_utf8_lossy(ok));
        }
    }

    #[test]
    fn traversal_is_refused() {
        let (top, root) = tree();
        let abs = top.path().join("secret.txt");
        for (name, why) in [
            (&b"../secret.txt"[..], Refusal::Outside),
            (b"sub/../../secret.txt", Refusal::Outside),
            (b"sub/../a.txt", Refusal::Outside),
            (abs.as_os_str().as_bytes(), Refusal::Outside),
            (b"/etc/passwd", Refusal::Outside),
            (b"out", Refusal::Outside),
            (b"updir/secret.txt", Refusal::Outside),
            (b"missing", Refusal::NotFound),
            (b"a.txt/x", Refusal::NotFound),
            (b"sub", Refusal::Directory),
            (b".", Refusal::Directory),
            (b"", Refusal::BadName),
            (b"a\0b", Refusal::BadName),
        ] {
            assert_eq!(root.open(name).map(|_| ()), Err(why), "{:?}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn devices_are_refused() {
        let root = Root::new(Path::new("/dev")).expect("/dev");
        assert_eq!(root.open(b"null").map(|_| ()), Err(Refusal::NotRegular));
    }
}
