//! The SCIM 2.0 client: discovery, paged reads, lookups by filter, and writes of users and
//! groups, every request through the shared [`flexsync_http::Transport`].

use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;

use flexsync_http::redact::{Scrubber, without_values};
use flexsync_http::{HttpSettings, Transport, TransportStats, bare};
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use url::Url;

use crate::decode::RawPage;
use crate::discovery::{ServerInfo, list_items};
use crate::error::{ScimError, status_error};
use crate::wire::{
    PatchOperation, ResourceType, Schema, ScimGroup, ScimUser, ServiceProviderConfig, eq_filter,
};
use crate::writer::{Write, Writer};

const SCIM_JSON: &str = "application/scim+json";

/// How to reach one SCIM server.
#[derive(Debug, Clone)]
pub struct ScimSettings {
    /// The SCIM root, e.g. `https://scim.prod.winningtemp.com/api/scim`.
    pub base_url: String,
    pub token: SecretString,
    /// `count` asked per page.
    pub page_size: usize,
    /// Ask for the largest page the server advertises (`filter.maxResults`) once discovery
    /// has read it, instead of `page_size`.
    pub largest_page: bool,
    /// A read of more pages than this fails as partial.
    pub max_pages: usize,
    pub http: HttpSettings,
}

impl ScimSettings {
    /// Settings with the default page size (200), page cap (10 000) and transport.
    pub fn new(base_url: impl Into<String>, token: SecretString) -> ScimSettings {
        ScimSettings {
            base_url: base_url.into(),
            token,
            page_size: 200,
            largest_page: true,
            max_pages: 10_000,
            http: HttpSettings::default(),
        }
    }
}

/// A client for one SCIM server.
pub struct ScimClient {
    transport: Transport,
    base: Url,
    token: SecretString,
    /// Removes the token, in any form a server echoes it in, from what the server sends.
    scrubber: Scrubber,
    page_size: AtomicUsize,
    largest_page: bool,
    max_pages: usize,
}

impl std::fmt::Debug for ScimClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimClient")
            .field("base", &self.base.as_str())
            .field("page_size", &self.page_size)
            .field("max_pages", &self.max_pages)
            .finish_non_exhaustive()
    }
}

/// A successful answer.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// What to do after one page of a paged read.
#[derive(Debug, PartialEq, Eq)]
enum Paging {
    Next(u64),
    Done,
    /// An empty page came before `totalResults` records did.
    Short {
        total: u64,
    },
}

/// `start` is the 1-based index asked for, `got` the records on the page, `collected` the
/// records read so far (this page included).
fn next_page(start: u64, got: u64, total: Option<u64>, collected: u64) -> Paging {
    if got == 0 {
        return match total {
            Some(total) if collected < total => Paging::Short { total },
            _ => Paging::Done,
        };
    }
    match total {
        Some(total) if start + got > total => Paging::Done,
        _ => Paging::Next(start + got),
    }
}

/// The largest page asked for, whatever a server advertises.
const MAX_PAGE: usize = 10_000;

/// Pages asked for ahead of the one being read, once the total is known.
const PAGES_AHEAD: usize = 16;

/// The most records room is made for up front when a list tells its total.
const RESERVED_AT_MOST: u64 = 500_000;

/// The records of a paged read so far, each resource once and already converted, and the
/// checks between pages.
struct Listing<T> {
    resource: String,
    items: Vec<T>,
    previous_first: Option<String>,
    seen: foldhash::HashSet<String>,
}

impl<T> Listing<T> {
    fn new(resource: String) -> Listing<T> {
        Listing {
            resource,
            items: Vec::new(),
            previous_first: None,
            seen: foldhash::HashSet::default(),
        }
    }

