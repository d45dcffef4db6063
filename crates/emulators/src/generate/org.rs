//! The organisation of a generated company: offices, departments and teams, and one slot per
//! employee saying where they sit and who they report to.

use super::names::{
    BRANCH_DEPARTMENTS, DEPARTMENTS, Department, HEAD_OFFICE_CHOICES, HEAD_OFFICE_DEPARTMENTS,
    LEDNING, OFFICES, Office,
};
use super::rng::Rng;
use super::split;

/// Most direct reports anyone gets.
pub const MAX_SPAN: usize = 10;
const MAX_OFFICES: usize = 8;
/// Departments per office, besides the head office's "Ledning".
const MAX_DEPARTMENTS: usize = 9;

#[derive(Default)]
pub struct Org {
    pub offices: Vec<&'static Office>,
    pub departments: Vec<DepartmentUnit>,
    pub teams: Vec<TeamUnit>,
    pub slots: Vec<Slot>,
}

pub struct DepartmentUnit {
    pub department: &'static Department,
    /// Office number (1-based) times 100 plus the department's catalog number.
    pub code: usize,
}

pub struct TeamUnit {
    pub name: &'static str,
    /// The department's code times 10 plus the team's catalog number.
    pub code: usize,
}

/// One employee's place: indexes into the org's offices, departments and teams.
pub struct Slot {
    pub office: usize,
    pub department: Option<usize>,
    pub team: Option<usize>,
    pub manager: Option<usize>,
}

impl Org {
    fn add_slot(&mut self, office: usize, department: Option<usize>, team: Option<usize>) -> usize {
        self.slots.push(Slot {
            office,
            department,
            team,
            manager: None,
        });
        self.slots.len() - 1
    }

    fn add_slots(&mut self, count: usize, office: usize, department: usize) -> Vec<usize> {
        (0..count)
            .map(|_| self.add_slot(office, Some(department), None))
            .collect()
    }

    fn add_department(&mut self, office: usize, catalog: usize) -> usize {
        self.departments.push(DepartmentUnit {
            department: &DEPARTMENTS[catalog],
            code: (office + 1) * 100 + catalog + 1,
        });
        self.departments.len() - 1
    }

    /// `fixed` report to `head` directly; `free` are hung below within the span limit.
    fn attach(&mut self, head: usize, fixed: &[usize], free: &[usize], rng: &mut Rng) {
        for &report in fixed {
            self.slots[report].manager = Some(head);
        }
        let room = MAX_SPAN.saturating_sub(fixed.len()).max(1);
        self.hang(head, free, room, rng);
    }

    /// Puts `people` under `head`, at most `room` directly; beyond that in chunks, each led by its
    /// first member, so that neighbours (same department, same team) share a manager.
    fn hang(&mut self, head: usize, people: &[usize], room: usize, rng: &mut Rng) {
        if people.len() <= room {
            for &p in people {
                self.slots[p].manager = Some(head);
            }
            return;
        }
        let chunk_size = 6 + rng.below(5);
        let chunks = people.len().div_ceil(chunk_size).clamp(room.min(3), room);
        let sizes = split(people.len(), &vec![1; chunks]);
        let mut rest = people;
        for size in sizes {
            let (chunk, tail) = rest.split_at(size);
            rest = tail;
            if let Some((&lead, members)) = chunk.split_first() {
                self.slots[lead].manager = Some(head);
                self.hang(lead, members, MAX_SPAN, rng);
            }
        }
    }
}

