//! Where a daemon may migrate its domains, and what a target is.
//!
//! The policy: a domain goes only to a target its host file allows
//! (`[migration] allowed_targets`), whoever asks and whatever password the
//! request names. An entry `HOST` allows every port of that host, an entry
//! `HOST:PORT` that port only; hosts are compared as written (without case),
//! not resolved, so the list says exactly what it allows. A host file
//! without the list allows no outgoing migration.
//!
//! A target on the command line is `HOST[:PORT][:TARGET-DOMAIN]`: a part
//! made of digits is a port (1 to 65535, or the whole target is refused),
//! anything else the domain's name there, which must be a domain name
//! ([`ldmig_hv::domain_name`]).

use ldmig_hv::domain_name::domain_name;

/// The port of a target given without one.
pub const DEFAULT_PORT: u16 = 8101;

/// A target as the daemon dials it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The host (a name or an address).
    pub host: String,
    /// The port.
    pub port: u16,
}

impl Target {
    /// `HOST:PORT`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A port, or why the text is not one (`None`: not digits at all).
fn port(text: &str) -> Option<Result<u16, String>> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some(match text.parse::<u32>() {
        Ok(port @ 1..=65535) => Ok(port as u16),
        _ => Err(format!("port {text} is out of range (1 to 65535)")),
    })
}

fn host(text: &str, whole: &str) -> Result<String, String> {
    if text.is_empty() || text.contains(|c: char| c.is_whitespace() || c == '/') {
        return Err(format!(
            "target '{whole}': the host {text:?} is not a host name or address"
        ));
    }
    Ok(text.to_string())
}

/// Splits `HOST[:PORT][:TARGET-DOMAIN]`; the domain's name there is
/// `domain` unless the target names another.
pub fn parse_target(text: &str, domain: &str) -> Result<(Target, String), String> {
    let syntax = || format!("target '{text}' is not HOST[:PORT][:TARGET-DOMAIN]");
    let parts: Vec<&str> = text.split(':').collect();
    let (host_text, port_number, name) = match parts.as_slice() {
        [host] => (*host, DEFAULT_PORT, domain),
        [host, second] => match port(second) {
            Some(port) => (
                *host,
                port.map_err(|error| format!("target '{text}': {error}"))?,
                domain,
            ),
            None => (*host, DEFAULT_PORT, *second),
        },
        [host, second, name] => match port(second) {
            Some(port) => (
                *host,
                port.map_err(|error| format!("target '{text}': {error}"))?,
                *name,
            ),
            None => return Err(syntax()),
        },
        _ => return Err(syntax()),
    };
    let host = host(host_text, text)?;
    let name = domain_name(name)
        .map_err(|error| format!("target '{text}': the domain name {name:?} there: {error}"))?;
    Ok((
        Target {
            host,
            port: port_number,
        },
        name.to_string(),
    ))
}

/// Parses `HOST:PORT` (what a request carries).
pub fn parse_address(text: &str) -> Result<Target, String> {
    let (host_text, port_text) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("target '{text}' is not HOST:PORT"))?;
    let port_number = match port(port_text) {
        Some(port) => port.map_err(|error| format!("target '{text}': {error}"))?,
        None => return Err(format!("target '{text}' is not HOST:PORT")),
    };
    Ok(Target {
        host: host(host_text, text)?,
        port: port_number,
    })
}

/// True when `target` is one of `allowed` (see the module docs).
pub fn allowed(allowed: &[String], target: &Target) -> bool {
    allowed.iter().any(|entry| {
        let (host, port_text) = match entry.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (entry.as_str(), None),
        };
        host.eq_ignore_ascii_case(&target.host)
            && port_text.is_none_or(|port| port.parse() == Ok(target.port))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, port: u16) -> Target {
        Target {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn targets_split_like_ldm() {
        let split = |text: &str| parse_target(text, "ldg1");
        assert_eq!(split("t5-b"), Ok((target("t5-b", 8101), "ldg1".into())));
        assert_eq!(
            split("127.0.0.1:9000"),
            Ok((target("127.0.0.1", 9000), "ldg1".into()))
        );
        assert_eq!(
            split("t5-b:ldg9"),
            Ok((target("t5-b", 8101), "ldg9".into()))
        );
        assert_eq!(
            split("127.0.0.1:9000:ldg9"),
            Ok((target("127.0.0.1", 9000), "ldg9".into()))
        );
        assert!(split("a:b:c:d").is_err());
        assert!(split(":9000").is_err());
    }

    #[test]
    fn a_port_out_of_range_is_not_a_domain_name() {
        for text in ["t5-b:99999", "t5-b:0", "t5-b:99999:ldg1"] {
            let error = parse_target(text, "ldg1").expect_err(text);
            assert!(error.contains("out of range"), "{text}: {error}");
        }
    }

    #[test]
    fn bad_target_domain_names_are_refused_before_anything_moves() {
        let long = format!("t5-b:{}", "x".repeat(65));
        for text in [long.as_str(), "t5-b:../etc", "t5-b:ldg\n1", "t5-b:9000:"] {
            let error = parse_target(text, "ldg1").expect_err(text);
            assert!(error.contains("domain name"), "{text:?}: {error}");
        }
        assert!(
            parse_target("t5-b", "").is_err(),
            "the domain's own name too"
        );
    }

    #[test]
    fn only_allowed_targets_are() {
        let list = vec!["t5-b".to_string(), "10.0.0.7:8102".to_string()];
        assert!(allowed(&list, &target("t5-b", 8101)));
        assert!(allowed(&list, &target("T5-B", 9999)), "any port, any case");
        assert!(allowed(&list, &target("10.0.0.7", 8102)));
        assert!(!allowed(&list, &target("10.0.0.7", 8101)), "that port only");
        assert!(!allowed(&list, &target("evil", 8101)));
        assert!(!allowed(&[], &target("t5-b", 8101)), "no list, no target");
        assert_eq!(
            parse_address("127.0.0.1:8101"),
            Ok(target("127.0.0.1", 8101))
        );
        assert!(parse_address("127.0.0.1:99999").is_err());
        assert!(parse_address("nowhere").is_err());
    }
}
