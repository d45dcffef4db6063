//! Users and groups in memory: indexed by id, by lower-case userName and by externalId, with
//! `meta` kept here and a count of writes that changed something.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::filter::{CompareOp, Filter};
use super::patch::{self, PatchOp};
use super::schema::{ENTERPRISE_USER, Profile, ResourceKind, ResourceSchema, WT_GROUP};
use super::validate::Source;

#[derive(Debug, Clone)]
struct Stored {
    seq: u64,
    body: Map<String, Value>,
    created: Timestamp,
    modified: Timestamp,
    version: u64,
}

#[derive(Debug)]
struct Table {
    schema: ResourceSchema,
    by_id: BTreeMap<String, Stored>,
    order: BTreeMap<u64, String>,
    by_external_id: BTreeMap<String, BTreeSet<u64>>,
}

impl Table {
    fn new(profile: Profile, kind: ResourceKind) -> Table {
        Table {
            schema: ResourceSchema::new(profile, kind),
            by_id: BTreeMap::new(),
            order: BTreeMap::new(),
            by_external_id: BTreeMap::new(),
        }
    }

    fn index(&mut self, id: &str, stored: &Stored) {
        self.order.insert(stored.seq, id.to_string());
        if let Some(ext) = stored.body.get("externalId").and_then(Value::as_str) {
            self.by_external_id
                .entry(ext.to_string())
                .or_default()
                .insert(stored.seq);
        }
    }

    fn unindex(&mut self, stored: &Stored) {
        self.order.remove(&stored.seq);
        if let Some(ext) = stored.body.get("externalId").and_then(Value::as_str)
            && let Some(set) = self.by_external_id.get_mut(ext)
        {
            set.remove(&stored.seq);
            if set.is_empty() {
                self.by_external_id.remove(ext);
            }
        }
    }
}

/// The emulator's data.
#[derive(Debug)]
pub struct Store {
    users: Table,
    groups: Table,
    user_names: BTreeMap<String, String>,
    next_seq: u64,
    writes: u64,
    base_url: String,
}

/// One page of a list: all matches counted, one slice returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub total: usize,
    pub start_index: usize,
    pub resources: Vec<Value>,
}

fn user_name_key(body: &Map<String, Value>) -> Option<String> {
    body.get("userName")
        .and_then(Value::as_str)
        .map(str::to_lowercase)
}

