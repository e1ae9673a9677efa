//! Zendesk's known sign-in failure messages, explained in plain words.
//! After a refused JWT, Zendesk sends the browser to the remote logout URL
//! with `kind=error&message=…`; the message is Zendesk's terse sentence (or
//! anything a link's author put there). Matching is by case-insensitive
//! fragments, most specific first; the message itself is shown only as
//! escaped text beside the explanation.

/// One known failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Stable name, for logs and tests.
    pub id: &'static str,
    /// What happened, for the person signing in.
    pub summary: &'static str,
    /// What the administrator can do about it.
    pub fix: &'static str,
    fragments: &'static [&'static str],
}

/// Most specific first: "unique user identifier has been reused" must be
/// read as an external-id clash before "reused" could mean a token.
pub const CATALOG: &[Entry] = &[
    Entry {
        id: "iat_skew",
        summary: "The sign-in token's time stamp (iat) was more than 3 minutes away from Zendesk's clock, so Zendesk refused it.",
        fix: "Check that the clock of the machine running zenbridge is synchronised (NTP). Then sign in again: a new token is made each time.",
        fragments: &["invalid iat", "iat parameter", "minutes off", "iat claim"],
    },
    Entry {
        id: "signature_invalid",
        summary: "Zendesk could not verify the sign-in token's signature.",
        fix: "The shared secret of this target in zenbridge differs from the one in Zendesk (Admin Center → Account → Security → Single sign-on → JWT). Copy the secret again; it is used as is, never base64-decoded.",
        fragments: &[
            "signature invalid",
            "invalid signature",
            "signature verification",
            "jwt signature",
        ],
    },
    Entry {
        id: "external_id_taken",
        summary: "Another Zendesk user already has the external ID this sign-in carries.",
        fix: "Two identity sources, or a changed email address, give the same person different external IDs. Make every source produce the same external_id for a person (or none), or turn on \"Update of external IDs\" in Zendesk.",
        fragments: &[
            "external has already been taken",
            "external id has already been taken",
            "external_id has already been taken",
            "unique user identifier has been reused",
            "user identifier has been reused",
        ],
    },
    Entry {
        id: "blocklisted",
        summary: "Zendesk does not let new users with this email address sign up.",
        fix: "The address (or its domain) is on Zendesk's end-user blocklist, or only invited users may sign up. Change the blocklist or create the user in Zendesk first.",
        fragments: &[
            "not allowed to sign up",
            "are not allowed to sign up",
            "blocklist",
            "blacklist",
        ],
    },
    Entry {
        id: "token_reused",
        summary: "This sign-in token had already been used; Zendesk accepts each token once.",
        fix: "Sign in again: zenbridge makes a new token (a new jti) every time. If it keeps happening, a proxy or the browser may be posting the form twice.",
        fragments: &[
            "jti",
            "already been used",
            "token has been used",
            "token was already used",
        ],
    },
    Entry {
        id: "invalid_request",
        summary: "Zendesk refused the sign-in request as malformed.",
        fix: "A required claim (email, name) is missing or a claim has the wrong type, or the token was not posted to /access/jwt. Try the target with sandbox = true, or `zenbridge explain`, to see the token zenbridge makes.",
        fragments: &["invalid jwt request", "invalid request"],
    },
    Entry {
        id: "not_authenticated",
        summary: "Zendesk could not sign you in with the token it received, without saying why.",
        fix: "Check that JWT SSO is enabled in Zendesk and assigned to this kind of user (end users or team members), that the remote login URL points to this zenbridge, and that the token's email is valid.",
        fragments: &[
            "couldn't authenticate you",
            "could not authenticate you",
            "not authenticated",
        ],
    },
];

/// The entry whose fragment occurs in `message`, if any.
pub fn explain(message: &str) -> Option<&'static Entry> {
    let m = message
        .to_lowercase()
        .replace(['\u{2019}', '\u{2018}'], "'");
    CATALOG
        .iter()
        .find(|e| e.fragments.iter().any(|f| m.contains(f)))
}

#[cfg(test)]
mod tests {
    use super::explain;

    #[test]
    fn known_zendesk_messages_are_explained() {
        let cases = [
            (
                "Invalid iat parameter: the value is more than 3 minutes off",
                "iat_skew",
            ),
            ("JWT signature invalid", "signature_invalid"),
            ("External has already been taken", "external_id_taken"),
            (
                "Please contact support: unique user identifier has been reused",
                "external_id_taken",
            ),
            (
                "Users with the email address ada@example.com are not allowed to sign up for this help desk",
                "blocklisted",
            ),
            ("The jti has already been used", "token_reused"),
            ("Invalid JWT Request", "invalid_request"),
            ("Couldn\u{2019}t authenticate you", "not_authenticated"),
        ];
        for (message, id) in cases {
            assert_eq!(explain(message).map(|e| e.id), Some(id), "{message}");
        }
        assert!(explain("something else entirely").is_none());
    }
}
