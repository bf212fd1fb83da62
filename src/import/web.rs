//! Fetching a shop's pages politely: one request at a time per host with a delay (or the
//! robots.txt Crawl-delay), robots.txt obeyed for crawls, conditional requests, size caps.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::header::{
    HeaderMap, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};
use reqwest::StatusCode;
pub use reqwest::Url;
use texting_robots::Robot;

use super::ImportSettings;

/// A fetched page's bytes and what the server said about them.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub url: Url,
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// What a (conditional) request came back with.
#[derive(Debug)]
pub enum Response {
    Page(Fetched),
    /// 304: the validators still match.
    NotModified,
    /// 404 or 410: the page is gone.
    Gone(StatusCode),
}

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("`{0}` is not an http(s) URL")]
    BadUrl(String),
    #[error("{url}: {message}")]
    Request { url: String, message: String },
    #[error("{url}: the server answered {status}")]
    Status { url: String, status: StatusCode },
    #[error("{url}: larger than import.max_page_bytes ({limit} bytes)")]
    TooLarge { url: String, limit: usize },
    #[error("{url}: not a sitemap: {message}")]
    Sitemap { url: String, message: String },
}

/// An HTTP client that waits between requests to a host and remembers each host's robots.txt.
pub struct Fetcher {
    client: reqwest::Client,
    settings: ImportSettings,
    last: HashMap<String, Instant>,
    robots: HashMap<String, Option<Robot>>,
}

/// A page listed in a sitemap.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub url: Url,
    pub lastmod: Option<String>,
}

pub fn parse_url(text: &str) -> Result<Url, WebError> {
    let url = Url::parse(text.trim()).map_err(|_| WebError::BadUrl(text.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(WebError::BadUrl(text.to_string()));
    }
    Ok(url)
}

/// scheme://host:port of `url`, the unit of politeness and of robots.txt.
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

impl Fetcher {
    pub fn new(settings: &ImportSettings) -> Result<Fetcher, WebError> {
        let client = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .timeout(Duration::from_secs(settings.timeout_secs))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| WebError::Request {
                url: String::new(),
                message: e.to_string(),
            })?;
        Ok(Fetcher {
            client,
            settings: settings.clone(),
            last: HashMap::new(),
            robots: HashMap::new(),
        })
    }

    /// Waits until this host may be asked again.
    async fn pace(&mut self, url: &Url, crawl_delay: Option<f32>) {
        let key = origin(url);
        let delay = Duration::from_millis(self.settings.delay_ms).max(Duration::from_secs_f32(
            crawl_delay.unwrap_or(0.0).clamp(0.0, 60.0),
        ));
        if let Some(last) = self.last.get(&key) {
            let next = *last + delay;
            let now = Instant::now();
            if next > now {
                tokio::time::sleep(next - now).await;
            }
        }
        self.last.insert(key, Instant::now());
    }

    /// The robots.txt of `url`'s host (fetched once; a missing one allows everything).
    async fn robot(&mut self, url: &Url) -> Option<&Robot> {
        let key = origin(url);
        if !self.robots.contains_key(&key) {
            let robots_url = url.join("/robots.txt").expect("a path joins any http URL");
            self.pace(&robots_url, None).await;
            let robot = match self.client.get(robots_url).send().await {
                Ok(r) if r.status().is_success() => match r.bytes().await {
                    Ok(body) => Robot::new(&self.settings.user_agent, &body).ok(),
                    Err(_) => None,
                },
                _ => None,
            };
            self.robots.insert(key.clone(), robot);
        }
        self.robots.get(&key).and_then(Option::as_ref)
    }

    /// Whether robots.txt lets us fetch `url`.
    pub async fn allowed(&mut self, url: &Url) -> bool {
        match self.robot(url).await {
            Some(robot) => robot.allowed(url.as_str()),
            None => true,
        }
    }

    /// GET `url`, conditional on `etag` / `last_modified` when given.
    pub async fn get(
        &mut self,
        url: &Url,
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Result<Response, WebError> {
        let crawl_delay = self.robot(url).await.and_then(|r| r.delay);
        self.pace(url, crawl_delay).await;
        let mut request = self.client.get(url.clone());
        if let Some(tag) = etag {
            request = request.header(IF_NONE_MATCH, tag);
        }
        if let Some(date) = last_modified {
            request = request.header(IF_MODIFIED_SINCE, date);
        }
        let failed = |e: reqwest::Error| WebError::Request {
            url: url.to_string(),
            message: e.without_url().to_string(),
        };
        let mut response = request.send().await.map_err(failed)?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Response::NotModified);
        }
        if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            return Ok(Response::Gone(status));
        }
        if !status.is_success() {
            return Err(WebError::Status {
                url: url.to_string(),
                status,
            });
        }
        let final_url = response.url().clone();
        let headers = response.headers().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > self.settings.max_page_bytes {
                return Err(WebError::TooLarge {
                    url: url.to_string(),
                    limit: self.settings.max_page_bytes,
                });
            }
        }
        let header = |h: &HeaderMap, name| {
            h.get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        Ok(Response::Page(Fetched {
            url: final_url,
            bytes,
            content_type: header(&headers, CONTENT_TYPE),
            etag: header(&headers, ETAG),
            last_modified: header(&headers, LAST_MODIFIED),
        }))
    }

    /// The pages a sitemap (or a sitemap index, one level deep) lists on its own host.
    pub async fn sitemap(&mut self, url: &Url) -> Result<Vec<Listed>, WebError> {
        let mut pages = Vec::new();
        let mut queue = vec![(url.clone(), 0)];
        while let Some((sitemap, depth)) = queue.pop() {
            let bytes = match self.get(&sitemap, None, None).await? {
                Response::Page(p) => p.bytes,
                Response::NotModified | Response::Gone(_) => {
                    return Err(WebError::Status {
                        url: sitemap.to_string(),
                        status: StatusCode::NOT_FOUND,
                    })
                }
            };
            let (listed, nested) = parse_sitemap(&bytes).map_err(|message| WebError::Sitemap {
                url: sitemap.to_string(),
                message,
            })?;
            for l in listed {
                if origin(&l.url) == origin(url) && !pages.iter().any(|p: &Listed| p.url == l.url) {
                    pages.push(l);
                }
            }
            if depth == 0 {
                queue.extend(
                    nested
                        .into_iter()
                        .filter(|n| origin(n) == origin(url))
                        .map(|n| (n, 1)),
                );
            }
            if pages.len() >= self.settings.max_pages {
                pages.truncate(self.settings.max_pages);
                break;
            }
        }
        Ok(pages)
    }
}

