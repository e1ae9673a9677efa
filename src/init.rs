//! `zenbridge init`: a commented starting config for one source kind and
//! one target kind, which passes `zenbridge check` once the environment
//! variables its header lists are set. Values the command line does not
//! give are placeholders a reader recognises (`https://login.example.com/`,
//! `your-client-id`), each on a line that says what to put there.
//!
//! Secrets are never written into the file: each is an `{ env = "…" }`
//! reference, listed with how to get it in the header.

use std::fmt::Write as _;

use crate::source::SourceKind;
use crate::target::TargetKind;

/// What `init` was asked for.
#[derive(Debug, Clone)]
pub struct Init {
    pub source: SourceKind,
    pub target: TargetKind,
    /// `sso` only: the sign-in ends on zenbridge's sandbox, not Zendesk.
    pub sandbox: bool,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub project_id: Option<String>,
    pub subdomain: Option<String>,
    pub public_url: Option<String>,
}

/// An environment variable the config reads, and how to get its value.
struct Env {
    name: &'static str,
    what: &'static str,
}

impl Init {
    /// The config text, or why the combination cannot work.
    pub fn render(&self) -> Result<String, String> {
        if self.sandbox && self.target != TargetKind::Sso {
            return Err(format!(
                "--sandbox is for sso targets (the stand-in for Zendesk's /access/jwt); a {} target has no browser page to end on",
                self.target.as_str()
            ));
        }
        if self.target == TargetKind::Sso
            && !matches!(
                self.source,
                SourceKind::Oidc | SourceKind::Dev | SourceKind::Session
            )
        {
            return Err(format!(
                "an sso target signs people in with a browser, through an oidc, dev or session source; a {} source's tokens are presented by an app: pick --target sdk, messaging or chat",
                self.source.as_str()
            ));
        }
        if self.source == SourceKind::ZendeskJwt {
            return Err("a zendesk_jwt source moves an existing Zendesk JWT integration behind zenbridge: see \"moving an existing Zendesk JWT integration behind zenbridge\" in docs/zendesk-setup.md".into());
        }
        let mut envs = vec![Env {
            name: "ZENBRIDGE_COOKIE_KEY",
            what: "32+ random bytes that seal the sign-in cookies: openssl rand -hex 32",
        }];
        let source = self.source_block(&mut envs);
        let target = self.target_block(&mut envs);
        let public_url = self
            .public_url
            .clone()
            .unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let listen = listen_of(&public_url);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# zenbridge config written by `zenbridge init --source {} --target {}{}`.",
            self.source.as_str(),
            self.target.as_str(),
            if self.sandbox { " --sandbox" } else { "" }
        );
        out.push_str(
            "# Check it with `zenbridge check --config THIS_FILE` (add --online to\n\
             # fetch the provider's keys), then run `zenbridge serve --config THIS_FILE`.\n\
             # Every key is described in docs/configuration.md.\n\
             #\n\
             # Environment variables it needs:\n",
        );
        for e in &envs {
            let _ = writeln!(out, "#   {:<26} {}", e.name, e.what);
        }
        let _ = write!(
            out,
            "
[server]
# The address browsers and apps use; links, redirects and cookies are built
# from it. https in production (plain http is for tests on loopback: its
# cookies are not Secure).
public_url = \"{public_url}\"
listen = \"{listen}\"
cookie_key = {{ env = \"ZENBRIDGE_COOKIE_KEY\" }}
# Behind a proxy that terminates TLS, list its addresses so X-Forwarded-For
# is read: trusted_proxies = [\"10.0.0.0/8\"]

{source}
{target}"
        );
        Ok(out)
    }

    fn source_block(&self, envs: &mut Vec<Env>) -> String {
        match self.source {
            SourceKind::Oidc => {
                envs.push(Env {
                    name: "OIDC_CLIENT_SECRET",
                    what: "the client secret your identity provider shows for this application",
                });
                let issuer = self
                    .issuer
                    .clone()
                    .unwrap_or_else(|| "https://login.example.com/".into());
                let client_id = self
                    .client_id
                    .clone()
                    .unwrap_or_else(|| "your-client-id".into());
                format!(
                    "[[source]]
name = \"idp\"
kind = \"oidc\"
label = \"Sign in with your company account\"
# The issuer exactly as the provider's discovery document writes it
# (Auth0 ends it with a slash; Entra is per tenant: .../{{tenant}}/v2.0).
issuer = \"{issuer}\"
# Register a web application at the provider with the redirect URI
# {{public_url}}/callback, and client_secret_basic authentication.
client_id = \"{client_id}\"
client_secret = {{ env = \"OIDC_CLIENT_SECRET\" }}
scopes = [\"openid\", \"email\", \"profile\"]

# How the provider's claims become Zendesk's. email and name default to
# claims.email and claims.name (the email's local part when there is no
# name); an email reaches Zendesk only when the provider says
# email_verified: true.
[source.claims]
external_id = \"'idp|' + claims.sub\"
"
                )
            }
            SourceKind::Firebase => {
                let project = self
                    .project_id
                    .clone()
                    .unwrap_or_else(|| "your-firebase-project".into());
                format!(
                    "[[source]]
name = \"firebase\"
kind = \"firebase\"
# Firebase console → Project settings → Project ID. The app sends the
# Firebase ID token (getIdToken()) of the signed-in user.
project_id = \"{project}\"

# email and name default to claims.email and claims.name; an email reaches
# Zendesk only when Firebase marks it verified.
[source.claims]
external_id = \"'firebase|' + claims.sub\"
"
                )
            }
            SourceKind::Jwt | SourceKind::ZendeskJwt => {
                envs.push(Env {
                    name: "LEGACY_JWT_SECRET",
                    what: "the HS256 secret your app signs its tokens with (32+ bytes)",
                });
                let issuer = self
                    .issuer
                    .clone()
                    .unwrap_or_else(|| "https://app.example.com".into());
                format!(
                    "[[source]]
name = \"legacy\"
kind = \"jwt\"
# The iss your application writes in its tokens, and the aud it addresses
# them to.
issuer = \"{issuer}\"
audiences = [\"zendesk\"]
algorithms = [\"HS256\"]
secret = {{ env = \"LEGACY_JWT_SECRET\" }}
# Or public keys: jwks_url = \"https://app.example.com/.well-known/jwks.json\"

# Your app vouches for its users' emails unless a token says
# email_verified: false.
[source.claims]
external_id = \"'legacy|' + claims.sub\"
"
                )
            }
            SourceKind::Session => "[[source]]
name = \"app\"
kind = \"session\"
label = \"Sign in with your app account\"
# Your app's own login session. zenbridge runs on a sibling subdomain
# (sso.example.com next to app.example.com) and the app sets its session
# cookie for the parent domain (Domain=example.com), so the browser sends
# it here too. Only the cookies named below are forwarded to check_url,
# which answers 200 and the person's claims as JSON ({\"sub\", \"email\",
# \"email_verified\", \"name\"}) or 401.
check_url = \"https://app.example.com/api/session\"
# Without a session, the browser goes to the login form with the way back
# in this query parameter.
login_url = \"https://app.example.com/login\"
return_to_query_param = \"next\"
cookies = [\"session\"]
# Apps present the app's session token instead; it goes to check_url in
# this header (Authorization: Bearer <token> by default).
# token_header = \"X-Session-Token\"

# An email reaches Zendesk only when the app says email_verified: true.
[source.claims]
external_id = \"'app|' + claims.sub\"
"
            .to_owned(),
            SourceKind::Introspection => {
                envs.push(Env {
                    name: "INTROSPECTION_CLIENT_SECRET",
                    what: "the secret of the client zenbridge introspects tokens as, at your provider",
                });
                let issuer = self
                    .issuer
                    .as_deref()
                    .unwrap_or("https://login.example.com")
                    .trim_end_matches('/')
                    .to_owned();
                format!(
                    "[[source]]
name = \"tokens\"
kind = \"introspection\"
# Your app sends its opaque access token; zenbridge asks the provider about
# it (RFC 7662) as this client, and adds the person's userinfo claims. The
# paths are the provider's own (Okta: /oauth2/default/v1/introspect and
# /oauth2/default/v1/userinfo): see its discovery document.
introspection_url = \"{issuer}/token/introspection\"
userinfo_url = \"{issuer}/me\"
client_id = \"zenbridge\"
client_secret = {{ env = \"INTROSPECTION_CLIENT_SECRET\" }}
# The client ids of the apps whose tokens may sign in.
allowed_clients = [\"mobile-app\"]

[source.claims]
external_id = \"'idp|' + claims.sub\"
"
                )
            }
            SourceKind::Dev => "[[source]]
name = \"dev\"
kind = \"dev\"
label = \"Test users (no passwords: never in production)\"

[source.claims]
external_id = \"'dev|' + claims.sub\"

[[source.users]]
id = \"ada\"
email = \"ada@example.com\"
name = \"Ada Lovelace\"
"
            .to_owned(),
        }
    }

    fn target_block(&self, envs: &mut Vec<Env>) -> String {
        let source = match self.source {
            SourceKind::Oidc => "idp",
            SourceKind::Firebase => "firebase",
            SourceKind::Jwt | SourceKind::ZendeskJwt => "legacy",
            SourceKind::Dev => "dev",
            SourceKind::Session => "app",
            SourceKind::Introspection => "tokens",
        };
        let subdomain = self.subdomain.clone().unwrap_or_else(|| "acme".into());
        match self.target {
            TargetKind::Sso => {
                envs.push(Env {
                    name: "ZENDESK_SSO_SECRET",
                    what: if self.sandbox {
                        "Zendesk's JWT SSO shared secret (while sandbox = true, any 10+ characters)"
                    } else {
                        "Admin Center → Account → Security → Single sign-on → your JWT configuration → shared secret"
                    },
                });
                let ending = if self.sandbox {
                    "# The sign-in ends on zenbridge's sandbox, which checks the token as\n\
                     # Zendesk would and shows each rule. Remove it (and set the secret\n\
                     # Zendesk shows) to send people to Zendesk.\n\
                     sandbox = true\n"
                        .to_owned()
                } else {
                    String::new()
                };
                format!(
                    "[[target]]
name = \"helpcenter\"
kind = \"sso\"
# In Zendesk (Admin Center → Account → Security → Single sign-on → JWT):
#   Remote login URL   {{public_url}}/sso/helpcenter/login
#   Remote logout URL  {{public_url}}/sso/helpcenter/logout
subdomain = \"{subdomain}\"
secret = {{ env = \"ZENDESK_SSO_SECRET\" }}
sources = [\"{source}\"]
{ending}"
                )
            }
            TargetKind::Sdk => {
                envs.push(Env {
                    name: "ZENDESK_SDK_SECRET",
                    what: "Admin Center → Channels → Classic → Mobile SDK → your app → JWT secret",
                });
                format!(
                    "[[target]]
name = \"mobile\"
kind = \"sdk\"
# In Zendesk, the Mobile SDK app's JWT endpoint URL:
#   {{public_url}}/sdk/mobile/jwt
secret = {{ env = \"ZENDESK_SDK_SECRET\" }}
sources = [\"{source}\"]
"
                )
            }
            TargetKind::Messaging => {
                envs.push(Env {
                    name: "ZENDESK_MESSAGING_SECRET",
                    what: "Admin Center → Account → Security → End user authentication → Messaging → a signing key's secret",
                });
                format!(
                    "[[target]]
name = \"messaging\"
kind = \"messaging\"
# The signing key's id, shown beside its secret in Zendesk.
key_id = \"app_your_key_id\"
secret = {{ env = \"ZENDESK_MESSAGING_SECRET\" }}
sources = [\"{source}\"]
# The app sends its token as Authorization: Bearer … to
# POST {{public_url}}/exchange/messaging and passes the answer to loginUser.
"
                )
            }
            TargetKind::Chat => {
                envs.push(Env {
                    name: "ZENDESK_CHAT_SECRET",
                    what: "Zendesk Chat → Settings → Widget → Widget security → the visitor authentication secret",
                });
                format!(
                    "[[target]]
name = \"chat\"
kind = \"chat\"
secret = {{ env = \"ZENDESK_CHAT_SECRET\" }}
sources = [\"{source}\"]
# The page's jwtFn fetches POST {{public_url}}/exchange/chat with the
# user's token as Authorization: Bearer ….
"
                )
            }
        }
    }
}

/// The listening address for a public URL: its loopback port when the URL
/// is on loopback, else all interfaces on 8080 (a proxy in front).
fn listen_of(public_url: &str) -> String {
    match url::Url::parse(public_url) {
        Ok(u)
            if u.host_str()
                .is_some_and(|h| h == "127.0.0.1" || h == "localhost" || h == "[::1]") =>
        {
            format!("127.0.0.1:{}", u.port_or_known_default().unwrap_or(8080))
        }
        _ => "0.0.0.0:8080".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(source: SourceKind, target: TargetKind, sandbox: bool) -> Init {
        Init {
            source,
            target,
            sandbox,
            issuer: None,
            client_id: None,
            project_id: None,
            subdomain: None,
            public_url: None,
        }
    }

    #[test]
    fn combinations_that_cannot_work_are_refused_with_what_would() {
        let e = init(SourceKind::Firebase, TargetKind::Sso, false)
            .render()
            .unwrap_err();
        assert!(e.contains("pick --target sdk, messaging or chat"), "{e}");
        let e = init(SourceKind::Oidc, TargetKind::Sdk, true)
            .render()
            .unwrap_err();
        assert!(e.contains("--sandbox is for sso targets"), "{e}");
    }

    #[test]
    fn loopback_public_urls_listen_on_their_port() {
        assert_eq!(listen_of("http://127.0.0.1:9000"), "127.0.0.1:9000");
        assert_eq!(listen_of("https://sso.acme.com"), "0.0.0.0:8080");
    }
}
