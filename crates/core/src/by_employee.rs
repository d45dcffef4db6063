//! Records found by the employee they belong to (employees, periods, default accounts): one
//! list sorted by employee id, each employee's records in source order. The map and the group
//! tree visit employees in id order, so a lookup starts where the last one ended instead of
//! hashing.

use std::cell::Cell;
use std::ops::Range;

pub struct ByEmployee<'a, T> {
    /// Each employee's trimmed id and where its records lie in `records`, in id order.
    employees: Vec<(&'a str, Range<usize>)>,
    /// The records, each employee's together.
    records: Vec<&'a T>,
    /// Where the last lookup ended in `employees`.
    cursor: Cell<usize>,
}

impl<'a, T> ByEmployee<'a, T> {
    pub fn new(records: &'a [T], employee_id: impl Fn(&'a T) -> &'a str) -> ByEmployee<'a, T> {
        // A source lists an employee's records together, mostly: runs are sorted, not records.
        let mut runs: Vec<(&'a str, Range<usize>)> = Vec::new();
        for (at, record) in records.iter().enumerate() {
            let id = employee_id(record);
            match runs.last_mut() {
                Some((last, run)) if *last == id => run.end = at + 1,
                _ => runs.push((id, at..at + 1)),
            }
        }
        // Stable: the runs of one employee keep their source order.
        runs.sort_by_key(|(id, _)| *id);
        let mut employees: Vec<(&'a str, Range<usize>)> = Vec::with_capacity(runs.len());
        let mut sorted = Vec::with_capacity(records.len());
        for (id, run) in runs {
            let start = sorted.len();
            sorted.extend(&records[run]);
            match employees.last_mut() {
                Some((last, placed)) if *last == id => placed.end = sorted.len(),
                _ => employees.push((id, start..sorted.len())),
            }
        }
        ByEmployee {
            employees,
            records: sorted,
            cursor: Cell::new(0),
        }
    }

    /// The records of the employee with this (trimmed) id, in source order. Cheapest when
    /// called in increasing id order; any order is correct.
    pub fn of(&self, employee_id: &str) -> &[&'a T] {
        let cursor = self.cursor.get();
        let behind = |at: usize| self.employees.get(at).is_some_and(|e| e.0 < employee_id);
        let from = if cursor == 0 || behind(cursor - 1) {
            cursor
        } else {
            0
        };
        let at = seek(&self.employees, from, |id| id < employee_id);
        match self.employees.get(at) {
            Some((id, placed)) if *id == employee_id => {
                self.cursor.set(at + 1);
                &self.records[placed.clone()]
            }
            _ => {
                self.cursor.set(at);
                &[]
            }
        }
    }
}

/// The first place at or after `from` whose id is not `before` (the ids are sorted, so
/// `before` holds for a prefix): steps of growing width, then a binary search in the last one.
fn seek<R>(ids: &[(&str, R)], from: usize, before: impl Fn(&str) -> bool) -> usize {
    let mut start = from;
    let mut width = 1;
    while start + width <= ids.len() && before(ids[start + width - 1].0) {
        start += width;
        width *= 2;
    }
    let end = (start + width).min(ids.len());
    start + ids[start..end].partition_point(|(id, _)| before(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn index(records: &[(String, usize)]) -> ByEmployee<'_, (String, usize)> {
        ByEmployee::new(records, |(id, _)| id.as_str())
    }

    #[test]
    fn each_employee_gets_its_records_in_source_order() {
        let records: Vec<(String, usize)> = [("b", 0), ("a", 1), ("b", 2), ("c", 3), ("a", 4)]
            .into_iter()
            .map(|(id, n)| (id.to_string(), n))
            .collect();
        let index = index(&records);
        let numbers = |id: &str| index.of(id).iter().map(|r| r.1).collect::<Vec<_>>();
        assert_eq!(numbers("a"), [1, 4]);
        assert_eq!(numbers("b"), [0, 2]);
        assert_eq!(numbers("c"), [3]);
        assert_eq!(numbers("0"), [] as [usize; 0]);
        assert_eq!(numbers("b"), [0, 2]);
        assert_eq!(numbers("d"), [] as [usize; 0]);
        assert_eq!(numbers("a"), [1, 4]);
    }

    proptest! {
        #[test]
        fn any_order_of_lookups_finds_what_a_scan_finds(
            ids in proptest::collection::vec(0u8..40, 0..200),
            asked in proptest::collection::vec(0u8..45, 0..100),
        ) {
            let records: Vec<(String, usize)> =
                ids.iter().enumerate().map(|(n, id)| (format!("e{id:02}"), n)).collect();
            let index = index(&records);
            for id in asked.iter().map(|id| format!("e{id:02}")) {
                let found: Vec<usize> = index.of(&id).iter().map(|r| r.1).collect();
                let scanned: Vec<usize> =
                    records.iter().filter(|r| r.0 == id).map(|r| r.1).collect();
                prop_assert_eq!(found, scanned);
            }
        }
    }
}
