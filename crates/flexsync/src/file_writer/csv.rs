//! Pure rendering of the desired state into Winningtemp's CSV files, and reading them back to
//! say what changed since the last delivery. The `csv` crate does the quoting and the reading.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use serde::Deserialize;

use flexsync_core::desired::{Desired, DesiredUser, Skipped};
use flexsync_core::ids::ExternalId;

use super::FileError;

/// The users file's name.
pub const USERS_FILE: &str = "wt_users.csv";
/// The groups file's name.
pub const GROUPS_FILE: &str = "wt_groups.csv";
/// The segments file's name (delivered when segments are configured and some user has one).
pub const SEGMENTS_FILE: &str = "wt_segments.csv";

/// The field separator.
pub const SEPARATOR: char = ';';
/// [`SEPARATOR`] as the byte the `csv` crate takes.
const SEPARATOR_BYTE: u8 = b';';
/// Separates several external ids inside one field (a group's managers).
pub const LIST_SEPARATOR: char = ',';

/// The column names of both files; configurable, every field has a default.
///
/// Defaults, in file order:
/// - users (`wt_users.csv`):
///   `ExternalId;Username;Email;FirstName;LastName;Gender;Birthday;ManagerExternalId;ExcludeFromSurveys;EmploymentStartDate;EmploymentEndDate;Active;GroupExternalId`
/// - groups (`wt_groups.csv`): `ExternalId;Name;ParentExternalId;ManagerExternalIds`
///
/// Format: UTF-8 without BOM, `;` between fields, a header row, lines end in LF (`\n`, also
/// after the last line). A field is quoted with `"` when it holds `;`, `"`, CR or LF, and an
/// inner `"` is doubled. Control characters other than tab, CR and LF are removed, and a field
/// beginning with `=`, `+`, `-`, `@`, tab or CR gets a leading `'` (see [`Cells`]). Gender is `None`, `Male`, `Female` or `NonBinary`; dates are
/// `YYYY-MM-DD`; booleans are `true`/`false`; a value that is not mapped is an empty field.
/// A group's managers are its managers' external ids joined with `,`. Configured values follow
/// the fixed user columns, sorted by name: one column per `[[mapping.values]]` entry with a
/// `column` target and one per `[[mapping.extra]]` entry (named after its attribute); then one
/// column per `[[segments]]` category (by category) holding the user's segment external id.
/// `wt_segments.csv` lists the segments: `ExternalId;Category;Name`.
/// Rows are sorted by external id; paused users are included with `Active` = `false`, and so are
/// people delivered before who have since left the scope (see [`CarriedRows`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileColumns {
    pub users: UserColumns,
    pub groups: GroupColumns,
    pub segments: SegmentColumns,
}

/// Column names of `wt_segments.csv`: `ExternalId;Category;Name` by default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SegmentColumns {
    pub external_id: String,
    pub category: String,
    pub name: String,
}

impl Default for SegmentColumns {
    fn default() -> Self {
        SegmentColumns {
            external_id: "ExternalId".into(),
            category: "Category".into(),
            name: "Name".into(),
        }
    }
}

/// Column names of `wt_users.csv`. See [`FileColumns`] for the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserColumns {
    pub external_id: String,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub gender: String,
    pub birthday: String,
    pub manager_external_id: String,
    pub exclude_from_surveys: String,
    pub employment_start_date: String,
    pub employment_end_date: String,
    pub active: String,
    pub group_external_id: String,
}

impl Default for UserColumns {
    fn default() -> Self {
        UserColumns {
            external_id: "ExternalId".into(),
            username: "Username".into(),
            email: "Email".into(),
            first_name: "FirstName".into(),
            last_name: "LastName".into(),
            gender: "Gender".into(),
            birthday: "Birthday".into(),
            manager_external_id: "ManagerExternalId".into(),
            exclude_from_surveys: "ExcludeFromSurveys".into(),
            employment_start_date: "EmploymentStartDate".into(),
            employment_end_date: "EmploymentEndDate".into(),
            active: "Active".into(),
            group_external_id: "GroupExternalId".into(),
        }
    }
}