/// Lays out `size` people: one top manager (in "Ledning" at the head office), office heads when
/// there are several offices, department heads, team leads, and everyone else.
pub fn build_org(size: usize, rng: &mut Rng) -> Org {
    let mut org = Org::default();
    let office_count = ((size.isqrt() + 2) / 5).clamp(1, MAX_OFFICES);
    let head_office = rng.below(HEAD_OFFICE_CHOICES);
    let mut branches: Vec<usize> = (0..OFFICES.len()).filter(|&o| o != head_office).collect();
    rng.shuffle(&mut branches);
    org.offices = std::iter::once(head_office)
        .chain(branches)
        .take(office_count)
        .map(|o| &OFFICES[o])
        .collect();
    let weights: Vec<usize> = (0..office_count)
        .map(|k| {
            if k == 0 {
                40 + rng.below(20)
            } else {
                10 + rng.below(30)
            }
        })
        .collect();
    let office_sizes = split(size, &weights);

    let mut top = None;
    let mut office_heads = Vec::new();
    let mut management = Vec::new();
    for (k, &office_size) in office_sizes.iter().enumerate() {
        let mut budget = office_size;
        if k == 0 {
            let ledning = org.add_department(0, LEDNING);
            if budget > 0 {
                budget -= 1;
                top = Some(org.add_slot(0, Some(ledning), None));
            }
            let members = (budget / 4).min(1 + size / 500).min(4);
            budget -= members;
            management = org.add_slots(members, 0, ledning);
        }
        let office_head = if office_count == 1 {
            top
        } else if budget > 0 {
            budget -= 1;
            let head = org.add_slot(k, None, None);
            office_heads.push(head);
            Some(head)
        } else {
            None
        };
        let departments = pick_departments(k == 0, budget, rng);
        let weights: Vec<usize> = departments.iter().map(|_| 1 + rng.below(4)).collect();
        let mut department_heads = Vec::new();
        for (&catalog, &people) in departments.iter().zip(&split(budget, &weights)) {
            department_heads.extend(build_department(&mut org, k, catalog, people, rng));
        }
        if let Some(head) = office_head.or(top) {
            let free = if office_count == 1 {
                management.clone()
            } else {
                Vec::new()
            };
            org.attach(head, &department_heads, &free, rng);
        }
    }
    if let (Some(top), true) = (top, office_count > 1) {
        org.attach(top, &office_heads, &management, rng);
    }
    org
}

/// The departments (catalog indexes) an office with `people` employees has, in code order.
fn pick_departments(head_office: bool, people: usize, rng: &mut Rng) -> Vec<usize> {
    let order = if head_office {
        HEAD_OFFICE_DEPARTMENTS
    } else {
        BRANCH_DEPARTMENTS
    };
    let count = (people / 12).clamp(1, MAX_DEPARTMENTS).min(order.len());
    let (core, rest) = order.split_at(2.min(order.len()));
    let mut rest = rest.to_vec();
    rng.shuffle(&mut rest);
    let mut picked: Vec<usize> = core.iter().copied().chain(rest).take(count).collect();
    picked.sort_unstable();
    picked
}

/// Adds a department of `people` (its head first), split into teams when big enough; returns
/// the head.
fn build_department(
    org: &mut Org,
    office: usize,
    catalog: usize,
    people: usize,
    rng: &mut Rng,
) -> Option<usize> {
    let department = org.add_department(office, catalog);
    if people == 0 {
        return None;
    }
    let head = org.add_slot(office, Some(department), None);
    let members = people - 1;
    let names = DEPARTMENTS[catalog].teams;
    let team_count = if members >= 7 {
        (members / 7).min(names.len())
    } else {
        0
    };
    let mut chosen: Vec<usize> = (0..names.len()).collect();
    rng.shuffle(&mut chosen);
    chosen.truncate(team_count);
    chosen.sort_unstable();
    let unteamed = if chosen.is_empty() {
        members
    } else {
        members * (5 + rng.below(21)) / 100
    };
    let weights: Vec<usize> = chosen.iter().map(|_| 2 + rng.below(3)).collect();
    let team_sizes = split(members - unteamed, &weights);
    let department_code = org.departments[department].code;
    let mut leads = Vec::new();
    for (&t, &team_size) in chosen.iter().zip(&team_sizes) {
        org.teams.push(TeamUnit {
            name: names[t],
            code: department_code * 10 + t + 1,
        });
        let team = Some(org.teams.len() - 1);
        if team_size == 0 {
            continue;
        }
        let lead = org.add_slot(office, Some(department), team);
        let mates: Vec<usize> = (1..team_size)
            .map(|_| org.add_slot(office, Some(department), team))
            .collect();
        org.hang(lead, &mates, MAX_SPAN, rng);
        leads.push(lead);
    }
    let free = org.add_slots(unteamed, office, department);
    org.attach(head, &leads, &free, rng);
    Some(head)
}
