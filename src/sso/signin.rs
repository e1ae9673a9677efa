//! A source's browser sign-in as one typed value: [`SignIn`], with
//! [`SignIn::start`] (what the browser is sent to, or shown) and
//! [`SignIn::finish`] (what came back, turned into the upstream ID token
//! that `Source::verify` then checks like any other). The HTTP handlers
//! call these blind, as oauth2-proxy's handlers call a provider's
//! `GetLoginURL` and `Redeem`: which kinds have a sign-in, and how each
//! works, is decided here and in the kind's own module, never in `http/`.
//!
//! - `oidc`: the authorization-code flow with PKCE and `nonce`
//!   ([`super::code_flow`]); the answer is the callback's `code` (and its
//!   RFC 9207 `iss`), redeemed at the token endpoint.
//! - `dev`: the source's user list; the answer is the user chosen, for
//!   whom the dev issuer signs an ID token carrying the sign-in's `nonce`.
//! - `session`: a legacy app's own login session. With the app's session
//!   cookie present and its check URL answering 200, the sign-in finishes
//!   at once ([`Begun::SignedIn`]); else the browser goes to the app's
//!   login form, which sends it back to `/callback?state=…`, where the
//!   session is checked again ([`Upstream::Checked`]). There is no ID
//!   token and so no `nonce`: what binds the way back to this browser is
//!   the pending login's sealed cookie and its one-time `state`, and the
//!   identity is always the one of the session this browser sends.
//! - `zendesk_jwt`: the legacy app's own login URL, with Zendesk's
//!   `return_to`, `brand_id` and `locale_id`; nothing is kept, because the
//!   app answers as it answers Zendesk, unsolicited, at
//!   `…/from/{source}/access/jwt` ([`SignIn::unsolicited`]): its signed,
//!   one-time JWT is the proof.

use std::time::Duration;

use axum::http::HeaderMap;
use url::Url;

use super::code_flow;
use super::{LoginError, PendingLogin};
use crate::config::{DevUser, Server};
pub use crate::source::SignIn;
use crate::source::session::Session;
use crate::source::{Source, VerifiedClaims, VerifyError};

/// What starting a sign-in asks of the browser.
pub enum Begun<'s> {
    /// Send the browser there (`303`).
    Redirect(Url),
    /// Send the browser there (`303`), keeping no pending login: the
    /// answer comes back unsolicited, with its own proof.
    HandOff(Url),
    /// Show the person these users to choose from; the choice comes back
    /// as [`Answer::User`].
    ChooseUser(&'s [DevUser]),
    /// The person is signed in at the source already (a `session` source's
    /// check answered for the browser's cookie): finish now.
    SignedIn(VerifiedClaims),
}

/// What a sign-in got from its source, not yet minted.
pub enum Upstream {
    /// An ID token, not trusted yet: [`super::finish`] verifies it.
    IdToken(String),
    /// Claims the source's own check vouched for (`session`).
    Checked(VerifiedClaims),
}

/// What came back to finish a sign-in.
pub enum Answer<'a> {
    /// The OIDC redirect URI's `code` and `iss`.
    Callback {
        code: Option<&'a str>,
        iss: Option<&'a String>,
    },
    /// The user chosen from the list.
    User(&'a str),
}

impl SignIn {
    /// The source's browser sign-in, if a person can sign in through it.
    pub fn of(source: &Source) -> Option<&SignIn> {
        source.sign_in.as_ref()
    }

    /// Whether the sign-in is answered by a form of users ([`Answer::User`]).
    pub fn has_user_list(&self) -> bool {
        matches!(self, SignIn::Dev(..))
    }