impl UserColumns {
    /// The fixed columns' names, in file order.
    pub fn names(&self) -> [&str; 13] {
        [
            &self.external_id,
            &self.username,
            &self.email,
            &self.first_name,
            &self.last_name,
            &self.gender,
            &self.birthday,
            &self.manager_external_id,
            &self.exclude_from_surveys,
            &self.employment_start_date,
            &self.employment_end_date,
            &self.active,
            &self.group_external_id,
        ]
    }
}

/// Column names of `wt_groups.csv`. See [`FileColumns`] for the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupColumns {
    pub external_id: String,
    pub name: String,
    pub parent_external_id: String,
    pub manager_external_ids: String,
}

impl Default for GroupColumns {
    fn default() -> Self {
        GroupColumns {
            external_id: "ExternalId".into(),
            name: "Name".into(),
            parent_external_id: "ParentExternalId".into(),
            manager_external_ids: "ManagerExternalIds".into(),
        }
    }
}

impl GroupColumns {
    fn names(&self) -> [&str; 4] {
        [
            &self.external_id,
            &self.name,
            &self.parent_external_id,
            &self.manager_external_ids,
        ]
    }
}

impl FileColumns {
    /// Checks that every column name is non-blank and unique within its file.
    pub fn validate(&self) -> Result<(), FileError> {
        check_names("users", &self.users.names())?;
        check_names("groups", &self.groups.names())?;
        let segments = &self.segments;
        check_names(
            "segments",
            &[&segments.external_id, &segments.category, &segments.name],
        )
    }
}

fn check_names(file: &str, names: &[&str]) -> Result<(), FileError> {
    let mut seen = BTreeSet::new();
    for name in names {
        if name.trim().is_empty() {
            return Err(FileError::Columns(format!(
                "{file}: a column name is blank"
            )));
        }
        if !seen.insert(*name) {
            return Err(FileError::Columns(format!(
                "{file}: the column name {name:?} is used twice"
            )));
        }
    }
    Ok(())
}

/// How cells are written. Control characters other than tab, CR and LF are always removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cells {
    /// A cell beginning with `=`, `+`, `-`, `@`, tab or CR gets a leading `'`, so that a
    /// spreadsheet opening the file shows it as text rather than running it as a formula
    /// (OWASP's advice against CSV injection).
    #[default]
    Neutralised,
    /// Values as they are, for a reader that must get them unchanged (`[files] raw_values`).
    Raw,
}

impl Cells {
    fn cell(self, text: &str) -> String {
        let clean: String = text
            .chars()
            .filter(|c| !c.is_control() || matches!(c, '\t' | '\r' | '\n'))
            .collect();
        let formula = clean.starts_with(['=', '+', '-', '@', '\t', '\r']);
        if self == Cells::Neutralised && formula {
            format!("'{clean}")
        } else {
            clean
        }
    }
}

/// Both files, `(name, content)`, users first.
pub fn render_files(
    desired: &Desired,
    columns: &FileColumns,
    cells: Cells,
    carried: &CarriedRows,
) -> Vec<(String, String)> {
    let mut files = vec![
        (
            USERS_FILE.to_string(),
            render_users_with(desired, columns, cells, carried),
        ),
        (
            GROUPS_FILE.to_string(),
            render_groups_with(desired, columns, cells),
        ),
    ];
    if !desired.segments.is_empty() {
        files.push((
            SEGMENTS_FILE.to_string(),
            render_segments(desired, columns, cells),
        ));
    }
    files
}

/// `wt_segments.csv`: a header row, then one row per segment value, sorted by external id.
pub fn render_segments(desired: &Desired, columns: &FileColumns, cells: Cells) -> String {
    let c = &columns.segments;
    let header = vec![c.external_id.clone(), c.category.clone(), c.name.clone()];
    let rows = desired.segments.values().map(|segment| {
        vec![
            segment.external_id.to_string(),
            segment.category.clone(),
            segment.name.clone(),
        ]
    });
    write_rows(std::iter::once(header).chain(rows), cells)
}

