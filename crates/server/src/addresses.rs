//! The addresses slipway gives out: the UI at the base domain, each build at
//! `<build id>.<base domain>`, each project's production at
//! `<project>.<base domain>`, all on the same port.

/// Where browsers reach this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses {
    /// `http` by default; `https` behind a TLS-terminating proxy.
    pub scheme: &'static str,
    /// `localhost` by default: `http://<label>.localhost:<port>` resolves to
    /// the loopback in browsers without any DNS setup.
    pub base_domain: String,
    /// The port in the addresses; `None`: the scheme's default.
    pub port: Option<u16>,
}

impl Addresses {
    pub fn new(base_domain: &str, port: u16) -> Addresses {
        Addresses {
            scheme: "http",
            base_domain: base_domain.trim_matches('.').to_ascii_lowercase(),
            port: Some(port),
        }
    }

    /// From `--public-url` (e.g. `https://ci.example.com`): scheme, domain and
    /// port of every address given out.
    pub fn from_public_url(url: &str) -> Result<Addresses, String> {
        let explain = |why: &str| {
            format!(
                "invalid public URL '{url}': {why} (expected e.g. https://ci.example.com or http://localhost:8800)"
            )
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| explain("no scheme"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => "http",
            "https" => "https",
            _ => return Err(explain("the scheme must be http or https")),
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            return Err(explain("give only a scheme, a host and a port"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (
                host,
                Some(
                    port.parse::<u16>()
                        .map_err(|_| explain("the port is not a number"))?,
                ),
            ),
            None => (authority, None),
        };
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err(explain("the host must be a domain name"));
        }
        let default_port = if scheme == "https" { 443 } else { 80 };
        Ok(Addresses {
            scheme,
            base_domain: host.trim_matches('.').to_ascii_lowercase(),
            port: port.filter(|port| *port != default_port),
        })
    }

    pub fn https(&self) -> bool {
        self.scheme == "https"
    }

    fn port_suffix(&self) -> String {
        self.port.map(|port| format!(":{port}")).unwrap_or_default()
    }

    /// The UI's origin, e.g. `http://localhost:8800`.
    pub fn ui_origin(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme,
            self.base_domain,
            self.port_suffix()
        )
    }

    /// The origin of `<label>.<base domain>`.
    pub fn label_origin(&self, label: &str) -> String {
        format!(
            "{}://{label}.{}{}",
            self.scheme,
            self.base_domain,
            self.port_suffix()
        )
    }

    /// The stable address of a project's production.
    pub fn production_url(&self, project: &str) -> String {
        self.label_origin(project)
    }

    /// A build's address.
    pub fn build_url(&self, build_id: i64) -> String {
        self.label_origin(&build_id.to_string())
    }

    /// Every build's origin, as a Content-Security-Policy source.
    pub fn builds_source(&self) -> String {
        format!(
            "{}://*.{}{}",
            self.scheme,
            self.base_domain,
            self.port_suffix()
        )
    }

    /// The label of a `Host` header under the base domain, if it is one.
    pub fn label<'a>(&self, host: &'a str) -> Option<&'a str> {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        let label = name
            .strip_suffix(self.base_domain.as_str())?
            .strip_suffix('.')?;
        (!label.is_empty() && !label.contains('.')).then_some(label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_taken_from_hosts_under_the_base_domain_only() {
        let addresses = Addresses::new("localhost", 8800);
        assert_eq!(addresses.label("acme.localhost:8800"), Some("acme"));
        assert_eq!(addresses.label("42.localhost"), Some("42"));
        assert_eq!(addresses.label("localhost:8800"), None);
        assert_eq!(addresses.label("127.0.0.1:8800"), None);
        assert_eq!(addresses.label("a.b.localhost:8800"), None);
        assert_eq!(addresses.label("evil-localhost:8800"), None);
        assert_eq!(
            addresses.production_url("acme"),
            "http://acme.localhost:8800"
        );
        assert_eq!(addresses.ui_origin(), "http://localhost:8800");
        assert_eq!(addresses.build_url(42), "http://42.localhost:8800");
        assert_eq!(addresses.builds_source(), "http://*.localhost:8800");
    }

    #[test]
    fn a_public_url_sets_scheme_domain_and_port() {
        let addresses = Addresses::from_public_url("https://CI.example.com/").unwrap();
        assert_eq!(addresses.ui_origin(), "https://ci.example.com");
        assert_eq!(addresses.build_url(7), "https://7.ci.example.com");
        assert!(addresses.https());
        let addresses = Addresses::from_public_url("http://localhost:9000").unwrap();
        assert_eq!(addresses.build_url(7), "http://7.localhost:9000");
        for bad in [
            "ci.example.com",
            "ftp://ci.example.com",
            "https://ci.example.com/path",
            "https://user@ci.example.com",
            "https://ci.example.com:port",
            "https://",
        ] {
            let error = Addresses::from_public_url(bad).unwrap_err();
            assert!(error.contains("expected e.g."), "{bad}: {error}");
        }
    }
}
