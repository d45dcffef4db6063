//! The Flex HRM client: settings, authentication, paged reads, and the full read of the
//! configured companies into a [`Snapshot`].

use std::collections::BTreeSet;
use std::fmt;
use std::hash::BuildHasher;
use std::str::FromStr;

use base64::Engine as _;
use flexsync_core::mapping::NamedFields;
use flexsync_core::snapshot::{
    Snapshot, SourceCompany, SourceDefaultAccount, SourceDimension, SourceEmployee, SourcePeriod,
};
use flexsync_http::redact::{Scrubber, without_userinfo};
use flexsync_http::{HttpSettings, Transport, TransportStats};
use futures::StreamExt;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::error::FlexError;
use crate::json::Json;
use crate::wire::{self, KeptFields, Parsed, SharedTexts};

/// How to reach Flex and what to read.
#[derive(Debug, Clone)]
pub struct FlexSettings {
    /// As customers quote it: `https://x.flexhosting.se`, or a URL with the API path.
    pub base_url: String,
    /// Appended to a base URL without a path. Default `/webapi/api`.
    pub api_prefix: String,
    pub username: String,
    pub password: SecretString,
    /// The HRM customer number, sent as the `Instance` header and in the credentials.
    pub instance: String,
    /// The companies to read. Empty means every company Flex lists.
    pub companies: Vec<CompanyRef>,
    pub auth: AuthScheme,
    pub page_size: u32,
    /// A list with more pages than this is refused as partial.
    pub max_pages: u32,
    pub http: HttpSettings,
}

impl Default for FlexSettings {
    fn default() -> Self {
        FlexSettings {
            base_url: String::new(),
            api_prefix: "/webapi/api".to_string(),
            username: String::new(),
            password: SecretString::from(String::new()),
            instance: String::new(),
            companies: Vec::new(),
            auth: AuthScheme::default(),
            page_size: 1000,
            max_pages: 10_000,
            http: HttpSettings::default(),
        }
    }
}

/// A configured company: its number (e.g. `1010`) or its GUID.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum CompanyRef {
    Number(i64),
    Guid(String),
}

impl FromStr for CompanyRef {
    type Err = FlexError;

    /// Digits are a company number; anything else is taken as a GUID.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() {
            return Err(FlexError::Settings("a company is empty".to_string()));
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse()
                .map(CompanyRef::Number)
                .map_err(|_| FlexError::Settings(format!("company number {text} is too large")));
        }
        Ok(CompanyRef::Guid(text.to_string()))
    }
}

impl fmt::Display for CompanyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompanyRef::Number(n) => write!(f, "{n}"),
            CompanyRef::Guid(g) => f.write_str(g),
        }
    }
}

impl CompanyRef {
    fn matches(&self, company: &SourceCompany) -> bool {
        match self {
            CompanyRef::Number(n) => company.number == Some(*n),
            CompanyRef::Guid(g) => company.id.eq_ignore_ascii_case(g),
        }
    }
}

/// How the credentials are put in the `Authorization` header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthScheme {
    /// `Basic instance:user:password`, written literally: the form known to work.
    #[default]
    Literal,
    /// `Basic base64(instance:user:password)`.
    Base64Full,
    /// `Basic base64(user:password)`; the instance goes in the `Instance` header only.
    Base64UserPass,
}

impl FromStr for AuthScheme {
    type Err = FlexError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "literal" => Ok(AuthScheme::Literal),
            "base64-full" | "base64" => Ok(AuthScheme::Base64Full),
            "base64-user-pass" | "base64-userpass" | "base64-user" => {
                Ok(AuthScheme::Base64UserPass)
            }
            other => Err(FlexError::Settings(format!(
                "unknown auth scheme {other:?} (literal, base64-full, base64-user-pass)"
            ))),
        }
    }
}

