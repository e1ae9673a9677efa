//! `return_to`: where Zendesk sends the browser after a sign-in. Accepted
//! when it is a relative path (one leading `/`, never `//` or `/\`), or an
//! `https` URL on `{subdomain}.zendesk.com` or on a host of the target's
//! `return_to_hosts`. Anything else is dropped: never echoed in a page or a
//! link, and logged with code `return_to_not_allowed` (with its length and a
//! short hash, not its text, which is the attacker's).
//!
//! The checks are deliberately narrower than what a URL parser accepts:
//! printable ASCII only (no control characters, spaces, tabs or newlines,
//! which browsers strip or reinterpret; no Unicode look-alikes), no
//! backslash anywhere (browsers read `\` as `/` in special URLs), and the
//! percent-decoded form must not turn into a protocol-relative path either.

use url::{Host, Url};

use crate::config::TargetConfig;

/// Longest `return_to` kept: it travels in the pending-login cookie, which
/// browsers cap at 4 KiB.
pub const MAX_LEN: usize = 1024;

/// Why a `return_to` was dropped (for the log line; never shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    TooLong,
    NotPrintableAscii,
    Backslash,
    ProtocolRelative,
    NotHttps,
    NotAUrl,
    Credentials,
    PortOrIp,
    HostNotAllowed,
}

impl Dropped {
    pub fn as_str(self) -> &'static str {
        match self {
            Dropped::TooLong => "longer than 1024 characters",
            Dropped::NotPrintableAscii => "not printable ASCII",
            Dropped::Backslash => "holds a backslash",
            Dropped::ProtocolRelative => "a protocol-relative path",
            Dropped::NotHttps => "neither a relative path nor an https URL",
            Dropped::NotAUrl => "not a URL",
            Dropped::Credentials => "holds user credentials",
            Dropped::PortOrIp => "names a port or an IP address",
            Dropped::HostNotAllowed => "a host that is not allowed",
        }
    }
}

/// Checks `raw` for `target`: `Ok(None)` when absent or empty, `Ok(Some)`
/// with the value to pass on, `Err` when it must be dropped.
pub fn check(raw: Option<&str>, target: &TargetConfig) -> Result<Option<String>, Dropped> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if raw.len() > MAX_LEN {
        return Err(Dropped::TooLong);
    }
    if !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Dropped::NotPrintableAscii);
    }
    if raw.contains('\\') {
        return Err(Dropped::Backslash);
    }
    if raw.starts_with('/') {
        return relative(raw).map(|()| Some(raw.to_owned()));
    }
    let scheme_end = raw.find(':').ok_or(Dropped::NotHttps)?;
    if !raw[..scheme_end].eq_ignore_ascii_case("https") || !raw[scheme_end..].starts_with("://") {
        return Err(Dropped::NotHttps);
    }
    let url = Url::parse(raw).map_err(|_| Dropped::NotAUrl)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Dropped::Credentials);
    }
    if url.port().is_some() {
        return Err(Dropped::PortOrIp);
    }
    let host = match url.host() {
        Some(Host::Domain(d)) => d.to_ascii_lowercase(),
        Some(Host::Ipv4(_) | Host::Ipv6(_)) => return Err(Dropped::PortOrIp),
        None => return Err(Dropped::NotAUrl),
    };
    let zendesk = target
        .subdomain
        .as_deref()
        .map(|s| format!("{s}.zendesk.com"));
    if zendesk.as_deref() == Some(host.as_str()) || target.return_to_hosts.contains(&host) {
        Ok(Some(url.into()))
    } else {
        Err(Dropped::HostNotAllowed)
    }
}

/// A path on the same site: one `/`, then neither `/` nor `\` — also
/// after percent-decoding (twice, for `%252F`) and removing the tabs and
/// newlines browsers strip, in case anything on the way decodes it again.
fn relative(raw: &str) -> Result<(), Dropped> {
    fn protocol_relative(s: &[u8]) -> bool {
        let s: Vec<u8> = s
            .iter()
            .copied()
            .filter(|b| !matches!(b, b'\t' | b'\n' | b'\r'))
            .collect();
        s.len() >= 2 && s[0] == b'/' && (s[1] == b'/' || s[1] == b'\\')
    }
    let mut decoded = raw.as_bytes().to_vec();
    for _ in 0..3 {
        if protocol_relative(&decoded) {
            return Err(Dropped::ProtocolRelative);
        }
        decoded = percent_decode(&decoded);
    }
    Ok(())
}

/// `%XX` decoding only (`+` stays `+`: it is a path, not a form).
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && let (Some(h), Some(l)) = (
                input.get(i + 1).and_then(|&b| hex(b)),
                input.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'%'));
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

/// Logs a dropped `return_to` with its code, never its text.
pub fn log_dropped(target: &str, raw: &str, why: Dropped) {
    tracing::warn!(
        code = %crate::error::ErrorCode::ReturnToNotAllowed,
        target,
        why = why.as_str(),
        len = raw.len(),
        hash = %crate::gateway::token_hash(raw),
        "return_to dropped"
    );
}

/// [`check`], logging and discarding a dropped value.
pub fn accept(raw: Option<&str>, target: &TargetConfig) -> Option<String> {
    match check(raw, target) {
        Ok(v) => v,
        Err(why) => {
            log_dropped(&target.name, raw.unwrap_or_default(), why);
            None
        }
    }
}
