//! The synthetic Flex data generator: a realistic Swedish organisation in the emulator's data-file
//! format (`flex-hrm-api.md` section 4), and a working week of HR changes on top of it.
//!
//! Everything is drawn from the seed with a small SplitMix64 generator and dates are plain day
//! numbers computed from `today`, so one seed yields the same document forever.

mod company;
mod day;
mod document;
mod names;
mod org;
mod people;
mod rng;
mod week;

#[cfg(test)]
mod tests;

use jiff::civil::Date;
use serde::Deserialize;
use serde_json::{Map, Value};

use company::{CompanyInput, generate_company};
use day::Day;
use document::{ApiUser, Document};
use names::COMPANIES;
use rng::Rng;

/// The `Instance` (customer number) of generated documents.
pub const DEMO_INSTANCE: &str = "5257";
/// The one API user of generated documents; it may read every company.
pub const DEMO_USERNAME: &str = "flexsync";
pub const DEMO_PASSWORD: &str = "demo-password";

/// Independent random streams, so that ids do not shift when the data draws change.
const STREAM_DATA: u64 = 0x6461_7461;
const STREAM_IDS: u64 = 0x6964_7300_0000_0000;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    pub employees: usize,
    pub seed: u64,
    /// The day the data is "as of": leavers, future starters and ages are relative to it.
    pub today: Date,
    /// None: 1 up to 1500 employees, then about 1 per 3000, at most 4.
    pub companies: Option<usize>,
}

impl GenerateOptions {
    /// The number of companies to generate (always at least one).
    pub fn company_count(&self) -> usize {
        match self.companies {
            Some(count) => count.max(1),
            None => (self.employees.saturating_add(1500) / 3000).clamp(1, 4),
        }
    }
}

/// Generates one Flex emulator data file: companies, employees, employment periods, the
/// dimensions "Kontor", "Avdelning" and "Team" with their accounts, and default accounts.
pub fn generate(options: &GenerateOptions) -> Value {
    let today = Day::from_date(options.today);
    let mut rng = Rng::new(options.seed, STREAM_DATA);
    let mut ids = Rng::new(options.seed, STREAM_IDS);
    let instance_id = ids.guid();
    let company_count = options.company_count();
    let weights: Vec<usize> = (0..company_count)
        .map(|c| [10, 7, 5, 4].get(c).copied().unwrap_or(3))
        .collect();
    let sizes = split(options.employees, &weights);
    let first_name = rng.below(COMPANIES.len());
    let mut document = Document {
        instance: DEMO_INSTANCE.to_string(),
        api_users: vec![ApiUser {
            username: DEMO_USERNAME.to_string(),
            password: DEMO_PASSWORD.to_string(),
            company_ids: None,
            extra: Map::new(),
        }],
        companies: Vec::new(),
        employees: Vec::with_capacity(options.employees),
        employment_periods: Vec::with_capacity(options.employees + options.employees / 50),
        account_distributions: Vec::new(),
        employment_default_accounts: Vec::with_capacity(options.employees * 3),
        extra: Map::new(),
    };
    for (c, &size) in sizes.iter().enumerate() {
        let company = CompanyInput {
            index: c,
            catalog: (first_name + c) % COMPANIES.len(),
            size,
            instance_id: &instance_id,
        };
        generate_company(&company, today, &mut rng, &mut ids, &mut document);
    }
    document.into_value()
}

/// Applies a working week of HR changes to a generated document and returns one sentence per
/// change, naming the employee id: `count` new hires (period, default accounts and manager
/// copied from a colleague's place) and `count` leavers (their period ends yesterday), then one
/// each of: surname change, work email change, manager change, team/department move (the old
/// default accounts end yesterday, new ones start today) and department rename (the account's
/// `Name` changes, its `Code` stays). A change that finds nobody fitting is left out.
///
/// Keys the generator does not write are kept. A document that does not read as the generator's
/// format (records of other shapes or types) is left as it is, and nothing is said.
pub fn apply_changes(document: &mut Value, seed: u64, today: Date, count: usize) -> Vec<String> {
    let Ok(mut typed) = Document::deserialize(&*document) else {
        return Vec::new();
    };
    let said = week::apply(&mut typed, seed, Day::from_date(today), count);
    if !said.is_empty() {
        *document = typed.into_value();
    }
    said
}

/// `total * per_mille / 1000`, rounded.
fn share(total: usize, per_mille: usize) -> usize {
    (total * per_mille + 500) / 1000
}

/// Splits `total` into parts proportional to `weights` (largest remainder first).
fn split(total: usize, weights: &[usize]) -> Vec<usize> {
    let sum: usize = weights.iter().sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut parts: Vec<usize> = weights.iter().map(|w| total * w / sum).collect();
    let rest = total - parts.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(total * weights[i] % sum), i));
    for &i in order.iter().take(rest) {
        parts[i] += 1;
    }
    parts
}
