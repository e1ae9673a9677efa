//! The OpenID Connect authorization-code flow with PKCE (S256) and `nonce`,
//! through the `openidconnect` crate: the authorization URL at the start,
//! the code redemption at the callback. The endpoints come from the
//! source's discovery document ([`crate::source::oidc::Provider`]).
//!
//! The ID token in the token response is not trusted here: the caller
//! hands it to the source's own [`crate::source::Source::verify`] (the same
//! key cache and checks as every presented token), then checks `nonce`.
//!
//! The token endpoint is called through [`send_capped`]: no redirect is
//! followed, and its answer is read chunk by chunk and refused past 1 MiB
//! ([`crate::upstream::read_capped`]), as key documents are.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreErrorResponseType};
use openidconnect::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, JsonWebKeySet,
    LoginHint, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use url::Url;

use crate::config::Server;
use crate::source::oidc::RelyingParty;
use crate::upstream::{MAX_DOCUMENT, error_chain, read_capped};

/// Why the provider's side of the flow did not give an ID token.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FlowError {
    /// Discovery, or the token endpoint, could not be reached. `detail`
    /// (URLs, the HTTP client's error) is logged by [`FlowError::unavailable`]
    /// and never shown on a page.
    #[error(
        "the identity provider of source {source_name:?} cannot be reached right now; try again later"
    )]
    Unavailable { source_name: String, detail: String },
    /// The token endpoint answered with an OAuth error (`invalid_grant` for
    /// a code used twice or expired).
    #[error(
        "the identity provider of source {source_name:?} refused the code: {error}{description}"
    )]
    Refused {
        source_name: String,
        error: String,
        description: String,
    },
    #[error("the identity provider of source {source_name:?} answered without an ID token")]
    NoIdToken { source_name: String },
}

impl FlowError {
    /// The provider cannot be reached: the reason goes to the log only.
    pub fn unavailable(source_name: String, detail: String) -> Self {
        tracing::warn!(source = %source_name, error = %detail, "identity provider unavailable");
        FlowError::Unavailable {
            source_name,
            detail,
        }
    }
}

/// A started flow: where to send the browser, and the PKCE verifier to keep.
pub struct Started {
    pub url: Url,
    pub pkce_verifier: String,
}

/// The authorization URL for `state` and `nonce`, with a fresh PKCE pair;
/// `login_hint` is passed on.
pub async fn start(
    rp: &RelyingParty,
    server: &Server,
    state: &str,
    nonce: &str,
    login_hint: Option<&str>,
) -> Result<Started, FlowError> {
    let client = client(rp, server).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = state.to_owned();
    let nonce = nonce.to_owned();
    let mut req = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(state),
            move || Nonce::new(nonce),
        )
        .add_scopes(
            rp.scopes
                .iter()
                .filter(|s| *s != "openid")
                .map(|s| Scope::new(s.clone())),
        )
        .set_pkce_challenge(challenge);
    if let Some(hint) = login_hint {
        req = req.set_login_hint(LoginHint::new(hint.to_owned()));
    }
    let (url, _, _) = req.url();
    Ok(Started {
        url,
        pkce_verifier: verifier.into_secret(),
    })
}

/// RFC 9207: the authorization response must come from the issuer the
/// sign-in was started with. The sealed pending login names that issuer;
/// a provider that advertises `authorization_response_iss_parameter_supported`
/// must send `iss`, and any `iss` sent must be it. This is what stops a
/// mix-up attack, where a malicious provider configured beside an honest
/// one gets the honest one's code sent to itself (or the reverse).
pub async fn check_response_issuer(
    rp: &RelyingParty,
    started_with: Option<&str>,
    iss: Option<&String>,
) -> Result<(), crate::sso::LoginError> {
    use crate::sso::LoginError;
    let expected = rp.issuer.as_str();
    if started_with.is_some_and(|s| s != expected) {
        return Err(LoginError::IssuerMismatch(
            "the source's issuer changed since this sign-in started",
        ));
    }
    match iss {
        Some(iss) if iss == expected => Ok(()),
        Some(_) => Err(LoginError::IssuerMismatch(
            "the callback's iss is not the issuer the sign-in was started with",
        )),
        None => {
            let advertised = rp
                .provider
                .metadata()
                .await
                .is_ok_and(|m| m.authorization_response_iss_parameter_supported);
            if advertised {
                Err(LoginError::IssuerMismatch(
                    "the provider always sends iss with its answer (RFC 9207), and this callback has none",
                ))
            } else {
                Ok(())
            }
        }
    }
}

/// The provider's `end_session_endpoint` with `client_id` and, when there
/// is one, `post_logout_redirect_uri` (OpenID Connect RP-Initiated Logout).
pub async fn end_session_url(rp: &RelyingParty, after: Option<&str>) -> Option<String> {
    let meta = rp.provider.metadata().await.ok()?;
    let mut url = meta.end_session_endpoint.clone()?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", &rp.client_id);
        if let Some(a) = after {
            q.append_pair("post_logout_redirect_uri", a);
        }
    }
    Some(url.into())
}