    /// Takes the page asked for at `start` and says what comes next. Each resource is read
    /// from its own text, so a bad one is named by its place and id.
    fn take<R: Listed>(
        &mut self,
        start: u64,
        page: RawPage<'_>,
        convert: &mut impl FnMut(R) -> T,
    ) -> Result<Paging, ScimError> {
        let resource = &self.resource;
        let got = page.resources.len() as u64;
        let mut repeated: usize = 0;
        for (offset, raw) in page.resources.into_iter().enumerate() {
            let position = start + offset as u64;
            let item: R = serde_json::from_str(raw.get()).map_err(|e| ScimError::Decode {
                resource: format!(
                    "{resource}, record {position}{}",
                    listed_id(raw)
                        .map(|id| format!(" (id {id})"))
                        .unwrap_or_default()
                ),
                message: without_values(&e.to_string()),
            })?;
            let id = item.id();
            if offset == 0 {
                let first = id.map(str::to_string);
                if first.is_some() && first == self.previous_first {
                    return Err(ScimError::Partial {
                        resource: resource.clone(),
                        reason: format!(
                            "the page at index {start} repeats the one before: the server \
                             ignores startIndex"
                        ),
                    });
                }
                self.previous_first = first;
            }
            // A resource listed again (a careless or hostile server) is one resource: planning
            // it twice would write to it twice.
            if let Some(id) = id
                && !self.seen.insert(id.to_string())
            {
                repeated += 1;
                continue;
            }
            self.items.push(convert(item));
        }
        if repeated > 0 {
            tracing::warn!(%resource, repeated, "the SCIM server listed resources more than once; each is read once");
        }
        Ok(next_page(
            start,
            got,
            page.total_results,
            self.items.len() as u64,
        ))
    }
}

/// A resource read from a list, which names itself by its server id.
pub(crate) trait Listed: DeserializeOwned {
    fn id(&self) -> Option<&str>;
}

