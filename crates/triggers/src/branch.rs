//! Which branch names slipway accepts.
//!
//! A branch name arrives from outside (a webhook body, `git ls-remote` of a
//! customer's repository) and ends up in git command lines, paths, database
//! names, URLs and logs. Git's own rules (`git check-ref-format --branch`) keep
//! it a valid ref; slipway additionally refuses shell metacharacters, so that a
//! name can never change the meaning of a command or a script it is pasted
//! into, and bounds its length, so that names derived from it (databases,
//! directories, host names) stay within their limits.

use std::fmt;

/// Longest accepted branch name, in bytes. Odoo.sh-style names such as
/// `16.0-fix-invoice-rounding` are far shorter; 200 leaves room for prefixes
/// and suffixes while staying under the 255-byte limit of file names.
pub const MAX_BRANCH_NAME_LEN: usize = 200;

/// Characters git forbids anywhere in a ref name (besides controls and space).
const GIT_FORBIDDEN: &[char] = &['~', '^', ':', '?', '*', '[', '\\'];

/// Characters a shell gives a meaning to; git allows them, slipway does not.
const SHELL_METACHARACTERS: &[char] = &[
    '$', ';', '&', '|', '<', '>', '\'', '"', '`', '(', ')', '{', '}', '!',
];

/// A branch name slipway refuses, and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid branch name {name:?}: {rule}")]
pub struct InvalidBranch {
    /// The name as given.
    pub name: String,
    /// The first rule the name breaks.
    pub rule: BranchRule,
}

/// The rules of [`validate_branch_name`]; each variant says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BranchRule {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_BRANCH_NAME_LEN`] bytes.
    TooLong { len: usize },
    /// An ASCII control character (tab, newline, DEL, ...).
    ControlCharacter,
    /// A space.
    Space,
    /// One of `~ ^ : ? * [ \`, which git gives a meaning to in revisions.
    GitSpecialCharacter(char),
    /// One of `$ ; & | < > ' " ( ) { } !`, or a backtick.
    ShellMetacharacter(char),
    /// `..`, which git reads as a revision range.
    DoubleDot,
    /// `@{`, which git reads as a reflog or upstream suffix.
    AtBrace,
    /// `//`: an empty path component.
    DoubleSlash,
    /// Starts with `-`, so it would be read as a command-line option.
    LeadingDash,
    /// Starts or ends with `/`.
    EdgeSlash,
    /// Ends with `.`.
    TrailingDot,
    /// A `/`-separated component starts with `.` (hidden files, `.`/`..`).
    ComponentStartsWithDot,
    /// A `/`-separated component ends with `.lock`, git's lock file suffix.
    LockSuffix,
    /// The name `@`, which git reads as `HEAD`.
    LoneAt,
    /// The name `HEAD`, which git refuses as a branch name: it would be
    /// ambiguous with the current commit.
    Head,
}

impl fmt::Display for BranchRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("it is empty"),
            Self::TooLong { len } => write!(
                f,
                "it is {len} bytes long, more than the {MAX_BRANCH_NAME_LEN} allowed"
            ),
            Self::ControlCharacter => f.write_str("it contains a control character"),
            Self::Space => f.write_str("it contains a space"),
            Self::GitSpecialCharacter(c) => {
                write!(f, "it contains {c:?}, which git does not allow")
            }
            Self::ShellMetacharacter(c) => write!(
                f,
                "it contains {c:?}, a shell metacharacter slipway does not allow"
            ),
            Self::DoubleDot => f.write_str("it contains \"..\""),
            Self::AtBrace => f.write_str("it contains \"@{\""),
            Self::DoubleSlash => f.write_str("it contains \"//\""),
            Self::LeadingDash => f.write_str("it starts with \"-\""),
            Self::EdgeSlash => f.write_str("it starts or ends with \"/\""),
            Self::TrailingDot => f.write_str("it ends with \".\""),
            Self::ComponentStartsWithDot => f.write_str("a part between slashes starts with \".\""),
            Self::LockSuffix => f.write_str("a part between slashes ends with \".lock\""),
            Self::LoneAt => f.write_str("\"@\" alone is not a branch name"),
            Self::Head => f.write_str("\"HEAD\" is not a branch name"),
        }
    }
}

/// Checks `name` (without `refs/heads/`) against git's ref-name rules and
/// slipway's stricter ones; the error names the first rule broken.
pub fn validate_branch_name(name: &str) -> Result<(), InvalidBranch> {
    match broken_rule(name) {
        None => Ok(()),
        Some(rule) => Err(InvalidBranch {
            name: name.to_string(),
            rule,
        }),
    }
}

