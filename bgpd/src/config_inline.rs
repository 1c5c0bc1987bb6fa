//! Where each value of a TOML source is written, by field path (`admin_tls.key`,
//! `ha.tls`, `neighbor[1].hold_time`), including values inside inline tables and arrays
//! (`neighbor = [{ ... }, { ... }]`), for config errors that toml or the validation report
//! by span or by path only. A small scanner of the TOML syntax: it runs on error paths only,
//! on input that may not be valid TOML, and never panics or loops (each step advances).

/// One value as written: its field path, its bytes in the source and its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Written {
    /// The field path: table headers, keys and array indexes (`neighbor[1].address`).
    pub path: String,
    /// Byte offset of the value's first character.
    pub start: usize,
    /// Byte offset just past the value.
    pub end: usize,
    /// 1-based line of `start`.
    pub line: usize,
    /// Inside an inline table or an array (not a `key = value` line of its own table).
    pub nested: bool,
}

impl Written {
    /// The value as written (`"192.0.2.2"`, `{ cert = "c.pem" }`).
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        src.get(self.start..self.end).unwrap_or_default().trim()
    }
}

/// Every value of `src` with its path, in source order (a container before what it holds).
pub(super) fn index(src: &str) -> Vec<Written> {
    let mut s = Scanner {
        b: src.as_bytes(),
        i: 0,
        out: Vec::new(),
    };
    s.document();
    s.out
}

/// The value whose first byte is at `offset` (an inline table toml reports a missing field
/// of by its span).
pub(super) fn value_at(src: &str, offset: usize) -> Option<Written> {
    index(src).into_iter().find(|w| w.start == offset)
}

/// The innermost value written inside an inline table or array that holds `offset`.
pub(super) fn nested_value_holding(src: &str, offset: usize) -> Option<Written> {
    index(src)
        .into_iter()
        .filter(|w| w.nested && w.start <= offset && offset < w.end.max(w.start + 1))
        .min_by_key(|w| w.end - w.start)
}