/// Redeems `code` with the PKCE verifier; returns the raw ID token.
pub async fn redeem(
    rp: &RelyingParty,
    server: &Server,
    http: &reqwest::Client,
    code: &str,
    pkce_verifier: &str,
) -> Result<String, FlowError> {
    let client = client(rp, server).await?;
    let name = || rp.source_name.clone();
    let response = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
        .request_async(&Capped(http))
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => FlowError::Refused {
                source_name: name(),
                error: error_name(r.error()),
                description: r
                    .error_description()
                    .map(|d| format!(" ({})", crate::gateway::shorten(d)))
                    .unwrap_or_default(),
            },
            RequestTokenError::Request(e) => FlowError::unavailable(name(), e.to_string()),
            RequestTokenError::Parse(e, _) => FlowError::unavailable(
                name(),
                format!("the token response is not understood ({e})"),
            ),
            RequestTokenError::Other(e) => FlowError::unavailable(name(), e),
        })?;
    response
        .id_token()
        .map(ToString::to_string)
        .ok_or_else(|| FlowError::NoIdToken {
            source_name: name(),
        })
}

fn error_name(e: &CoreErrorResponseType) -> String {
    match e {
        CoreErrorResponseType::Extension(s) => s.clone(),
        other => serde_json::to_value(other)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("{other:?}")),
    }
}

type Client = openidconnect::core::CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
>;

/// The `openidconnect` client of a source, from its discovered endpoints.
/// Its key set is empty on purpose: verification is `Source::verify`'s.
async fn client(rp: &RelyingParty, server: &Server) -> Result<Client, FlowError> {
    let name = || rp.source_name.clone();
    let unavailable = |detail: String| FlowError::unavailable(name(), detail);
    let meta = rp.provider.metadata().await.map_err(unavailable)?;
    let auth = meta.authorization_endpoint.clone().ok_or_else(|| {
        unavailable("its discovery document has no authorization_endpoint".into())
    })?;
    let token = meta
        .token_endpoint
        .clone()
        .ok_or_else(|| unavailable("its discovery document has no token_endpoint".into()))?;
    let issuer = IssuerUrl::new(rp.issuer.clone())
        .map_err(|e| unavailable(format!("issuer is not a URL ({e})")))?;
    let redirect = RedirectUrl::new(server.callback_url())
        .map_err(|e| unavailable(format!("public_url gives no callback URL ({e})")))?;
    let mut client = CoreClient::new(
        ClientId::new(rp.client_id.clone()),
        issuer,
        JsonWebKeySet::default(),
    )
    .set_auth_uri(AuthUrl::from_url(auth))
    .set_token_uri(TokenUrl::from_url(token))
    .set_redirect_uri(redirect);
    if let Some(secret) = &rp.client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
    }
    Ok(client)
}

/// Why the token endpoint gave no answer to parse: a sentence without its
/// URL.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TokenEndpointError(String);

/// The token endpoint's HTTP client for `openidconnect`: [`send_capped`].
struct Capped<'a>(&'a reqwest::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for Capped<'_> {
    type Error = TokenEndpointError;
    type Future = std::pin::Pin<
        Box<
            dyn Future<Output = Result<openidconnect::HttpResponse, TokenEndpointError>>
                + Send
                + 'c,
        >,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(send_capped(self.0, request))
    }
}

/// Sends a token request through `http` (built by [`http_client`], so no
/// redirect is followed) and reads the answer with the 1 MiB cap of every
/// upstream document.
pub async fn send_capped(
    http: &reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, TokenEndpointError> {
    let request = reqwest::Request::try_from(request).map_err(|e| {
        TokenEndpointError(format!(
            "the token request cannot be sent ({})",
            error_chain(e)
        ))
    })?;
    let resp = http
        .execute(request)
        .await
        .map_err(|e| TokenEndpointError(format!("the token endpoint: {}", error_chain(e))))?;
    let mut answer = http::Response::builder()
        .status(resp.status())
        .version(resp.version());
    for (name, value) in resp.headers() {
        answer = answer.header(name, value);
    }
    let body = read_capped(resp, MAX_DOCUMENT)
        .await
        .map_err(|e| TokenEndpointError(format!("the token endpoint's answer: {e}")))?;
    answer
        .body(body.to_vec())
        .map_err(|e| TokenEndpointError(format!("the token endpoint's answer: {e}")))
}

/// The HTTP client for the token endpoint. `openidconnect` requires that
/// it follows no redirect (a redirected code redemption could send the
/// code and the client secret elsewhere).
pub fn http_client() -> reqwest::Client {
    crate::upstream::client(
        std::time::Duration::from_secs(10),
        reqwest::redirect::Policy::none(),
    )
}