/// A UUID-shaped id, deterministic from the sequence number.
fn make_id(seq: u64, kind: ResourceKind) -> String {
    let mut x = seq.wrapping_mul(2).wrapping_add(kind as u64) ^ 0x5DEE_CE66_D1CE_4E5B;
    let mut next = || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (a, b) = (next(), next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

impl Store {
    pub fn new(profile: Profile) -> Store {
        Store {
            users: Table::new(profile, ResourceKind::User),
            groups: Table::new(profile, ResourceKind::Group),
            user_names: BTreeMap::new(),
            next_seq: 1,
            writes: 0,
            base_url: String::new(),
        }
    }

    /// Sets the base URL used in `meta.location` (`http://host:port/api/scim`).
    pub fn set_base_url(&mut self, base_url: String) {
        self.base_url = base_url;
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn schema(&self, kind: ResourceKind) -> &ResourceSchema {
        &self.table(kind).schema
    }

    /// Requests that changed something.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    fn table(&self, kind: ResourceKind) -> &Table {
        match kind {
            ResourceKind::User => &self.users,
            ResourceKind::Group => &self.groups,
        }
    }

    fn table_mut(&mut self, kind: ResourceKind) -> &mut Table {
        match kind {
            ResourceKind::User => &mut self.users,
            ResourceKind::Group => &mut self.groups,
        }
    }

    fn render(&self, kind: ResourceKind, id: &str, stored: &Stored) -> Value {
        let mut out = stored.body.clone();
        out.insert("id".to_string(), json!(id));
        out.insert(
            "meta".to_string(),
            json!({
                "resourceType": kind.name(),
                "created": stored.created.to_string(),
                "lastModified": stored.modified.to_string(),
                "location": format!("{}/{}/{id}", self.base_url, kind.endpoint()),
                "version": format!("W/\"{}\"", stored.version),
            }),
        );
        Value::Object(out)
    }

    fn not_found(kind: ResourceKind, id: &str) -> ScimError {
        ScimError::not_found(format!("{} {id} not found", kind.name()))
    }

    pub fn get(&self, kind: ResourceKind, id: &str) -> Result<Value, ScimError> {
        let stored = self
            .table(kind)
            .by_id
            .get(id)
            .ok_or_else(|| Store::not_found(kind, id))?;
        Ok(self.render(kind, id, stored))
    }

    /// Every resource of a kind, in creation order.
    pub fn all(&self, kind: ResourceKind) -> Vec<Value> {
        let table = self.table(kind);
        table
            .order
            .values()
            .filter_map(|id| table.by_id.get(id).map(|s| self.render(kind, id, s)))
            .collect()
    }

    /// Lists matches of `filter` (already checked), `start_index` 1-based, at most `count`.
    pub fn list(
        &self,
        kind: ResourceKind,
        filter: Option<&Filter>,
        start_index: usize,
        count: usize,
    ) -> Page {
        let table = self.table(kind);
        let start_index = start_index.max(1);
        if filter.is_none() {
            let resources = table
                .order
                .values()
                .skip(start_index - 1)
                .take(count)
                .filter_map(|id| table.by_id.get(id).map(|s| self.render(kind, id, s)))
                .collect();
            return Page {
                total: table.order.len(),
                start_index,
                resources,
            };
        }
        let candidates: Vec<&String> = match filter.and_then(|f| self.indexed(kind, f)) {
            Some(ids) => ids,
            None => table.order.values().collect(),
        };
        let matching: Vec<(&String, &Stored)> = candidates
            .into_iter()
            .filter_map(|id| table.by_id.get(id).map(|s| (id, s)))
            .filter(|(id, s)| match filter {
                Some(f) => f.matches(&table.schema, &self.render(kind, id, s)),
                None => true,
            })
            .collect();
        let resources = matching
            .iter()
            .skip(start_index - 1)
            .take(count)
            .map(|(id, s)| self.render(kind, id, s))
            .collect();
        Page {
            total: matching.len(),
            start_index,
            resources,
        }
    }

    /// Candidate ids, in creation order, for `id`, `userName` or `externalId eq "..."`.
    fn indexed(&self, kind: ResourceKind, filter: &Filter) -> Option<Vec<&String>> {
        let Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Value::String(wanted),
        } = filter
        else {
            return None;
        };
        if path.urn.is_some() || path.sub.is_some() {
            return None;
        }
        let table = self.table(kind);
        let name = path.name.to_ascii_lowercase();
        match name.as_str() {
            "id" => Some(
                table
                    .by_id
                    .get_key_value(wanted)
                    .map(|(k, _)| k)
                    .into_iter()
                    .collect(),
            ),
            "externalid" => Some(
                table
                    .by_external_id
                    .get(wanted)
                    .into_iter()
                    .flatten()
                    .filter_map(|seq| table.order.get(seq))
                    .collect(),
            ),
            "username" if kind == ResourceKind::User => Some(
                self.user_names
                    .get(&wanted.to_lowercase())
                    .and_then(|id| table.by_id.get_key_value(id))
                    .map(|(k, _)| k)
                    .into_iter()
                    .collect(),
            ),
            _ => None,
        }
    }

    /// Uniqueness of userName and existence of referenced users and groups.
    fn check(
        &self,
        kind: ResourceKind,
        id: Option<&str>,
        body: &Map<String, Value>,
    ) -> Result<(), ScimError> {
        match kind {
            ResourceKind::User => {
                if let Some(key) = user_name_key(body)
                    && let Some(owner) = self.user_names.get(&key)
                    && Some(owner.as_str()) != id
                {
                    return Err(ScimError::conflict(format!(
                        "userName {} is already taken by user {owner}",
                        body.get("userName")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                    )));
                }
                let manager = body.get(ENTERPRISE_USER).and_then(|e| e.get("manager"));
                if let Some(manager) = manager
                    && manager.get("value").is_some()
                {
                    let path = format!("{ENTERPRISE_USER}:manager");
                    self.check_reference(manager, &path, &[ResourceKind::User])?;
                }
            }
            ResourceKind::Group => {
                let members = body.get("members").and_then(Value::as_array);
                for member in members.into_iter().flatten() {
                    let kinds = [ResourceKind::User, ResourceKind::Group];
                    self.check_reference(member, "members[]", &kinds)?;
                }
                let managers = body
                    .get(WT_GROUP)
                    .and_then(|e| e.get("managers"))
                    .and_then(Value::as_array);
                for manager in managers.into_iter().flatten() {
                    let path = format!("{WT_GROUP}:managers[]");
                    self.check_reference(manager, &path, &[ResourceKind::User])?;
                }
            }
        }
        Ok(())
    }

    /// A `{"value": id, "$ref": uri, "type": kind}` value: `value` names an existing resource of
    /// one of `kinds`, and `$ref` and `type`, when given, name the same resource.
    fn check_reference(
        &self,
        reference: &Value,
        path: &str,
        kinds: &[ResourceKind],
    ) -> Result<(), ScimError> {
        let Some(id) = reference.get("value").and_then(Value::as_str) else {
            return Err(ScimError::invalid_value(format!(
                "{path}.value is required"
            )));
        };
        let Some(kind) = kinds
            .iter()
            .copied()
            .find(|k| self.table(*k).by_id.contains_key(id))
        else {
            let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
            return Err(ScimError::invalid_value(format!(
                "{path}.value {id} is not an existing {}",
                names.join(" or ")
            )));
        };
        if let Some(given) = reference.get("type").and_then(Value::as_str)
            && given != kind.name()
        {
            return Err(ScimError::invalid_value(format!(
                "{path}.type is {given:?} but {id} is a {}",
                kind.name()
            )));
        }
        if let Some(uri) = reference.get("$ref").and_then(Value::as_str) {
            let tail = format!("/{}/{id}", kind.endpoint());
            if !uri.trim_end_matches('/').ends_with(&tail) {
                return Err(ScimError::invalid_value(format!(
                    "{path}.$ref {uri} does not point at {} {id}",
                    kind.name()
                )));
            }
        }
        Ok(())
    }

    /// POST; `count` false for pre-seeded data that should not show in [`Store::writes`].
    pub fn create(
        &mut self,
        kind: ResourceKind,
        input: &Value,
        now: Timestamp,
        count: bool,
    ) -> Result<Value, ScimError> {
        let body = self.table(kind).schema.normalize(input, Source::Request)?;
        self.check(kind, None, &body)?;
        let seq = self.next_seq;
        self.next_seq += 1;
        let id = make_id(seq, kind);
        let stored = Stored {
            seq,
            body,
            created: now,
            modified: now,
            version: 1,
        };
        if kind == ResourceKind::User
            && let Some(key) = user_name_key(&stored.body)
        {
            self.user_names.insert(key, id.clone());
        }
        let table = self.table_mut(kind);
        table.index(&id, &stored);
        table.by_id.insert(id.clone(), stored);
        if count {
            self.writes += 1;
        }
        self.get(kind, &id)
    }

    /// PUT: the body replaces the resource (read-only attributes ignored).
    pub fn replace(
        &mut self,
        kind: ResourceKind,
        id: &str,
        input: &Value,
        now: Timestamp,
    ) -> Result<Value, ScimError> {
        if !self.table(kind).by_id.contains_key(id) {
            return Err(Store::not_found(kind, id));
        }
        let body = self.table(kind).schema.normalize(input, Source::Request)?;
        self.update(kind, id, body, now)
    }

    /// PATCH: operations applied in order, all or nothing.
    pub fn patch(
        &mut self,
        kind: ResourceKind,
        id: &str,
        ops: &[PatchOp],
        now: Timestamp,
    ) -> Result<Value, ScimError> {
        let table = self.table(kind);
        let Some(stored) = table.by_id.get(id) else {
            return Err(Store::not_found(kind, id));
        };
        let mut body = stored.body.clone();
        patch::apply(&table.schema, &mut body, ops)?;
        let body = table
            .schema
            .normalize(&Value::Object(body), Source::Patched)?;
        self.update(kind, id, body, now)
    }

    fn update(
        &mut self,
        kind: ResourceKind,
        id: &str,
        body: Map<String, Value>,
        now: Timestamp,
    ) -> Result<Value, ScimError> {
        self.check(kind, Some(id), &body)?;
        let table = self.table_mut(kind);
        let Some(old) = table.by_id.get(id).cloned() else {
            return Err(Store::not_found(kind, id));
        };
        if old.body == body {
            return self.get(kind, id);
        }
        table.unindex(&old);
        let stored = Stored {
            body,
            modified: now,
            version: old.version + 1,
            ..old.clone()
        };
        table.index(id, &stored);
        table.by_id.insert(id.to_string(), stored.clone());
        if kind == ResourceKind::User {
            if let Some(key) = user_name_key(&old.body) {
                self.user_names.remove(&key);
            }
            if let Some(key) = user_name_key(&stored.body) {
                self.user_names.insert(key, id.to_string());
            }
        }
        self.writes += 1;
        self.get(kind, id)
    }

    /// DELETE; a deleted user or group also leaves every group it was a member of.
    pub fn delete(
        &mut self,
        kind: ResourceKind,
        id: &str,
        now: Timestamp,
    ) -> Result<(), ScimError> {
        let table = self.table_mut(kind);
        let Some(old) = table.by_id.remove(id) else {
            return Err(Store::not_found(kind, id));
        };
        table.unindex(&old);
        if kind == ResourceKind::User
            && let Some(key) = user_name_key(&old.body)
        {
            self.user_names.remove(&key);
        }
        // Like a real server, no user keeps a manager that no longer exists, and no group a
        // member or a manager.
        for user in self.users.by_id.values_mut() {
            let Some(Value::Object(enterprise)) = user.body.get_mut(ENTERPRISE_USER) else {
                continue;
            };
            let points_here = enterprise
                .get("manager")
                .and_then(|m| m.get("value"))
                .and_then(Value::as_str)
                == Some(id);
            if points_here {
                enterprise.remove("manager");
                drop_if_empty(&mut user.body, ENTERPRISE_USER);
                user.modified = now;
                user.version += 1;
            }
        }
        for group in self.groups.by_id.values_mut() {
            let members = unlink(&mut group.body, id, &["members"]);
            let managers = unlink(&mut group.body, id, &[WT_GROUP, "managers"]);
            if members || managers {
                drop_if_empty(&mut group.body, WT_GROUP);
                group.modified = now;
                group.version += 1;
            }
        }
        self.writes += 1;
        Ok(())
    }
}

/// Removes the values pointing at `id` from the multi-valued attribute at `path` (an attribute
/// name, or an extension URN and a name), and the attribute once empty. True if any went.
fn unlink(body: &mut Map<String, Value>, id: &str, path: &[&str]) -> bool {
    let Some((name, containers)) = path.split_last() else {
        return false;
    };
    let mut container = body;
    for key in containers {
        match container.get_mut(*key) {
            Some(Value::Object(inner)) => container = inner,
            _ => return false,
        }
    }
    let Some(Value::Array(values)) = container.get_mut(*name) else {
        return false;
    };
    let before = values.len();
    values.retain(|v| v.get("value").and_then(Value::as_str) != Some(id));
    let changed = values.len() != before;
    if values.is_empty() {
        container.remove(*name);
    }
    changed
}

/// Drops an extension object left empty, and its URN from `schemas`.
fn drop_if_empty(body: &mut Map<String, Value>, urn: &str) {
    if body
        .get(urn)
        .is_some_and(|e| e.as_object().is_some_and(Map::is_empty))
    {
        body.remove(urn);
        if let Some(Value::Array(schemas)) = body.get_mut("schemas") {
            schemas.retain(|s| s.as_str() != Some(urn));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_uuid_shaped() {
        let ids: BTreeSet<String> = (1..2000)
            .flat_map(|n| {
                [
                    make_id(n, ResourceKind::User),
                    make_id(n, ResourceKind::Group),
                ]
            })
            .collect();
        assert_eq!(ids.len(), 3998);
        let id = make_id(7, ResourceKind::User);
        let parts: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(parts, vec![8, 4, 4, 4, 12]);
    }

    #[test]
    fn deleting_a_manager_unlinks_their_reports() {
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let mut store = Store::new(Profile::Extended);
        let boss = store
            .create(ResourceKind::User, &json!({"userName": "boss"}), t0, true)
            .unwrap();
        let boss_id = boss["id"].as_str().unwrap().to_string();
        let report = store
            .create(
                ResourceKind::User,
                &json!({"userName": "r", ENTERPRISE_USER: {"manager": {"value": boss_id}}}),
                t0,
                true,
            )
            .unwrap();
        let report_id = report["id"].as_str().unwrap().to_string();
        store.delete(ResourceKind::User, &boss_id, t0).unwrap();
        let after = store.get(ResourceKind::User, &report_id).unwrap();
        assert!(after.get(ENTERPRISE_USER).is_none(), "{after}");
        assert_eq!(after["schemas"], json!([super::super::schema::USER]));
        // The report can still be changed (its manager is no longer checked against a ghost).
        store
            .replace(
                ResourceKind::User,
                &report_id,
                &json!({"userName": "r", "active": false}),
                t0,
            )
            .unwrap();
    }

    #[test]
    fn external_id_index_follows_updates_and_deletes() {
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let mut store = Store::new(Profile::Documented);
        let a = store
            .create(
                ResourceKind::User,
                &json!({"userName": "a", "externalId": "E1"}),
                t0,
                true,
            )
            .unwrap();
        let id = a["id"].as_str().unwrap().to_string();
        let filter = Filter::parse(r#"externalId eq "E1""#).unwrap();
        assert_eq!(
            store.list(ResourceKind::User, Some(&filter), 1, 10).total,
            1
        );
        store
            .replace(
                ResourceKind::User,
                &id,
                &json!({"userName": "a", "externalId": "E2"}),
                t0,
            )
            .unwrap();
        assert_eq!(
            store.list(ResourceKind::User, Some(&filter), 1, 10).total,
            0
        );
        let e2 = Filter::parse(r#"externalId eq "E2""#).unwrap();
        assert_eq!(store.list(ResourceKind::User, Some(&e2), 1, 10).total, 1);
        store.delete(ResourceKind::User, &id, t0).unwrap();
        assert_eq!(store.list(ResourceKind::User, Some(&e2), 1, 10).total, 0);
        assert_eq!(store.writes(), 3);
    }
}
