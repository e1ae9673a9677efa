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
//! - `zendesk_jwt`: the legacy app's own login URL, with Zendesk's
//!   `return_to`, `brand_id` and `locale_id`; nothing is kept, because the
//!   app answers as it answers Zendesk, unsolicited, at
//!   `…/from/{source}/access/jwt` ([`SignIn::unsolicited`]): its signed,
//!   one-time JWT is the proof.

use std::time::Duration;

use url::Url;

use super::code_flow;
use super::{LoginError, PendingLogin};
use crate::config::{DevUser, Server};
pub use crate::source::SignIn;
use crate::source::Source;

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
    /// what the pending login must keep (the PKCE verifier).
    pub async fn start(
        &self,
        server: &Server,
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
            SignIn::Oidc(..) | SignIn::Dev(..) => None,
        }
    }

    /// The upstream ID token of a sign-in that came back with `answer`.
    /// The token is not trusted yet: the caller verifies it.
    pub async fn finish(
        &self,
        server: &Server,
        http: &reqwest::Client,
        login: &PendingLogin,
        answer: &Answer<'_>,
    ) -> Result<String, LoginError> {
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
                Ok(code_flow::redeem(rp, server, http, code, verifier).await?)
            }
            (SignIn::Dev(dev), Answer::User(id)) => {
                let user = dev.user(id).ok_or_else(|| LoginError::UnknownUser {
                    source_name: dev.name().to_owned(),
                    user: crate::gateway::shorten(id),
                })?;
                Ok(dev.mint(user, crate::source::now(), Some(&login.nonce)))
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
            SignIn::Dev(..) | SignIn::ZendeskJwt(..) => None,
        }
    }

    /// The client id an ID token from this sign-in must be addressed to
    /// (`aud`), when the sign-in has one.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            SignIn::Oidc(rp) => Some(&rp.client_id),
            SignIn::Dev(..) | SignIn::ZendeskJwt(..) => None,
        }
    }
}