impl Listed for ScimUser {
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl Listed for ScimGroup {
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

/// The `id` of a resource that could not be read, to name it.
fn listed_id(raw: &RawValue) -> Option<String> {
    let value: Value = serde_json::from_str(raw.get()).ok()?;
    let value = crate::wire::canonical_keys(value);
    value.get("id")?.as_str().map(str::to_string)
}

impl ScimClient {
    pub fn new(settings: ScimSettings) -> Result<ScimClient, ScimError> {
        let base = Url::parse(settings.base_url.trim())
            .map_err(|e| ScimError::Settings(format!("base_url: {e}")))?;
        if !base.username().is_empty() || base.password().is_some() {
            // Never repeated: the URL's user information may be a password.
            return Err(ScimError::Settings(
                "base_url must not hold credentials (user:password@): the token goes in \
                 token_file or token_env"
                    .into(),
            ));
        }
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(ScimError::Settings(format!(
                "base_url must be an http(s) URL, not {:?}",
                bare(&base)
            )));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(ScimError::Settings(
                "base_url must not have a query or a fragment".into(),
            ));
        }
        if settings.page_size == 0 || settings.max_pages == 0 {
            return Err(ScimError::Settings(
                "page_size and max_pages must be at least 1".into(),
            ));
        }
        let transport = Transport::new(settings.http).map_err(|error| ScimError::Transport {
            resource: "SCIM client".into(),
            error,
        })?;
        Ok(ScimClient {
            transport,
            base,
            scrubber: Scrubber::new([settings.token.expose_secret()]),
            token: settings.token,
            page_size: AtomicUsize::new(settings.page_size),
            largest_page: settings.largest_page,
            max_pages: settings.max_pages,
        })
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// Counts of requests sent and retried by this client's transport.
    pub fn stats(&self) -> &std::sync::Arc<TransportStats> {
        self.transport.stats()
    }

    /// Requests sent so far, retries included.
    pub fn request_count(&self) -> u64 {
        self.transport.stats().requests.load(Ordering::Relaxed)
    }

    // ---- discovery

    /// Reads `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas` (which may be absent).
    pub async fn discover(&self) -> Result<ServerInfo, ScimError> {
        let config: ServiceProviderConfig = self.get_json(&["ServiceProviderConfig"]).await?;
        if let Some(largest) = config.filter.max_results.filter(|_| self.largest_page) {
            let largest = usize::try_from(largest)
                .unwrap_or(MAX_PAGE)
                .clamp(1, MAX_PAGE);
            self.page_size.store(largest, Ordering::Relaxed);
        }
        let types: Vec<ResourceType> = self.get_list("ResourceTypes").await?;
        let schemas: Option<Vec<Schema>> = match self.get_list("Schemas").await {
            Ok(schemas) => Some(schemas),
            Err(error) if matches!(error.status(), Some(404 | 501)) => None,
            Err(error) => return Err(error),
        };
        Ok(ServerInfo::from_documents(
            &config,
            &types,
            schemas.as_deref(),
        ))
    }

    // ---- users

    /// Every user, page by page.
    pub async fn list_users(&self) -> Result<Vec<ScimUser>, ScimError> {
        self.list_all("Users", None, None).await
    }

    /// Every user, page by page, each made into a `U` as its page is read: a large target is
    /// not held as SCIM users and converted ones at once. With `attributes`, the server is asked
    /// for only those (RFC 7644 3.4.2.5; `id` always comes back).
    pub async fn list_users_into<U>(
        &self,
        attributes: Option<&[String]>,
        convert: impl FnMut(ScimUser) -> U,
    ) -> Result<Vec<U>, ScimError> {
        let attributes = attributes.map(|names| names.join(","));
        self.list_all_into("Users", None, attributes.as_deref(), convert)
            .await
    }

    /// The user whose `externalId` is exactly `external_id`; more than one is an error.
    pub async fn find_user_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<ScimUser>, ScimError> {
        self.find_one("Users", "externalId", external_id, |u: &ScimUser| {
            u.external_id.as_deref() == Some(external_id)
        })
        .await
    }

    /// The user whose `userName` is `user_name` (compared case-insensitively, as SCIM does).
    pub async fn find_user_by_user_name(
        &self,
        user_name: &str,
    ) -> Result<Option<ScimUser>, ScimError> {
        let wanted = user_name.to_lowercase();
        self.find_one("Users", "userName", user_name, |u: &ScimUser| {
            u.user_name.to_lowercase() == wanted
        })
        .await
    }

    pub async fn get_user(&self, id: &str) -> Result<ScimUser, ScimError> {
        self.get_json(&["Users", id]).await
    }

    /// Creates a user, alone (see [`Writer::create_user`]).
    pub async fn create_user(&self, user: &ScimUser) -> Result<ScimUser, ScimError> {
        Writer::single(self).create_user(user).await
    }

    /// Applies `operations`; `None` when the server answered 204 (or 200 without a body).
    pub async fn patch_user(
        &self,
        id: &str,
        operations: Vec<PatchOperation>,
    ) -> Result<Option<ScimUser>, ScimError> {
        Writer::single(self).patch_user(id, operations).await
    }

    pub async fn delete_user(&self, id: &str) -> Result<(), ScimError> {
        Writer::single(self).delete_user(id).await
    }

    // ---- groups

    pub async fn list_groups(&self) -> Result<Vec<ScimGroup>, ScimError> {
        self.list_all("Groups", None, None).await
    }

    pub async fn find_group_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<ScimGroup>, ScimError> {
        self.find_one("Groups", "externalId", external_id, |g: &ScimGroup| {
            g.external_id.as_deref() == Some(external_id)
        })
        .await
    }

    pub async fn get_group(&self, id: &str) -> Result<ScimGroup, ScimError> {
        self.get_json(&["Groups", id]).await
    }

    pub async fn create_group(&self, group: &ScimGroup) -> Result<ScimGroup, ScimError> {
        Writer::single(self).create_group(group).await
    }

    pub async fn patch_group(
        &self,
        id: &str,
        operations: Vec<PatchOperation>,
    ) -> Result<Option<ScimGroup>, ScimError> {
        Writer::single(self).patch_group(id, operations).await
    }

    pub async fn delete_group(&self, id: &str) -> Result<(), ScimError> {
        Writer::single(self).delete_group(id).await
    }

    // ---- the verbs

    async fn get_json<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ScimError> {
        let resource = describe(&Method::GET, segments);
        let url = self.url(segments)?;
        let answer = self
            .send(Method::GET, url, &[], None, true, &resource)
            .await?;
        decode(&answer.body, &resource)
    }

    /// A discovery list, served as a ListResponse or a bare array.
    async fn get_list<T: DeserializeOwned>(&self, endpoint: &str) -> Result<Vec<T>, ScimError> {
        let body: Value = self.get_json(&[endpoint]).await?;
        list_items(body).map_err(|message| ScimError::Decode {
            resource: describe(&Method::GET, &[endpoint]),
            message: without_values(&message),
        })
    }

    /// The one resource of `endpoint` with `attribute eq value` that `matches` also accepts
    /// (servers may match more loosely than asked); more than one is an error.
    async fn find_one<T: Listed>(
        &self,
        endpoint: &str,
        attribute: &str,
        value: &str,
        matches: impl Fn(&T) -> bool,
    ) -> Result<Option<T>, ScimError> {
        let filter = eq_filter(attribute, value);
        let found: Vec<T> = self.list_all(endpoint, Some(&filter), None).await?;
        let mut kept: Vec<T> = found.into_iter().filter(|item| matches(item)).collect();
        match kept.len() {
            0 | 1 => Ok(kept.pop()),
            count => Err(ScimError::Ambiguous {
                resource: format!("GET /{endpoint}?filter={filter}"),
                count,
            }),
        }
    }

    /// Reads every page of `endpoint` (optionally filtered, optionally only some attributes):
    /// 1-based `startIndex`, `count`. Once the first page tells the total, the pages after it
    /// are asked for together (the transport bounds the requests in flight) and read in order;
    /// a page that ends short of where the next was asked from falls back to one at a time.
    async fn list_all<T: Listed>(
        &self,
        endpoint: &str,
        filter: Option<&str>,
        attributes: Option<&str>,
    ) -> Result<Vec<T>, ScimError> {
        self.list_all_into(endpoint, filter, attributes, |item: T| item)
            .await
    }

    /// [`ScimClient::list_all`], each resource made into a `U` as its page is read.
    async fn list_all_into<T: Listed, U>(
        &self,
        endpoint: &str,
        filter: Option<&str>,
        attributes: Option<&str>,
        mut convert: impl FnMut(T) -> U,
    ) -> Result<Vec<U>, ScimError> {
        let mut resource = describe(&Method::GET, &[endpoint]);
        if let Some(filter) = filter {
            resource = format!("{resource}?filter={filter}");
        }
        let url = self.url(&[endpoint])?;
        let page_size = self.page_size.load(Ordering::Relaxed);
        let fetch = |start: u64| {
            let mut query = vec![
                ("startIndex", start.to_string()),
                ("count", page_size.to_string()),
            ];
            if let Some(filter) = filter {
                query.push(("filter", filter.to_string()));
            }
            if let Some(attributes) = attributes {
                query.push(("attributes", attributes.to_string()));
            }
            let (url, resource) = (url.clone(), &resource);
            async move {
                let answer = self
                    .send(Method::GET, url, &query, None, true, resource)
                    .await?;
                Ok::<_, ScimError>(answer.body)
            }
        };
        let mut list = Listing::new(resource.clone());
        let mut body = fetch(1).await?;
        let mut page = decode_page(&body, &resource)?;
        let step = page.resources.len() as u64;
        // Room for the records told, so that a whole list is not grown by doubling: no more
        // than the pages read can carry, nor than any real organisation has, and none if the
        // memory is not there. A lookup by filter finds a few.
        if filter.is_none() {
            let pages = u64::try_from(self.max_pages).unwrap_or(u64::MAX);
            let told = page.total_results.unwrap_or(0);
            let told = told.min(step.saturating_mul(pages)).min(RESERVED_AT_MOST);
            let _ = list.items.try_reserve(usize::try_from(told).unwrap_or(0));
        }
        let ahead: Vec<u64> = match page.total_results {
            Some(total) if step > 0 => (1..)
                .map(|n| 1 + n * step)
                .take_while(|start| *start <= total)
                .take(self.max_pages.saturating_sub(1))
                .collect(),
            _ => Vec::new(),
        };
        let mut planned = ahead.iter().copied();
        let mut on_plan = true;
        let mut prefetched = futures::stream::iter(ahead.iter().copied())
            .map(fetch)
            .buffered(PAGES_AHEAD);
        let mut start: u64 = 1;
        for read in 1..=self.max_pages {
            match list.take(start, page, &mut convert)? {
                Paging::Next(_) if read == self.max_pages => break,
                Paging::Next(next) => {
                    start = next;
                    // Off the planned pages once, the rest come one at a time.
                    on_plan = on_plan && planned.next() == Some(next);
                    body = match on_plan {
                        true => match prefetched.next().await {
                            Some(page) => page?,
                            None => fetch(next).await?,
                        },
                        false => fetch(next).await?,
                    };
                    page = decode_page(&body, &resource)?;
                }
                Paging::Done => return Ok(list.items),
                Paging::Short { total } => {
                    return Err(ScimError::Partial {
                        resource: list.resource,
                        reason: format!(
                            "an empty page at index {start} after {} of {total} records",
                            list.items.len()
                        ),
                    });
                }
            }
        }
        Err(ScimError::Partial {
            resource: list.resource,
            reason: format!(
                "stopped at the cap of {} pages after {} records",
                self.max_pages,
                list.items.len()
            ),
        })
    }

    fn url(&self, segments: &[&str]) -> Result<Url, ScimError> {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| ScimError::Settings("base_url cannot take a path".into()))?;
            path.pop_if_empty();
            path.extend(segments);
        }
        Ok(url)
    }

