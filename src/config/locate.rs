//! Finds the line a JSON path such as `Statement[1].Condition.StringEquals.k` points at, so
//! configuration errors in policy files can name a line, not only a path. Tolerant by design: on
//! text it cannot follow it returns `None` and the path alone is reported.

/// 1-based line of the value at `path` in `text`.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut pos = skip_ws(bytes, 0);
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']')?;
            let index: usize = after[..close].parse().ok()?;
            pos = array_element(bytes, pos, index)?;
            rest = after[close + 1..]
                .strip_prefix('.')
                .unwrap_or(&after[close + 1..]);
        } else {
            let (value, consumed) = object_member(bytes, pos, rest)?;
            pos = value;
            rest = &rest[consumed..];
            rest = rest.strip_prefix('.').unwrap_or(rest);
        }
    }
    Some(
        bytes[..pos.min(bytes.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1,
    )
}

/// The line a parser's message names (`... at line 7 column 64`).
pub fn line_in_message(message: &str) -> Option<usize> {
    let rest = &message[message.find("line ")? + 5..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Reads a JSON string starting at `i` (a quote); returns its raw contents and the end.
fn string(b: &[u8], i: usize) -> Option<(&[u8], usize)> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Some((&b[i + 1..j], j + 1)),
            _ => j += 1,
        }
    }
    None
}

/// Skips one value starting at `i`; returns the position after it.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string(b, i).map(|(_, end)| end),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string(b, j)?.1;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']') && !b[j].is_ascii_whitespace()
            {
                j += 1;
            }
            Some(j)
        }
    }
}

fn array_element(b: &[u8], i: usize, index: usize) -> Option<usize> {
    if b.get(i) != Some(&b'[') {
        // IAM accepts a single object where a list is expected; `[0]` then means the object.
        return (index == 0).then_some(i);
    }
    let mut j = skip_ws(b, i + 1);
    for _ in 0..index {
        j = skip_ws(b, skip_value(b, j)?);
        if b.get(j) != Some(&b',') {
            return None;
        }
        j = skip_ws(b, j + 1);
    }
    Some(j)
}

/// Finds the member whose key is the longest prefix of `path` ending at a separator; returns
/// the value's position and how much of `path` the key consumed.
fn object_member(b: &[u8], i: usize, path: &str) -> Option<(usize, usize)> {
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let mut j = skip_ws(b, i + 1);
    let mut best: Option<(usize, usize)> = None;
    while b.get(j) == Some(&b'"') {
        let (key, end) = string(b, j)?;
        let mut k = skip_ws(b, end);
        if b.get(k) != Some(&b':') {
            return None;
        }
        k = skip_ws(b, k + 1);
        let key = std::str::from_utf8(key).ok()?;
        if let Some(after) = path.strip_prefix(key)
            && (after.is_empty() || after.starts_with('.') || after.starts_with('['))
            && best.is_none_or(|(_, len)| key.len() > len)
        {
            best = Some((k, key.len()));
        }
        j = skip_ws(b, skip_value(b, k)?);
        if b.get(j) == Some(&b',') {
            j = skip_ws(b, j + 1);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::line_of;

    const DOC: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
    {
      "Effect": "Allow",
      "Condition": {
        "StringEquals": {
          "token.actions.githubusercontent.com:sub": ["a", "b"]
        }
      }
    }
  ]
}"#;

    #[test]
    fn finds_lines_of_paths() {
        assert_eq!(line_of(DOC, ""), Some(1));
        assert_eq!(line_of(DOC, "Version"), Some(2));
        assert_eq!(line_of(DOC, "Statement[0]"), Some(4));
        assert_eq!(line_of(DOC, "Statement[1].Condition"), Some(7));
        assert_eq!(
            line_of(
                DOC,
                "Statement[1].Condition.StringEquals.token.actions.githubusercontent.com:sub"
            ),
            Some(9)
        );
    }

    #[test]
    fn lines_named_in_messages() {
        use super::line_in_message;
        assert_eq!(
            line_in_message("duplicate key \"A\" at line 7 column 64"),
            Some(7)
        );
        assert_eq!(line_in_message("no position"), None);
    }

    #[test]
    fn unknown_paths_give_none() {
        assert_eq!(line_of(DOC, "Statement[5]"), None);
        assert_eq!(line_of(DOC, "Nope"), None);
        assert_eq!(line_of("not json", "Version"), None);
    }

    #[test]
    fn single_statement_object_is_index_zero() {
        let doc = "{\n\"Statement\":\n {\"Effect\": \"Allow\"}}";
        assert_eq!(line_of(doc, "Statement[0].Effect"), Some(3));
    }
}