/// The API root for a base URL as customers quote it: a URL without a path gets `prefix`; a URL
/// with a path is taken as it is. A missing scheme means `https`.
pub fn api_base_url(base: &str, prefix: &str) -> Result<Url, FlexError> {
    // Never quoted whole: user information in it may be a password.
    let bad = |reason: &str| FlexError::BaseUrl {
        url: without_userinfo(base),
        reason: reason.to_string(),
    };
    let text = base.trim();
    if text.is_empty() {
        return Err(bad("it is empty"));
    }
    let text = if text.contains("://") {
        text.to_string()
    } else {
        format!("https://{text}")
    };
    let mut url = Url::parse(&text).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("only http and https are supported"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials belong in the settings, not in the URL"));
    }
    url.set_query(None);
    url.set_fragment(None);
    if url.path() == "/" || url.path().is_empty() {
        let prefix = prefix.trim().trim_matches('/');
        url.set_path(prefix);
    }
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Ok(url)
}

/// A problem with one record or field that did not stop the read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadWarning {
    /// What was being read, e.g. `employees of company 1010 (GUID)`.
    pub what: String,
    /// The record's id, or its position in the list when it has none.
    pub record: String,
    /// The field, when one field was skipped; `None` when the whole record was dropped.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ReadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: record {}", self.what, self.record)?;
        if let Some(field) = &self.field {
            write!(f, ", field {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A full read: the snapshot, and what was skipped on the way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlexRead {
    pub snapshot: Snapshot,
    pub warnings: Vec<ReadWarning>,
    /// Records dropped because they lacked what identifies them (e.g. no `Id`).
    pub dropped: u64,
}

/// A client for one Flex instance. Cheap to clone.
#[derive(Clone)]
pub struct FlexClient {
    base: Url,
    authorization: HeaderValue,
    instance: HeaderValue,
    /// Removes the password and the header value, in any form, from what Flex sends.
    scrubber: Scrubber,
    companies: Vec<CompanyRef>,
    page_size: u32,
    max_pages: u32,
    transport: Transport,
    /// The employee fields without a place of their own that a read keeps.
    employee_fields: KeptFields,
    /// The employment period fields a read keeps.
    period_fields: KeptFields,
}

impl fmt::Debug for FlexClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlexClient")
            .field("base", &self.base.as_str())
            .field("companies", &self.companies)
            .finish_non_exhaustive()
    }
}

impl FlexClient {
    pub fn new(settings: FlexSettings) -> Result<FlexClient, FlexError> {
        let base = api_base_url(&settings.base_url, &settings.api_prefix)?;
        if settings.page_size == 0 || settings.max_pages == 0 {
            return Err(FlexError::Settings(
                "page_size and max_pages must be at least 1".to_string(),
            ));
        }
        let instance = settings.instance.trim().to_string();
        let password = settings.password.expose_secret();
        let credentials = match settings.auth {
            AuthScheme::Literal => format!("{instance}:{}:{password}", settings.username),
            AuthScheme::Base64Full => base64::engine::general_purpose::STANDARD
                .encode(format!("{instance}:{}:{password}", settings.username)),
            AuthScheme::Base64UserPass => base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{password}", settings.username)),
        };
        let mut authorization =
            HeaderValue::from_str(&format!("Basic {credentials}")).map_err(|_| {
                FlexError::Settings(
                    "the username or password holds characters that cannot be sent in the \
                     literal Basic form; choose a base64 auth scheme"
                        .to_string(),
                )
            })?;
        authorization.set_sensitive(true);
        let instance_header = HeaderValue::from_str(&instance)
            .map_err(|_| FlexError::Settings(format!("instance {instance:?} is not valid")))?;
        let scrubber = Scrubber::new([credentials.as_str(), password]);
        let transport = Transport::new(settings.http).map_err(FlexError::Client)?;
        Ok(FlexClient {
            base,
            authorization,
            instance: instance_header,
            scrubber,
            companies: settings.companies,
            page_size: settings.page_size,
            max_pages: settings.max_pages,
            transport,
            employee_fields: KeptFields::All,
            period_fields: KeptFields::All,
        })
    }