/// [`render_users_with`] with neutralised cells.
pub fn render_users(desired: &Desired, columns: &FileColumns) -> String {
    render_users_with(
        desired,
        columns,
        Cells::Neutralised,
        &CarriedRows::default(),
    )
}

/// [`render_groups_with`] with neutralised cells.
pub fn render_groups(desired: &Desired, columns: &FileColumns) -> String {
    render_groups_with(desired, columns, Cells::Neutralised)
}

/// `wt_users.csv`: a header row, then one row per desired user (paused ones included), and the
/// [`CarriedRows`] of the last delivery, sorted by external id.
pub fn render_users_with(
    desired: &Desired,
    columns: &FileColumns,
    cells: Cells,
    carried: &CarriedRows,
) -> String {
    let mut header: Vec<String> = columns
        .users
        .names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let configured: BTreeSet<&str> = desired
        .users
        .values()
        .flat_map(|user| user.values.columns.keys().map(String::as_str))
        .collect();
    // One column per segment category, named by its configured column.
    let categories: BTreeMap<&str, &str> = desired
        .segments
        .values()
        .map(|s| (s.category.as_str(), s.column.as_str()))
        .collect();
    header.extend(configured.iter().map(|name| name.to_string()));
    header.extend(categories.values().map(|column| column.to_string()));

    let mut rows: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for user in desired.users.values() {
        let mut row = user_row(user);
        row.extend(
            configured
                .iter()
                .map(|name| user.values.columns.get(*name).cloned().unwrap_or_default()),
        );
        row.extend(categories.keys().map(|category| {
            let segment = user.values.segments.get(*category);
            segment
                .map(|s| s.external_id.to_string())
                .unwrap_or_default()
        }));
        rows.insert(user.external_id.to_string(), row);
    }
    for (external_id, values) in &carried.0 {
        let row = header
            .iter()
            .map(|name| values.get(name).cloned().unwrap_or_default())
            .collect();
        rows.entry(external_id.clone()).or_insert(row);
    }
    write_rows(std::iter::once(header).chain(rows.into_values()), cells)
}

/// Rows of the last delivered users file that the new one carries on for people who are not
/// desired users, so that the file treats them as the SCIM channel treats their accounts instead
/// of dropping them: a record held back for a finding keeps its row as it was delivered, and one
/// left out by the scoping rules or no longer employed keeps it with `Active` false and no group
/// (as a paused account leaves its groups). A group or segment the new files no longer hold is
/// never pointed at. Keyed by external id, each row by header name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CarriedRows(BTreeMap<String, BTreeMap<String, String>>);

impl CarriedRows {
    /// The rows of `previous` (the last delivered users file) to carry into the next delivery.
    pub fn from_last(previous: Option<&str>, desired: &Desired, columns: &UserColumns) -> Self {
        let Some(previous) = previous else {
            return CarriedRows::default();
        };
        let mut carried = BTreeMap::new();
        for (external_id, mut row) in keyed_rows(previous) {
            let id = ExternalId::from(external_id.as_str());
            if desired.users.contains_key(&id) {
                continue;
            }
            let paused = match desired.skipped.get(&id) {
                Some(Skipped::Employed) => false,
                Some(Skipped::NotEmployed) => true,
                None if desired.out_of_scope.contains_key(&id) => true,
                None => continue,
            };
            if paused {
                row.insert(columns.active.clone(), boolean(false));
                row.remove(&columns.group_external_id);
            }
            let group = row.get(&columns.group_external_id).map(String::as_str);
            if group.is_some_and(|group| !desired.groups.contains_key(group)) {
                row.remove(&columns.group_external_id);
            }
            for segment_column in desired.segments.values().map(|s| &s.column) {
                let value = row.get(segment_column).map(String::as_str);
                if value.is_some_and(|value| !desired.segments.contains_key(value)) {
                    row.remove(segment_column);
                }
            }
            carried.insert(external_id, row);
        }
        CarriedRows(carried)
    }
}

