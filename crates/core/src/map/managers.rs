//! Manager links between desired users: resolving `ImmediateManagerEmployeeId`, breaking cycles,
//! and the depth of each user in the manager tree. Users are places in one list in id order,
//! and each one's manager is a place in it too ([`Managers`]).

use foldhash::HashMap;

/// Each user's manager, as a place in the same list of users; `None` without one.
pub type Managers = Vec<Option<usize>>;

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

/// Resolves a manager id against the desired users (id -> place) and every record id in the
/// snapshot (sorted): `Ok(None)` when no manager is given, `Ok(Some(place))` for a desired user.
pub fn resolve(
    own_id: &str,
    manager_id: Option<&str>,
    users: &HashMap<&str, usize>,
    records: &[&str],
) -> Result<Option<usize>, ManagerProblem> {
    let Some(manager) = manager_id.map(str::trim).filter(|id| !id.is_empty()) else {
        return Ok(None);
    };
    if manager == own_id {
        Err(ManagerProblem::Itself)
    } else if let Some(place) = users.get(manager) {
        Ok(Some(*place))
    } else if records.binary_search(&manager).is_ok() {
        Err(ManagerProblem::OutOfScope(manager.to_string()))
    } else {
        Err(ManagerProblem::Unknown(manager.to_string()))
    }
}

/// Removes one link from every cycle: the link of the lowest place in the cycle (the lowest id,
/// with users in id order). Returns each cycle broken, starting at that place and following the
/// links, in the order of their lowest start.
pub fn break_cycles(managers: &mut Managers) -> Vec<Vec<usize>> {
    const NEW: usize = usize::MAX;
    const DONE: usize = usize::MAX - 1;
    // For each user: NEW, DONE, or its place on the path being walked.
    let mut seen = vec![NEW; managers.len()];
    let mut cycles: Vec<Vec<usize>> = Vec::new();
    let mut path: Vec<usize> = Vec::new();
    for start in 0..managers.len() {
        path.clear();
        let mut node = start;
        loop {
            match seen[node] {
                DONE => break,
                NEW => {}
                at => {
                    let mut cycle = path[at..].to_vec();
                    if let Some(lowest) = (0..cycle.len()).min_by_key(|&i| cycle[i]) {
                        cycle.rotate_left(lowest);
                    }
                    cycles.push(cycle);
                    break;
                }
            }
            seen[node] = path.len();
            path.push(node);
            match managers[node] {
                Some(next) => node = next,
                None => break,
            }
        }
        for node in &path {
            seen[*node] = DONE;
        }
    }
    for cycle in &cycles {
        if let Some(lowest) = cycle.first() {
            managers[*lowest] = None;
        }
    }
    cycles
}

/// The depth of every user: 0 without a manager, else the manager's depth + 1. The links must
/// be free of cycles (see [`break_cycles`]); a walk longer than the list stops anyway.
pub fn depths(managers: &Managers) -> Vec<u32> {
    let mut depths: Vec<Option<u32>> = vec![None; managers.len()];
    let mut path: Vec<usize> = Vec::new();
    for user in 0..managers.len() {
        path.clear();
        let mut node = user;
        let known = loop {
            if let Some(depth) = depths[node] {
                break Some(depth);
            }
            path.push(node);
            match managers[node] {
                Some(next) if path.len() <= managers.len() => node = next,
                _ => break None,
            }
        };
        let mut depth = known.map_or(0, |depth| depth.saturating_add(1));
        for node in path.iter().rev() {
            depths[*node] = Some(depth);
            depth = depth.saturating_add(1);
        }
    }
    depths.into_iter().map(Option::unwrap_or_default).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The users named in `pairs`, in id order, and each one's manager as a place.
    fn graph(pairs: &[(&str, &str)], alone: &[&str]) -> (Vec<String>, Managers) {
        let mut users: Vec<String> = pairs
            .iter()
            .flat_map(|(user, manager)| [user.to_string(), manager.to_string()])
            .chain(alone.iter().map(|user| user.to_string()))
            .collect();
        users.sort();
        users.dedup();
        let place = |id: &str| users.iter().position(|user| user == id);
        let mut managers = vec![None; users.len()];
        for (user, manager) in pairs {
            managers[place(user).unwrap()] = place(manager);
        }
        (users, managers)
    }

    fn links(users: &[String], managers: &Managers) -> Vec<(String, String)> {
        let pairs = managers.iter().enumerate();
        pairs
            .filter_map(|(user, manager)| Some((users[user].clone(), users[(*manager)?].clone())))
            .collect()
    }

    #[test]
    fn resolve_tells_the_cases_apart() {
        let users: HashMap<&str, usize> = [("a", 0), ("b", 1)].into_iter().collect();
        let records = ["a", "b", "skipped"];
        assert_eq!(resolve("a", None, &users, &records), Ok(None));
        assert_eq!(resolve("a", Some("  "), &users, &records), Ok(None));
        assert_eq!(resolve("a", Some(" b "), &users, &records), Ok(Some(1)));
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
        let (users, mut managers) = graph(
            &[
                ("b", "a"),
                ("a", "b"),
                ("x", "z"),
                ("z", "y"),
                ("y", "x"),
                ("tail", "x"),
                ("c", "boss"),
            ],
            &[],
        );
        let cycles: Vec<Vec<&str>> = break_cycles(&mut managers)
            .into_iter()
            .map(|cycle| cycle.into_iter().map(|at| users[at].as_str()).collect())
            .collect();
        assert_eq!(cycles, [vec!["a", "b"], vec!["x", "z", "y"]]);
        let (expected_users, expected) = graph(
            &[
                ("b", "a"),
                ("z", "y"),
                ("y", "x"),
                ("tail", "x"),
                ("c", "boss"),
            ],
            &["a", "x"],
        );
        assert_eq!(links(&users, &managers), links(&expected_users, &expected));
    }

    #[test]
    fn break_cycles_leaves_a_tree_alone() {
        let (_, tree) = graph(&[("b", "a"), ("c", "b"), ("d", "b")], &[]);
        let mut managers = tree.clone();
        assert!(break_cycles(&mut managers).is_empty());
        assert_eq!(managers, tree);
    }

    #[test]
    fn depths_count_the_managers_above() {
        let (users, managers) = graph(&[("b", "a"), ("c", "b"), ("d", "c"), ("e", "b")], &["f"]);
        let depths: Vec<(&str, u32)> = users
            .iter()
            .map(String::as_str)
            .zip(depths(&managers))
            .collect();
        assert_eq!(
            depths,
            [("a", 0), ("b", 1), ("c", 2), ("d", 3), ("e", 2), ("f", 0)]
        );
    }

    #[test]
    fn depths_stop_on_a_cycle_left_in_place() {
        let (_, managers) = graph(&[("a", "b"), ("b", "a")], &[]);
        assert_eq!(depths(&managers).len(), 2);
    }
}