    /// `segments` as a path relative to the SCIM root, encoded as in a URL (`/Users/a%2Fb`).
    pub(crate) fn relative_path(&self, segments: &[String]) -> Result<String, ScimError> {
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let url = self.url(&segments)?;
        let root = self.base.path().trim_end_matches('/');
        Ok(url
            .path()
            .strip_prefix(root)
            .unwrap_or(url.path())
            .to_string())
    }

    /// Sends one write alone.
    pub(crate) async fn send_write(&self, write: &Write) -> Result<Answer, ScimError> {
        let url = self.url(&write.segments())?;
        self.send(
            write.method().clone(),
            url,
            &[],
            write.body().cloned(),
            write.idempotent(),
            write.resource(),
        )
        .await
    }

    /// Sends one BulkRequest body to `/Bulk`.
    pub(crate) async fn send_bulk(
        &self,
        body: Vec<u8>,
        idempotent: bool,
    ) -> Result<Answer, ScimError> {
        let url = self.url(&["Bulk"])?;
        self.send(Method::POST, url, &[], Some(body), idempotent, "POST /Bulk")
            .await
    }

    /// Sends one request through the transport; any answer outside 2xx becomes
    /// [`ScimError::Status`].
    async fn send(
        &self,
        method: Method,
        url: Url,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
        idempotent: bool,
        resource: &str,
    ) -> Result<Answer, ScimError> {
        let token = self.token.expose_secret();
        let response = self
            .transport
            .send(idempotent, |client| {
                let mut request = client
                    .request(method.clone(), url.clone())
                    .bearer_auth(token)
                    .header(ACCEPT, SCIM_JSON);
                if !query.is_empty() {
                    request = request.query(query);
                }
                if let Some(body) = &body {
                    request = request.header(CONTENT_TYPE, SCIM_JSON).body(body.clone());
                }
                request
            })
            .await
            .map_err(|error| ScimError::Transport {
                resource: resource.to_string(),
                error,
            })?;
        let status = response.status().as_u16();
        let body =
            self.transport
                .read_body(response)
                .await
                .map_err(|error| ScimError::Transport {
                    resource: resource.to_string(),
                    error,
                })?;
        tracing::debug!(method = %method, path = url.path(), status, "SCIM request");
        if !(200..300).contains(&status) {
            return Err(self.refused(status, &body, resource));
        }
        Ok(Answer { status, body })
    }

