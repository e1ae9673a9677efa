//! Lists of host and domain names: a target's `return_to_hosts`, a
//! source's `domains` (login-hint routing) and `email_domains`. Each entry
//! is compared with a name zenbridge reads from a request, lower-cased, so
//! an entry written as a URL, with a port, an `@` or a wildcard the list
//! does not understand can never match: such an entry is refused, with
//! the form that would work.

use super::Validator;

/// How a list's entries are matched, which decides what each may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HostList {
    /// `return_to_hosts`: the host of an `https` `return_to` on the
    /// default port, compared exactly.
    ExactHosts,
    /// `domains`: an email's domain, or one under it (`acme.com` matches
    /// `eu.acme.com` too).
    DomainsAndBelow,
    /// `email_domains`: `acme.com` exactly, or `*.acme.com` for the
    /// domains under it.
    DomainsOrWildcards,
}

impl HostList {
    fn expected(self) -> &'static str {
        match self {
            HostList::ExactHosts => "must be a host name such as \"help.acme.com\"",
            HostList::DomainsAndBelow => {
                "must be a domain such as \"acme.com\" (it also matches the domains under it)"
            }
            HostList::DomainsOrWildcards => {
                "must be a domain such as \"acme.com\" (or \"*.acme.com\" for its subdomains)"
            }
        }
    }

    /// The entry as compared, or the form that would work (if any).
    fn check(self, entry: &str) -> Result<String, Option<String>> {
        let lower = entry.trim().to_ascii_lowercase();
        if self == HostList::DomainsOrWildcards
            && let Some(bare) = lower.strip_prefix("*.")
            && is_domain(bare)
        {
            return Ok(lower);
        }
        if is_domain(&lower) {
            return Ok(lower);
        }
        Err(self.fix(&lower))
    }

    /// What to write instead of `lower`, when the mistake is one of the
    /// usual ones and what is left is a domain.
    fn fix(self, lower: &str) -> Option<String> {
        let write = |name: &str, why: &str| Some(format!("write \"{name}\" ({why})"));
        if let Some((scheme, rest)) = lower.split_once("://") {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = host.rsplit('@').next().unwrap_or_default();
            let host = host.split(':').next().unwrap_or_default();
            if !is_domain(host) {
                return None;
            }
            return write(
                host,
                &format!("the host name alone, without {scheme}:// or a path"),
            );
        }
        if let Some((host, port)) = lower.split_once(':')
            && is_domain(host)
            && !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
        {
            let why = match self {
                HostList::ExactHosts => {
                    "without the port: a return_to is only accepted on https's default port"
                }
                _ => "without a port: an email's domain has none",
            };
            return write(host, why);
        }
        if let Some((host, _)) = lower.split_once('/')
            && is_domain(host)
        {
            return write(host, "the host name alone, without a path");
        }
        if let Some((_, domain)) = lower.rsplit_once('@')
            && is_domain(domain)
        {
            return write(domain, "the domain alone, without \"@\"");
        }
        if let Some(bare) = lower.strip_prefix("*.").or_else(|| lower.strip_prefix('.'))
            && is_domain(bare)
        {
            return match self {
                HostList::ExactHosts => Some(format!(
                    "hosts are compared exactly, with no wildcard: list each one, e.g. \"help.{bare}\""
                )),
                HostList::DomainsAndBelow => {
                    write(bare, "a domain also matches the domains under it")
                }
                HostList::DomainsOrWildcards => write(
                    &format!("*.{bare}"),
                    "\"*.\" for the domains under it, or the domain alone for itself",
                ),
            };
        }
        None
    }
}

/// A DNS name of at least two labels, each of letters, digits and `-`,
/// not at a label's ends: no IP address (the last label is not all
/// digits), no wildcard, no port.
fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|l| !l.bytes().all(|b| b.is_ascii_digit()))
}

impl Validator {
    /// The entries of a host or domain list, lower-cased; each one that can
    /// never match is refused under its own key path.
    pub(super) fn host_list(&mut self, path: &str, raw: &[String], list: HostList) -> Vec<String> {
        let mut out = Vec::new();
        for (j, entry) in raw.iter().enumerate() {
            let key = format!("{path}[{j}]");
            let message = format!("{}; found {entry:?}", list.expected());
            match list.check(entry) {
                Ok(name) => out.push(name),
                Err(Some(fix)) => self.p.push_suggesting(key, message, fix),
                Err(None) => self.p.push(key, message),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_names_of_two_labels_or_more_and_not_addresses() {
        for ok in [
            "acme.com",
            "eu.acme.co.uk",
            "xn--bcher-kva.example",
            "a-b.c0",
        ] {
            assert!(is_domain(ok), "{ok}");
        }
        for bad in [
            "localhost",
            "10.0.0.1",
            "acme..com",
            "-acme.com",
            "*.acme.com",
            "acme.com:443",
            "",
        ] {
            assert!(!is_domain(bad), "{bad}");
        }
    }

    #[test]
    fn an_entry_that_is_fine_is_lower_cased() {
        assert_eq!(
            HostList::ExactHosts.check(" Help.ACME.com "),
            Ok("help.acme.com".to_owned())
        );
        assert_eq!(
            HostList::DomainsOrWildcards.check("*.Acme.com"),
            Ok("*.acme.com".to_owned())
        );
        assert!(HostList::DomainsAndBelow.check("*.acme.com").is_err());
        assert!(HostList::ExactHosts.check("*.acme.com").is_err());
    }
}
