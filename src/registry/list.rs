//! The registry's listings: `GET /v2/_catalog` (its repositories) and
//! `GET /v2/<name>/tags/list` (a repository's tags), every page.
//!
//! Pages follow the distribution spec: ask for `n` entries, then follow the `Link: <…>;
//! rel="next"` header; a registry that sends no `Link` but a full page is asked again with
//! `last=<the last entry>`. Paging stops at a page that brings nothing new, so a registry
//! that ignores `n` and `last` cannot loop us.

use super::client::{display_url, percent_encode, Payload, Reply};
use super::{with_retry, Registry};
use crate::error::{fail, Cause};
use std::collections::BTreeSet;
use ureq::http::Method;

/// Registries known not to serve `/v2/_catalog` to their users.
const NO_CATALOG: &[&str] = &["docker.io", "registry-1.docker.io", "index.docker.io", "ghcr.io"];

/// What is being listed: where it lives, the JSON key of its entries, and how "missing" reads.
struct Listing<'a> {
    path: String,
    repo: Option<&'a str>,
    key: &'static str,
}

impl Registry {
    /// GET /v2/_catalog?n=<page> — every repository the registry lists, in its order. A
    /// registry without a catalog (404, UNSUPPORTED; Docker Hub and GHCR) is one
    /// [`Cause::Unsupported`] error that says so.
    pub fn catalog(&mut self, page: u32) -> anyhow::Result<Vec<String>> {
        let host = self.client.base.host().to_string();
        let listing = Listing { path: "/v2/_catalog".into(), repo: None, key: "repositories" };
        let no_catalog = |answer: &str| {
            crate::error::fail_with_hint(
                Cause::Unsupported,
                format!("registry {host} does not list its repositories: it has no catalog (GET /v2/_catalog {answer})"),
                format!("list one repository's tags instead: `idpush tags {host}/REPO`"),
            )
        };
        // Docker Hub and GHCR refuse the catalog to everyone (a 401 after the token, say).
        let known = NO_CATALOG.iter().any(|h| host == *h || host.starts_with(&format!("{h}:")));
        let listed = self.pages(&listing, page, &|reply| {
            let codes: Vec<String> =
                super::classify::api_errors(&reply.body).into_iter().map(|e| e.code.to_ascii_uppercase()).collect();
            let unsupported = matches!(reply.status, 404 | 405 | 501) || codes.iter().any(|c| c == "UNSUPPORTED");
            (known || unsupported).then(|| no_catalog(&format!("answered {}", reply.status)))
        });
        match listed {
            Err(e) if known && crate::error::class_of(&e) == crate::error::Class::Auth => Err(no_catalog("was refused")),
            other => other,
        }
    }

    /// GET /v2/<repo>/tags/list?n=<page> — every tag of `repo`. A repository that is not
    /// there is a [`Cause::NotInRegistry`] error.
    pub fn tags(&mut self, repo: &str, page: u32) -> anyhow::Result<Vec<String>> {
        super::upload::check_repository(repo)?;
        let host = self.client.base.host().to_string();
        let listing = Listing { path: format!("/v2/{repo}/tags/list"), repo: Some(repo), key: "tags" };
        self.pages(&listing, page, &|reply| {
            (reply.status == 404).then(|| {
                crate::error::fail_with_hint(
                    Cause::NotInRegistry,
                    format!("repository {repo} not found on registry {host}"),
                    format!("`idpush catalog {host}` lists the repositories it has (where it keeps a catalog)"),
                )
            })
        })
    }