    /// The same client, keeping of each employee and employment period only the fields
    /// `named` lists besides those with a place of their own: a sync reads what its
    /// configuration names and no more. A new client keeps every field, for `check` to list.
    pub fn keeping_only(&self, named: &NamedFields) -> FlexClient {
        let mut client = self.clone();
        client.employee_fields = KeptFields::Named(named.employee.iter().cloned().collect());
        client.period_fields = KeptFields::Named(named.period.iter().cloned().collect());
        client
    }

    /// The API root every request is made under.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Requests sent so far (retries included) and retries, for reports and the CLI.
    pub fn transport_stats(&self) -> &std::sync::Arc<TransportStats> {
        self.transport.stats()
    }

    /// Every company the API user can see (`GET /companies`).
    pub async fn companies(&self) -> Result<Vec<SourceCompany>, FlexError> {
        let mut warnings = Vec::new();
        let mut dropped = 0;
        let companies = self.read_companies(&mut warnings, &mut dropped).await?;
        for warning in &warnings {
            tracing::warn!(%warning, "skipped while reading Flex companies");
        }
        Ok(companies)
    }

    /// Reads the configured companies whole; warnings are logged. See [`FlexClient::read`].
    pub async fn read_snapshot(&self) -> Result<Snapshot, FlexError> {
        let read = self.read().await?;
        for warning in &read.warnings {
            tracing::warn!(%warning, "skipped while reading Flex");
        }
        Ok(read.snapshot)
    }

    /// Reads the configured companies whole: employees, employment periods, dimensions with
    /// their accounts, and default accounts. Any failed or partial list fails the read.
    pub async fn read(&self) -> Result<FlexRead, FlexError> {
        let mut warnings = Vec::new();
        let mut dropped = 0;
        let listed = self.read_companies(&mut warnings, &mut dropped).await?;
        let companies = self.resolve(&listed)?;
        let mut out = self.read_these(companies).await?;
        warnings.append(&mut out.warnings);
        out.warnings = warnings;
        out.dropped += dropped;
        out.snapshot.named_fields_only =
            self.employee_fields != KeptFields::All || self.period_fields != KeptFields::All;
        Ok(out)
    }

    /// The configured companies the API user sees (all listed ones when none are configured),
    /// and those it does not, as configured.
    pub fn match_companies(&self, listed: &[SourceCompany]) -> (Vec<SourceCompany>, Vec<String>) {
        if self.companies.is_empty() {
            return (listed.to_vec(), Vec::new());
        }
        let mut found: Vec<SourceCompany> = Vec::new();
        let mut unknown = Vec::new();
        for reference in &self.companies {
            match listed.iter().find(|c| reference.matches(c)) {
                Some(company) if !found.iter().any(|c| c.id == company.id) => {
                    found.push(company.clone());
                }
                Some(_) => {}
                None => unknown.push(reference.to_string()),
            }
        }
        (found, unknown)
    }

    /// Reads `companies` whole (`check` reads the configured ones that exist).
    pub async fn read_these(&self, companies: Vec<SourceCompany>) -> Result<FlexRead, FlexError> {
        let mut out = FlexRead::default();
        let parts =
            futures::future::try_join_all(companies.iter().map(|c| self.read_company(c))).await?;
        // Sized once: grown a company at a time, the lists would hold up to twice their records.
        let snapshots = || parts.iter().map(|part| &part.snapshot);
        let snapshot = &mut out.snapshot;
        snapshot.employees = Vec::with_capacity(snapshots().map(|s| s.employees.len()).sum());
        snapshot.periods = Vec::with_capacity(snapshots().map(|s| s.periods.len()).sum());
        snapshot.default_accounts =
            Vec::with_capacity(snapshots().map(|s| s.default_accounts.len()).sum());
        for part in parts {
            out.snapshot.employees.extend(part.snapshot.employees);
            out.snapshot.periods.extend(part.snapshot.periods);
            out.snapshot.dimensions.extend(part.snapshot.dimensions);
            out.snapshot
                .default_accounts
                .extend(part.snapshot.default_accounts);
            out.warnings.extend(part.warnings);
            out.dropped += part.dropped;
        }
        out.snapshot.companies = companies;
        Ok(out)
    }