fn user_row(user: &DesiredUser) -> Vec<String> {
    let v = &user.values;
    vec![
        user.external_id.to_string(),
        v.user_name.clone(),
        v.email.clone().unwrap_or_default(),
        v.given_name.clone(),
        v.family_name.clone(),
        v.gender.map(|g| g.as_str().to_string()).unwrap_or_default(),
        date(v.birth_date),
        user.manager_external_id
            .clone()
            .map(String::from)
            .unwrap_or_default(),
        v.exclude_from_surveys.map(boolean).unwrap_or_default(),
        date(v.employment_start),
        date(v.employment_end),
        boolean(v.active),
        user.group.clone().map(String::from).unwrap_or_default(),
    ]
}

/// `wt_groups.csv`: a header row, then one row per group, sorted by external id.
pub fn render_groups_with(desired: &Desired, columns: &FileColumns, cells: Cells) -> String {
    let header: Vec<String> = columns
        .groups
        .names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let rows = desired.groups.values().map(|group| {
        let managers: BTreeSet<&str> = group.managers.iter().map(|m| m.as_str()).collect();
        let managers: Vec<&str> = managers.into_iter().collect();
        vec![
            group.external_id.to_string(),
            group.display_name.clone(),
            group
                .parent_external_id
                .clone()
                .map(String::from)
                .unwrap_or_default(),
            managers.join(&LIST_SEPARATOR.to_string()),
        ]
    });
    write_rows(std::iter::once(header).chain(rows), cells)
}

fn date(value: Option<Date>) -> String {
    value.map(|d| d.to_string()).unwrap_or_default()
}

fn boolean(value: bool) -> String {
    if value { "true" } else { "false" }.to_string()
}

/// Rows as text in the format [`FileColumns`] describes: `;` between fields, a field quoted
/// only when it holds `;`, `"`, CR or LF (an inner `"` doubled), every line ending in LF.
///
/// The `csv` writer fails only when its sink does (a `Vec` never does) or on rows of unequal
/// length (allowed here with `flexible`), so no error is expected. Should one happen all the
/// same, it is logged and the text is empty: the file channel's pause guard then refuses to
/// deliver a users file that lost its users.
fn write_rows(rows: impl IntoIterator<Item = Vec<String>>, cells: Cells) -> String {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(SEPARATOR_BYTE)
        .terminator(csv::Terminator::Any(b'\n'))
        .quote_style(csv::QuoteStyle::Necessary)
        .flexible(true)
        .from_writer(Vec::new());
    let written = rows
        .into_iter()
        .try_for_each(|row| writer.write_record(row.iter().map(|c| cells.cell(c))))
        .map_err(|e| e.to_string())
        .and_then(|()| writer.into_inner().map_err(|e| e.error().to_string()));
    match written {
        // The fields are `String`s and the writer only adds ASCII: the bytes are UTF-8.
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(error) => {
            tracing::error!(%error, "could not render a CSV file");
            String::new()
        }
    }
}

/// What changed between two deliveries of one file, by external id (each sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FileDiff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

impl FileDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// Compares the last delivered content of a file with the new one. Rows are keyed by their
/// first field (the external id in both files); a row is "changed" when any field differs,
/// compared column by column under the header names so that reordered columns do not count.
/// With no previous delivery every row is added.
pub fn diff_delivery(previous: Option<&str>, current: &str) -> FileDiff {
    let before = previous.map(keyed_rows).unwrap_or_default();
    let after = keyed_rows(current);
    let mut diff = FileDiff::default();
    for (id, row) in &after {
        match before.get(id) {
            None => diff.added.push(id.clone()),
            Some(old) if old != row => diff.changed.push(id.clone()),
            Some(_) => {}
        }
    }
    diff.removed = before
        .keys()
        .filter(|id| !after.contains_key(*id))
        .cloned()
        .collect();
    diff
}

