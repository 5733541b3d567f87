//! The blueprint as text: size and nesting limits, JSON syntax errors with line and column, and
//! finding where a JSON pointer sits in the text so every issue can be marked at its line.

use serde_json::Value;

use super::Issue;
use super::Severity;

/// The largest blueprint accepted, in bytes (the REST API answers 413 above it).
pub const MAX_BYTES: usize = 1 << 20;

/// The deepest nesting accepted. Real blueprints nest four levels (`input_object_storage` →
/// item → `include` → string); anything near this is a mistake or an attack, and refusing it early
/// keeps every later pass (ours and serde's) far from its recursion limit.
pub const MAX_DEPTH: usize = 32;

/// A 1-based line and column (in characters) in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub column: u32,
}

/// Parses blueprint text into a JSON value.
///
/// # Errors
/// One [`Issue`] (with line and column where it applies) when the text is over [`MAX_BYTES`], nests
/// deeper than [`MAX_DEPTH`], is not JSON, or is JSON but not an object.
pub fn parse(text: &str) -> Result<Value, Issue> {
    if text.len() > MAX_BYTES {
        return Err(Issue::new(
            Severity::Error,
            "too_large",
            String::new(),
            format!(
                "the blueprint is {} bytes; the limit is {MAX_BYTES} bytes (1 MiB)",
                text.len()
            ),
            "a recipe is a few kilobytes: remove embedded data and mount it from object storage instead"
                .to_owned(),
        ));
    }
    if let Some(at) = too_deep(text) {
        let pos = position(text, at);
        return Err(Issue::new(
            Severity::Error,
            "too_deep",
            String::new(),
            format!(
                "the JSON nests deeper than {MAX_DEPTH} levels at line {} column {}",
                pos.line, pos.column
            ),
            "blueprints nest at most four levels; look for unbalanced brackets".to_owned(),
        )
        .at_position(pos));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| syntax_issue(&e))?;
    if !value.is_object() {
        return Err(Issue::new(
            Severity::Error,
            "not_object",
            String::new(),
            format!(
                "a blueprint is a JSON object, found {}",
                super::json::kind_of(&value)
            ),
            "write the recipe as { \"recipe_mode\": ..., \"deployment_name\": ..., ... }"
                .to_owned(),
        )
        .at_position(Position { line: 1, column: 1 }));
    }
    Ok(value)
}

/// The byte offset of the first bracket that opens a level deeper than [`MAX_DEPTH`].
fn too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(i);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

fn syntax_issue(e: &serde_json::Error) -> Issue {
    let full = e.to_string();
    // serde_json appends " at line L column C"; we report the position separately.
    let message = full
        .rfind(" at line ")
        .map_or(full.as_str(), |i| &full[..i])
        .to_owned();
    let hint = if e.is_eof() {
        "the text ends early: close every {, [ and \" that is open".to_owned()
    } else if message.contains("trailing comma") {
        "JSON allows no comma after the last member: remove it".to_owned()
    } else if message.contains("key must be a string") {
        "put the key in double quotes: \"key\": value".to_owned()
    } else if message.contains("expected `,` or `}`") || message.contains("expected `,` or `]`") {
        "a comma is missing between two members, or a bracket is unbalanced".to_owned()
    } else if message.contains("expected value") {
        "strings need double quotes; true, false and null are lower case".to_owned()
    } else if message.contains("control character") {
        "write a newline inside a string as \\n".to_owned()
    } else {
        "fix the JSON syntax at this position".to_owned()
    };
    let line = u32::try_from(e.line()).unwrap_or(u32::MAX).max(1);
    let column = u32::try_from(e.column()).unwrap_or(u32::MAX).max(1);
    Issue::new(
        Severity::Error,
        "syntax",
        String::new(),
        format!("not valid JSON: {message} (line {line}, column {column})"),
        hint,
    )
    .at_position(Position { line, column })
}

/// The line and column of byte offset `at`.
pub fn position(text: &str, at: usize) -> Position {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    Position {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
    }
}

/// Where a member or item sits in valid JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Byte offset of the member's key (its opening quote), or of the item for array items.
    pub start: usize,
    /// Byte range of the value.
    pub value: std::ops::Range<usize>,
}