    /// The configured companies, in configured order without repeats; all listed ones when
    /// none are configured.
    fn resolve(&self, listed: &[SourceCompany]) -> Result<Vec<SourceCompany>, FlexError> {
        if self.companies.is_empty() {
            return Ok(listed.to_vec());
        }
        let mut out: Vec<SourceCompany> = Vec::new();
        for reference in &self.companies {
            let Some(company) = listed.iter().find(|c| reference.matches(c)) else {
                let known: Vec<String> = listed.iter().map(company_label).collect();
                return Err(FlexError::UnknownCompany {
                    reference: reference.to_string(),
                    known: if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    },
                });
            };
            if !out.iter().any(|c| c.id == company.id) {
                out.push(company.clone());
            }
        }
        Ok(out)
    }

    async fn read_companies(
        &self,
        warnings: &mut Vec<ReadWarning>,
        dropped: &mut u64,
    ) -> Result<Vec<SourceCompany>, FlexError> {
        let what = "the company list".to_string();
        let list = self
            .read_list(&["companies"], None, &what, wire::company)
            .await?;
        let mut companies = Vec::new();
        for company in list.keep(warnings, dropped) {
            if !companies.iter().any(|c: &SourceCompany| c.id == company.id) {
                companies.push(company);
            }
        }
        Ok(companies)
    }

    async fn read_company(&self, company: &SourceCompany) -> Result<FlexRead, FlexError> {
        let label = company_label(company);
        let id = company.id.as_str();
        let employees_what = format!("employees of company {label}");
        let periods_what = format!("employment periods of company {label}");
        let defaults_what = format!("default accounts of company {label}");
        let (mut employee_texts, mut period_texts, mut default_texts) = (
            SharedTexts::default(),
            SharedTexts::default(),
            SharedTexts::default(),
        );
        let (employees, periods, dimensions, defaults) = tokio::try_join!(
            self.read_list(&["employees"], Some(id), &employees_what, |item| {
                wire::employee(item, id, &self.employee_fields, &mut employee_texts)
            }),
            self.read_list(&["employmentperiods"], Some(id), &periods_what, |item| {
                wire::period(item, &self.period_fields, &mut period_texts)
            }),
            self.read_dimensions(company, &label),
            self.read_list(
                &["employmentdefaultaccounts"],
                Some(id),
                &defaults_what,
                |item| wire::default_account(item, &mut default_texts)
            ),
        )?;
        let mut out = FlexRead::default();
        let (warnings, dropped) = (&mut out.warnings, &mut out.dropped);

        let what = employees_what;
        let mut read: Vec<SourceEmployee> = Vec::with_capacity(employees.records.len());
        for employee in employees.keep(warnings, dropped) {
            if !employee.company_id.eq_ignore_ascii_case(id) {
                warnings.push(ReadWarning {
                    what: what.clone(),
                    record: employee.id.clone(),
                    field: Some("CompanyId".to_string()),
                    message: "belongs to another company; left out".to_string(),
                });
                continue;
            }
            read.push(employee);
        }
        // By id, in the order read within one id.
        read.sort_by(|a, b| a.id.cmp(&b.id));
        let mut employees: Vec<SourceEmployee> = Vec::with_capacity(read.len());
        let mut same_id_from = 0;
        for employee in read {
            if employees.last().is_none_or(|last| last.id != employee.id) {
                same_id_from = employees.len();
            }
            // The same record twice is a page that shifted while we read: one is kept. Two
            // different records with one Id both go on, and the map step reports them.
            if !employees[same_id_from..].contains(&employee) {
                employees.push(employee);
            }
        }
        let read_ids: foldhash::HashSet<&str> = employees.iter().map(|e| e.id.as_str()).collect();
        let is_read = |employee_id: &str| read_ids.contains(employee_id);

        let mut kept_periods: Vec<SourcePeriod> = periods
            .keep(warnings, dropped)
            .filter(|p| is_read(&p.employee_id))
            .collect();
        kept_periods.sort_by(|a, b| {
            (&a.employee_id, &a.from, &a.id).cmp(&(&b.employee_id, &b.from, &b.id))
        });
        kept_periods.dedup();

        let mut kept_defaults: Vec<SourceDefaultAccount> = defaults
            .keep(warnings, dropped)
            .filter(|d| is_read(&d.employee_id))
            .collect();
        kept_defaults.sort_by(|a, b| {
            (&a.employee_id, &a.dimension_id, &a.from, &a.account_code).cmp(&(
                &b.employee_id,
                &b.dimension_id,
                &b.from,
                &b.account_code,
            ))
        });
        kept_defaults.dedup();

        let (dimensions, dimension_warnings, dimension_dropped) = dimensions;
        warnings.extend(dimension_warnings);
        *dropped += dimension_dropped;

        out.snapshot.employees = employees;
        out.snapshot.periods = kept_periods;
        out.snapshot.dimensions = dimensions;
        out.snapshot.default_accounts = kept_defaults;
        Ok(out)
    }

    /// The company's dimensions, each with its accounts.
    async fn read_dimensions(
        &self,
        company: &SourceCompany,
        label: &str,
    ) -> Result<(Vec<SourceDimension>, Vec<ReadWarning>, u64), FlexError> {
        let mut warnings = Vec::new();
        let mut dropped = 0;
        let what = format!("dimensions (account distributions) of company {label}");
        let list = self
            .read_list(
                &["companies", &company.id, "accountdistributions"],
                None,
                &what,
                |item| wire::dimension(item, &company.id),
            )
            .await?;
        let mut dimensions: Vec<SourceDimension> = Vec::new();
        for mut dimension in list.keep(&mut warnings, &mut dropped) {
            if !dimension.company_id.eq_ignore_ascii_case(&company.id)
                || dimensions.iter().any(|d| d.id == dimension.id)
            {
                continue;
            }
            let what = format!(
                "accounts of dimension {} ({}) of company {label}",
                dimension.name, dimension.id
            );
            let accounts = self
                .read_list(
                    &["accountdistributions", &dimension.id, "accounts"],
                    None,
                    &what,
                    wire::account,
                )
                .await?;
            for account in accounts.keep(&mut warnings, &mut dropped) {
                if !dimension.accounts.iter().any(|a| a.id == account.id) {
                    dimension.accounts.push(account);
                }
            }
            dimension
                .accounts
                .sort_by(|a, b| (&a.code, &a.id).cmp(&(&b.code, &b.id)));
            dimensions.push(dimension);
        }
        dimensions.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        Ok((dimensions, warnings, dropped))
    }

    /// Reads a whole list, once more if it changed while it was read (its total moved, or fewer
    /// distinct records came than it counts: a record shifted across a page boundary).
    async fn read_list<T>(
        &self,
        path: &[&str],
        company_id: Option<&str>,
        what: &str,
        mut parse: impl FnMut(&Json<'_>) -> Parsed<T>,
    ) -> Result<List<T>, FlexError> {
        match self
            .read_list_once(path, company_id, what, &mut parse)
            .await
        {
            Err(FlexError::Unstable { detail, .. }) => {
                tracing::warn!(what, %detail, "a Flex list changed while it was read; reading it again");
                self.read_list_once(path, company_id, what, &mut parse)
                    .await
            }
            result => result,
        }
    }

    /// Reads a whole list page by page. Stops when `TotalItemCount` items are read, on an empty
    /// page, or (without a total) when a page repeats, as from a server that ignores paging.
    /// A short page does not end the read: the server may cap the page size. Refuses a read
    /// that ends short of the total, repeats a page despite a total, runs into `max_pages`, or
    /// changed under it (`Unstable`). Each page is parsed into typed records and dropped.
    async fn read_list_once<T>(
        &self,
        path: &[&str],
        company_id: Option<&str>,
        what: &str,
        parse: &mut impl FnMut(&Json<'_>) -> Parsed<T>,
    ) -> Result<List<T>, FlexError> {
        let mut list = List::new(what);
        // The fingerprint of every record read, to find records that came twice.
        let mut prints: Vec<u64> = Vec::new();
        let mut total: Option<u64> = None;
        // Pages and records are compared by fingerprint, not kept twice: a page may be large.
        // Randomly seeded: a server cannot aim two records at one fingerprint ahead of time.
        let hashing = foldhash::fast::RandomState::default();
        let mut previous: Option<u64> = None;
        let mut previous_body: Option<u64> = None;
        let fetch = |page_index: u32| {
            let mut url = self.url(path);
            {
                let mut query = url.query_pairs_mut();
                if let Some(id) = company_id {
                    query.append_pair("companyId", id);
                }
                query.append_pair("pageIndex", &page_index.to_string());
                query.append_pair("pageSize", &self.page_size.to_string());
            }
            self.get_body(url, what)
        };
        // Once the first page tells the total and the server's page size, the pages after it
        // are asked for together and read in order; past them, one at a time.
        let mut ahead: Option<Pages<'_>> = None;
        for page_index in 0..self.max_pages {
            let (body, content_type) = match ahead.as_mut() {
                Some(pages) if page_index <= pages.last => match pages.stream.next().await {
                    Some(answer) => answer?,
                    None => fetch(page_index).await?,
                },
                _ => fetch(page_index).await?,
            };
            // A server that ignores paging sends the same page again: seen before it is parsed
            // when the answer is the same to the byte, after (by its items) otherwise.
            let body_fingerprint = hashing.hash_one(&body);
            if previous_body.replace(body_fingerprint) == Some(body_fingerprint) {
                return same_page_again(list, total, what);
            }
            let body = parse_json(&body, content_type.as_deref(), what)?;
            let page = wire::parse_page(body).map_err(|reason| FlexError::Body {
                what: what.to_string(),
                reason: format!("unexpected answer: {reason}"),
            })?;
            match (total, page.total) {
                (Some(before), Some(now)) if before != now => {
                    return Err(FlexError::Unstable {
                        what: what.to_string(),
                        detail: format!("its total went from {before} to {now}"),
                    });
                }
                (None, Some(_)) => total = page.total,
                _ => {}
            }
            if page.items.is_empty() {
                return finish_list(list, total, what);
            }
            let item_prints: Vec<u64> = page
                .items
                .iter()
                .map(|item| hashing.hash_one(item))
                .collect();
            let page_print = hashing.hash_one(&item_prints);
            if previous == Some(page_print) {
                return same_page_again(list, total, what);
            }
            if page_index == 0
                && let Some(total) = total
            {
                let size = page.items.len() as u64;
                let last = total.div_ceil(size).min(u64::from(self.max_pages)) as u32;
                // Room for the records told, so that a large list is not grown by doubling:
                // no more than the pages to come can carry, nor than any real organisation
                // has, and none if the memory is not there.
                let told = total
                    .min(size.saturating_mul(u64::from(last)))
                    .min(RESERVED_AT_MOST);
                let _ = list.records.try_reserve(usize::try_from(told).unwrap_or(0));
                let stream = futures::stream::iter(1..last)
                    .map(fetch)
                    .buffered(PAGES_AHEAD)
                    .boxed();
                ahead = Some(Pages {
                    last: last.saturating_sub(1),
                    stream,
                });
            }
            for value in &page.items {
                list.take(value, parse(value));
            }
            prints.extend(item_prints);
            if let Some(total) = total.filter(|total| list.read >= *total) {
                let distinct: BTreeSet<&u64> = prints.iter().collect();
                if (distinct.len() as u64) < total {
                    return Err(FlexError::Unstable {
                        what: what.to_string(),
                        detail: format!(
                            "{} records came twice, so as many were missed",
                            list.read - distinct.len() as u64
                        ),
                    });
                }
                return Ok(list);
            }
            previous = Some(page_print);
        }
        Err(FlexError::PageCap {
            what: what.to_string(),
            max_pages: self.max_pages,
        })
    }

    fn url(&self, path: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path);
        }
        url
    }

    /// One GET, judged: the body of a 2xx answer and its content type, or an error naming `what`.
    async fn get_body(&self, url: Url, what: &str) -> Result<(Vec<u8>, Option<String>), FlexError> {
        let response = self
            .transport
            .send(true, |client| {
                client
                    .get(url.clone())
                    .header(reqwest::header::AUTHORIZATION, self.authorization.clone())
                    .header("Instance", self.instance.clone())
                    .header(reqwest::header::ACCEPT, "application/json")
            })
            .await
            .map_err(|error| FlexError::Transport {
                what: what.to_string(),
                error,
            })?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body =
            self.transport
                .read_body(response)
                .await
                .map_err(|error| FlexError::Transport {
                    what: what.to_string(),
                    error,
                })?;
        if !(200..300).contains(&status) {
            // Scrubbed before it is cut short, and again once decoded from JSON.
            let body = self.scrubber.scrub_bytes(&body);
            let message = wire::error_message(&body).map(|m| {
                let m = self.scrubber.scrub(&m);
                // Escape sequences and the like never reach a log or a terminal.
                m.chars().filter(|c| !c.is_control()).take(300).collect()
            });
            let what = what.to_string();
            return Err(match status {
                401 => FlexError::Unauthorized { what, message },
                403 => FlexError::Forbidden { what, message },
                404 => FlexError::NotFound { what, message },
                _ => FlexError::Status {
                    what,
                    status,
                    message,
                },
            });
        }
        Ok((body, content_type))
    }
}