/// Users the new users file pauses, against the last delivery: rows that were active and are
/// now inactive or gone. `active_before` counts the active rows delivered last time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilePauses {
    pub paused: Vec<String>,
    pub active_before: usize,
}

/// Compares the `active_column` of two deliveries of the users file (see [`FilePauses`]).
pub fn file_pauses(previous: Option<&str>, current: &str, active_column: &str) -> FilePauses {
    let before = previous.map(keyed_rows).unwrap_or_default();
    let after = keyed_rows(current);
    let active = |row: &BTreeMap<String, String>| {
        row.get(active_column)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    };
    let mut pauses = FilePauses::default();
    for (id, row) in &before {
        if !active(row) {
            continue;
        }
        pauses.active_before += 1;
        if !after.get(id).is_some_and(active) {
            pauses.paused.push(id.clone());
        }
    }
    pauses
}

/// Rows by first field, each as header name -> value (empty values left out, so a column
/// added with nothing in it is no change).
pub(super) fn keyed_rows(content: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut rows = parse(content).into_iter();
    let header = rows.next().unwrap_or_default();
    let mut keyed = BTreeMap::new();
    for row in rows {
        let Some(id) = row.first().filter(|id| !id.is_empty()) else {
            continue;
        };
        let values = header
            .iter()
            .zip(row.iter())
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        keyed.insert(id.clone(), values);
    }
    keyed
}

