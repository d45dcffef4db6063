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

use crate::by_employee::ByEmployee;
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

/// One step of a user's path: which level, its key and its label. Each is made once per level
/// and value, and paths name it by its place in the builder's list ([`SegmentId`]).
#[derive(Debug)]
struct Segment {
    /// The normalised level name (`company` for the company).
    tag: String,
    key: String,
    label: String,
}

/// A segment's place in [`Builder::segments`].
type SegmentId = u32;

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
fn external_id(company: &str, segments: &[&Segment], naming: GroupNaming) -> ExternalId {
    match naming {
        GroupNaming::Path => {
            let mut id = format!("{PATH_PREFIX}{}", id_part(company));
            for segment in segments.iter().filter(|s| s.tag != COMPANY_TAG) {
                id.push('/');
                id.push_str(&id_part(&segment.tag));
                id.push('=');
                id.push_str(&id_part(&segment.key));
            }
            ExternalId::new(id)
        }
        GroupNaming::NameOnly => {
            let label = segments.last().map_or("", |s| s.label.as_str());
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
    /// The records by trimmed id; of records sharing one, the first is the user's.
    employees: ByEmployee<'a, SourceEmployee>,
    companies: BTreeMap<&'a str, &'a SourceCompany>,
    /// (company id, normalised dimension name) -> dimension; the first one wins.
    dimensions: BTreeMap<(&'a str, String), Dimension<'a>>,
    /// Each employee's dated default accounts.
    defaults: ByEmployee<'a, SourceDefaultAccount>,
}

impl<'a> Index<'a> {
    fn new(snapshot: &'a Snapshot) -> Index<'a> {
        let mut index = Index {
            employees: ByEmployee::new(&snapshot.employees, |e| e.id.trim()),
            companies: BTreeMap::new(),
            dimensions: BTreeMap::new(),
            defaults: ByEmployee::new(&snapshot.default_accounts, |d| d.employee_id.trim()),
        };
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
        segments: Vec::new(),
        accounts: HashMap::new(),
        fields: HashMap::new(),
        places: HashMap::new(),
        paths: HashMap::new(),
        values: Vec::new(),
        path: Vec::new(),
    };
    for (user_id, user) in desired.users.iter_mut() {
        user.group = None;
        if !user.values.active {
            continue;
        }
        if let Some(employee) = index.employees.of(user_id.as_str()).first() {
            let defaults = index.defaults.of(user_id.as_str());
            user.group = builder.place(user_id, employee, defaults);
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
    /// Every segment made so far; paths name them by place.
    segments: Vec<Segment>,
    /// (level, account) -> its segment.
    accounts: HashMap<(usize, *const SourceAccount), SegmentId>,
    /// (level, field value) -> its segment.
    fields: HashMap<(usize, String), SegmentId>,
    /// Company id -> where its users' paths start.
    places: HashMap<&'a str, Rc<CompanyPlace<'s, 'a>>>,
    /// Each path already placed -> its last group: a path seen again makes no group and no
    /// finding, so it is looked up, not walked. A path is its company's number (see
    /// [`CompanyPlace`]), then its segments.
    paths: HashMap<Box<[u32]>, ExternalId>,
    /// The user's value in each level, and the user's path: kept to be reused for the next.
    values: Vec<Option<SegmentId>>,
    path: Vec<u32>,
}

/// Where the paths of a company's users start.
struct CompanyPlace<'s, 'a> {
    /// Tells the company's paths apart from others' in [`Builder::paths`].
    number: u32,
    /// The company number (or id) that starts every group id.
    key: String,
    /// The company's own group, when the tree starts with companies.
    top: Option<SegmentId>,
    /// The company's dimension of each level (None for a field, or a dimension it lacks).
    dimensions: Vec<Option<&'s Dimension<'a>>>,
}

impl<'s, 'a> Builder<'s, 'a> {
    /// The user's path: makes every group on it and returns the external id of the last.
    fn place(
        &mut self,
        user_id: &str,
        employee: &'a SourceEmployee,
        defaults: &[&'a SourceDefaultAccount],
    ) -> Option<ExternalId> {
        let company_id = employee.company_id.trim();
        let company = self.company(company_id);
        let mut values = std::mem::take(&mut self.values);
        values.clear();
        for (at, level) in self.settings.levels.iter().enumerate() {
            values.push(self.value(user_id, employee, defaults, &company, at, level));
        }
        let mut path = std::mem::take(&mut self.path);
        path.clear();
        path.push(company.number);
        path.extend(company.top);
        self.extend_path(user_id, &values, &mut path);
        let placed = self.place_path(user_id, &company, &values, &path);
        self.values = values;
        self.path = path;
        placed
    }

    /// The start of every path in the company with this (trimmed) id, made on first use.
    fn company(&mut self, company_id: &'a str) -> Rc<CompanyPlace<'s, 'a>> {
        if let Some(place) = self.places.get(company_id) {
            return place.clone();
        }
        let company = self.index.companies.get(company_id).copied();
        let key = company
            .and_then(|c| c.number)
            .map_or_else(|| company_id.to_string(), |n| n.to_string());
        let top = self.settings.company_top.then(|| {
            let label =
                words(company.and_then(|c| c.name.as_deref())).unwrap_or_else(|| key.clone());
            self.segment(COMPANY_TAG.to_string(), key.clone(), label)
        });
        let levels = self.settings.levels.iter();
        let dimensions = levels
            .map(|level| match level {
                GroupLevel::Field(_) => None,
                GroupLevel::Dimension(name) => self.dimension(company_id, name),
            })
            .collect();
        let place = Rc::new(CompanyPlace {
            number: self.places.len() as u32,
            key,
            top,
            dimensions,
        });
        self.places.insert(company_id, place.clone());
        place
    }

    fn segment(&mut self, tag: String, key: String, label: String) -> SegmentId {
        self.segments.push(Segment { tag, key, label });
        (self.segments.len() - 1) as SegmentId
    }

    /// Makes the groups of `path` (the company's number, then segments) that do not exist yet,
    /// and returns the last one's external id.
    fn place_path(
        &mut self,
        user_id: &str,
        company: &CompanyPlace<'s, 'a>,
        values: &[Option<SegmentId>],
        path: &[u32],
    ) -> Option<ExternalId> {
        let ids = &path[1..];
        if ids.is_empty() {
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
        if let Some(known) = self.paths.get(path) {
            return Some(known.clone());
        }
        let segments: Vec<&Segment> = ids.iter().map(|id| &self.segments[*id as usize]).collect();
        let mut parent: Option<ExternalId> = None;
        for end in 1..=segments.len() {
            let prefix = &segments[..end];
            let id = external_id(&company.key, prefix, self.settings.naming);
            let origin = key_path(&company.key, prefix);
            match self.origins.get(&id) {
                None => {
                    self.origins.insert(id.clone(), origin);
                    let labels: Vec<String> = prefix.iter().map(|s| s.label.clone()).collect();
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
                        let level = prefix.last().map_or("", |s| &s.tag);
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
            self.paths.insert(path.into(), last.clone());
        }
        parent
    }

    /// Adds the levels that make the user's path, by the gap rule; gaps are reported.
    fn extend_path(&mut self, user_id: &str, values: &[Option<SegmentId>], path: &mut Vec<u32>) {
        let Some(lowest) = values.iter().rposition(Option::is_some) else {
            return;
        };
        let placed_from = path.len();
        match self.settings.gap {
            GapRule::StopAtFirstEmpty => path.extend(values.iter().map_while(|v| *v)),
            GapRule::Skip => path.extend(values.iter().flatten()),
        }
        let gaps: Vec<&str> = values[..lowest]
            .iter()
            .zip(&self.settings.levels)
            .filter(|(value, _)| value.is_none())
            .map(|(_, level)| level.name())
            .collect();
        if !gaps.is_empty() {
            let labels: Vec<&str> = path[placed_from..]
                .iter()
                .map(|id| self.segments[*id as usize].label.as_str())
                .collect();
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
        defaults: &[&SourceDefaultAccount],
        company: &CompanyPlace<'s, 'a>,
        at: usize,
        level: &GroupLevel,
    ) -> Option<SegmentId> {
        match level {
            GroupLevel::Field(name) => {
                let text = words(employee.fields.get(name).map(String::as_str))?;
                let key = (at, text);
                if let Some(id) = self.fields.get(&key) {
                    return Some(*id);
                }
                let (at, text) = key;
                let id = self.segment(normalise(name), normalise(&text), text.clone());
                self.fields.insert((at, text), id);
                Some(id)
            }
            GroupLevel::Dimension(name) => {
                let dimension = company.dimensions[at]?;
                self.account(user_id, defaults, dimension, at, name)
            }
        }
    }

    /// The company's dimension called `name`; a company without one is reported once.
    fn dimension(&mut self, company_id: &'a str, name: &str) -> Option<&'s Dimension<'a>> {
        let found = self.index.dimensions.get(&(company_id, normalise(name)));
        if found.is_none()
            && self
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
        found
    }

    /// The user's default account on the day in `indexed`, the company's dimension called
    /// `name`.
    fn account(
        &mut self,
        user_id: &str,
        defaults: &[&SourceDefaultAccount],
        indexed: &Dimension<'a>,
        at: usize,
        name: &str,
    ) -> Option<SegmentId> {
        let dimension = indexed.dimension;
        let dimension_id = dimension.id.trim();
        // Of the default accounts that cover the day, the one that started last (the last
        // listed of those that started the same day).
        let mut current: Option<(Option<Date>, &SourceDefaultAccount)> = None;
        for default in defaults
            .iter()
            .filter(|d| d.dimension_id.trim() == dimension_id)
        {
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
        if let Some(id) = self.accounts.get(&(at, account as *const SourceAccount)) {
            return Some(*id);
        }
        let code = account.code.trim();
        let key = if code.is_empty() {
            account.id.trim()
        } else {
            code
        };
        let label = words(account.name.as_deref()).unwrap_or_else(|| nfc(key));
        let id = self.segment(normalise(name), normalise(key), label);
        self.accounts
            .insert((at, account as *const SourceAccount), id);
        Some(id)
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
fn key_path(company: &str, segments: &[&Segment]) -> String {
    let mut parts = vec![company.to_string()];
    parts.extend(
        segments
            .iter()
            .filter(|s| s.tag != COMPANY_TAG)
            .map(|s| format!("{}={}", s.tag, s.key)),
    );
    parts.join("/")
}
