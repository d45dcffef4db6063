//! The fewest requests a scenario needs: one read per page at the largest page each end
//! allows, and one write per planned step (a step is one object or one membership chunk).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Context;
use serde_json::Value;

/// The Flex emulator's largest page (`pageSize`), as its API documents.
const FLEX_PAGE: usize = 1000;
/// The SCIM emulator's `filter.maxResults` (its default options).
const SCIM_PAGE: usize = 200;

/// Steps the run planned, summed over kinds, from its newest JSON report in `reports`.
pub fn planned_writes(reports: &Path) -> anyhow::Result<u64> {
    let newest = std::fs::read_dir(reports)
        .with_context(|| format!("cannot list {}", reports.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .context("the run wrote no report")?;
    let text = std::fs::read_to_string(newest.path())?;
    let report: Value = serde_json::from_str(&text)?;
    Ok(report["planned"]
        .as_object()
        .map(|kinds| kinds.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0))
}

/// Reads at the largest pages: the company list, each company's lists, every dimension's
/// accounts; SCIM discovery (each document once) and the user and group lists.
pub fn reads(
    document: &Value,
    (users, groups): (usize, usize),
    scim_counters: &BTreeMap<String, u64>,
) -> u64 {
    let mut total = 1; // the company list
    let mut per_company: HashMap<&str, [usize; 3]> = HashMap::new();
    for (slot, list) in [
        "Employees",
        "EmploymentPeriods",
        "EmploymentDefaultAccounts",
    ]
    .into_iter()
    .enumerate()
    {
        for record in document[list].as_array().into_iter().flatten() {
            let company = record["CompanyId"].as_str().unwrap_or_default();
            per_company.entry(company).or_default()[slot] += 1;
        }
    }
    for company in document["Companies"].as_array().into_iter().flatten() {
        let id = company["Id"].as_str().unwrap_or_default();
        let counts = per_company.get(id).copied().unwrap_or_default();
        total += counts.iter().map(|n| pages(*n, FLEX_PAGE)).sum::<u64>();
        total += 1; // its dimensions
        for dimension in document["AccountDistributions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if dimension["CompanyId"].as_str() == Some(id) {
                let accounts = dimension["Accounts"].as_array().map_or(0, Vec::len);
                total += pages(accounts, FLEX_PAGE);
            }
        }
    }
    let discovery = scim_counters
        .keys()
        .filter(|route| {
            route.starts_with("GET ")
                && ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"]
                    .iter()
                    .any(|known| route.ends_with(known))
        })
        .count() as u64;
    total + discovery + pages(users, SCIM_PAGE) + pages(groups, SCIM_PAGE)
}

/// Pages for `items` at `size` a page; an empty list still takes one read.
fn pages(items: usize, size: usize) -> u64 {
    items.div_ceil(size).max(1) as u64
}
