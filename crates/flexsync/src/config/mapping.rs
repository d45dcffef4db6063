//! `[mapping]` and `[scope]`: employment types left out, starters' lead time, extra attributes,
//! configured values with their sources and transforms, and the scoping rules.

use anyhow::{Result, anyhow, bail};
use toml::{Table, Value};

use flexsync_core::map::value::{check_date_format, check_pattern};
use flexsync_core::mapping::{
    AccountPart, BuiltIn, ExtraMapping, MappingSettings, PersonKey, Prefer, SamePerson, Scope,
    ScopeRule, ScopeTest, SegmentSource, Source, Transform, ValueMapping,
};

use super::raw::{RawCompanies, RawMapping, RawScope};

/// The longest lead time for starters: a year, and a day for leap years.
const MAX_LEAD_DAYS: u32 = 366;

pub(super) fn mapping_settings(raw: RawMapping, scope: RawScope) -> Result<MappingSettings> {
    let mut mapping = MappingSettings::default();
    if let Some(types) = raw.exclude_employment_types {
        mapping.exclude_employment_types = types;
    }
    mapping.starter_lead_days = raw.starter_lead_days.unwrap_or(0);
    if mapping.starter_lead_days > MAX_LEAD_DAYS {
        bail!(
            "mapping.starter_lead_days: {} is more than {MAX_LEAD_DAYS} days",
            mapping.starter_lead_days
        );
    }
    for extra in &raw.extra {
        if !is_extension_attribute(&extra.attribute) {
            bail!(
                "mapping.extra: {:?} must be an extension attribute with its schema, e.g. \
                 urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                extra.attribute
            );
        }
    }
    mapping.extra = raw
        .extra
        .into_iter()
        .map(|e| ExtraMapping {
            source_field: e.field,
            target_attribute: e.attribute,
        })
        .collect();
    for (index, table) in raw.values.iter().enumerate() {
        let key = format!("mapping.values[{}]", index + 1);
        let value = value_mapping(&key, table).map_err(|e| anyhow!("{key}: {e}"))?;
        if let Some(builtin) = value.builtin
            && mapping.overrides(builtin)
        {
            bail!("{key}: builtin {:?} is mapped twice", builtin.name());
        }
        mapping.values.push(value);
    }
    mapping.scope = Scope {
        include: rules("scope.include", &scope.include)?,
        exclude: rules("scope.exclude", &scope.exclude)?,
    };
    Ok(mapping)
}

/// `[companies]`: which records are one person, and which of them is synced.
pub(super) fn same_person(raw: &RawCompanies) -> Result<SamePerson> {
    let mut people = SamePerson::default();
    if let Some(keys) = &raw.same_person {
        people.match_by = keys
            .iter()
            .map(|key| match key.trim() {
                "email" => Ok(PersonKey::Email),
                "employment_number" => Ok(PersonKey::EmploymentNumber),
                other => bail!(
                    "companies.same_person: {other:?} is not \"email\" or \"employment_number\""
                ),
            })
            .collect::<Result<_>>()?;
        if !people.match_by.contains(&PersonKey::Email) {
            people.match_by.insert(0, PersonKey::Email);
        }
    }
    people.prefer = match &raw.prefer {
        None => Prefer::CurrentEmployment,
        Some(Value::String(rule)) if rule == "current_employment" => Prefer::CurrentEmployment,
        Some(Value::Array(items)) if !items.is_empty() => Prefer::Companies(
            items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.trim().to_string()),
                    Value::Integer(n) => Ok(n.to_string()),
                    _ => bail!("companies.prefer: list company numbers, names or ids"),
                })
                .collect::<Result<_>>()?,
        ),
        Some(_) => bail!(
            "companies.prefer: give \"current_employment\" or a list of companies, e.g. [1010, 2020]"
        ),
    };
    Ok(people)
}

const SOURCE_KEYS: [&str; 6] = [
    "field",
    "dimension",
    "part",
    "period",
    "constant",
    "company",
];

/// The users-file columns of `[[mapping.values]]` and `[[segments]]` must not repeat each other
/// or a fixed column.
pub(super) fn check_columns(mapping: &MappingSettings, fixed: &[&str]) -> Result<()> {
    let mut seen: Vec<(&str, String)> = fixed
        .iter()
        .map(|name| (*name, "files.columns.users".to_string()))
        .collect();
    let values = mapping
        .values
        .iter()
        .filter_map(|v| Some((v.column.as_deref()?, v.key.clone())));
    let segments = mapping
        .segments
        .iter()
        .map(|s| (s.column.as_str(), s.key.clone()));
    for (column, key) in values.chain(segments) {
        if let Some((_, first)) = seen
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(column))
        {
            bail!("{key}: the wt_users.csv column {column:?} is already used by {first}");
        }
        seen.push((column, key));
    }
    Ok(())
}

