//! Bounded line reading: a client cannot make the server buffer more than
//! the limit it is given, however long its lines.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// How a line read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineRead {
    /// A `\n` ended the line; `false`: the peer closed the connection first.
    pub newline: bool,
    /// The line did not fit: only its start was kept, the rest was read and
    /// dropped.
    pub overflow: bool,
    /// Bytes taken from the connection, kept or not.
    pub consumed: usize,
}

/// Reads one line (up to and including `\n`) into `out`, keeping
/// `out.len()` at most `max_len`; what does not fit is read and dropped
/// (`overflow`).
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    out: &mut Vec<u8>,
    max_len: usize,
) -> std::io::Result<LineRead> {
    let mut read = LineRead {
        newline: false,
        overflow: false,
        consumed: 0,
    };
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(read);
        }
        let (len, newline) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        let room = max_len.saturating_sub(out.len());
        let keep = len.min(room);
        out.extend_from_slice(&available[..keep]);
        read.overflow |= keep < len;
        reader.consume(len);
        read.consumed += len;
        if newline {
            read.newline = true;
            return Ok(read);
        }
    }
}

/// `line` without its `\r\n` or `\n`.
pub(crate) fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<(Vec<u8>, LineRead)> {
        let mut reader = tokio::io::BufReader::with_capacity(4, input);
        let mut result = Vec::new();
        loop {
            let mut out = Vec::new();
            let read = read_line(&mut reader, &mut out, max).await.unwrap();
            let done = !read.newline;
            result.push((out, read));
            if done {
                return result;
            }
        }
    }

    #[tokio::test]
    async fn lines_are_split_across_buffer_refills_and_bounded() {
        let got = lines(b"hello world\r\nab\nlong line here\nend", 6).await;
        let kept: Vec<&[u8]> = got.iter().map(|(out, _)| out.as_slice()).collect();
        assert_eq!(kept, [&b"hello "[..], b"ab\n", b"long l", b"end"]);
        let flags: Vec<(bool, bool, usize)> = got
            .iter()
            .map(|(_, r)| (r.newline, r.overflow, r.consumed))
            .collect();
        assert_eq!(
            flags,
            [
                (true, true, 13),
                (true, false, 3),
                (true, true, 15),
                (false, false, 3)
            ]
        );
    }

    #[test]
    fn line_endings_are_trimmed() {
        assert_eq!(trim_eol(b"a\r\n"), b"a");
        assert_eq!(trim_eol(b"a\n"), b"a");
        assert_eq!(trim_eol(b"a"), b"a");
        assert_eq!(trim_eol(b"a\r"), b"a");
    }
}