    /// The error for an answer outside 2xx. A careless server may quote our token back, in
    /// any encoding; it never goes further than here: scrubbed before the body is cut short,
    /// and again once decoded.
    pub(crate) fn refused(&self, status: u16, body: &[u8], resource: &str) -> ScimError {
        let body = self.scrubber.scrub_bytes(body);
        match status_error(status, &body, resource) {
            ScimError::Status {
                status,
                scim_type,
                detail,
                resource,
            } => ScimError::Status {
                status,
                scim_type: scim_type.map(|t| self.scrubber.scrub(&t)),
                detail: self.scrubber.scrub(&detail),
                resource,
            },
            other => other,
        }
    }
}

/// `GET /Users/abc`, naming the request in errors.
pub(crate) fn describe(method: &Method, segments: &[&str]) -> String {
    format!("{method} /{}", segments.join("/"))
}

pub(crate) fn encode<T: Serialize>(value: &T, resource: &str) -> Result<Vec<u8>, ScimError> {
    serde_json::to_vec(value).map_err(|e| ScimError::Decode {
        resource: resource.to_string(),
        message: format!("could not encode the request: {e}"),
    })
}

pub(crate) fn decode<T: DeserializeOwned>(body: &[u8], resource: &str) -> Result<T, ScimError> {
    // Never the value itself: a field of the wrong type may hold anything, our token included.
    let error = |e: serde_json::Error| ScimError::Decode {
        resource: resource.to_string(),
        message: without_values(&e.to_string()),
    };
    let value: Value = serde_json::from_slice(body).map_err(error)?;
    serde_json::from_value(crate::wire::canonical_keys(value)).map_err(error)
}