fn broken_rule(name: &str) -> Option<BranchRule> {
    if name.is_empty() {
        return Some(BranchRule::Empty);
    }
    if name.len() > MAX_BRANCH_NAME_LEN {
        return Some(BranchRule::TooLong { len: name.len() });
    }
    if name == "@" {
        return Some(BranchRule::LoneAt);
    }
    if name == "HEAD" {
        return Some(BranchRule::Head);
    }
    if name.starts_with('-') {
        return Some(BranchRule::LeadingDash);
    }
    // Sequences first: "@{" and ".." say more than the `{` or `.` in them.
    if name.contains("..") {
        return Some(BranchRule::DoubleDot);
    }
    if name.contains("@{") {
        return Some(BranchRule::AtBrace);
    }
    if name.contains("//") {
        return Some(BranchRule::DoubleSlash);
    }
    for c in name.chars() {
        if c.is_ascii_control() {
            return Some(BranchRule::ControlCharacter);
        }
        if c == ' ' {
            return Some(BranchRule::Space);
        }
        if GIT_FORBIDDEN.contains(&c) {
            return Some(BranchRule::GitSpecialCharacter(c));
        }
        if SHELL_METACHARACTERS.contains(&c) {
            return Some(BranchRule::ShellMetacharacter(c));
        }
    }
    if name.starts_with('/') || name.ends_with('/') {
        return Some(BranchRule::EdgeSlash);
    }
    if name.ends_with('.') {
        return Some(BranchRule::TrailingDot);
    }
    for component in name.split('/') {
        if component.starts_with('.') {
            return Some(BranchRule::ComponentStartsWithDot);
        }
        if component.ends_with(".lock") {
            return Some(BranchRule::LockSuffix);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str) -> BranchRule {
        validate_branch_name(name)
            .expect_err(&format!("{name:?} should be refused"))
            .rule
    }

    #[test]
    fn accepts_usual_odoo_branch_names() {
        for name in [
            "main",
            "master",
            "16.0",
            "16.0-fix-invoice",
            "17.0-mig-sale_stock",
            "feature/my_thing",
            "user/alice/wip-2",
            "release-1.2.3",
            "fix#42",
            "a+b=c,d%e",
            "café",
            "x.lockfile",
            "x@y",
            "a.b/c.d",
        ] {
            assert_eq!(validate_branch_name(name), Ok(()), "{name:?}");
        }
    }

    #[test]
    fn refuses_git_invalid_names_with_the_rule_broken() {
        let cases: &[(&str, BranchRule)] = &[
            ("", BranchRule::Empty),
            ("feature/..", BranchRule::DoubleDot),
            ("a..b", BranchRule::DoubleDot),
            ("-x", BranchRule::LeadingDash),
            ("--upload-pack=evil", BranchRule::LeadingDash),
            ("a b", BranchRule::Space),
            ("a\tb", BranchRule::ControlCharacter),
            ("a\nb", BranchRule::ControlCharacter),
            ("a\u{7f}b", BranchRule::ControlCharacter),
            ("x.lock", BranchRule::LockSuffix),
            ("x.lock/y", BranchRule::LockSuffix),
            ("a~1", BranchRule::GitSpecialCharacter('~')),
            ("a^", BranchRule::GitSpecialCharacter('^')),
            ("a:b", BranchRule::GitSpecialCharacter(':')),
            ("a?", BranchRule::GitSpecialCharacter('?')),
            ("a*", BranchRule::GitSpecialCharacter('*')),
            ("a[b", BranchRule::GitSpecialCharacter('[')),
            ("a\\b", BranchRule::GitSpecialCharacter('\\')),
            ("feature/", BranchRule::EdgeSlash),
            ("/feature", BranchRule::EdgeSlash),
            ("a//b", BranchRule::DoubleSlash),
            ("a@{1}", BranchRule::AtBrace),
            ("@", BranchRule::LoneAt),
            ("HEAD", BranchRule::Head),
            (".hidden", BranchRule::ComponentStartsWithDot),
            ("feature/.x", BranchRule::ComponentStartsWithDot),
            ("main.", BranchRule::TrailingDot),
        ];
        for (name, expected) in cases {
            assert_eq!(&rule(name), expected, "{name:?}");
        }
    }

    #[test]
    fn refuses_shell_metacharacters() {
        assert_eq!(rule("a;rm -rf"), BranchRule::ShellMetacharacter(';'));
        assert_eq!(rule("$(x)"), BranchRule::ShellMetacharacter('$'));
        assert_eq!(rule("`id`"), BranchRule::ShellMetacharacter('`'));
        for c in SHELL_METACHARACTERS {
            let name = format!("fix{c}x");
            assert_eq!(rule(&name), BranchRule::ShellMetacharacter(*c), "{name:?}");
        }
    }

    #[test]
    fn bounds_the_length_in_bytes() {
        let longest = "a".repeat(MAX_BRANCH_NAME_LEN);
        assert_eq!(validate_branch_name(&longest), Ok(()));
        let too_long = format!("{longest}b");
        assert_eq!(rule(&too_long), BranchRule::TooLong { len: 201 });
        // 100 two-byte characters are 200 bytes: at the limit, not over it.
        assert_eq!(validate_branch_name(&"é".repeat(100)), Ok(()));
        assert_eq!(rule(&"é".repeat(101)), BranchRule::TooLong { len: 202 });
    }

    #[test]
    fn the_message_names_the_branch_and_the_rule() {
        let message = validate_branch_name("a;rm -rf").unwrap_err().to_string();
        assert_eq!(
            message,
            "invalid branch name \"a;rm -rf\": it contains ';', \
             a shell metacharacter slipway does not allow"
        );
        let message = validate_branch_name("feature/..").unwrap_err().to_string();
        assert_eq!(
            message,
            "invalid branch name \"feature/..\": it contains \"..\""
        );
    }

    /// The git rules here agree with git itself, on both sides.
    #[test]
    fn agrees_with_git_check_ref_format() {
        let check = |name: &str| {
            std::process::Command::new("git")
                .args(["check-ref-format", "--branch", name])
                .output()
                .expect("git is needed by this crate's tests")
                .status
                .success()
        };
        for name in [
            "main",
            "16.0-fix-invoice",
            "feature/my_thing",
            "café",
            "x@y",
        ] {
            assert!(validate_branch_name(name).is_ok(), "{name:?}");
            assert!(check(name), "git refuses {name:?}");
        }
        for name in [
            "feature/..",
            "-x",
            "a b",
            "x.lock",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[b",
            "a\\b",
            "feature/",
            "a//b",
            "a@{1}",
            ".hidden",
            "main.",
            "HEAD",
            "a\tb",
        ] {
            assert!(validate_branch_name(name).is_err(), "{name:?}");
            assert!(!check(name), "git accepts {name:?}");
        }
    }
}
