//! The group tree: each active user's organisational values (dimension accounts or employee
//! fields) on the day become a path of groups, added to the desired state. Pure: no clock.
//!
//! A group's external id comes from its path of keys: `grp:<company>/<level>=<key>/...`, where
//! `<company>` is the company number (or id), `<level>` the normalised level name and `<key>` the
//! normalised account code or field value (see [`normalise`]: values differing only in case,
//! spaces or Unicode normalisation are one key). Renaming an account changes the label, not the id.
//! Only active users are members (paused users sit in no group, so a group of leavers empties
//! and can be retired); `DesiredUser.group` is set for exactly the members.

#[cfg(test)]
pub(crate) mod tests;

use foldhash::{HashMap, HashMapExt};
use jiff::civil::Date;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use crate::desired::{Desired, DesiredGroup};
use crate::finding::{Finding, FindingKind, Severity};
use crate::ids::ExternalId;
use crate::map::dates::parse_date;
use crate::map::people::{collapse, nfc, trim, words};
use crate::mapping::{GapRule, GroupLevel, GroupNaming, GroupSettings};
use crate::snapshot::{
    Snapshot, SourceAccount, SourceCompany, SourceDefaultAccount, SourceDimension, SourceEmployee,
};

/// The prefix of every external id derived from a path of keys.
pub const PATH_PREFIX: &str = "grp:";
/// The prefix of external ids derived from a name alone (compatibility naming).
pub const NAME_PREFIX: &str = "grp-name:";

/// One step of a user's path: which level, its key and its label. The text is shared: a
/// segment is made once per level and value, and cloned into every path that passes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Segment {
    /// The normalised level name (`company` for the company).
    tag: Rc<str>,
    key: Rc<str>,
    label: Rc<str>,
}

/// A group key: whitespace collapsed and trimmed, in Unicode NFC, case-folded (upper then lower
/// case, so that e.g. "STRASSE" and "straße" fold alike).
pub fn normalise(text: &str) -> String {
    let mut collapsed = collapse(text);
    if collapsed.is_ascii() {
        collapsed.make_ascii_lowercase();
        return collapsed;
    }
    nfc(&nfc(&collapsed).to_uppercase().to_lowercase())
}

