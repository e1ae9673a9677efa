//! Key documents fetched from a URL ([`UrlFetcher`], for `jwks_url`) and
//! the one GET every upstream document goes through ([`get_bytes`]): a
//! 2xx answer, a capped body, the URL redacted in messages.

use std::time::Duration;

use super::keys;
use crate::upstream::{MAX_DOCUMENT, error_chain, read_capped, redact_url};

/// Fetches a key document from a URL and parses it.
pub struct UrlFetcher {
    pub http: reqwest::Client,
    pub url: url::Url,
    pub parse: fn(&[u8]) -> Result<keys::KeySet, String>,
}

impl keys::Fetch for UrlFetcher {
    fn fetch(&self) -> futures_util::future::BoxFuture<'_, Result<keys::KeySet, String>> {
        Box::pin(async move {
            let (body, max_age) = get_bytes(&self.http, &self.url).await?;
            let mut set =
                (self.parse)(&body).map_err(|e| format!("{}: {e}", redact_url(&self.url)))?;
            set.max_age = Some(max_age);
            Ok(set)
        })
    }
}

/// GETs a document, refusing non-2xx answers and bodies over
/// [`MAX_DOCUMENT`] (read chunk by chunk: a huge chunked body is cut off,
/// not buffered). Errors name the URL redacted ([`redact_url`]).
pub async fn get_bytes(
    http: &reqwest::Client,
    url: &url::Url,
) -> Result<(bytes::Bytes, Duration), String> {
    let shown = || redact_url(url);
    let resp = http
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("{}: {}", shown(), error_chain(e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!(
            "{}: expected a 2xx answer; the server answered HTTP {status}",
            shown()
        ));
    }
    let max_age = keys::max_age(resp.headers());
    let body = read_capped(resp, MAX_DOCUMENT)
        .await
        .map_err(|e| format!("{}: {e}", shown()))?;
    Ok((body, max_age))
}
