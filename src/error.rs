//! The stable `error_code`s every refusal carries, documented one by one in
//! `docs/errors.md` (a test keeps the two in step). Each layer has its own
//! error enum; each maps every variant to a code here with no catch-all, so
//! a new variant cannot silently become a 500.

use crate::mapping::MappingError;
use crate::source::VerifyError;
use crate::target::MintError;

macro_rules! codes {
    ($($variant:ident => $text:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant,)* }
        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $text,)* }
            }
        }
    };
}

codes! {
    TokenMalformed => "token_malformed",
    TokenTooLarge => "token_too_large",
    TokenTypeMismatch => "token_type_mismatch",
    TokenExpired => "token_expired",
    TokenInactive => "token_inactive",
    TokenNotYetValid => "token_not_yet_valid",
    TokenIssuedInFuture => "token_issued_in_future",
    IssuerUnknown => "issuer_unknown",
    IssuerNotAllowed => "issuer_not_allowed",
    AudienceMismatch => "audience_mismatch",
    ClientNotAllowed => "client_not_allowed",
    AlgorithmNotAllowed => "algorithm_not_allowed",
    SignatureInvalid => "signature_invalid",
    KeyUnknown => "key_unknown",
    UpstreamUnavailable => "upstream_unavailable",
    RuleFailed => "rule_failed",
    ClaimMissing => "claim_missing",
    ClaimInvalid => "claim_invalid",
    StateMismatch => "state_mismatch",
    LoginExpired => "login_expired",
    LoginFailed => "login_failed",
    ReturnToNotAllowed => "return_to_not_allowed",
    TokenReused => "token_reused",
    RateLimited => "rate_limited",
    RequestInvalid => "request_invalid",
    BodyTooLarge => "body_too_large",
    TargetUnknown => "target_unknown",
    SourceUnknown => "source_unknown",
    GrantTypeUnsupported => "grant_type_unsupported",
    TokenTypeUnsupported => "token_type_unsupported",
    IpNotAllowed => "ip_not_allowed",
    Unauthorized => "unauthorized",
    StateUnavailable => "state_unavailable",
    EmailUnverified => "email_unverified",
    EmailDomainNotAllowed => "email_domain_not_allowed",
    RoleNotAllowed => "role_not_allowed",
    EndpointNotAllowed => "endpoint_not_allowed",
    TenantNotAllowed => "tenant_not_allowed",
    LinkConflict => "link_conflict",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl VerifyError {
    pub fn code(&self) -> ErrorCode {
        match self {
            VerifyError::TooLarge { .. } => ErrorCode::TokenTooLarge,
            VerifyError::Malformed(_) => ErrorCode::TokenMalformed,
            VerifyError::TokenTypeMismatch { .. } => ErrorCode::TokenTypeMismatch,
            VerifyError::IssuerUnknown { .. } => ErrorCode::IssuerUnknown,
            VerifyError::IssuerNotAllowed { .. } => ErrorCode::IssuerNotAllowed,
            VerifyError::AlgorithmNotAllowed { .. } => ErrorCode::AlgorithmNotAllowed,
            VerifyError::KeyUnknown { .. } => ErrorCode::KeyUnknown,
            VerifyError::SignatureInvalid { .. } => ErrorCode::SignatureInvalid,
            VerifyError::Expired { .. } => ErrorCode::TokenExpired,
            VerifyError::NotYetValid { .. } => ErrorCode::TokenNotYetValid,
            VerifyError::IssuedInFuture { .. } => ErrorCode::TokenIssuedInFuture,
            VerifyError::IssuedTooLongAgo { .. } => ErrorCode::TokenExpired,
            VerifyError::AudienceMismatch { .. } => ErrorCode::AudienceMismatch,
            VerifyError::ClientNotAllowed { .. } => ErrorCode::ClientNotAllowed,
            VerifyError::ClaimMissing { .. } => ErrorCode::ClaimMissing,
            VerifyError::ClaimInvalid { .. } => ErrorCode::ClaimInvalid,
            VerifyError::Inactive { .. } => ErrorCode::TokenInactive,
            VerifyError::UpstreamUnavailable { .. } | VerifyError::CheckUnavailable { .. } => {
                ErrorCode::UpstreamUnavailable
            }
            VerifyError::TenantNotAllowed { .. } => ErrorCode::TenantNotAllowed,
        }
    }
}

impl VerifyError {
    /// The message for whoever presented the token: as [`VerifyError`]'s
    /// `Display` (which the log and `explain` show), without the issuers
    /// a target accepts or the names of its sources.
    pub fn public_message(&self) -> String {
        match self {
            VerifyError::IssuerUnknown { found, .. } => {
                format!("the token's issuer {found} is not one this target accepts")
            }
            VerifyError::IssuerNotAllowed { issuer, .. } => {
                format!("the token's issuer {issuer} is not one this target accepts")
            }
            VerifyError::KeyUnknown { kid, .. } => {
                format!("no key of the token's issuer has kid {kid}")
            }
            VerifyError::SignatureInvalid { .. } => {
                "the signature does not verify with the issuer's key".into()
            }
            VerifyError::UpstreamUnavailable { .. } => {
                "the keys of the token's issuer cannot be fetched right now; try again later".into()
            }
            VerifyError::ClientNotAllowed { found, .. } => {
                format!("the token was issued to a client this target does not accept ({found})")
            }
            VerifyError::CheckUnavailable { .. } => {
                "the token cannot be checked right now; try again later".into()
            }
            VerifyError::Inactive { .. } => {
                "the token is not active: it is unknown, expired or revoked".into()
            }
            other => other.to_string(),
        }
    }
}

impl crate::links::LinkError {
    pub fn code(&self) -> ErrorCode {
        use crate::links::LinkError as L;
        match self {
            L::Conflict { .. } => ErrorCode::LinkConflict,
            L::Unavailable { .. } | L::Invalid(_) => ErrorCode::UpstreamUnavailable,
        }
    }
}

impl MappingError {
    pub fn code(&self) -> ErrorCode {
        match self {
            MappingError::ClaimMissing { .. } => ErrorCode::ClaimMissing,
            MappingError::ClaimInvalid { .. }
            | MappingError::Evaluation { .. }
            | MappingError::ClaimsTooLarge { .. } => ErrorCode::ClaimInvalid,
            MappingError::RuleFailed { .. } | MappingError::RuleError { .. } => {
                ErrorCode::RuleFailed
            }
        }
    }
}

impl crate::trust::TrustError {
    pub fn code(&self) -> ErrorCode {
        use crate::trust::TrustError as T;
        match self {
            T::EmailUnverified(_) => ErrorCode::EmailUnverified,
            T::EmailDomainNotAllowed { .. } => ErrorCode::EmailDomainNotAllowed,
            T::RoleNotAllowed { .. } => ErrorCode::RoleNotAllowed,
        }
    }
}

impl crate::config::Refusal {
    pub fn code(&self) -> ErrorCode {
        match self {
            crate::config::Refusal::EndpointNotAllowed { .. } => ErrorCode::EndpointNotAllowed,
            crate::config::Refusal::IpNotAllowed => ErrorCode::IpNotAllowed,
        }
    }
}

impl MintError {
    pub fn code(&self) -> ErrorCode {
        match self {
            MintError::ClaimMissing { .. } => ErrorCode::ClaimMissing,
            MintError::ClaimInvalid { .. } => ErrorCode::ClaimInvalid,
        }
    }
}

impl crate::sso::FlowError {
    pub fn code(&self) -> ErrorCode {
        use crate::sso::FlowError as F;
        match self {
            F::Unavailable { .. } => ErrorCode::UpstreamUnavailable,
            F::Refused { .. } | F::NoIdToken { .. } => ErrorCode::LoginFailed,
        }
    }
}

impl crate::sso::LoginError {
    pub fn code(&self) -> ErrorCode {
        use crate::sso::LoginError as L;
        match self {
            L::TargetUnknown(_) => ErrorCode::TargetUnknown,
            L::SourceUnknown(_) => ErrorCode::SourceUnknown,
            L::NoneInProgress | L::Expired | L::BeforeRecords(_) => ErrorCode::LoginExpired,
            L::StateMismatch | L::NonceMismatch(_) | L::IssuerMismatch(_) => {
                ErrorCode::StateMismatch
            }
            L::Replayed | L::TokenReused => ErrorCode::TokenReused,
            L::NotForClient { .. } => ErrorCode::AudienceMismatch,
            L::Provider { .. } | L::UnknownUser { .. } => ErrorCode::LoginFailed,
            L::Incomplete(_) => ErrorCode::RequestInvalid,
            L::Flow(e) => e.code(),
            L::Gateway(e) => e.code(),
            L::StateUnavailable => ErrorCode::StateUnavailable,
            L::NotAllowed(_, code) => *code,
        }
    }
}