/// Finds `pointer` in `text` (valid JSON). Returns the span of the deepest part of the pointer that
/// exists, and whether all of it was found: a missing key is marked at the object that lacks it.
pub fn locate(text: &str, pointer: &str) -> (Span, bool) {
    let b = text.as_bytes();
    let mut pos = skip_ws(b, 0);
    let mut span = Span {
        start: pos,
        value: pos..skip_value(b, pos),
    };
    if pointer.is_empty() {
        return (span, true);
    }
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        let found = match b.get(pos) {
            Some(b'{') => find_member(text, pos, &segment),
            Some(b'[') => segment
                .parse::<usize>()
                .ok()
                .and_then(|n| find_item(b, pos, n)),
            _ => None,
        };
        match found {
            Some(s) => {
                pos = s.value.start;
                span = s;
            }
            None => return (span, false),
        }
    }
    (span, true)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The offset just past the string starting at `i` (its opening quote).
fn skip_string(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// The offset just past the value starting at `i`. Iterative: nesting depth cannot exhaust a stack.
fn skip_value(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => skip_string(b, i),
        Some(b'{' | b'[') => {
            let (mut depth, mut j) = (0usize, i);
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = skip_string(b, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            b.len()
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            j
        }
    }
}

fn find_member(text: &str, open: usize, key: &str) -> Option<Span> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, open + 1);
    while i < b.len() && b[i] == b'"' {
        let key_end = skip_string(b, i);
        let raw = text.get(i..key_end)?;
        let matches = if raw.contains('\\') {
            serde_json::from_str::<String>(raw).ok().as_deref() == Some(key)
        } else {
            raw.get(1..raw.len().saturating_sub(1)) == Some(key)
        };
        let colon = skip_ws(b, key_end);
        let value_start = skip_ws(b, colon + 1);
        let value_end = skip_value(b, value_start);
        if matches {
            return Some(Span {
                start: i,
                value: value_start..value_end,
            });
        }
        i = skip_ws(b, value_end);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        } else {
            return None;
        }
    }
    None
}

fn find_item(b: &[u8], open: usize, n: usize) -> Option<Span> {
    let mut i = skip_ws(b, open + 1);
    let mut k = 0;
    while i < b.len() && b[i] != b']' {
        let end = skip_value(b, i);
        if k == n {
            return Some(Span {
                start: i,
                value: i..end,
            });
        }
        k += 1;
        i = skip_ws(b, end);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        } else {
            return None;
        }
    }
    None
}

/// Sets (or, with `None`, removes) the top-level member `key` of the JSON object in `text`, editing
/// only that member so the rest of the user's formatting survives. New members go last, indented like
/// the first member.
///
/// # Errors
/// When `text` is not a JSON object (the caller shows the parse issue instead).
pub fn set_member(text: &str, key: &str, value: Option<&Value>) -> Result<String, Issue> {
    parse(text)?;
    let b = text.as_bytes();
    let open = skip_ws(b, 0);
    let rendered = value.map(Value::to_string);
    match (find_member(text, open, key), rendered) {
        (Some(span), Some(v)) => Ok(format!(
            "{}{v}{}",
            &text[..span.value.start],
            &text[span.value.end..]
        )),
        (Some(span), None) => {
            // Remove the member and one comma next to it, and the line it leaves empty.
            let after = skip_ws(b, span.value.end);
            let (from, to) = if b.get(after) == Some(&b',') {
                let from = line_start_if_blank(text, span.start);
                let mut to = after + 1;
                while matches!(b.get(to), Some(b' ' | b'\t')) {
                    to += 1;
                }
                if from != span.start {
                    // The member had its own line: take the line break too.
                    if b.get(to) == Some(&b'\r') {
                        to += 1;
                    }
                    if b.get(to) == Some(&b'\n') {
                        to += 1;
                    }
                }
                (from, to)
            } else {
                // Last member: remove the comma before it instead.
                let before = text[..span.start].trim_end();
                let comma = before.ends_with(',').then(|| before.len() - 1);
                (comma.unwrap_or(span.start), span.value.end)
            };
            Ok(format!("{}{}", &text[..from], &text[to..]))
        }
        (None, Some(v)) => {
            let close = skip_value(b, open).saturating_sub(1);
            let inner = text[open + 1..close].trim_end();
            let indent = first_indent(text, open).unwrap_or_else(|| "  ".to_owned());
            let key_json = Value::String(key.to_owned()).to_string();
            let head = text[..open + 1 + inner.len()].to_owned();
            let sep = if inner.trim().is_empty() { "" } else { "," };
            let closing_line = text[..close].rfind('\n').map(|i| &text[i + 1..close]);
            let close_indent = closing_line.filter(|s| s.trim().is_empty()).unwrap_or("");
            Ok(format!(
                "{head}{sep}\n{indent}{key_json}: {v}\n{close_indent}{}",
                &text[close..]
            ))
        }
        (None, None) => Ok(text.to_owned()),
    }
}

