//! Conformance: iam-simulate's condition-operator tables (AGPL-3.0 data, read at test time).
//! Each case puts `testValue` under a condition key and evaluates one operator with the case's
//! policy values and request context.

use serde_json::Value;
use sts_broker::policy::Context;
use sts_broker::policy::condition::{Condition, Operator};

use crate::support::context_value;

const KEY: &str = "test:key";

/// Table names that are not the operator they test, with the operator their cases describe.
/// `IpAddress`: every case name ("should be true if the IP address is not within the CIDR
/// block") describes `NotIpAddress`. `DateGreaterEqualsThan` is a misspelt table name.
fn operator_for(table: &str) -> &str {
    match table {
        "IpAddress" => "NotIpAddress",
        "DateGreaterEqualsThan" => "DateGreaterThanEquals",
        other => other,
    }
}

fn context(case: &Value) -> Context {
    let mut ctx = Context::new();
    if let Some(entries) = case.get("requestContext").and_then(Value::as_object) {
        for (k, v) in entries {
            ctx.insert_value(k, context_value(v));
        }
    }
    ctx.insert_value(KEY, context_value(&case["testValue"]));
    ctx
}

#[test]
fn iam_simulate_condition_operator_tables() {
    let Some(path) = crate::support::testdata("policy/iam-simulate/condition-operator-tests.json")
    else {
        return;
    };
    let tables: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (mut passed, mut total) = (0, 0);
    let mut failures = Vec::new();
    for (table, cases) in &tables {
        let operator = Operator::parse(operator_for(table))
            .unwrap_or_else(|| panic!("unknown operator table {table}"));
        for case in cases.as_array().unwrap() {
            total += 1;
            let values: Vec<String> = case["policyValues"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect();
            let condition = Condition::new(operator, KEY, values, true);
            let got = condition.evaluate(&context(case));
            let want = case["expected"].as_bool().unwrap();
            if got == want {
                passed += 1;
            } else {
                failures.push(format!(
                    "{table}: {}: expected {want}, got {got}",
                    case["name"]
                ));
            }
        }
    }
    println!("iam-simulate condition operators: {passed}/{total} agree");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
