//! `zenbridge links import`: a Zendesk user export (CSV, with a header
//! row) read into links, so existing users keep their `external_id` from
//! the first sign-in through zenbridge.
//!
//! The key of a row is its `key` column when the file has one (a target
//! whose link key is a CEL expression), else its `email`, in lower case.
//! Rows without an `external_id` are skipped (those users get theirs at
//! their first sign-in); every other problem — a row that is not CSV, a
//! key that is not an email, a key or an `external_id` twice in the file —
//! is reported with its line, and nothing is imported.

use std::collections::HashMap;

/// One row to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The file's line the row starts on (the header is line 1).
    pub line: u64,
    pub key: String,
    pub external_id: String,
}

/// What a file holds: the rows to import and how many were skipped.
#[derive(Debug, Default)]
pub struct Parsed {
    pub rows: Vec<Row>,
    pub skipped: usize,
}

/// Reads `text`; `Err` lists every problem, one line each.
pub fn parse(text: &[u8]) -> Result<Parsed, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![format!("line 1: not a CSV header ({e})")]),
    };
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (key_col, is_email) = match (column("key"), column("email")) {
        (Some(k), _) => (k, false),
        (None, Some(e)) => (e, true),
        (None, None) => {
            return Err(vec![
                "line 1: the header has neither `email` nor `key`: a Zendesk user export has `email`".into(),
            ]);
        }
    };
    let Some(id_col) = column("external_id") else {
        return Err(vec![
            "line 1: the header has no `external_id` column".into(),
        ]);
    };
    let mut problems = Vec::new();
    let mut parsed = Parsed::default();
    let mut keys: HashMap<String, u64> = HashMap::new();
    let mut ids: HashMap<String, u64> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                problems.push(format!("line {line}: {}", csv_problem(&e)));
                continue;
            }
        };
        let line = record.position().map_or(0, csv::Position::line);
        let id = record.get(id_col).unwrap_or_default();
        let raw_key = record.get(key_col).unwrap_or_default();
        if id.is_empty() {
            parsed.skipped += 1;
            continue;
        }
        if raw_key.is_empty() {
            problems.push(format!(
                "line {line}: external_id {id:?} has no {}",
                if is_email { "email" } else { "key" }
            ));
            continue;
        }
        let key = if is_email {
            if !crate::target::looks_like_email(raw_key) {
                problems.push(format!("line {line}: {raw_key:?} is not an email address"));
                continue;
            }
            super::normalize_email(raw_key)
        } else {
            raw_key.to_owned()
        };
        if let Some(first) = keys.insert(key.clone(), line) {
            problems.push(format!("line {line}: key {key:?} is on line {first} too"));
            continue;
        }
        if let Some(first) = ids.insert(id.to_owned(), line) {
            problems.push(format!(
                "line {line}: external_id {id:?} is on line {first} too"
            ));
            continue;
        }
        parsed.rows.push(Row {
            line,
            key,
            external_id: id.to_owned(),
        });
    }
    if problems.is_empty() {
        Ok(parsed)
    } else {
        Err(problems)
    }
}

fn csv_problem(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "not UTF-8".into(),
        _ => format!("not CSV ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zendesk_export_gives_rows_by_email_and_skips_users_without_an_external_id() {
        let csv = b"id,name,email,external_id,role\n\
            1,Ada,Ada@Example.com,legacy-ada,end-user\n\
            2,Grace,grace@example.com,,end-user\n\
            3,\"Hopper, Grace\",g2@example.com,legacy-g2,agent\n";
        let parsed = parse(csv).expect("valid");
        assert_eq!(parsed.skipped, 1);
        assert_eq!(
            parsed.rows,
            vec![
                Row {
                    line: 2,
                    key: "ada@example.com".into(),
                    external_id: "legacy-ada".into()
                },
                Row {
                    line: 4,
                    key: "g2@example.com".into(),
                    external_id: "legacy-g2".into()
                },
            ]
        );
    }

    #[test]
    fn malformed_rows_and_duplicates_are_reported_by_line() {
        let csv = b"email,external_id\n\
            ada@example.com,legacy-ada\n\
            not-an-email,x1\n\
            ADA@example.com,legacy-other\n\
            bob@example.com,legacy-ada\n\
            a,b,c\n\
            ,orphan\n";
        let problems = parse(csv).expect_err("invalid");
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(problems[0].starts_with("line 3:") && problems[0].contains("not an email"));
        assert!(problems[1].starts_with("line 4:") && problems[1].contains("on line 2 too"));
        assert!(
            problems[2].starts_with("line 5:")
                && problems[2].contains("external_id \"legacy-ada\" is on line 2")
        );
        assert!(problems[3].starts_with("line 6:") && problems[3].contains("3 fields"));
        assert!(problems[4].starts_with("line 7:") && problems[4].contains("has no email"));
    }

    #[test]
    fn a_file_without_the_columns_is_refused() {
        assert!(parse(b"name,phone\nAda,1\n").is_err());
        assert!(parse(b"email,name\na@b.c,Ada\n").is_err());
        let keyed = parse(b"key,external_id\nE123,legacy-1\n").expect("key column");
        assert_eq!(keyed.rows[0].key, "E123");
    }
}
