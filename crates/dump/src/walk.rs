//! The filestore's regular files, without ever following a symbolic link.
//!
//! A build runs its branch's code, which can write anything into its filestore,
//! symbolic links included, and swap a directory for a link while it is read.
//! So every step opens relative to an already opened directory with
//! `O_NOFOLLOW`: a link is never followed, whenever it appears.

use std::ffi::{CStr, CString};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Deeper directories are left out (Odoo's filestore is two levels deep).
const MAX_DEPTH: usize = 32;

/// A filestore entry that is not in the dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Relative to the filestore (lossy for names that are not UTF-8).
    pub path: String,
    pub reason: SkipReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    SymbolicLink,
    /// A FIFO, socket or device.
    NotARegularFile,
    /// The filestore itself is a file.
    NotADirectory,
    /// Zip entry names are text.
    NameNotUtf8,
    TooDeep,
    /// Removed or replaced while the dump was read (e.g. attachments collected
    /// by a running Odoo).
    Vanished,
}

/// What the walk finds.
pub(crate) enum Entry {
    /// `path` relative to the root, `/`-separated; `file` opened for reading.
    File {
        path: String,
        file: File,
        metadata: Metadata,
    },
    Skipped(Skipped),
}

struct PendingDir {
    parent: Rc<OwnedFd>,
    name: CString,
    path: String,
    depth: usize,
}

/// The last components of the filestore's path that are in the build's hands
/// (`filestore/<db>` in its data dir): never followed if they are links.
const UNTRUSTED_COMPONENTS: usize = 2;

/// Calls `visit` for every regular file under `root` (files of a directory
/// before its sub-directories, each in name order, as Odoo's zip_dir walks) and
/// every entry left out. A missing `root` has no files. Links in the last two
/// components of `root` are not followed either (see [`UNTRUSTED_COMPONENTS`]);
/// such a root is one skipped entry named `.`.
pub(crate) fn walk<E>(
    root: &Path,
    mut visit: impl FnMut(Entry) -> Result<(), E>,
    io_error: impl Fn(&'static str, PathBuf, io::Error) -> E,
) -> Result<(), E> {
    let root_fd = match open_root(root).map_err(|e| io_error("opening", root.to_path_buf(), e))? {
        Root::Dir(fd) => fd,
        Root::Missing => return Ok(()),
        Root::Skipped(reason) => {
            return visit(Entry::Skipped(Skipped {
                path: ".".to_string(),
                reason,
            }))
        }
    };
    let mut stack = vec![];
    list_into(
        Rc::new(root_fd),
        String::new(),
        0,
        root,
        &mut stack,
        &mut visit,
        &io_error,
    )?;
    while let Some(dir) = stack.pop() {
        let full_path = root.join(&dir.path);
        if dir.depth > MAX_DEPTH {
            visit(Entry::Skipped(Skipped {
                path: dir.path,
                reason: SkipReason::TooDeep,
            }))?;
            continue;
        }
        let fd = match open_at(&dir.parent, &dir.name, libc::O_DIRECTORY) {
            Ok(fd) => fd,
            Err(error) => match vanished_or_link(&error) {
                Some(reason) => {
                    visit(Entry::Skipped(Skipped {
                        path: dir.path,
                        reason,
                    }))?;
                    continue;
                }
                None => return Err(io_error("opening", full_path, error)),
            },
        };
        drop(dir.parent);
        list_into(
            Rc::new(fd),
            dir.path,
            dir.depth,
            &full_path,
            &mut stack,
            &mut visit,
            &io_error,
        )?;
    }
    Ok(())
}

enum Root {
    Dir(OwnedFd),
    Missing,
    Skipped(SkipReason),
}

fn open_root(root: &Path) -> io::Result<Root> {
    let mut names = vec![];
    let mut trusted = root;
    while names.len() < UNTRUSTED_COMPONENTS {
        match (trusted.parent(), trusted.file_name()) {
            (Some(parent), Some(name)) => {
                names.push(name);
                trusted = parent;
            }
            _ => break,
        }
    }
    if trusted.as_os_str().is_empty() {
        trusted = Path::new(".");
    }
    let mut fd = match File::open(trusted) {
        Ok(file) => OwnedFd::from(file),
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Root::Missing),
        Err(error) => return Err(error),
    };
    for name in names.into_iter().rev() {
        use std::os::unix::ffi::OsStrExt;
        let name = CString::new(name.as_bytes()).map_err(io::Error::other)?;
        fd = match open_at(&fd, &name, libc::O_DIRECTORY) {
            Ok(next) => next,
            Err(error) => {
                return match error.raw_os_error() {
                    Some(libc::ENOENT) => Ok(Root::Missing),
                    Some(libc::ELOOP) => Ok(Root::Skipped(SkipReason::SymbolicLink)),
                    Some(libc::ENOTDIR) => Ok(Root::Skipped(match kind_at(&fd, &name)? {
                        libc::DT_LNK => SkipReason::SymbolicLink,
                        _ => SkipReason::NotADirectory,
                    })),
                    _ => Err(error),
                }
            }
        };
    }
    Ok(Root::Dir(fd))
}