/// A normalised text made safe as one part of an external id: `%`, `/`, `=`, quotes,
/// backslashes and control characters are percent-encoded, so distinct paths never collide.
fn id_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in normalise(text).chars() {
        if matches!(c, '%' | '/' | '=' | '"' | '\\') || c.is_control() {
            let mut buffer = [0u8; 4];
            for byte in c.encode_utf8(&mut buffer).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The external id of the group at the end of `segments` (company segment first).
fn external_id(company: &str, segments: &[Segment], naming: GroupNaming) -> ExternalId {
    match naming {
        GroupNaming::Path => {
            let mut id = format!("{PATH_PREFIX}{}", id_part(company));
            for segment in segments.iter().filter(|s| &*s.tag != COMPANY_TAG) {
                id.push('/');
                id.push_str(&id_part(&segment.tag));
                id.push('=');
                id.push_str(&id_part(&segment.key));
            }
            ExternalId::new(id)
        }
        GroupNaming::NameOnly => {
            let label = segments.last().map_or("", |s| &*s.label);
            ExternalId::new(format!("{NAME_PREFIX}{}", id_part(label)))
        }
    }
}

const COMPANY_TAG: &str = "company";

/// One dimension with its accounts by id and by normalised code; the first one of each wins.
struct Dimension<'a> {
    dimension: &'a SourceDimension,
    by_id: HashMap<&'a str, &'a SourceAccount>,
    by_code: HashMap<String, &'a SourceAccount>,
}

impl<'a> Dimension<'a> {
    fn new(dimension: &'a SourceDimension) -> Dimension<'a> {
        let mut by_id = HashMap::with_capacity(dimension.accounts.len());
        let mut by_code = HashMap::with_capacity(dimension.accounts.len());
        for account in &dimension.accounts {
            by_id.entry(account.id.trim()).or_insert(account);
            by_code.entry(normalise(&account.code)).or_insert(account);
        }
        Dimension {
            dimension,
            by_id,
            by_code,
        }
    }
}

/// The source read once, indexed for lookups.
struct Index<'a> {
    employees: HashMap<&'a str, &'a SourceEmployee>,
    companies: BTreeMap<&'a str, &'a SourceCompany>,
    /// (company id, normalised dimension name) -> dimension; the first one wins.
    dimensions: BTreeMap<(&'a str, String), Dimension<'a>>,
    /// (employee id, dimension id) -> dated default accounts.
    defaults: HashMap<(&'a str, &'a str), Vec<&'a SourceDefaultAccount>>,
}

impl<'a> Index<'a> {
    fn new(snapshot: &'a Snapshot) -> Index<'a> {
        let mut index = Index {
            employees: HashMap::with_capacity(snapshot.employees.len()),
            companies: BTreeMap::new(),
            dimensions: BTreeMap::new(),
            defaults: HashMap::with_capacity(snapshot.default_accounts.len()),
        };
        for employee in &snapshot.employees {
            index
                .employees
                .entry(employee.id.trim())
                .or_insert(employee);
        }
        for company in &snapshot.companies {
            index.companies.entry(company.id.trim()).or_insert(company);
        }
        for dimension in &snapshot.dimensions {
            let key = (dimension.company_id.trim(), normalise(&dimension.name));
            index
                .dimensions
                .entry(key)
                .or_insert_with(|| Dimension::new(dimension));
        }
        for default in &snapshot.default_accounts {
            let key = (default.employee_id.trim(), default.dimension_id.trim());
            index.defaults.entry(key).or_default().push(default);
        }
        index
    }
}

/// Builds the group tree for the users of `desired` (call after the map step) and sets each
/// active user's group. Findings name the users whose path had gaps or unusable values.
pub fn build_groups(
    snapshot: &Snapshot,
    settings: &GroupSettings,
    today: Date,
    desired: &mut Desired,
) {
    if settings.levels.is_empty() && !settings.company_top {
        return;
    }
    let index = Index::new(snapshot);
    let mut builder = Builder {
        settings,
        today,
        index: &index,
        findings: Vec::new(),
        missing_dimensions: BTreeSet::new(),
        groups: BTreeMap::new(),
        origins: HashMap::new(),
        merges: BTreeSet::new(),
        paths: HashMap::new(),
        dimensions: HashMap::new(),
        accounts: HashMap::new(),
    };
    for (user_id, user) in desired.users.iter_mut() {
        user.group = None;
        if !user.values.active {
            continue;
        }
        if let Some(employee) = index.employees.get(user_id.as_str()) {
            user.group = builder.place(user_id, employee);
        }
    }
    let Builder {
        mut groups,
        mut findings,
        ..
    } = builder;
    for (user_id, user) in &desired.users {
        if let Some(group) = user.group.as_ref().and_then(|id| groups.get_mut(id)) {
            group.members.push(user_id.clone());
            if let Some(manager) = &user.manager_external_id {
                group.managers.push(manager.clone());
            }
        }
    }
    prune(&mut groups);
    for group in groups.values_mut() {
        group.members.sort();
        group.members.dedup();
        group.managers.sort();
        group.managers.dedup();
    }
    desired.groups = groups;
    desired.findings.append(&mut findings);
    desired.findings.sort();
}

struct Builder<'s, 'a> {
    settings: &'s GroupSettings,
    today: Date,
    index: &'s Index<'a>,
    findings: Vec<Finding>,
    /// (company id, dimension name) already reported as missing.
    missing_dimensions: BTreeSet<(String, String)>,
    groups: BTreeMap<ExternalId, DesiredGroup>,
    /// External id -> the path of keys that first made it, to detect merges.
    origins: HashMap<ExternalId, String>,
    merges: BTreeSet<(ExternalId, String)>,
    /// Each path already placed (company key, segments) -> its last group: a path seen again
    /// makes no group and no finding, so it is looked up, not walked.
    paths: HashMap<(String, Vec<Segment>), ExternalId>,
    /// (company id, level) -> the company's dimension of that level, once looked up.
    dimensions: HashMap<(&'a str, usize), Option<&'s Dimension<'a>>>,
    /// (level, account) -> its segment, made once.
    accounts: HashMap<(usize, *const SourceAccount), Segment>,
}

impl<'s, 'a> Builder<'s, 'a> {
    /// The user's path: makes every group on it and returns the external id of the last.
    fn place(&mut self, user_id: &str, employee: &'a SourceEmployee) -> Option<ExternalId> {
        let company_id = employee.company_id.trim();
        let company = self.index.companies.get(company_id).copied();
        let company_key = company
            .and_then(|c| c.number)
            .map_or_else(|| company_id.to_string(), |n| n.to_string());

        let values: Vec<Option<Segment>> = self
            .settings
            .levels
            .iter()
            .enumerate()
            .map(|(at, level)| self.value(user_id, employee, company_id, at, level))
            .collect();
        let mut segments = Vec::new();
        if self.settings.company_top {
            let label = words(company.and_then(|c| c.name.as_deref()))
                .unwrap_or_else(|| company_key.clone());
            segments.push(Segment {
                tag: COMPANY_TAG.into(),
                key: company_key.as_str().into(),
                label: label.into(),
            });
        }
        segments.extend(self.path(user_id, &values));
        if segments.is_empty() {
            if values.iter().any(Option::is_some) {
                return None;
            }
            self.findings.push(Finding {
                record: user_id.to_string(),
                field: self.level_names(),
                kind: FindingKind::GroupNone,
                problem: "the employee has no value in any group level".to_string(),
                action: "placed in no group".to_string(),
                severity: Severity::Notice,
                name: None,
                email: None,
            });
            return None;
        }

        let path = (company_key, segments);
        if let Some(known) = self.paths.get(&path) {
            return Some(known.clone());
        }
        let (company_key, segments) = &path;
        let mut parent: Option<ExternalId> = None;
        for end in 1..=segments.len() {
            let prefix = &segments[..end];
            let id = external_id(company_key, prefix, self.settings.naming);
            let origin = key_path(company_key, prefix);
            match self.origins.get(&id) {
                None => {
                    self.origins.insert(id.clone(), origin);
                    let labels: Vec<String> = prefix.iter().map(|s| s.label.to_string()).collect();
                    self.groups.insert(
                        id.clone(),
                        DesiredGroup {
                            external_id: id.clone(),
                            display_name: labels.last().cloned().unwrap_or_default(),
                            path: labels,
                            parent_external_id: parent.clone(),
                            members: Vec::new(),
                            managers: Vec::new(),
                        },
                    );
                }
                Some(first) if *first != origin => {
                    if self.merges.insert((id.clone(), origin.clone())) {
                        let first = first.clone();
                        let level = prefix.last().map_or("", |s| &*s.tag);
                        self.findings.push(Finding {
                            record: id.to_string(),
                            field: level.to_string(),
                            kind: FindingKind::GroupNameMerged,
                            problem: format!(
                                "the groups at {first} and {origin} have the same name"
                            ),
                            action: "merged into one group (groups keyed by name alone)"
                                .to_string(),
                            severity: Severity::Notice,
                            name: None,
                            email: None,
                        });
                    }
                }
                Some(_) => {}
            }
            parent = Some(id);
        }
        if let Some(last) = &parent {
            self.paths.insert(path, last.clone());
        }
        parent
    }

    /// The levels that make the user's path, by the gap rule; gaps are reported.
    fn path(&mut self, user_id: &str, values: &[Option<Segment>]) -> Vec<Segment> {
        let Some(lowest) = values.iter().rposition(Option::is_some) else {
            return Vec::new();
        };
        let gaps: Vec<&str> = values[..lowest]
            .iter()
            .zip(&self.settings.levels)
            .filter(|(value, _)| value.is_none())
            .map(|(_, level)| level.name())
            .collect();
        let path: Vec<Segment> = match self.settings.gap {
            GapRule::StopAtFirstEmpty => values.iter().map_while(Clone::clone).collect(),
            GapRule::Skip => values.iter().flatten().cloned().collect(),
        };
        if !gaps.is_empty() {
            let labels: Vec<&str> = path.iter().map(|s| &*s.label).collect();
            let placed = if labels.is_empty() {
                "no level".to_string()
            } else {
                labels.join(" > ")
            };
            let action = match self.settings.gap {
                GapRule::StopAtFirstEmpty => {
                    format!("stopped at the first empty level: placed in {placed}")
                }
                GapRule::Skip => format!("empty levels skipped: placed in {placed}"),
            };
            self.findings.push(Finding {
                record: user_id.to_string(),
                field: gaps.join(", "),
                kind: FindingKind::GroupGap,
                problem: format!(
                    "empty group level {} above a level with a value",
                    gaps.join(", ")
                ),
                action,
                severity: Severity::Notice,
                name: None,
                email: None,
            });
        }
        path
    }

    fn level_names(&self) -> String {
        let names: Vec<&str> = self.settings.levels.iter().map(GroupLevel::name).collect();
        names.join(", ")
    }

    /// The user's value in one level, or None (with a finding when the source was unusable).
    fn value(
        &mut self,
        user_id: &str,
        employee: &SourceEmployee,
        company_id: &'a str,
        at: usize,
        level: &GroupLevel,
    ) -> Option<Segment> {
        match level {
            GroupLevel::Field(name) => {
                let text = words(employee.fields.get(name).map(String::as_str))?;
                Some(Segment {
                    tag: normalise(name).into(),
                    key: normalise(&text).into(),
                    label: text.into(),
                })
            }
            GroupLevel::Dimension(name) => self.account(user_id, company_id, at, name),
        }
    }

    /// The user's default account on the day in the company's dimension called `name`.
    fn account(
        &mut self,
        user_id: &str,
        company_id: &'a str,
        at: usize,
        name: &str,
    ) -> Option<Segment> {
        let index = self.index;
        let found = self
            .dimensions
            .entry((company_id, at))
            .or_insert_with(|| index.dimensions.get(&(company_id, normalise(name))));
        let Some(indexed) = *found else {
            if self
                .missing_dimensions
                .insert((company_id.to_string(), name.to_string()))
            {
                self.findings.push(Finding {
                    record: company_id.to_string(),
                    field: "AccountDistribution".to_string(),
                    kind: FindingKind::GroupDimensionMissing,
                    problem: format!("the company has no dimension named '{name}'"),
                    action: "its employees have no value in this level".to_string(),
                    severity: Severity::Degraded,
                    name: None,
                    email: None,
                });
            }
            return None;
        };
        let dimension = indexed.dimension;
        let defaults = index.defaults.get(&(user_id, dimension.id.trim()))?;
        // Of the default accounts that cover the day, the one that started last (the last
        // listed of those that started the same day).
        let mut current: Option<(Option<Date>, &SourceDefaultAccount)> = None;
        for default in defaults {
            let from = self.date(user_id, "FromDate", default.from.as_deref(), name);
            let to = self.date(user_id, "TomDate", default.to.as_deref(), name);
            let (Some(from), Some(to)) = (from, to) else {
                continue;
            };
            let started = from.is_none_or(|from| from <= self.today);
            let running = to.is_none_or(|to| self.today <= to);
            if started && running && current.is_none_or(|(latest, _)| from >= latest) {
                current = Some((from, *default));
            }
        }
        let (_, default) = current?;
        let by_id = default
            .account_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .and_then(|id| indexed.by_id.get(id).copied());
        let by_code = || {
            let code = normalise(default.account_code.as_deref()?);
            indexed
                .by_code
                .get(&code)
                .copied()
                .filter(|_| !code.is_empty())
        };
        let Some(account) = by_id.or_else(by_code) else {
            self.findings.push(Finding {
                record: user_id.to_string(),
                field: "AccountId".to_string(),
                kind: FindingKind::UnknownAccount,
                problem: format!(
                    "the default account (id {}, code {}) in dimension '{name}' is not an \
                     account of that dimension",
                    default.account_id.as_deref().unwrap_or("none"),
                    default.account_code.as_deref().unwrap_or("none"),
                ),
                action: format!("no value in level '{name}'"),
                severity: Severity::Degraded,
                name: None,
                email: None,
            });
            return None;
        };
        let code = account.code.trim();
        let key = if code.is_empty() {
            account.id.trim()
        } else {
            code
        };
        let segment = self
            .accounts
            .entry((at, account as *const SourceAccount))
            .or_insert_with(|| {
                let label = words(account.name.as_deref()).unwrap_or_else(|| nfc(key));
                Segment {
                    tag: normalise(name).into(),
                    key: normalise(key).into(),
                    label: label.into(),
                }
            });
        Some(segment.clone())
    }

    /// A default account's date: Ok(None) when blank; an unreadable date is reported and the
    /// default account is ignored (outer None).
    fn date(
        &mut self,
        user_id: &str,
        field: &str,
        text: Option<&str>,
        dimension: &str,
    ) -> Option<Option<Date>> {
        let Some(text) = text.map(trim).filter(|t| !t.is_empty()) else {
            return Some(None);
        };
        match parse_date(text) {
            Some(date) => Some(Some(date)),
            None => {
                self.findings.push(Finding {
                    record: user_id.to_string(),
                    field: field.to_string(),
                    kind: FindingKind::InvalidDate,
                    problem: format!(
                        "a default account in dimension '{dimension}' has {field} '{text}', \
                         not a date"
                    ),
                    action: "default account ignored".to_string(),
                    severity: Severity::Degraded,
                    name: None,
                    email: None,
                });
                None
            }
        }
    }
}

/// Drops groups with no members below them: with names as keys, a path can fold back into a
/// group above it (`A > B > A`) and leave the groups between empty.
fn prune(groups: &mut BTreeMap<ExternalId, DesiredGroup>) {
    let mut keep: BTreeSet<ExternalId> = BTreeSet::new();
    for group in groups.values().filter(|g| !g.members.is_empty()) {
        let mut at = Some(group);
        while let Some(current) = at {
            if !keep.insert(current.external_id.clone()) {
                break;
            }
            at = current
                .parent_external_id
                .as_ref()
                .and_then(|parent| groups.get(parent));
        }
    }
    groups.retain(|id, _| keep.contains(id));
}

/// The path of keys, readable, for merge findings.
fn key_path(company: &str, segments: &[Segment]) -> String {
    let mut parts = vec![company.to_string()];
    parts.extend(
        segments
            .iter()
            .filter(|s| &*s.tag != COMPANY_TAG)
            .map(|s| format!("{}={}", s.tag, s.key)),
    );
    parts.join("/")
}