/// A sitemap's pages (`urlset`) or nested sitemaps (`sitemapindex`).
pub fn parse_sitemap(bytes: &[u8]) -> Result<(Vec<Listed>, Vec<Url>), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let doc = roxmltree::Document::parse(text.trim_start_matches('\u{feff}'))
        .map_err(|e| e.to_string())?;
    let root = doc.root_element();
    let child_text = |n: roxmltree::Node<'_, '_>, name: &str| {
        n.children()
            .find(|c| c.tag_name().name() == name)
            .and_then(|c| c.text())
            .map(|t| t.trim().to_string())
    };
    let mut pages = Vec::new();
    let mut nested = Vec::new();
    match root.tag_name().name() {
        "urlset" => {
            for u in root.children().filter(|c| c.tag_name().name() == "url") {
                if let Some(url) = child_text(u, "loc").and_then(|l| parse_url(&l).ok()) {
                    pages.push(Listed {
                        url,
                        lastmod: child_text(u, "lastmod"),
                    });
                }
            }
        }
        "sitemapindex" => {
            for s in root.children().filter(|c| c.tag_name().name() == "sitemap") {
                if let Some(url) = child_text(s, "loc").and_then(|l| parse_url(&l).ok()) {
                    nested.push(url);
                }
            }
        }
        other => {
            return Err(format!(
                "the root element is <{other}>, not <urlset> or <sitemapindex>"
            ))
        }
    }
    Ok((pages, nested))
}

/// The text of an HTML page: the charset from the Content-Type header, else `<meta charset>`,
/// else UTF-8 (Polish pages in ISO-8859-2 or windows-1250 decode right).
pub fn decode_html(bytes: &[u8], content_type: Option<&str>) -> String {
    let declared = content_type
        .and_then(|ct| {
            ct.to_ascii_lowercase()
                .split("charset=")
                .nth(1)
                .map(str::to_string)
        })
        .or_else(|| meta_charset(bytes));
    let encoding = declared
        .and_then(|label| {
            encoding_rs::Encoding::for_label(label.trim().trim_matches(['"', '\'', ';']).as_bytes())
        })
        .unwrap_or(encoding_rs::UTF_8);
    encoding.decode(bytes).0.into_owned()
}

/// `<meta charset="...">` or `content="text/html; charset=..."` in the first 2 KB.
fn meta_charset(bytes: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(2048)]).to_ascii_lowercase();
    let at = head.find("charset=")? + "charset=".len();
    let rest = head[at..].trim_start_matches(['"', '\'']);
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(rest.len());
    Some(rest[..end].to_string()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sitemaps_and_sitemap_indexes_are_read_and_junk_is_refused() {
        let set = br#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc> http://shop.test/pomoc/dostawa.html </loc><lastmod>2026-11-02</lastmod></url>
<url><loc>mailto:x@y</loc></url><url><loc>https://shop.test/a</loc></url></urlset>"#;
        let (pages, nested) = parse_sitemap(set).unwrap();
        assert_eq!(pages.len(), 2, "the mailto: entry is no page");
        assert_eq!(pages[0].url.as_str(), "http://shop.test/pomoc/dostawa.html");
        assert_eq!(pages[0].lastmod.as_deref(), Some("2026-11-02"));
        assert!(nested.is_empty());
        let index = br#"<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>http://shop.test/s1.xml</loc></sitemap></sitemapindex>"#;
        let (pages, nested) = parse_sitemap(index).unwrap();
        assert!(pages.is_empty());
        assert_eq!(nested[0].as_str(), "http://shop.test/s1.xml");
        assert!(parse_sitemap(b"<html><body>404</body></html>")
            .unwrap_err()
            .contains("<html>"));
        assert!(parse_sitemap(b"not xml").is_err());
    }

    #[test]
    fn polish_pages_decode_in_their_declared_charset() {
        let (latin2, _, _) = encoding_rs::ISO_8859_2.encode("Zwroty: 30 dni, żółć");
        let html = [b"<meta charset=\"iso-8859-2\">".as_slice(), &latin2].concat();
        assert!(decode_html(&html, None).ends_with("Zwroty: 30 dni, żółć"));
        let (cp1250, _, _) = encoding_rs::WINDOWS_1250.encode("Dostawa ąę");
        assert_eq!(
            decode_html(&cp1250, Some("text/html; charset=windows-1250")),
            "Dostawa ąę"
        );
        assert_eq!(decode_html("Zażółć".as_bytes(), None), "Zażółć");
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(parse_url("https://shop.test/x").is_ok());
        for bad in ["ftp://shop.test/x", "/pomoc", "file:///etc/passwd", ""] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