/// Visits the files of the directory `fd` and pushes its sub-directories.
fn list_into<E>(
    fd: Rc<OwnedFd>,
    path: String,
    depth: usize,
    full_path: &Path,
    stack: &mut Vec<PendingDir>,
    visit: &mut impl FnMut(Entry) -> Result<(), E>,
    io_error: &impl Fn(&'static str, PathBuf, io::Error) -> E,
) -> Result<(), E> {
    let names = list(&fd).map_err(|e| io_error("listing", full_path.to_path_buf(), e))?;
    let mut dirs = vec![];
    for (name, kind) in names {
        let child_path = match name.to_str() {
            Ok(text) if path.is_empty() => text.to_string(),
            Ok(text) => format!("{path}/{text}"),
            Err(_) => {
                let lossy = name.to_string_lossy();
                visit(Entry::Skipped(Skipped {
                    path: if path.is_empty() {
                        lossy.into_owned()
                    } else {
                        format!("{path}/{lossy}")
                    },
                    reason: SkipReason::NameNotUtf8,
                }))?;
                continue;
            }
        };
        let kind = match kind {
            libc::DT_UNKNOWN => match kind_at(&fd, &name) {
                Ok(kind) => kind,
                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                    visit(Entry::Skipped(Skipped {
                        path: child_path,
                        reason: SkipReason::Vanished,
                    }))?;
                    continue;
                }
                Err(error) => {
                    return Err(io_error("reading", full_path.join(name_os(&name)), error))
                }
            },
            known => known,
        };
        match kind {
            libc::DT_DIR => dirs.push(PendingDir {
                parent: fd.clone(),
                name,
                path: child_path,
                depth: depth + 1,
            }),
            libc::DT_REG => {
                let skipped = |reason| {
                    Entry::Skipped(Skipped {
                        path: child_path.clone(),
                        reason,
                    })
                };
                let file = match open_at(&fd, &name, 0) {
                    Ok(file) => File::from(file),
                    Err(error) => match vanished_or_link(&error) {
                        Some(reason) => {
                            visit(skipped(reason))?;
                            continue;
                        }
                        None => {
                            return Err(io_error("opening", full_path.join(name_os(&name)), error))
                        }
                    },
                };
                let metadata = file
                    .metadata()
                    .map_err(|e| io_error("reading", full_path.join(name_os(&name)), e))?;
                if metadata.is_file() {
                    visit(Entry::File {
                        path: child_path,
                        file,
                        metadata,
                    })?;
                } else {
                    // Replaced by something else since it was listed.
                    visit(skipped(SkipReason::Vanished))?;
                }
            }
            libc::DT_LNK => visit(Entry::Skipped(Skipped {
                path: child_path,
                reason: SkipReason::SymbolicLink,
            }))?,
            _ => visit(Entry::Skipped(Skipped {
                path: child_path,
                reason: SkipReason::NotARegularFile,
            }))?,
        }
    }
    // Popped in name order.
    stack.extend(dirs.into_iter().rev());
    Ok(())
}

fn name_os(name: &CStr) -> &std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(name.to_bytes())
}

fn vanished_or_link(error: &io::Error) -> Option<SkipReason> {
    match error.raw_os_error() {
        Some(libc::ENOENT) => Some(SkipReason::Vanished),
        // O_NOFOLLOW on a link; O_DIRECTORY on what is no longer a directory.
        Some(libc::ELOOP) => Some(SkipReason::SymbolicLink),
        Some(libc::ENOTDIR) => Some(SkipReason::Vanished),
        _ => None,
    }
}

/// `openat(dir, name)` read-only, never following a link, never blocking on a
/// FIFO, never becoming a controlling terminal.
fn open_at(dir: &OwnedFd, name: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY
                | libc::O_NOFOLLOW
                | libc::O_CLOEXEC
                | libc::O_NONBLOCK
                | libc::O_NOCTTY
                | flags,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor openat just returned, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The `d_type` of `name` in `dir`, for file systems whose listings leave it out.
fn kind_at(dir: &OwnedFd, name: &CStr) -> io::Result<u8> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `stat` is written by fstatat when it returns 0.
    let result = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            stat.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    let mode = unsafe { stat.assume_init() }.st_mode & libc::S_IFMT;
    Ok(match mode {
        libc::S_IFDIR => libc::DT_DIR,
        libc::S_IFREG => libc::DT_REG,
        libc::S_IFLNK => libc::DT_LNK,
        _ => libc::DT_UNKNOWN,
    })
}

