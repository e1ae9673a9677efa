//! What is wrong with a config: a [`Problem`] per key path (with the form
//! that would work, when there is one), [`Problems`] for all of them at
//! once, and a TOML syntax error shown where it is.

/// One problem in a config, with the key path it is about and, when one
/// form would work, what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub path: String,
    pub message: String,
    /// The form that would work (`did you mean `issuer`?`, `write
    /// { env = "NAME" }`); shown after the message, `; `-separated.
    pub suggestion: Option<String>,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            suggestion: None,
        }
    }

    /// A problem with what to write instead.
    pub fn suggesting(
        path: impl Into<String>,
        message: impl Into<String>,
        suggestion: impl Into<String>,
    ) -> Self {
        Self {
            suggestion: Some(suggestion.into()),
            ..Self::new(path, message)
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, "; {s}")?;
        }
        Ok(())
    }
}

/// Every problem found in a config; the error type of [`load_str`].
#[derive(Debug, Clone, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub(super) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem::new(path, message));
    }

    pub(super) fn push_suggesting(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        suggestion: impl Into<String>,
    ) {
        self.0.push(Problem::suggesting(path, message, suggestion));
    }
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in &self.0 {
            writeln!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// A TOML syntax error where it is: `file:line:col` (or `line L, column
/// C` for text without a file), toml's message, and the line with a caret
/// under the column.
pub(super) fn syntax_problem(e: &toml::de::Error, text: &str, file: Option<&str>) -> Problem {
    let message = e.message().trim();
    let Some(start) = e.span().map(|s| s.start.min(text.len())) else {
        return Problem::new("", format!("not valid TOML: {message}"));
    };
    let before = text.get(..start).unwrap_or_default();
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    let line = text
        .get(line_start..)
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default();
    let at = match file {
        Some(f) => format!("{f}:{line_no}:{column}"),
        None => format!("line {line_no}, column {column}"),
    };
    let gutter = " ".repeat(line_no.to_string().len());
    // Tabs kept under tabs, so the caret lines up however they show.
    let pad: String = line
        .chars()
        .take(column - 1)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    Problem::new(
        "",
        format!("{at}: not valid TOML: {message}\n    {line_no} | {line}\n    {gutter} | {pad}^"),
    )
}