/// `[[segments]]`: a category name, a source, transforms, and the users-file column.
pub(super) fn segments(tables: &[Table]) -> Result<Vec<SegmentSource>> {
    let mut segments: Vec<SegmentSource> = Vec::new();
    for (index, table) in tables.iter().enumerate() {
        let key = format!("segments[{}]", index + 1);
        let segment = segment(&key, table).map_err(|e| anyhow!("{key}: {e}"))?;
        if segments
            .iter()
            .any(|s| s.category.eq_ignore_ascii_case(&segment.category))
        {
            bail!("{key}: the category {:?} is named twice", segment.category);
        }
        segments.push(segment);
    }
    Ok(segments)
}

fn segment(key: &str, table: &Table) -> Result<SegmentSource> {
    refuse_unknown(
        table,
        &[&SOURCE_KEYS[..], &["name", "transforms", "column"]].concat(),
    )?;
    let category = text(table, "name")?
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| anyhow!("give the category a name, e.g. name = \"Ort\""))?;
    let column = match text(table, "column")? {
        Some(column) if column.trim().is_empty() => bail!("column must not be blank"),
        Some(column) => column.trim().to_string(),
        None => category.clone(),
    };
    Ok(SegmentSource {
        key: key.to_string(),
        source: source(table)?,
        transforms: transforms(table)?,
        category,
        column,
    })
}

fn transforms(table: &Table) -> Result<Vec<Transform>> {
    match table.get("transforms") {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| transform(item).map_err(|e| anyhow!("transforms[{}]: {e}", i + 1)))
            .collect(),
        Some(_) => bail!("transforms must be a list, e.g. [\"trim\", {{ date = \"%Y\" }}]"),
    }
}

fn value_mapping(key: &str, table: &Table) -> Result<ValueMapping> {
    const KEYS: [&str; 4] = ["transforms", "attribute", "column", "builtin"];
    refuse_unknown(table, &[&SOURCE_KEYS[..], &KEYS[..]].concat())?;
    let source = source(table)?;
    let transforms = transforms(table)?;
    let attribute = text(table, "attribute")?;
    if let Some(attribute) = &attribute
        && !is_extension_attribute(attribute)
    {
        bail!(
            "attribute {attribute:?} must be an extension attribute with its schema, e.g. \
             urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department (core \
             attributes are the built-ins: use builtin = \"...\")"
        );
    }
    let column = text(table, "column")?;
    if column.as_deref().is_some_and(|c| c.trim().is_empty()) {
        bail!("column must not be blank");
    }
    let builtin = match text(table, "builtin")? {
        None => None,
        Some(name) => Some(BuiltIn::parse(&name).ok_or_else(|| {
            let known: Vec<&str> = BuiltIn::ALL.iter().map(|b| b.name()).collect();
            anyhow!("builtin {name:?} is not one of {}", known.join(", "))
        })?),
    };
    if attribute.is_none() && column.is_none() && builtin.is_none() {
        bail!("give a target: attribute, column or builtin (or several)");
    }
    Ok(ValueMapping {
        key: key.to_string(),
        source,
        transforms,
        attribute,
        column,
        builtin,
    })
}

/// The one source a table names: `field`, `dimension` (with `part`), `period`, `constant` or
/// `company = true`.
fn source(table: &Table) -> Result<Source> {
    let named: Vec<&str> = ["field", "dimension", "period", "constant", "company"]
        .into_iter()
        .filter(|k| table.contains_key(*k))
        .collect();
    let [one] = named[..] else {
        bail!(
            "give exactly one source: field, dimension, period, constant or company (found {})",
            if named.is_empty() {
                "none".to_string()
            } else {
                named.join(", ")
            }
        );
    };
    if one != "dimension" && table.contains_key("part") {
        bail!("part belongs with dimension");
    }
    let required = |name: &str| -> Result<String> {
        let value = text(table, name)?.unwrap_or_default();
        if value.trim().is_empty() {
            bail!("{name} must not be blank");
        }
        Ok(value.trim().to_string())
    };
    Ok(match one {
        "field" => Source::Field(required("field")?),
        "period" => Source::Period(required("period")?),
        "constant" => Source::Constant(text(table, "constant")?.unwrap_or_default()),
        "company" => match table.get("company") {
            Some(Value::Boolean(true)) => Source::Company,
            _ => bail!("company must be true"),
        },
        _ => Source::Dimension {
            name: required("dimension")?,
            part: match text(table, "part")?.as_deref() {
                None | Some("name") => AccountPart::Name,
                Some("code") => AccountPart::Code,
                Some(other) => bail!("part {other:?} must be \"name\" or \"code\""),
            },
        },
    })
}

