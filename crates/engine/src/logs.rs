//! The log files of a build, one name each: the engine writes them, the
//! server lists, streams and serves them, the CLI follows them.

/// One log file of a build, in the order a build writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogFile {
    /// pip installing the repository's Python requirements.
    Requirements,
    /// Odoo building a template database (a development build's outside
    /// dependencies).
    Template,
    /// A development build's Odoo: install and tests.
    Tests,
    /// Neutralization of a copy of production (Odoo's command, then slipway's).
    Neutralize,
    /// A deployment on a new database: the modules installed.
    Install,
    /// A deployment on a copy: the changed modules updated.
    Update,
    /// The served Odoo's own log, appended while the build serves.
    Server,
}

impl LogFile {
    /// Every log file, in the order a build writes them.
    pub const ALL: [LogFile; 7] = [
        LogFile::Requirements,
        LogFile::Template,
        LogFile::Tests,
        LogFile::Neutralize,
        LogFile::Install,
        LogFile::Update,
        LogFile::Server,
    ];

    /// The files of the build's run, without the served Odoo's (which grows
    /// for as long as the build serves): the stream `slipway logs` follows.
    pub const RUN: [LogFile; 6] = [
        LogFile::Requirements,
        LogFile::Template,
        LogFile::Tests,
        LogFile::Neutralize,
        LogFile::Install,
        LogFile::Update,
    ];

    /// The file's name in the build's log directory.
    pub fn file_name(self) -> &'static str {
        match self {
            LogFile::Requirements => "pip.log",
            LogFile::Template => "template.log",
            LogFile::Tests => "odoo.log",
            LogFile::Neutralize => "neutralize.log",
            LogFile::Install => "install.log",
            LogFile::Update => "update.log",
            LogFile::Server => "server.log",
        }
    }

    /// What the file holds, in a word or two (the build page's tab).
    pub fn title(self) -> &'static str {
        match self {
            LogFile::Requirements => "requirements",
            LogFile::Template => "template",
            LogFile::Tests => "install & tests",
            LogFile::Neutralize => "neutralize",
            LogFile::Install => "install",
            LogFile::Update => "update",
            LogFile::Server => "odoo server",
        }
    }

    /// The log file of that name, if it is one.
    pub fn from_file_name(name: &str) -> Option<LogFile> {
        LogFile::ALL
            .into_iter()
            .find(|file| file.file_name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_log_file_has_its_own_name_and_reads_back_from_it() {
        for file in LogFile::ALL {
            assert_eq!(LogFile::from_file_name(file.file_name()), Some(file));
        }
        let mut names: Vec<_> = LogFile::ALL.iter().map(|file| file.file_name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), LogFile::ALL.len());
        assert_eq!(LogFile::from_file_name("../etc/passwd"), None);
        assert!(!LogFile::RUN.contains(&LogFile::Server));
    }
}