    /// Every page of a listing; `special` turns an answer into the error it means (404 …).
    fn pages(
        &mut self,
        listing: &Listing<'_>,
        page: u32,
        special: &dyn Fn(&Reply) -> Option<anyhow::Error>,
    ) -> anyhow::Result<Vec<String>> {
        let page = page.max(1);
        let mut url = self.client.base.url(&format!("{}?n={page}", listing.path));
        let mut all = Vec::new();
        let mut seen = BTreeSet::new();
        let policy = self.policy.clone();
        loop {
            let what = format!("listing {}", display_url(&url));
            let (entries, next) = with_retry(&what, &policy, || {
                let reply =
                    self.exchange(&Method::GET, &url, listing.repo, &[("accept", "application/json")], || Ok(Payload::None))?;
                if reply.status != 200 {
                    if let Some(err) = special(&reply) {
                        return Err(err);
                    }
                    return Err(self.unexpected("GET", &url, listing.repo, &reply));
                }
                let entries = self.entries(&url, listing.key, &reply)?;
                let next = match reply.header("link").and_then(next_link) {
                    Some(target) => Some(self.resolve(&url, &target)?),
                    None => None,
                };
                Ok((entries, next))
            })?;
            let full = entries.len() as u64 >= u64::from(page);
            let last = entries.last().cloned();
            let mut new = 0;
            for e in entries {
                if seen.insert(e.clone()) {
                    all.push(e);
                    new += 1;
                }
            }
            url = match (next, last) {
                _ if new == 0 => break,
                (Some(next), _) => next,
                (None, Some(last)) if full => {
                    self.client.base.url(&format!("{}?n={page}&last={}", listing.path, percent_encode(&last)))
                }
                _ => break,
            };
        }
        Ok(all)
    }

    /// The entries of one page: `{"repositories": [...]}` or `{"name": …, "tags": [...]}`
    /// (`null` for a repository without tags).
    fn entries(&self, url: &str, key: &str, reply: &Reply) -> anyhow::Result<Vec<String>> {
        let bad = |why: String| fail(Cause::BadAnswer, format!("registry answered GET {} with {why}", display_url(url)));
        if reply.truncated {
            return Err(bad("a page larger than 1 MiB: ask for smaller pages with --page-size".into()));
        }
        let value: serde_json::Value =
            serde_json::from_slice(&reply.body).map_err(|e| bad(format!("a body that is not JSON ({e})")))?;
        match value.get(key) {
            None | Some(serde_json::Value::Null) => Ok(Vec::new()),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(|| bad(format!("a {key} entry that is not a string"))))
                .collect(),
            Some(_) => Err(bad(format!("\"{key}\" that is not a list"))),
        }
    }

    /// The next page's URL from a `Link` target: a path on the registry, a query on the
    /// current path, or an absolute URL of the registry itself (never another host: our
    /// credentials would go there).
    fn resolve(&self, current: &str, target: &str) -> anyhow::Result<String> {
        if target.starts_with("http://") || target.starts_with("https://") {
            if self.client.base.same_origin(target) {
                return Ok(target.to_string());
            }
            return Err(fail(
                Cause::BadAnswer,
                format!(
                    "registry {} sent a next-page link to another host ({}): not followed",
                    self.client.base.host(),
                    display_url(target)
                ),
            ));
        }
        if target.starts_with('/') {
            return Ok(self.client.base.url(target));
        }
        let path = current.split('?').next().unwrap_or(current);
        match target.strip_prefix('?') {
            Some(query) => Ok(format!("{path}?{query}")),
            None => Err(fail(
                Cause::BadAnswer,
                format!("registry {} sent a next-page link {target:?} that is not a URL or path", self.client.base.host()),
            )),
        }
    }
}