/// A page of a list, its resources left as text to be read one by one.
fn decode_page<'a>(body: &'a [u8], resource: &str) -> Result<RawPage<'a>, ScimError> {
    serde_json::from_slice(body).map_err(|e| ScimError::Decode {
        resource: resource.to_string(),
        message: without_values(&e.to_string()),
    })
}

/// A PATCH answer: 204 or an empty body is `None`, 200 with a resource is `Some`.
pub(crate) fn decode_optional<T: DeserializeOwned>(
    answer: &Answer,
    resource: &str,
) -> Result<Option<T>, ScimError> {
    if answer.status == 204 || answer.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    decode(&answer.body, resource).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_stops_when_the_total_is_reached() {
        assert_eq!(next_page(1, 3, Some(10), 3), Paging::Next(4));
        assert_eq!(next_page(7, 3, Some(10), 9), Paging::Next(10));
        assert_eq!(next_page(10, 1, Some(10), 10), Paging::Done);
        assert_eq!(next_page(1, 5, Some(5), 5), Paging::Done);
    }

    #[test]
    fn paging_stops_on_an_empty_page_and_calls_a_short_one_partial() {
        assert_eq!(next_page(1, 0, Some(0), 0), Paging::Done);
        assert_eq!(next_page(1, 0, None, 0), Paging::Done);
        assert_eq!(next_page(7, 0, Some(10), 6), Paging::Short { total: 10 });
    }

    #[test]
    fn paging_without_a_total_goes_on_until_an_empty_page() {
        assert_eq!(next_page(1, 2, None, 2), Paging::Next(3));
    }

    #[test]
    fn patch_answers_with_and_without_a_body() {
        let none = Answer {
            status: 204,
            body: Vec::new(),
        };
        let empty_200 = Answer {
            status: 200,
            body: b" \n".to_vec(),
        };
        let full = Answer {
            status: 200,
            body: br#"{"id":"u1","userName":"a@x.se","active":false}"#.to_vec(),
        };
        assert_eq!(decode_optional::<ScimUser>(&none, "x").unwrap(), None);
        assert_eq!(decode_optional::<ScimUser>(&empty_200, "x").unwrap(), None);
        let user = decode_optional::<ScimUser>(&full, "x").unwrap().unwrap();
        assert_eq!(user.active, Some(false));
    }

    #[test]
    fn urls_keep_the_base_path_and_encode_ids() {
        let client = ScimClient::new(ScimSettings::new(
            "https://scim.example.com/api/scim/",
            SecretString::from("t"),
        ))
        .unwrap();
        assert_eq!(
            client.url(&["Users", "a/b c"]).unwrap().as_str(),
            "https://scim.example.com/api/scim/Users/a%2Fb%20c"
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        let token = || SecretString::from("t");
        assert!(ScimClient::new(ScimSettings::new("not a url", token())).is_err());
        assert!(ScimClient::new(ScimSettings::new("ftp://x/scim", token())).is_err());
        let mut settings = ScimSettings::new("https://x/scim", token());
        settings.page_size = 0;
        assert!(ScimClient::new(settings).is_err());
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let client = ScimClient::new(ScimSettings::new(
            "https://x/scim",
            SecretString::from("very-secret-token"),
        ))
        .unwrap();
        assert!(!format!("{client:?}").contains("very-secret-token"));
    }
}