/// Reads `;`-separated rows with the quoting [`render_users`] writes; accepts LF or CRLF and
/// skips blank lines. Rows may differ in length. Reading stops at the first row that cannot be
/// read, which from a `&str` (valid UTF-8, nothing to fail on I/O) does not happen.
pub fn parse(content: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .delimiter(SEPARATOR_BYTE)
        .has_headers(false)
        .flexible(true)
        .from_reader(content.as_bytes())
        .into_records()
        .map_while(Result::ok)
        .map(|record| record.iter().map(str::to_string).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_are_active_rows_that_turn_inactive_or_vanish() {
        let before = "Id;Active\na;true\nb;true\nc;false\nd;true\n";
        let after = "Id;Active\na;true\nb;false\nc;false\n";
        let pauses = file_pauses(Some(before), after, "Active");
        assert_eq!(pauses.paused, ["b", "d"]);
        assert_eq!(pauses.active_before, 3);
        assert_eq!(file_pauses(None, after, "Active"), FilePauses::default());
    }
    use flexsync_core::desired::{DesiredGroup, Gender, ScopedOut, UserValues};

    fn user(id: &str, first: &str, last: &str, email: &str) -> DesiredUser {
        DesiredUser {
            external_id: id.into(),
            values: UserValues {
                user_name: email.into(),
                email: Some(email.into()),
                given_name: first.into(),
                family_name: last.into(),
                active: true,
                ..UserValues::default()
            },
            manager_external_id: None,
            manager_depth: 0,
            group: None,
        }
    }

    fn group(id: &str, name: &str, parent: Option<&str>, managers: &[&str]) -> DesiredGroup {
        DesiredGroup {
            external_id: id.into(),
            display_name: name.into(),
            path: vec![name.into()],
            parent_external_id: parent.map(ExternalId::from),
            members: Vec::new(),
            managers: managers.iter().map(|m| ExternalId::from(*m)).collect(),
        }
    }

    /// A small organisation: Swedish letters, a `;` and a quote in names, a paused leaver, an
    /// external consultant, unmapped values, one extra mapping.
    fn organisation() -> Desired {
        let mut asa = user("1001", "Åsa", "Öberg", "asa.oberg@example.se");
        asa.values.gender = Some(Gender::Female);
        asa.values.birth_date = Some(jiff::civil::date(1980, 2, 29));
        asa.values.exclude_from_surveys = Some(false);
        asa.values.employment_start = Some(jiff::civil::date(2015, 8, 1));
        asa.group = Some("se/sthlm".into());
        asa.values
            .columns
            .insert("costCenter".into(), "K;100".into());

        let mut erik = user(
            "1002",
            "Erik \"Kalle\"",
            "Lind;qvist",
            "erik.lindqvist@example.se",
        );
        erik.values.gender = Some(Gender::Male);
        erik.values.exclude_from_surveys = Some(false);
        erik.manager_external_id = Some("1001".into());
        erik.manager_depth = 1;
        erik.group = Some("se/sthlm/ekonomi".into());

        let mut leaver = user("1003", "Göran", "Ärlig", "goran.arlig@example.se");
        leaver.values.gender = Some(Gender::None);
        leaver.values.employment_start = Some(jiff::civil::date(2010, 1, 4));
        leaver.values.employment_end = Some(jiff::civil::date(2024, 12, 31));
        leaver.values.active = false;
        leaver.manager_external_id = Some("1001".into());
        leaver.group = Some("se/sthlm/ekonomi".into());

        let mut consultant = user("0999", "Kim", "Nonbinär", "kim.konsult@example.se");
        consultant.values.gender = Some(Gender::NonBinary);
        consultant.values.exclude_from_surveys = Some(true);
        consultant.values.email = None;
        consultant.group = Some("se/gbg/ekonomi".into());

        let mut desired = Desired::default();
        for u in [asa, erik, leaver, consultant] {
            desired.users.insert(u.external_id.clone(), Box::new(u));
        }
        for g in [
            group("se/sthlm", "Stockholm", None, &["1001"]),
            group(
                "se/sthlm/ekonomi",
                "Ekonomi; \"Löner\"",
                Some("se/sthlm"),
                &["1001", "1001"],
            ),
            group("se/gbg", "Göteborg", None, &[]),
            group(
                "se/gbg/ekonomi",
                "Ekonomi",
                Some("se/gbg"),
                &["1002", "1001"],
            ),
        ] {
            desired.groups.insert(g.external_id.clone(), g);
        }
        desired
    }

    #[test]
    fn people_out_of_scope_or_held_keep_their_delivered_rows() {
        let previous = "ExternalId;Username;Active;Region;GroupExternalId\n\
                        1001;asa;true;Nord;se/sthlm\n\
                        2001;scoped.out;true;Syd;se/gbg\n\
                        2002;held;true;Väst;se/sthlm/ekonomi\n\
                        2003;held.leaver;true;;se/gbg\n\
                        2004;gone;true;Öst;se/gbg\n\
                        2005;held.moved;true;;se/retired\n";
        let mut desired = organisation();
        desired
            .out_of_scope
            .insert("2001".into(), ScopedOut::default());
        desired.skipped.insert("2002".into(), Skipped::Employed);
        desired.skipped.insert("2003".into(), Skipped::NotEmployed);
        desired.skipped.insert("2005".into(), Skipped::Employed);
        let columns = UserColumns::default();
        let carried = CarriedRows::from_last(Some(previous), &desired, &columns);
        let users = render_users_with(
            &desired,
            &FileColumns::default(),
            Cells::Neutralised,
            &carried,
        );
        let rows = keyed_rows(&users);
        let active = |id: &str| rows[id].get("Active").map(String::as_str);
        assert_eq!(active("2001"), Some("false"), "out of scope: paused");
        assert_eq!(rows["2001"]["Username"], "scoped.out");
        assert_eq!(active("2002"), Some("true"), "held: kept as delivered");
        assert_eq!(
            active("2003"),
            Some("false"),
            "held and not employed: paused"
        );
        let group = |id: &str| rows[id].get("GroupExternalId").map(String::as_str);
        assert_eq!(group("2001"), None, "a paused account leaves its groups");
        assert_eq!(group("2003"), None);
        assert_eq!(group("2002"), Some("se/sthlm/ekonomi"), "held: kept");
        assert_eq!(group("2005"), None, "never a group the groups file lacks");
        assert!(!rows.contains_key("2004"), "gone from Flex: not carried");
        assert_eq!(
            rows["1001"]["Username"], "asa.oberg@example.se",
            "desired wins"
        );
        assert!(
            !users.contains("Region"),
            "columns no longer configured are dropped"
        );
        let ids: Vec<&String> = rows.keys().collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert_eq!(
            CarriedRows::from_last(None, &desired, &columns),
            CarriedRows::default()
        );
    }

    #[test]
    fn users_file_golden() {
        insta::assert_snapshot!(render_users(&organisation(), &FileColumns::default()));
    }

    #[test]
    fn groups_file_golden() {
        insta::assert_snapshot!(render_groups(&organisation(), &FileColumns::default()));
    }

    #[test]
    fn configured_column_names_are_the_headers() {
        let mut columns = FileColumns::default();
        columns.users.external_id = "EmployeeId".into();
        columns.groups.name = "Group name".into();
        let users = render_users(&organisation(), &columns);
        let groups = render_groups(&organisation(), &columns);
        assert!(users.starts_with("EmployeeId;Username;"), "{users}");
        assert!(groups.starts_with("ExternalId;Group name;"), "{groups}");
    }

    #[test]
    fn columns_from_toml_keep_defaults_for_what_is_not_named() {
        let columns: FileColumns =
            toml::from_str("[users]\nexternal_id = \"Id\"\n[groups]\nname = \"Namn\"\n").unwrap();
        assert_eq!(columns.users.external_id, "Id");
        assert_eq!(columns.users.username, "Username");
        assert_eq!(columns.groups.name, "Namn");
        assert!(toml::from_str::<FileColumns>("[users]\nnope = \"x\"\n").is_err());
    }

    #[test]
    fn duplicate_or_blank_column_names_are_refused() {
        assert!(FileColumns::default().validate().is_ok());
        let mut columns = FileColumns::default();
        columns.users.email = "Username".into();
        let error = columns.validate().unwrap_err().to_string();
        assert!(
            error.contains("users") && error.contains("Username"),
            "{error}"
        );
        let mut columns = FileColumns::default();
        columns.groups.name = " ".into();
        assert!(
            columns
                .validate()
                .unwrap_err()
                .to_string()
                .contains("groups")
        );
    }

    #[test]
    fn every_rendered_row_reads_back_to_the_same_fields() {
        let desired = organisation();
        let rows = parse(&render_users(&desired, &FileColumns::default()));
        assert_eq!(rows.len(), desired.users.len() + 1);
        assert!(rows.iter().all(|row| row.len() == rows[0].len()));
        let erik = rows.iter().find(|row| row[0] == "1002").unwrap();
        assert_eq!(erik[3], "Erik \"Kalle\"");
        assert_eq!(erik[4], "Lind;qvist");
        let ids: Vec<&str> = rows[1..].iter().map(|row| row[0].as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn line_breaks_in_a_field_are_quoted_and_lines_end_in_lf_without_bom() {
        let mut desired = Desired::default();
        for g in [
            group("a", "two\nlines", None, &[]),
            group("b", "carriage\rreturn", None, &[]),
            group("c", "plain, with comma", None, &["1", "2"]),
        ] {
            desired.groups.insert(g.external_id.clone(), g);
        }
        let text = render_groups(&desired, &FileColumns::default());
        assert_eq!(
            text,
            "ExternalId;Name;ParentExternalId;ManagerExternalIds\n\
             a;\"two\nlines\";;\n\
             b;\"carriage\rreturn\";;\n\
             c;plain, with comma;;1,2\n"
        );
        assert_eq!(parse(&text)[1][1], "two\nlines");
        assert_eq!(parse(&text)[2][1], "carriage\rreturn");
    }

    #[test]
    fn formula_cells_are_neutralised_and_control_characters_removed_unless_raw() {
        let mut desired = Desired::default();
        for g in [
            group("a", "=HYPERLINK(\"http://x\")", None, &[]),
            group("b", "+1", None, &[]),
            group("c", "-2+3", None, &[]),
            group("d", "@SUM(A1)", None, &[]),
            group("e", "\tTab", None, &[]),
            group("f", "Esc\u{1b}[31mred\u{7}", None, &[]),
            group("g", "Plain - name", None, &[]),
        ] {
            desired.groups.insert(g.external_id.clone(), g);
        }
        let names = |text: &str| -> Vec<String> {
            parse(text)
                .into_iter()
                .skip(1)
                .map(|r| r[1].clone())
                .collect()
        };
        let safe = render_groups(&desired, &FileColumns::default());
        assert_eq!(
            names(&safe),
            [
                "'=HYPERLINK(\"http://x\")",
                "'+1",
                "'-2+3",
                "'@SUM(A1)",
                "'\tTab",
                "Esc[31mred",
                "Plain - name"
            ]
        );
        let raw = render_groups_with(&desired, &FileColumns::default(), Cells::Raw);
        assert_eq!(names(&raw)[0], "=HYPERLINK(\"http://x\")");
        assert_eq!(names(&raw)[5], "Esc[31mred");
    }

    #[test]
    fn parse_reads_quoted_newlines_and_crlf() {
        let rows = parse("a;b\r\n\"x\ny\";\"q\"\"\"\r\nlast;");
        assert_eq!(
            rows,
            vec![
                vec!["a".to_string(), "b".into()],
                vec!["x\ny".into(), "q\"".into()],
                vec!["last".into(), "".into()],
            ]
        );
    }

    #[test]
    fn first_delivery_adds_everything() {
        let current = render_users(&organisation(), &FileColumns::default());
        let diff = diff_delivery(None, &current);
        assert_eq!(diff.added, vec!["0999", "1001", "1002", "1003"]);
        assert!(diff.changed.is_empty() && diff.removed.is_empty());
    }

    #[test]
    fn diff_names_added_changed_and_removed_ids() {
        let columns = FileColumns::default();
        let before = organisation();
        let mut after = before.clone();
        after.users.remove("0999");
        if let Some(erik) = after.users.get_mut("1002") {
            erik.values.family_name = "Lindqvist".into();
        }
        let newcomer = user("1004", "Nils", "Ny", "nils.ny@example.se");
        after
            .users
            .insert(newcomer.external_id.clone(), Box::new(newcomer));
        let diff = diff_delivery(
            Some(&render_users(&before, &columns)),
            &render_users(&after, &columns),
        );
        assert_eq!(diff.added, vec!["1004"]);
        assert_eq!(diff.changed, vec!["1002"]);
        assert_eq!(diff.removed, vec!["0999"]);

        let same = render_users(&before, &columns);
        assert!(diff_delivery(Some(&same), &same).is_empty());
    }

    #[test]
    fn diff_of_groups_sees_a_rename_and_a_new_manager() {
        let columns = FileColumns::default();
        let before = organisation();
        let mut after = before.clone();
        if let Some(g) = after.groups.get_mut("se/gbg") {
            g.display_name = "Gothenburg".into();
        }
        if let Some(g) = after.groups.get_mut("se/sthlm") {
            g.managers.push("1002".into());
        }
        let diff = diff_delivery(
            Some(&render_groups(&before, &columns)),
            &render_groups(&after, &columns),
        );
        assert_eq!(diff.changed, vec!["se/gbg", "se/sthlm"]);
        assert!(diff.added.is_empty() && diff.removed.is_empty());
    }

    #[test]
    fn renamed_columns_change_the_rows_that_have_a_value_there() {
        let desired = organisation();
        let default = render_users(&desired, &FileColumns::default());
        let mut renamed = FileColumns::default();
        renamed.users.email = "Mail".into();
        let diff = diff_delivery(Some(&default), &render_users(&desired, &renamed));
        // Rows with an email changed column name; the consultant has none.
        assert_eq!(diff.changed, vec!["1001", "1002", "1003"]);
    }
}