/// Pages asked for ahead of the one being read, once the total is known.
const PAGES_AHEAD: usize = 16;

/// The most records room is made for up front when a list tells its total.
const RESERVED_AT_MOST: u64 = 500_000;

type Answer = Result<(Vec<u8>, Option<String>), FlexError>;

/// The pages after the first, asked for together: indexes 1 to `last`, in order.
struct Pages<'a> {
    last: u32,
    stream: futures::stream::BoxStream<'a, Answer>,
}

/// A page came again: a server that ignores paging. Without a total, what was read is all there
/// is; with one, the read would be partial.
fn same_page_again<T>(list: List<T>, total: Option<u64>, what: &str) -> Result<List<T>, FlexError> {
    match total {
        None => Ok(list),
        Some(_) => Err(FlexError::Body {
            what: what.to_string(),
            reason: "Flex sent the same page twice, so paging does not work and the read would \
                     be partial"
                .to_string(),
        }),
    }
}

/// A 2xx body as JSON, or an error saying how it is not.
fn parse_json<'a>(
    body: &'a [u8],
    content_type: Option<&str>,
    what: &str,
) -> Result<Json<'a>, FlexError> {
    Json::parse(body).map_err(|e| {
        let reason = if e.is_eof() {
            format!("the answer ends before its JSON does (cut off?): {e}")
        } else {
            format!(
                "the answer is not JSON (content type {}): {e}",
                content_type.unwrap_or("not given")
            )
        };
        FlexError::Body {
            what: what.to_string(),
            reason,
        }
    })
}