/// Names and types of the entries of the directory `dir`, sorted, without `.`
/// and `..`.
fn list(dir: &OwnedFd) -> io::Result<Vec<(CString, u8)>> {
    // fdopendir takes the descriptor over: give it a copy.
    let copy = unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    let stream = unsafe { libc::fdopendir(copy) };
    if stream.is_null() {
        let error = io::Error::last_os_error();
        unsafe { libc::close(copy) };
        return Err(error);
    }
    let mut entries = vec![];
    let result = loop {
        // readdir tells the end from an error by errno only.
        unsafe { *libc::__errno_location() = 0 };
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            let error = io::Error::last_os_error();
            break match error.raw_os_error() {
                Some(0) | None => Ok(()),
                Some(_) => Err(error),
            };
        }
        // SAFETY: readdir returned a valid entry, valid until the next call.
        let (name, kind) = unsafe {
            (
                CStr::from_ptr((*entry).d_name.as_ptr()).to_owned(),
                (*entry).d_type,
            )
        };
        if name.as_bytes() != b"." && name.as_bytes() != b".." {
            entries.push((name, kind));
        }
    };
    unsafe { libc::closedir(stream) };
    result?;
    entries.sort();
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn collect(root: &Path) -> (Vec<String>, Vec<Skipped>) {
        let mut files = vec![];
        let mut skipped = vec![];
        walk(
            root,
            |entry| {
                match entry {
                    Entry::File { path, .. } => files.push(path),
                    Entry::Skipped(skip) => skipped.push(skip),
                }
                Ok::<(), io::Error>(())
            },
            |_, _, error| error,
        )
        .unwrap();
        (files, skipped)
    }

    #[test]
    fn files_come_before_sub_directories_in_name_order_and_links_are_left_out() {
        let temp = tempfile::tempdir().unwrap();
        let outside = temp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("secret"), "secret").unwrap();
        let root = temp.path().join("fs");
        for dir in ["b/x", "a", "c"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for file in ["z", "a/2", "a/1", "b/x/deep", "b/0"] {
            std::fs::write(root.join(file), file).unwrap();
        }
        symlink(outside.join("secret"), root.join("a/link")).unwrap();
        symlink(&outside, root.join("c/dir_link")).unwrap();
        symlink("../z", root.join("c/inside_link")).unwrap();
        let fifo = CString::new(root.join("c/fifo").to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);

        let (files, skipped) = collect(&root);
        assert_eq!(files, ["z", "a/1", "a/2", "b/0", "b/x/deep"]);
        let skipped: Vec<(&str, SkipReason)> = skipped
            .iter()
            .map(|skip| (skip.path.as_str(), skip.reason))
            .collect();
        assert_eq!(
            skipped,
            [
                ("a/link", SkipReason::SymbolicLink),
                ("c/dir_link", SkipReason::SymbolicLink),
                ("c/fifo", SkipReason::NotARegularFile),
                ("c/inside_link", SkipReason::SymbolicLink),
            ]
        );
    }

    #[test]
    fn very_deep_trees_are_cut() {
        let temp = tempfile::tempdir().unwrap();
        let mut deep = temp.path().to_path_buf();
        for _ in 0..MAX_DEPTH + 2 {
            deep.push("d");
        }
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("f"), "f").unwrap();
        std::fs::write(temp.path().join("top"), "top").unwrap();
        let (files, skipped) = collect(temp.path());
        assert_eq!(files, ["top"]);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].reason, SkipReason::TooDeep);
    }

    #[test]
    fn the_filestore_and_its_parent_are_not_followed_if_links() {
        let temp = tempfile::tempdir().unwrap();
        let data = temp.path().join("data");
        let elsewhere = temp.path().join("elsewhere");
        std::fs::create_dir_all(elsewhere.join("db")).unwrap();
        std::fs::write(elsewhere.join("db/secret"), "secret").unwrap();
        std::fs::create_dir_all(data.join("filestore")).unwrap();

        // Missing: nothing, as for Odoo.
        assert_eq!(collect(&data.join("filestore/db")), (vec![], vec![]));
        assert_eq!(
            collect(&temp.path().join("none/filestore/db")),
            (vec![], vec![])
        );

        let root_skipped = |path: &Path| {
            let (files, skipped) = collect(path);
            assert!(files.is_empty(), "{files:?}");
            assert_eq!(skipped.len(), 1, "{skipped:?}");
            assert_eq!(skipped[0].path, ".");
            skipped[0].reason
        };
        symlink(elsewhere.join("db"), data.join("filestore/db")).unwrap();
        assert_eq!(
            root_skipped(&data.join("filestore/db")),
            SkipReason::SymbolicLink
        );
        std::fs::remove_file(data.join("filestore/db")).unwrap();

        std::fs::remove_dir(data.join("filestore")).unwrap();
        symlink(&elsewhere, data.join("filestore")).unwrap();
        assert_eq!(
            root_skipped(&data.join("filestore/db")),
            SkipReason::SymbolicLink
        );
        std::fs::remove_file(data.join("filestore")).unwrap();

        std::fs::create_dir(data.join("filestore")).unwrap();
        std::fs::write(data.join("filestore/db"), "not a directory").unwrap();
        assert_eq!(
            root_skipped(&data.join("filestore/db")),
            SkipReason::NotADirectory
        );

        // The trusted part of the path may be a link (e.g. a data dir moved to
        // another disk).
        let moved = temp.path().join("moved");
        std::fs::create_dir_all(moved.join("filestore/db")).unwrap();
        std::fs::write(moved.join("filestore/db/f"), "f").unwrap();
        symlink(&moved, temp.path().join("data_link")).unwrap();
        assert_eq!(
            collect(&temp.path().join("data_link/filestore/db")),
            (vec!["f".to_string()], vec![])
        );
    }
}