/// The target of the `rel="next"` link in a `Link` header value (RFC 8288), e.g.
/// `</v2/_catalog?last=b&n=2>; rel="next"`; `None` if there is none.
pub(super) fn next_link(value: &str) -> Option<String> {
    // Split into links at commas outside `<…>` and quotes.
    let mut links = Vec::new();
    let (mut start, mut in_url, mut in_quote) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            '<' if !in_quote => in_url = true,
            '>' if !in_quote => in_url = false,
            '"' if !in_url => in_quote = !in_quote,
            ',' if !in_url && !in_quote => {
                links.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    links.push(&value[start..]);
    links.into_iter().find_map(|link| {
        let link = link.trim();
        let rest = link.strip_prefix('<')?;
        let (target, params) = rest.split_once('>')?;
        let next = params.split(';').any(|p| {
            let Some((k, v)) = p.split_once('=') else { return false };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim().trim_matches('"').split_ascii_whitespace().any(|r| r.eq_ignore_ascii_case("next"))
        });
        (next && !target.trim().is_empty()).then(|| target.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::next_link;
    use crate::registry::test_http::{response, serve, Request};
    use crate::registry::{Options, Registry};

    fn registry(base: &str) -> Registry {
        let mut opts = Options::new(base);
        opts.retries = 0;
        Registry::new(opts).unwrap().read_only()
    }

    /// The query value of `key` in a request target.
    fn query<'a>(req: &'a Request, key: &str) -> Option<&'a str> {
        let q = req.target.split_once('?')?.1;
        q.split('&').find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
    }

    const NAMES: [&str; 5] = ["a", "b/c", "d", "e", "f"];

    /// A catalog of NAMES that honours `n` and `last`; with `link`, it also sends `Link`.
    fn paged(req: &Request, link: bool) -> Vec<u8> {
        let n: usize = query(req, "n").and_then(|n| n.parse().ok()).unwrap_or(100);
        let after = query(req, "last").map(|l| l.replace("%2F", "/"));
        let rest: Vec<&str> = NAMES.iter().copied().filter(|x| after.as_deref().is_none_or(|l| *x > l)).collect();
        let page: Vec<&str> = rest.iter().copied().take(n).collect();
        let body = serde_json::json!({ "repositories": page }).to_string();
        match (link && rest.len() > n, page.last()) {
            (true, Some(last)) => {
                let header = format!("Link: </v2/_catalog?last={last}&n={n}>; rel=\"next\"");
                response("200 OK", &["Content-Type: application/json", &header], &body)
            }
            _ => response("200 OK", &["Content-Type: application/json"], &body),
        }
    }

    #[test]
    fn every_page_with_link_or_with_last_alone() {
        let with_link = serve(|req| paged(req, true));
        assert_eq!(registry(&with_link).catalog(2).unwrap(), NAMES);
        let without = serve(|req| paged(req, false));
        assert_eq!(registry(&without).catalog(2).unwrap(), NAMES);
        assert_eq!(registry(&without).catalog(1).unwrap(), NAMES);
        assert_eq!(registry(&without).catalog(5).unwrap(), NAMES);
    }

    #[test]
    fn a_registry_ignoring_n_and_last_is_read_once() {
        let base = serve(|_| response("200 OK", &[], r#"{"repositories":["a","b","c"]}"#));
        assert_eq!(registry(&base).catalog(2).unwrap(), ["a", "b", "c"]);
    }

    #[test]
    fn tags_null_is_none_and_a_link_to_another_host_is_refused() {
        let base = serve(|_| response("200 OK", &[], r#"{"name":"team/app","tags":null}"#));
        assert!(registry(&base).tags("team/app", 10).unwrap().is_empty());
        let base = serve(|_| {
            response("200 OK", &[r#"Link: <http://elsewhere.example/v2/_catalog?n=1&last=a>; rel="next""#], r#"{"repositories":["a"]}"#)
        });
        let err = registry(&base).catalog(1).unwrap_err();
        assert!(format!("{err:#}").contains("next-page link to another host"), "{err:#}");
    }

    #[test]
    fn missing_repository_and_missing_catalog_are_classed() {
        use crate::error::{class_of, Class};
        let base = serve(|_| response("404 Not Found", &[], r#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#));
        let err = registry(&base).tags("team/app", 10).unwrap_err();
        assert_eq!(class_of(&err), Class::NotFound);
        let err = registry(&base).catalog(10).unwrap_err();
        assert_eq!(class_of(&err), Class::Permanent);
        assert!(format!("{err:#}").contains("does not list its repositories"), "{err:#}");
    }

    #[test]
    fn link_header_next_targets() {
        let cases: &[(&str, Option<&str>)] = &[
            (r#"</v2/_catalog?last=b&n=2>; rel="next""#, Some("/v2/_catalog?last=b&n=2")),
            (r#"</v2/team/app/tags/list?n=5&last=v5>; rel=next"#, Some("/v2/team/app/tags/list?n=5&last=v5")),
            (r#"<https://r.example/v2/_catalog?n=1&last=a>;rel="next""#, Some("https://r.example/v2/_catalog?n=1&last=a")),
            (r#"</a>; rel="prev", </b>; rel="next""#, Some("/b")),
            (r#"</a,b>; title="x, y"; rel="next""#, Some("/a,b")),
            (r#"</a>; rel="prev next""#, Some("/a")),
            (r#"</a>; REL="NEXT""#, Some("/a")),
            (r#"</a>; rel="prev""#, None),
            (r#"/a; rel="next""#, None),
            (r#"<>; rel="next""#, None),
            ("", None),
        ];
        for (value, want) in cases {
            assert_eq!(next_link(value).as_deref(), *want, "{value}");
        }
    }
}