fn transform(item: &Value) -> Result<Transform> {
    if let Value::String(name) = item {
        return match name.as_str() {
            "trim" => Ok(Transform::Trim),
            "lower" => Ok(Transform::Lower),
            "upper" => Ok(Transform::Upper),
            "title" => Ok(Transform::Title),
            other => bail!(
                "unknown transform {other:?} (trim, lower, upper, title, or a table: map, date, \
                 default, concat, replace)"
            ),
        };
    }
    let Value::Table(table) = item else {
        bail!("a transform is a name or a table");
    };
    if let Some(values) = table.get("map") {
        refuse_unknown(table, &["map", "default"])?;
        let Value::Table(values) = values else {
            bail!("map must be a table of value = replacement");
        };
        let values = values
            .iter()
            .map(|(from, to)| match to {
                Value::String(to) => Ok((from.clone(), to.clone())),
                _ => bail!("map: the value for {from:?} must be text"),
            })
            .collect::<Result<_>>()?;
        return Ok(Transform::Map {
            values,
            default: text(table, "default")?,
        });
    }
    if table.contains_key("date") {
        refuse_unknown(table, &["date"])?;
        let format = text(table, "date")?.unwrap_or_default();
        check_date_format(&format).map_err(|e| anyhow!("date format {format:?}: {e}"))?;
        return Ok(Transform::Date(format));
    }
    if table.contains_key("concat") {
        refuse_unknown(table, &["concat", "separator"])?;
        let Some(Value::Array(items)) = table.get("concat") else {
            bail!("concat must be a list of sources, e.g. [{{ field = \"LastName\" }}]");
        };
        let sources = items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Table(t) => {
                    refuse_unknown(t, &SOURCE_KEYS)?;
                    source(t).map_err(|e| anyhow!("concat[{}]: {e}", i + 1))
                }
                _ => bail!("concat[{}] must be a source table", i + 1),
            })
            .collect::<Result<_>>()?;
        return Ok(Transform::Concat {
            sources,
            separator: text(table, "separator")?.unwrap_or_else(|| " ".into()),
        });
    }
    if table.contains_key("replace") {
        refuse_unknown(table, &["replace", "with"])?;
        let pattern = text(table, "replace")?.unwrap_or_default();
        check_pattern(&pattern).map_err(|e| anyhow!("replace {pattern:?}: {e}"))?;
        return Ok(Transform::Replace {
            pattern,
            with: text(table, "with")?.unwrap_or_default(),
        });
    }
    if table.contains_key("default") {
        refuse_unknown(table, &["default"])?;
        return Ok(Transform::Default(
            text(table, "default")?.unwrap_or_default(),
        ));
    }
    bail!("unknown transform table (map, date, default, concat, replace)")
}

/// `[[scope.include]]` or `[[scope.exclude]]`: one source and one test each.
fn rules(prefix: &str, tables: &[Table]) -> Result<Vec<ScopeRule>> {
    tables
        .iter()
        .enumerate()
        .map(|(index, table)| {
            let key = format!("{prefix}[{}]", index + 1);
            rule(&key, table).map_err(|e| anyhow!("{key}: {e}"))
        })
        .collect()
}

/// A rule tests one source, with the tests that source takes: two sources in one rule would
/// otherwise leave one of them silently unused.
fn one_source_and_its_tests(table: &Table) -> Result<()> {
    let sources: Vec<&str> = ["company", "employment_type", "dimension", "field", "period"]
        .into_iter()
        .filter(|key| table.contains_key(*key))
        .collect();
    let source = match sources.as_slice() {
        [] => bail!("give one of company, employment_type, dimension, field or period"),
        [one] => *one,
        several => bail!(
            "a rule tests one source, this one names {}: write one rule for each (a record is \
             left out when any exclude rule matches it)",
            several.join(" and ")
        ),
    };
    let takes: &[&str] = match source {
        "company" | "employment_type" => &[],
        "dimension" => &["code", "name"],
        _ => &["equals", "matches"],
    };
    for test in ["equals", "matches", "code", "name"] {
        if table.contains_key(test) && !takes.contains(&test) {
            bail!(
                "{test} does not go with {source}: {}",
                match source {
                    "company" | "employment_type" =>
                        format!("{source} = [...] lists the values itself"),
                    "dimension" =>
                        "a dimension rule takes code = [...] or name = [...]".to_string(),
                    _ => format!("a {source} rule takes equals = [...] or matches = \"pattern\""),
                }
            );
        }
    }
    Ok(())
}