    /// Starts a sign-in for `login` (fresh `state` and `nonce`), filling in
    /// what the pending login must keep (the PKCE verifier). `headers` are
    /// the request's (a `session` source reads its cookies there).
    pub async fn start(
        &self,
        server: &Server,
        headers: &HeaderMap,
        login: &mut PendingLogin,
        login_hint: Option<&str>,
    ) -> Result<Begun<'_>, LoginError> {
        match self {
            SignIn::Oidc(rp) => {
                let flow =
                    code_flow::start(rp, server, &login.state, &login.nonce, login_hint).await?;
                login.pkce_verifier = Some(flow.pkce_verifier);
                Ok(Begun::Redirect(flow.url))
            }
            SignIn::Dev(dev) => Ok(Begun::ChooseUser(&dev.users)),
            SignIn::Session(check) => {
                if let Some(cookies) = check.cookies_of(headers) {
                    let now = crate::source::now();
                    match check.check(&Session::Cookies(cookies), now).await {
                        Ok(claims) => return Ok(Begun::SignedIn(claims)),
                        // Not signed in (any more): to the app's login form.
                        Err(VerifyError::Inactive { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                // The one redirect URI, behind any path prefix of public_url.
                let callback = format!(
                    "{}/callback",
                    server.public_url.as_str().trim_end_matches('/')
                );
                let mut back = Url::parse(&callback).map_err(|_| {
                    LoginError::SourceUnknown("server.public_url cannot hold /callback".into())
                })?;
                back.query_pairs_mut().append_pair("state", &login.state);
                check
                    .login_redirect(back.as_str())
                    .map(Begun::Redirect)
                    .ok_or_else(|| {
                        LoginError::SourceUnknown(format!(
                            "source {:?} has no login_url",
                            check.name()
                        ))
                    })
            }
            SignIn::ZendeskJwt(app) => Ok(Begun::HandOff(app.login_url(&[
                ("return_to", login.return_to.as_deref()),
                ("brand_id", login.brand_id.as_deref()),
                ("locale_id", login.locale_id.as_deref()),
            ]))),
        }
    }

    /// How long the one-time use of a token that arrives unsolicited is
    /// remembered, when this sign-in takes such tokens.
    pub fn unsolicited(&self) -> Option<Duration> {
        match self {
            SignIn::ZendeskJwt(app) => Some(app.replay_window),
            SignIn::Oidc(..) | SignIn::Dev(..) | SignIn::Session(..) => None,
        }
    }

    /// What the source says of a sign-in that came back with `answer` (in
    /// a request with `headers`): an ID token, not trusted yet (the caller
    /// verifies it), or claims its check vouched for.
    pub async fn finish(
        &self,
        server: &Server,
        http: &reqwest::Client,
        headers: &HeaderMap,
        login: &PendingLogin,
        answer: &Answer<'_>,
    ) -> Result<Upstream, LoginError> {
        match (self, answer) {
            (SignIn::Oidc(rp), Answer::Callback { code, iss }) => {
                code_flow::check_response_issuer(rp, login.issuer.as_deref(), *iss).await?;
                let (Some(code), Some(verifier)) = (
                    code.filter(|c| !c.is_empty()),
                    login.pkce_verifier.as_deref(),
                ) else {
                    return Err(LoginError::Incomplete(
                        "the callback carries no authorization code",
                    ));
                };
                Ok(Upstream::IdToken(
                    code_flow::redeem(rp, server, http, code, verifier).await?,
                ))
            }
            (SignIn::Dev(dev), Answer::User(id)) => {
                let user = dev.user(id).ok_or_else(|| LoginError::UnknownUser {
                    source_name: dev.name().to_owned(),
                    user: crate::gateway::shorten(id),
                })?;
                Ok(Upstream::IdToken(dev.mint(
                    user,
                    crate::source::now(),
                    Some(&login.nonce),
                )))
            }
            // Back from the app's login form: whoever this browser's session
            // is now (never a session named by the query).
            (SignIn::Session(check), Answer::Callback { .. }) => {
                let cookies = check.cookies_of(headers).ok_or_else(|| {
                    LoginError::from(VerifyError::Inactive {
                        sources: format!("source {:?}", check.name()),
                        detail: format!(
                            ": the browser came back from the login form without the app's session cookie ({}); is zenbridge on a subdomain the cookie's Domain covers?",
                            check.config.cookies.join(", ")
                        ),
                    })
                })?;
                let claims = check
                    .check(&Session::Cookies(cookies), crate::source::now())
                    .await?;
                Ok(Upstream::Checked(claims))
            }
            // An answer of another kind's shape: not this sign-in's.
            _ => Err(LoginError::StateMismatch),
        }
    }

    /// Where the browser ends the provider's own session on logout
    /// (OpenID Connect RP-Initiated Logout), when the source has one.
    pub async fn end_session_url(&self, after: Option<&str>) -> Option<String> {
        match self {
            SignIn::Oidc(rp) => code_flow::end_session_url(rp, after).await,
            SignIn::Dev(..) | SignIn::Session(..) | SignIn::ZendeskJwt(..) => None,
        }
    }

    /// The client id an ID token from this sign-in must be addressed to
    /// (`aud`), when the sign-in has one.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            SignIn::Oidc(rp) => Some(&rp.client_id),
            SignIn::Dev(..) | SignIn::Session(..) | SignIn::ZendeskJwt(..) => None,
        }
    }
}
