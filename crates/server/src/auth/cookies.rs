//! Reading and writing the few cookies slipway sets. Every cookie is
//! host-only (no `Domain`): the UI's session never reaches a build's address,
//! and a build's access cookie never reaches another build's.

use std::time::Duration;

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};

/// The value of cookie `name` in a request, if present (the first one).
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// The request's `Cookie` headers without cookie `name`, for passing them on
/// (a build's Odoo must never see slipway's own cookie).
pub fn without(headers: &HeaderMap, name: &str) -> Option<HeaderValue> {
    let kept: Vec<&str> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| pair.split_once('=').map(|(key, _)| key) != Some(name))
        .collect();
    if kept.is_empty() {
        return None;
    }
    HeaderValue::from_str(&kept.join("; ")).ok()
}

/// How a cookie is set.
#[derive(Debug, Clone, Copy)]
pub struct CookieOptions {
    /// `Secure`: sent over HTTPS only (browsers also accept it on
    /// `http://localhost` and its subdomains, which they trust).
    pub secure: bool,
    /// `None`: a cookie for the browser's session only.
    pub max_age: Option<Duration>,
}

/// A `Set-Cookie` header: host-only, whole site, not readable by scripts, not
/// sent with cross-site subrequests.
pub fn set(headers: &mut HeaderMap, name: &str, value: &str, options: CookieOptions) {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = options.max_age {
        cookie.push_str(&format!("; Max-Age={}", age.as_secs()));
    }
    if options.secure {
        cookie.push_str("; Secure");
    }
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        headers.append(SET_COOKIE, value);
    }
}

/// A `Set-Cookie` header that removes the cookie.
pub fn clear(headers: &mut HeaderMap, name: &str) {
    let cookie = format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        headers.append(SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for cookie in cookies {
            headers.append(COOKIE, HeaderValue::from_str(cookie).unwrap());
        }
        headers
    }

    #[test]
    fn cookies_are_found_across_headers_and_pairs() {
        let headers = headers(&["a=1; session_id=odoo", "slipway_build=abc"]);
        assert_eq!(get(&headers, "slipway_build"), Some("abc"));
        assert_eq!(get(&headers, "session_id"), Some("odoo"));
        assert_eq!(get(&headers, "missing"), None);
        assert_eq!(get(&super::HeaderMap::new(), "a"), None);
    }

    #[test]
    fn slipway_s_cookie_is_removed_from_what_a_build_sees() {
        let headers = headers(&["a=1; slipway_build=abc", "session_id=odoo"]);
        assert_eq!(
            without(&headers, "slipway_build").unwrap(),
            "a=1; session_id=odoo"
        );
        assert!(without(&self::headers(&["slipway_build=x"]), "slipway_build").is_none());
    }

    #[test]
    fn cookies_set_are_host_only_http_only_and_lax() {
        let mut headers = HeaderMap::new();
        set(
            &mut headers,
            "slipway_session",
            "t0k",
            CookieOptions {
                secure: true,
                max_age: Some(Duration::from_secs(60)),
            },
        );
        let cookie = headers.get(SET_COOKIE).unwrap().to_str().unwrap();
        assert_eq!(
            cookie,
            "slipway_session=t0k; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        assert!(!cookie.contains("Domain"));
    }
}