fn finish_list<T>(list: List<T>, total: Option<u64>, what: &str) -> Result<List<T>, FlexError> {
    match total {
        Some(total) if list.read < total => Err(FlexError::Partial {
            what: what.to_string(),
            read: list.read,
            total,
        }),
        _ => Ok(list),
    }
}

/// A list as read: its records, typed as each page came, and what was wrong with them.
struct List<T> {
    what: String,
    records: Vec<T>,
    warnings: Vec<ReadWarning>,
    dropped: u64,
    /// Records read, dropped ones too.
    read: u64,
}

impl<T> List<T> {
    fn new(what: &str) -> List<T> {
        List {
            what: what.to_string(),
            records: Vec::new(),
            warnings: Vec::new(),
            dropped: 0,
            read: 0,
        }
    }

    /// Keeps one parsed record, its problems made warnings; counts a dropped record. A record
    /// is named by its `Id`, or by its place in the list.
    fn take(&mut self, value: &Json<'_>, parsed: Parsed<T>) {
        self.read += 1;
        if !parsed.problems.is_empty() || parsed.record.is_err() {
            let record = wire::record_label(value).unwrap_or_else(|| format!("#{}", self.read));
            for problem in parsed.problems {
                self.warnings.push(ReadWarning {
                    what: self.what.clone(),
                    record: record.clone(),
                    field: Some(problem.field),
                    message: problem.problem,
                });
            }
            if let Err(missing) = &parsed.record {
                self.dropped += 1;
                self.warnings.push(ReadWarning {
                    what: self.what.clone(),
                    record,
                    field: None,
                    message: format!("{missing}; dropped"),
                });
            }
        }
        if let Ok(record) = parsed.record {
            self.records.push(record);
        }
    }