fn line_start_if_blank(text: &str, at: usize) -> usize {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    if text[start..at].trim().is_empty() {
        start
    } else {
        at
    }
}

fn first_indent(text: &str, open: usize) -> Option<String> {
    let rest = &text[open + 1..];
    let nl = rest.find('\n')?;
    let line = &rest[nl + 1..];
    let indent: String = line
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    (!indent.is_empty()).then_some(indent)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str =
        "{\n  \"a\": 1,\n  \"b\": {\"c\": [10, {\"d\": \"x/y\"}]},\n  \"e~f/g\": true\n}";

    #[test]
    fn locates_members_items_and_escaped_keys() {
        let line = |p: &str| {
            let (span, found) = locate(DOC, p);
            (position(DOC, span.start).line, found)
        };
        assert_eq!(line("/a"), (2, true));
        assert_eq!(line("/b/c/1/d"), (3, true));
        assert_eq!(line("/e~0f~1g"), (4, true));
        assert_eq!(line("/b/zzz"), (3, false), "a missing key marks its object");
        assert_eq!(line(""), (1, true));
        let (span, _) = locate(DOC, "/b/c/1/d");
        assert_eq!(&DOC[span.value], "\"x/y\"");
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let e = parse("{\n  \"a\": 1,\n}").expect_err("refused");
        assert_eq!(e.code, "syntax");
        assert_eq!((e.line, e.column), (Some(3), Some(1)));
        assert!(e.hint.contains("comma"), "{}", e.hint);
        let e = parse("[1]").expect_err("refused");
        assert_eq!(e.code, "not_object");
    }

    #[test]
    fn deep_nesting_and_size_are_refused_before_parsing() {
        let deep = "[".repeat(100_000);
        let e = parse(&deep).expect_err("refused");
        assert_eq!(e.code, "too_deep");
        assert_eq!(e.column, Some(33));
        let big = format!("{{\"a\": \"{}\"}}", "x".repeat(MAX_BYTES));
        assert_eq!(parse(&big).expect_err("refused").code, "too_large");
        // Brackets inside strings are not nesting.
        let s = format!("{{\"a\": \"{}\"}}", "[".repeat(100));
        assert!(parse(&s).is_ok());
    }

    #[test]
    fn set_member_edits_in_place() {
        let t = "{\n    \"a\": 1,\n    \"b\": \"x\"\n}";
        let v = Value::from(5);
        assert_eq!(
            set_member(t, "a", Some(&v)).expect("edits"),
            "{\n    \"a\": 5,\n    \"b\": \"x\"\n}"
        );
        assert_eq!(
            set_member(t, "c", Some(&v)).expect("edits"),
            "{\n    \"a\": 1,\n    \"b\": \"x\",\n    \"c\": 5\n}"
        );
        assert_eq!(
            set_member(t, "a", None).expect("edits"),
            "{\n    \"b\": \"x\"\n}"
        );
        assert_eq!(
            set_member(t, "b", None).expect("edits"),
            "{\n    \"a\": 1\n}"
        );
        assert_eq!(
            set_member("{}", "a", Some(&v)).expect("edits"),
            "{\n  \"a\": 5\n}"
        );
        for out in [
            set_member(t, "c", Some(&v)).expect("edits"),
            set_member(t, "a", None).expect("edits"),
            set_member(t, "b", None).expect("edits"),
        ] {
            assert!(parse(&out).is_ok(), "{out}");
        }
    }
}
