//! Manager links between desired users: resolving `ImmediateManagerEmployeeId`, breaking cycles,
//! and the depth of each user in the manager tree.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::collections::BTreeMap;

/// Why a record's manager reference cannot become a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagerProblem {
    /// The record names itself.
    Itself,
    /// A record in the snapshot that is not a desired user (skipped, or out of scope).
    OutOfScope(String),
    /// Nobody in the snapshot.
    Unknown(String),
}

/// Resolves a manager id against the desired users and every record id in the snapshot:
/// `Ok(None)` when no manager is given, `Ok(Some(id))` for a desired user.
pub fn resolve(
    own_id: &str,
    manager_id: Option<&str>,
    users: &HashSet<&str>,
    records: &HashSet<&str>,
) -> Result<Option<String>, ManagerProblem> {
    let Some(manager) = manager_id.map(str::trim).filter(|id| !id.is_empty()) else {
        return Ok(None);
    };
    if manager == own_id {
        Err(ManagerProblem::Itself)
    } else if users.contains(manager) {
        Ok(Some(manager.to_string()))
    } else if records.contains(manager) {
        Err(ManagerProblem::OutOfScope(manager.to_string()))
    } else {
        Err(ManagerProblem::Unknown(manager.to_string()))
    }
}

/// Removes one link from every cycle in `links` (user -> manager): the link of the lowest id in
/// the cycle. Returns each cycle broken, starting at that lowest id and following the links.
pub fn break_cycles(links: &mut BTreeMap<String, String>) -> Vec<Vec<String>> {
    let mut done: HashSet<&str> = HashSet::with_capacity(links.len());
    let mut cycles: Vec<Vec<String>> = Vec::new();
    let mut path: Vec<&str> = Vec::new();
    let mut on_path: HashMap<&str, usize> = HashMap::new();
    for start in links.keys() {
        path.clear();
        on_path.clear();
        let mut node = start.as_str();
        loop {
            if done.contains(node) {
                break;
            }
            if let Some(&at) = on_path.get(node) {
                let mut cycle: Vec<String> = path[at..].iter().map(|id| id.to_string()).collect();
                if let Some(lowest) = (0..cycle.len()).min_by_key(|&i| &cycle[i]) {
                    cycle.rotate_left(lowest);
                }
                cycles.push(cycle);
                break;
            }
            on_path.insert(node, path.len());
            path.push(node);
            match links.get(node) {
                Some(next) => node = next.as_str(),
                None => break,
            }
        }
        done.extend(&path);
    }
    for cycle in &cycles {
        if let Some(lowest) = cycle.first() {
            links.remove(lowest);
        }
    }
    cycles
}

/// The depth of every user: 0 without a manager, else the manager's depth + 1. `links` must be
/// free of cycles (see [`break_cycles`]); a walk longer than the number of links stops anyway.
pub fn depths<'a>(
    users: impl IntoIterator<Item = &'a str>,
    links: &'a BTreeMap<String, String>,
) -> HashMap<&'a str, u32> {
    let mut depths: HashMap<&str, u32> = HashMap::with_capacity(links.len());
    for user in users {
        let mut path: Vec<&str> = Vec::new();
        let mut node = user;
        let known = loop {
            if let Some(&depth) = depths.get(node) {
                break Some(depth);
            }
            path.push(node);
            match links.get(node) {
                Some(next) if path.len() <= links.len() => node = next.as_str(),
                _ => break None,
            }
        };
        let mut depth = known.map_or(0, |depth| depth.saturating_add(1));
        for id in path.iter().rev() {
            depths.insert(id, depth);
            depth = depth.saturating_add(1);
        }
    }
    depths
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(user, manager)| (user.to_string(), manager.to_string()))
            .collect()
    }

    #[test]
    fn resolve_tells_the_cases_apart() {
        let users: HashSet<&str> = ["a", "b"].into_iter().collect();
        let records: HashSet<&str> = ["a", "b", "skipped"].into_iter().collect();
        assert_eq!(resolve("a", None, &users, &records), Ok(None));
        assert_eq!(resolve("a", Some("  "), &users, &records), Ok(None));
        assert_eq!(
            resolve("a", Some(" b "), &users, &records),
            Ok(Some("b".into()))
        );
        assert_eq!(
            resolve("a", Some("a"), &users, &records),
            Err(ManagerProblem::Itself)
        );
        assert_eq!(
            resolve("a", Some("skipped"), &users, &records),
            Err(ManagerProblem::OutOfScope("skipped".into()))
        );
        assert_eq!(
            resolve("a", Some("ghost"), &users, &records),
            Err(ManagerProblem::Unknown("ghost".into()))
        );
    }

    #[test]
    fn break_cycles_drops_the_link_of_the_lowest_id_in_each_cycle() {
        let mut graph = links(&[
            ("b", "a"),
            ("a", "b"),
            ("x", "z"),
            ("z", "y"),
            ("y", "x"),
            ("tail", "x"),
            ("c", "boss"),
        ]);
        let cycles = break_cycles(&mut graph);
        assert_eq!(
            cycles,
            vec![
                vec!["a".to_string(), "b".to_string()],
                vec!["x".to_string(), "z".to_string(), "y".to_string()],
            ]
        );
        assert_eq!(
            graph,
            links(&[
                ("b", "a"),
                ("z", "y"),
                ("y", "x"),
                ("tail", "x"),
                ("c", "boss")
            ])
        );
    }

    #[test]
    fn break_cycles_leaves_a_tree_alone() {
        let tree = links(&[("b", "a"), ("c", "b"), ("d", "b")]);
        let mut graph = tree.clone();
        assert!(break_cycles(&mut graph).is_empty());
        assert_eq!(graph, tree);
    }

    #[test]
    fn depths_count_the_managers_above() {
        let graph = links(&[("b", "a"), ("c", "b"), ("d", "c"), ("e", "b")]);
        let users = ["e", "d", "c", "b", "a", "f"];
        let depths = depths(users, &graph);
        let expected: HashMap<&str, u32> =
            [("a", 0), ("b", 1), ("c", 2), ("d", 3), ("e", 2), ("f", 0)]
                .into_iter()
                .collect();
        assert_eq!(depths, expected);
    }

    #[test]
    fn depths_stop_on_a_cycle_left_in_place() {
        let graph = links(&[("a", "b"), ("b", "a")]);
        let depths = depths(["a", "b"], &graph);
        assert_eq!(depths.len(), 2);
    }
}