    /// The records, once their warnings and dropped count are added to the read's.
    fn keep(self, warnings: &mut Vec<ReadWarning>, dropped: &mut u64) -> std::vec::IntoIter<T> {
        warnings.extend(self.warnings);
        *dropped += self.dropped;
        self.records.into_iter()
    }
}

/// `1010 (GUID)`, or the GUID alone when the number is unknown.
fn company_label(company: &SourceCompany) -> String {
    match company.number {
        Some(number) => format!("{number} ({})", company.id),
        None => company.id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_as_customers_quote_them() {
        let cases = [
            (
                "https://x.flexhosting.se",
                "https://x.flexhosting.se/webapi/api",
            ),
            (
                "https://x.flexhosting.se/",
                "https://x.flexhosting.se/webapi/api",
            ),
            ("x.flexhosting.se", "https://x.flexhosting.se/webapi/api"),
            ("https://api.flexhrm.com/api", "https://api.flexhrm.com/api"),
            (
                "https://api.flexhrm.com/api/",
                "https://api.flexhrm.com/api",
            ),
            (
                "https://x.flexhosting.se/webapi/api/",
                "https://x.flexhosting.se/webapi/api",
            ),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/webapi/api"),
        ];
        for (base, expected) in cases {
            let url = api_base_url(base, "/webapi/api").unwrap();
            assert_eq!(url.as_str(), expected, "for {base}");
        }
        assert_eq!(
            api_base_url("https://h.se", "/custom/").unwrap().as_str(),
            "https://h.se/custom"
        );
    }

    #[test]
    fn base_urls_that_cannot_work_are_refused() {
        for base in ["", "ftp://x.se", "https://user:pw@x.se", "http://"] {
            assert!(
                matches!(
                    api_base_url(base, "/webapi/api"),
                    Err(FlexError::BaseUrl { .. })
                ),
                "{base:?} was accepted"
            );
        }
        let error = api_base_url("https://user:pw@x.se", "/webapi/api").unwrap_err();
        assert!(!error.to_string().is_empty());
    }

    #[test]
    fn company_refs_from_text() {
        assert_eq!(
            "1010".parse::<CompanyRef>().unwrap(),
            CompanyRef::Number(1010)
        );
        assert_eq!(
            " f4af5684-2f27-57d4-94ad-a5d1b45f0459 "
                .parse::<CompanyRef>()
                .unwrap(),
            CompanyRef::Guid("f4af5684-2f27-57d4-94ad-a5d1b45f0459".to_string())
        );
        assert!("".parse::<CompanyRef>().is_err());
        assert!("99999999999999999999999".parse::<CompanyRef>().is_err());
    }

    #[test]
    fn auth_schemes_from_text() {
        assert_eq!(
            "literal".parse::<AuthScheme>().unwrap(),
            AuthScheme::Literal
        );
        assert_eq!(
            "Base64".parse::<AuthScheme>().unwrap(),
            AuthScheme::Base64Full
        );
        assert_eq!(
            "base64_user_pass".parse::<AuthScheme>().unwrap(),
            AuthScheme::Base64UserPass
        );
        assert!("bearer".parse::<AuthScheme>().is_err());
    }

    #[test]
    fn a_password_unfit_for_the_literal_form_is_refused_without_showing_it() {
        let settings = FlexSettings {
            base_url: "https://x.se".to_string(),
            username: "u".to_string(),
            password: SecretString::from("line\nbreak".to_string()),
            instance: "1".to_string(),
            ..FlexSettings::default()
        };
        let error = FlexClient::new(settings).unwrap_err();
        assert!(!error.to_string().contains("line"));
    }
}