fn rule(key: &str, table: &Table) -> Result<ScopeRule> {
    refuse_unknown(
        table,
        &[
            "company",
            "employment_type",
            "field",
            "dimension",
            "period",
            "equals",
            "matches",
            "code",
            "name",
        ],
    )?;
    let list = |name: &str| -> Result<Option<Vec<String>>> {
        match table.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    Value::Integer(n) => Ok(n.to_string()),
                    _ => bail!("{name} must list texts"),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(_) => bail!("{name} must be a non-empty list, e.g. [\"value\"]"),
        }
    };
    one_source_and_its_tests(table)?;
    let (source, test) = if let Some(values) = list("company")? {
        (Source::Company, ScopeTest::Equals(values))
    } else if let Some(values) = list("employment_type")? {
        (
            Source::Field("Employment.EmploymentType".into()),
            ScopeTest::Equals(values),
        )
    } else if let Some(dimension) = text(table, "dimension")? {
        let (part, values) = match (list("code")?, list("name")?) {
            (Some(codes), None) => (AccountPart::Code, codes),
            (None, Some(names)) => (AccountPart::Name, names),
            _ => bail!("a dimension rule takes code = [...] or name = [...]"),
        };
        let source = Source::Dimension {
            name: dimension.trim().to_string(),
            part,
        };
        (source, ScopeTest::Equals(values))
    } else {
        let source = match (text(table, "field")?, text(table, "period")?) {
            (Some(field), None) => Source::Field(field.trim().to_string()),
            (None, Some(period)) => Source::Period(period.trim().to_string()),
            _ => bail!("give one of company, employment_type, dimension, field or period"),
        };
        let test = match (list("equals")?, text(table, "matches")?) {
            (Some(values), None) => ScopeTest::Equals(values),
            (None, Some(pattern)) => {
                check_pattern(&pattern).map_err(|e| anyhow!("matches {pattern:?}: {e}"))?;
                ScopeTest::Matches(pattern)
            }
            _ => bail!("a field rule takes equals = [...] or matches = \"pattern\""),
        };
        (source, test)
    };
    Ok(ScopeRule {
        key: key.to_string(),
        source,
        test,
    })
}

fn text(table: &Table, name: &str) -> Result<Option<String>> {
    match table.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => bail!("{name} must be text"),
    }
}

fn refuse_unknown(table: &Table, known: &[&str]) -> Result<()> {
    match table.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => bail!("unknown key {unknown:?} (known: {})", known.join(", ")),
        None => Ok(()),
    }
}

