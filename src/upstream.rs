//! Talking to upstream servers: discovery documents, key documents and the
//! OIDC token endpoint. What every such fetch promises:
//!
//! - A body is read chunk by chunk ([`read_capped`]) and refused as soon as
//!   it passes [`MAX_DOCUMENT`] (1 MiB), whatever `Content-Length` says or
//!   leaves out: a server streaming a huge or endless chunked body costs
//!   at most 1 MiB of memory, and the connection is dropped at once.
//! - Redirects ([`redirect_policy`], for discovery and key fetches; the
//!   token endpoint follows none): at most [`MAX_REDIRECTS`], never from
//!   https to plain http, plain http only to a loopback host (as for
//!   configured URLs), never to a scheme other than http(s).
//! - A URL that goes into a message (an error, a log line, `check
//!   --online`) goes through [`redact_url`]: user name, password, query
//!   values and fragment never leave the process. Errors of the HTTP client
//!   are stripped of their URL ([`error_chain`]) for the same reason.

use url::Url;

use crate::config::is_loopback_url;

/// Largest discovery document, key document or token-endpoint answer read.
pub const MAX_DOCUMENT: usize = 1024 * 1024;

/// Most redirects followed by a discovery or key fetch.
pub const MAX_REDIRECTS: usize = 3;

/// `u` with its credentials, query values and fragment replaced by `***`:
/// `https://user:pass@host/jwks?token=t` → `https://***@host/jwks?token=***`.
pub fn redact_url(u: &Url) -> String {
    let mut u = u.clone();
    if !u.username().is_empty() || u.password().is_some() {
        // Both only fail for URLs that cannot have credentials at all.
        let _ = u.set_password(None);
        let _ = u.set_username("***");
    }
    if let Some(query) = u.query() {
        // Names stay (they say what was passed); values go, and so does a
        // part without `=`, which may be a bare secret.
        let redacted: Vec<String> = query
            .split('&')
            .map(|part| match part.split_once('=') {
                Some((name, _)) => format!("{name}=***"),
                None => "***".to_owned(),
            })
            .collect();
        u.set_query(Some(&redacted.join("&")));
    }
    if u.fragment().is_some() {
        u.set_fragment(Some("***"));
    }
    u.into()
}

