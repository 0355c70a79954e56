//! Plain text tables for human output: columns padded to their widest cell.

pub fn print(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_uppercase()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// A cell of something that may be absent ("-" then).
pub fn optional(value: Option<impl std::fmt::Display>) -> String {
    value.map_or_else(|| "-".to_string(), |value| value.to_string())
}

/// A commit's first 12 characters, enough to tell it.
pub fn short_commit(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_cells_show_a_dash_and_commits_their_first_twelve_characters() {
        assert_eq!(optional(None::<&str>), "-");
        assert_eq!(optional(Some(7)), "7");
        assert_eq!(
            short_commit("0123456789abcdef0123456789abcdef01234567"),
            "0123456789ab"
        );
        assert_eq!(short_commit("abc"), "abc");
    }
}
