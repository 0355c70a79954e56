//! Opening a filestore file without following any symbolic link: a build runs
//! its branch's code, which may plant links in its filestore.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Opens `relative` (no `..`, not absolute) under the directory `root` for
/// reading; any symbolic link on the way is an error (`ELOOP`), as is leaving
/// `root`.
pub(crate) fn open_beneath(root: &File, relative: &Path) -> io::Result<File> {
    let path = CString::new(relative.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a path"))?;
    // SAFETY: open_how is plain data; all zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `path` is a NUL-terminated string and `how` a valid open_how,
    // both alive for the call; the returned descriptor is owned by the File.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(unsafe { File::from_raw_fd(fd as i32) })
}

/// A relative path of plain names (what Odoo's `store_fname` is: `ab/abcdef…`).
pub(crate) fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("ab")).unwrap();
        std::fs::write(dir.path().join("ab/file"), b"x").unwrap();
        std::fs::write(dir.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), dir.path().join("ab/link")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("ab"), dir.path().join("cd")).unwrap();
        let root = File::open(dir.path()).unwrap();
        assert!(open_beneath(&root, Path::new("ab/file")).is_ok());
        assert!(open_beneath(&root, Path::new("ab/link")).is_err());
        assert!(open_beneath(&root, Path::new("cd/file")).is_err());
        assert!(open_beneath(&root, Path::new("../x")).is_err());
    }

    #[test]
    fn only_plain_relative_paths() {
        assert!(is_plain_relative("ab/abcdef0123"));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "ab/../../x",
            "ab//c",
            "a b",
            "./x",
        ] {
            assert!(!is_plain_relative(bad), "{bad}");
        }
    }
}