/// An HTTP client error with its cause chain, without the URL it names
/// (which may hold credentials): "error sending request: connection refused".
pub fn error_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut cur = std::error::Error::source(&e);
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Reads a response body of at most `max` bytes, one chunk at a time, and
/// stops reading (dropping the connection) as soon as it is over. The
/// error is a sentence without the URL; the caller names it.
pub async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<bytes::Bytes, String> {
    let limit = human_size(max);
    if let Some(len) = resp.content_length()
        && len > max as u64
    {
        return Err(format!(
            "the document is {len} bytes (Content-Length); at most {limit} is read"
        ));
    }
    let hint = resp
        .content_length()
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(0);
    let mut body = bytes::BytesMut::with_capacity(hint.min(max));
    while let Some(chunk) = resp.chunk().await.map_err(error_chain)? {
        if body.len().saturating_add(chunk.len()) > max {
            return Err(format!(
                "the document is larger than {limit} (refused after {} bytes); at most {limit} is read",
                body.len().saturating_add(chunk.len())
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn human_size(bytes: usize) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else {
        format!("{bytes} bytes")
    }
}

/// Whether a redirect from `from` to `to` may be followed, `hops` being the
/// number of requests already made in the chain (the first one included).
/// The refusal is a sentence with both URLs redacted.
pub fn check_redirect(from: &Url, to: &Url, hops: usize) -> Result<(), String> {
    if hops > MAX_REDIRECTS {
        return Err(format!(
            "at most {MAX_REDIRECTS} redirects are followed; {} is redirect number {hops}",
            redact_url(to)
        ));
    }
    match (from.scheme(), to.scheme()) {
        (_, "https") => Ok(()),
        ("https", "http") => Err(format!(
            "a redirect from https to plain http is refused: {} redirects to {}",
            redact_url(from),
            redact_url(to)
        )),
        (_, "http") if is_loopback_url(to) => Ok(()),
        (_, "http") => Err(format!(
            "a redirect to plain http is followed only to a loopback host: {} redirects to {}",
            redact_url(from),
            redact_url(to)
        )),
        (_, other) => Err(format!(
            "a redirect must go to an https URL; {} redirects to scheme {other:?}",
            redact_url(from)
        )),
    }
}

/// The redirect policy of discovery and key fetches: [`check_redirect`].
pub fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let verdict = match attempt.previous().last() {
            Some(from) => check_redirect(from, attempt.url(), attempt.previous().len()),
            None => Ok(()),
        };
        match verdict {
            Ok(()) => attempt.follow(),
            Err(why) => attempt.error(why),
        }
    })
}

/// The one builder of the clients that talk to providers: rustls, a user
/// agent naming zenbridge, a 3-second connect timeout, `timeout` in all.
pub fn client(
    timeout: std::time::Duration,
    redirect: reqwest::redirect::Policy,
) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("zenbridge/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(3))
        .timeout(timeout)
        .redirect(redirect)
        .build()
        .expect("the TLS backend initialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test URL")
    }

    #[test]
    fn redact_url_hides_credentials_query_values_and_fragment() {
        for (raw, want) in [
            (
                "https://user:pass@idp.example/jwks",
                "https://***@idp.example/jwks",
            ),
            (
                "https://user@idp.example/jwks",
                "https://***@idp.example/jwks",
            ),
            (
                "https://:pass@idp.example/jwks",
                "https://***@idp.example/jwks",
            ),
            (
                "https://idp.example/jwks?token=s3cret&key=k&tenant=acme",
                "https://idp.example/jwks?token=***&key=***&tenant=***",
            ),
            (
                "https://idp.example/jwks?s3cret",
                "https://idp.example/jwks?***",
            ),
            (
                "https://idp.example/jwks?a%3Db=s3cret&&t",
                "https://idp.example/jwks?a%3Db=***&***&***",
            ),
            (
                "https://idp.example/jwks#s3cret",
                "https://idp.example/jwks#***",
            ),
            (
                "http://u:p@127.0.0.1:9/certs?key=v#f",
                "http://***@127.0.0.1:9/certs?key=***#***",
            ),
            ("https://idp.example/jwks", "https://idp.example/jwks"),
        ] {
            let got = redact_url(&url(raw));
            assert_eq!(got, want, "{raw}");
            for secret in ["pass", "s3cret", "=k", "acme", "=v", "#f"] {
                assert!(!got.contains(secret), "{raw} → {got} shows {secret:?}");
            }
        }
    }

    #[test]
    fn https_to_http_redirect_is_refused_by_the_policy() {
        let refused = check_redirect(
            &url("https://idp.example/jwks"),
            &url("http://idp.example/jwks"),
            1,
        )
        .expect_err("a downgrade");
        assert!(refused.contains("from https to plain http"), "{refused}");
        // Even to loopback: a downgrade is a downgrade.
        assert!(
            check_redirect(
                &url("https://idp.example/jwks"),
                &url("http://127.0.0.1/jwks"),
                1
            )
            .is_err()
        );
        let hidden = check_redirect(
            &url("https://u:pw@idp.example/jwks?token=t0k"),
            &url("http://idp.example/jwks?token=t0k"),
            1,
        )
        .expect_err("a downgrade");
        assert!(
            !hidden.contains("pw") && !hidden.contains("t0k"),
            "{hidden}"
        );
    }

    #[test]
    fn redirects_stay_on_https_or_loopback_http_and_are_few() {
        let https = url("https://idp.example/a");
        let loopback = url("http://127.0.0.1:8080/a");
        assert_eq!(
            check_redirect(&https, &url("https://cdn.example/b"), 1),
            Ok(())
        );
        assert_eq!(
            check_redirect(&loopback, &url("http://localhost:1/b"), 1),
            Ok(())
        );
        assert_eq!(check_redirect(&loopback, &https, 1), Ok(()));
        assert_eq!(check_redirect(&https, &https, MAX_REDIRECTS), Ok(()));
        let too_many = check_redirect(&https, &https, MAX_REDIRECTS + 1).expect_err("a 4th");
        assert!(too_many.contains("at most 3 redirects"), "{too_many}");
        let plain = check_redirect(&loopback, &url("http://idp.example/b"), 1)
            .expect_err("plain http off loopback");
        assert!(plain.contains("only to a loopback host"), "{plain}");
        for to in ["file:///etc/passwd", "ftp://idp.example/jwks", "data:,{}"] {
            let e = check_redirect(&https, &url(to), 1).expect_err(to);
            assert!(e.contains("must go to an https URL"), "{to}: {e}");
        }
    }
}