/// `urn:<schema>:<name>`, both parts non-empty.
fn is_extension_attribute(attribute: &str) -> bool {
    attribute
        .strip_prefix("urn:")
        .and_then(|rest| rest.rsplit_once(':'))
        .is_some_and(|(schema, name)| !schema.is_empty() && !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<MappingSettings> {
        #[derive(serde::Deserialize)]
        struct Doc {
            #[serde(default)]
            mapping: RawMapping,
            #[serde(default)]
            scope: RawScope,
        }
        let doc: Doc = toml::from_str(text)?;
        mapping_settings(doc.mapping, doc.scope)
    }

    #[test]
    fn values_read_every_source_and_transform() {
        let settings = load(
            r#"
            [[mapping.values]]
            field = "Employment.EmploymentNumber"
            transforms = ["trim", "upper", "lower", "title", { default = "x" },
              { map = { K = "Female" }, default = "None" }, { date = "%d/%m/%Y" },
              { concat = [{ field = "LastName" }, { constant = "!" }], separator = "-" },
              { replace = "^0+", with = "" }]
            attribute = "urn:x:User:employeeNumber"
            column = "EmployeeNumber"
            [[mapping.values]]
            dimension = "Kostnadsställe"
            part = "code"
            builtin = "gender"
            [[mapping.values]]
            period = "Title"
            attribute = "urn:x:User:title"
            "#,
        )
        .unwrap();
        assert_eq!(settings.values.len(), 3);
        assert_eq!(settings.values[0].transforms.len(), 9);
        assert_eq!(settings.values[1].builtin, Some(BuiltIn::Gender));
        assert_eq!(settings.values[2].source, Source::Period("Title".into()));
    }

    #[test]
    fn errors_name_the_key_and_the_problem() {
        let cases = [
            (
                "[[mapping.values]]\nfield = \"A\"\ntransforms = [\"lowr\"]\ncolumn = \"A\"",
                "mapping.values[1]: transforms[1]: unknown transform \"lowr\"",
            ),
            (
                "[[mapping.values]]\nfield = \"A\"\ncolumn = \"A\"\n[[mapping.values]]\nfield = \"A\"",
                "mapping.values[2]: give a target",
            ),
            (
                "[[mapping.values]]\nfield = \"A\"\ndimension = \"B\"\ncolumn = \"A\"",
                "mapping.values[1]: give exactly one source",
            ),
            (
                "[[mapping.values]]\nfield = \"A\"\ntransforms = [{ replace = \"(\" }]\ncolumn = \"A\"",
                "mapping.values[1]: transforms[1]: replace \"(\"",
            ),
            (
                "[[mapping.values]]\nfield = \"A\"\nbuiltin = \"shoe_size\"",
                "mapping.values[1]: builtin \"shoe_size\" is not one of",
            ),
            (
                "[[scope.exclude]]\nfield = \"A\"",
                "scope.exclude[1]: a field rule takes equals",
            ),
            (
                "[[scope.include]]\nfield = \"A\"\nmatches = \"[\"",
                "scope.include[1]: matches \"[\"",
            ),
            (
                "[[scope.exclude]]\ndimension = \"Avdelning\"\nequals = [\"1\"]",
                "scope.exclude[1]: equals does not go with dimension: a dimension rule takes code",
            ),
            (
                "[[scope.exclude]]\ncompany = [1010]\nemployment_type = [\"1\"]",
                "scope.exclude[1]: a rule tests one source, this one names company and \
                 employment_type: write one rule for each",
            ),
            (
                "[[scope.exclude]]\nfield = \"City\"\nequals = [\"Göteborg\"]\n\
                 dimension = \"Kontor\"\ncode = [\"MMA\"]",
                "scope.exclude[1]: a rule tests one source, this one names dimension and field",
            ),
            (
                "[[scope.include]]\ncompany = [1010]\nequals = [\"1\"]",
                "scope.include[1]: equals does not go with company: company = [...] lists",
            ),
        ];
        for (text, expected) in cases {
            let error = load(text).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{error}\n{expected}");
        }
    }

    #[test]
    fn a_users_file_column_is_used_once() {
        let settings = load(
            "[[mapping.values]]\nfield = \"City\"\ncolumn = \"Ort\"\n\
             [[mapping.values]]\nfield = \"Country\"\ncolumn = \"Land\"\n",
        )
        .unwrap();
        assert!(check_columns(&settings, &["ExternalId", "Email"]).is_ok());
        let error = check_columns(&settings, &["ExternalId", "ort"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "mapping.values[1]: the wt_users.csv column \"Ort\" is already used by files.columns.users"
        );
        let mut twice = settings.clone();
        twice.values[1].column = Some("Ort".into());
        let error = check_columns(&twice, &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "mapping.values[2]: the wt_users.csv column \"Ort\" is already used by mapping.values[1]"
        );
    }

    #[test]
    fn companies_take_a_rule_or_an_order() {
        let read = |text: &str| {
            let raw: RawCompanies = toml::from_str(text).unwrap();
            same_person(&raw)
        };
        assert_eq!(read("").unwrap(), SamePerson::default());
        let ordered =
            read("prefer = [2020, \"Ekdala AB\"]\nsame_person = [\"employment_number\"]").unwrap();
        assert_eq!(
            ordered.prefer,
            Prefer::Companies(vec!["2020".into(), "Ekdala AB".into()])
        );
        assert_eq!(
            ordered.match_by,
            [PersonKey::Email, PersonKey::EmploymentNumber]
        );
        let error = read("prefer = \"newest\"").unwrap_err().to_string();
        assert!(error.starts_with("companies.prefer: give"), "{error}");
        let error = read("same_person = [\"name\"]").unwrap_err().to_string();
        assert!(
            error.starts_with("companies.same_person: \"name\""),
            "{error}"
        );
    }

    #[test]
    fn scope_rules_read_each_kind() {
        let settings = load(
            r#"
            [[scope.exclude]]
            field = "Employment.EmploymentType"
            equals = ["Timanställd"]
            [[scope.exclude]]
            dimension = "Avdelning"
            code = ["990"]
            [[scope.include]]
            field = "EmailWork"
            matches = "@ekdala\\.se$"
            [[scope.include]]
            company = ["Ekdala AB", 2]
            "#,
        )
        .unwrap();
        assert_eq!(settings.scope.exclude[1].key, "scope.exclude[2]");
        assert_eq!(
            settings.scope.include[1].test,
            ScopeTest::Equals(vec!["Ekdala AB".into(), "2".into()])
        );
    }
}