/// The value at field path `path`.
pub(super) fn value_of(src: &str, path: &str) -> Option<Written> {
    index(src).into_iter().find(|w| w.path == path)
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    out: Vec<Written>,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn line(&self, offset: usize) -> usize {
        self.b[..offset.min(self.b.len())]
            .iter()
            .filter(|&&c| c == b'\n')
            .count()
            + 1
    }

    /// Skips spaces and tabs, and with `newlines` also newlines and comments.
    fn skip_blank(&mut self, newlines: bool) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\r' => self.i += 1,
                b'\n' if newlines => self.i += 1,
                b'#' if newlines => self.skip_line(),
                _ => break,
            }
        }
    }

    /// Moves to the newline that ends the current line (or the end).
    fn skip_line(&mut self) {
        while self.peek().is_some_and(|c| c != b'\n') {
            self.i += 1;
        }
    }

    /// Skips the string starting here (`"..."`, `'...'`, `"""..."""`, `'''...'''`; a
    /// backslash escapes in basic strings); returns its text without the quotes.
    fn string(&mut self) -> String {
        let quote = self.b[self.i];
        let multi = self.b.get(self.i..self.i + 3) == Some(&[quote; 3][..]);
        self.i += if multi { 3 } else { 1 };
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == b'\\' && quote == b'"' {
                self.i += 2;
                continue;
            }
            if c == b'\n' && !multi {
                break;
            }
            if c == quote && (!multi || self.b.get(self.i..self.i + 3) == Some(&[quote; 3][..])) {
                let text = String::from_utf8_lossy(&self.b[start..self.i]).into_owned();
                self.i += if multi { 3 } else { 1 };
                return text;
            }
            self.i += 1;
        }
        let end = self.i.min(self.b.len());
        String::from_utf8_lossy(&self.b[start.min(end)..end]).into_owned()
    }

    /// A key, possibly dotted and quoted, up to its `=` (consumed); None when the line
    /// holds no `=` before its end.
    fn key(&mut self) -> Option<String> {
        let mut parts = Vec::new();
        let mut part = String::new();
        while let Some(c) = self.peek() {
            match c {
                b'=' => {
                    self.i += 1;
                    parts.push(part);
                    return Some(parts.join("."));
                }
                b'"' | b'\'' => part.push_str(&self.string()),
                b'.' => {
                    parts.push(std::mem::take(&mut part));
                    self.i += 1;
                }
                b'\n' | b',' | b'}' | b']' | b'#' => return None,
                b' ' | b'\t' => self.i += 1,
                _ => {
                    part.push(char::from(c));
                    self.i += 1;
                }
            }
        }
        None
    }

    fn document(&mut self) {
        let mut base = String::new();
        let mut headers: Vec<String> = Vec::new();
        while self.i < self.b.len() {
            self.skip_blank(true);
            match self.peek() {
                None => break,
                Some(b'[') => {
                    let start = self.i;
                    self.skip_line();
                    let text = String::from_utf8_lossy(&self.b[start..self.i]);
                    let header = text
                        .split('#')
                        .next()
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    base = match header.strip_prefix("[[").and_then(|h| h.strip_suffix("]]")) {
                        Some(name) => {
                            let index = headers.iter().filter(|h| **h == header).count();
                            format!("{}[{index}]", name.trim())
                        }
                        None => header
                            .trim_start_matches('[')
                            .trim_end_matches(']')
                            .trim()
                            .to_string(),
                    };
                    headers.push(header);
                }
                Some(_) => match self.key() {
                    Some(key) => {
                        let path = join(&base, &key);
                        self.value(path, false);
                        self.skip_line();
                    }
                    None => self.skip_line(),
                },
            }
        }
    }

    /// The value starting here (after blanks), recorded at `path`.
    fn value(&mut self, path: String, nested: bool) {
        self.skip_blank(false);
        let start = self.i;
        let at = self.out.len();
        match self.peek() {
            Some(b'{') => {
                self.i += 1;
                loop {
                    self.skip_blank(false);
                    match self.peek() {
                        None | Some(b'\n') => break,
                        Some(b'}') => {
                            self.i += 1;
                            break;
                        }
                        Some(b',') => self.i += 1,
                        Some(_) => match self.key() {
                            Some(key) => self.value(join(&path, &key), true),
                            None => break,
                        },
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut index = 0;
                loop {
                    self.skip_blank(true);
                    match self.peek() {
                        None => break,
                        Some(b']') => {
                            self.i += 1;
                            break;
                        }
                        Some(b',') => self.i += 1,
                        Some(_) => {
                            let before = self.i;
                            self.value(format!("{path}[{index}]"), true);
                            index += 1;
                            if self.i == before {
                                // Not a value (a stray character): step over it.
                                self.i += 1;
                            }
                        }
                    }
                }
            }
            Some(b'"' | b'\'') => {
                self.string();
            }
            _ => {
                while self
                    .peek()
                    .is_some_and(|c| !matches!(c, b',' | b']' | b'}' | b'\n' | b'#'))
                {
                    self.i += 1;
                }
            }
        }
        let line = self.line(start);
        self.out.insert(
            at,
            Written {
                path,
                start,
                end: self.i,
                line,
                nested,
            },
        );
    }
}

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lines_and_texts_of_nested_values() {
        let src = "a = 1 # c\n[ha]\ntls = { ca = \"x{\", key = 'k' }\n[[neighbor]]\nremote_as = 2\n\
                   [[neighbor]]\nfamilies = [\"ipv4\",\n  \"ipv6\"]\nn = [ { p = \"]\" }, { q = 3 } ]\n";
        let w = index(src);
        let find = |p: &str| w.iter().find(|w| w.path == p).cloned();
        assert_eq!(
            find("a").map(|w| (w.line, w.text(src).to_string(), w.nested)),
            Some((1, "1".into(), false))
        );
        let tls = find("ha.tls").unwrap_or_else(|| panic!("{w:?}"));
        assert_eq!((tls.line, tls.text(src)), (3, "{ ca = \"x{\", key = 'k' }"));
        assert_eq!(
            find("ha.tls.key").map(|w| w.text(src).to_string()),
            Some("'k'".into())
        );
        assert_eq!(find("neighbor[0].remote_as").map(|w| w.line), Some(5));
        assert_eq!(find("neighbor[1].families[1]").map(|w| w.line), Some(8));
        assert_eq!(
            find("neighbor[1].n[1].q").map(|w| (w.line, w.nested)),
            Some((9, true))
        );
        assert_eq!(
            find("neighbor[1].n[0].p").map(|w| w.text(src).to_string()),
            Some("\"]\"".into())
        );
        // Never stuck on what is not TOML.
        for bad in [
            "x = [",
            "x = {",
            "= = =",
            "[[",
            "x = [1,, }",
            "k = \"open\n",
            "a.b",
        ] {
            let _ = index(bad);
        }
    }
}
