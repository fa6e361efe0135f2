//! Conformance: iam-simulate's core engine cases (AGPL-3.0 data, read at test time from
//! `../shared/testdata/policy/iam-simulate/coreEngineTests`, never copied). Cases with
//! `simulation.mode = "Discovery"` run with the [`Discovery`] evaluation option built from their
//! `discoveryContextKeyConstraints`. The `discoveryMode/` folder is skipped: it tests the rest of
//! that simulator's discovery extension (reports of ignored conditions, allowed-condition
//! matrices, resource policies that name a session granting its role), beyond this option.

use std::path::Path;

use serde_json::Value;
use sts_broker::policy::{
    Context, Decision, Discovery, KeyKnowledge, NamedPolicy, PolicySet, PolicyType, Principal,
    Request, Resource, decide, parse,
};

/// Cases where we follow AWS's documentation rather than the suite, with the fact that decides.
const DISAGREEMENTS: &[(&str, &str)] = &[(
    "sessionPolicies.json: Implicit deny in session policy denies even if session ARN in resource policy",
    "IAM User Guide, access_policies.md, Session policies: \"A resource-based policy can specify the \
     ARN of the session as a principal. In that case, the permissions from the resource-based policy \
     are added after the session is created. The resource-based policy permissions are not limited \
     by the session policy.\"",
)];

/// Inputs IAM itself refuses, so no decision exists to compare: identity policies carrying a
/// `Principal` element (IAM: "Policy document should not specify a principal.").
const REFUSED_BY_IAM: &str = "Policy document should not specify a principal.";

fn policy(value: &Value, name: String, t: PolicyType) -> Result<NamedPolicy, String> {
    let text = serde_json::to_string(value).unwrap();
    parse(&text, t)
        .map(|p| NamedPolicy::new(name.clone(), p))
        .map_err(|e| format!("{name}: {e}"))
}

fn policies(case: &Value, key: &str, t: PolicyType) -> Result<Vec<NamedPolicy>, String> {
    case.get(key)
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .enumerate()
                .map(|(i, p)| policy(p, format!("{key}[{i}]"), t))
                .collect()
        })
        .unwrap_or_else(|| Ok(Vec::new()))
}

fn org_levels(case: &Value, key: &str, t: PolicyType) -> Result<Vec<Vec<NamedPolicy>>, String> {
    case.get(key)
        .and_then(Value::as_array)
        .map(|levels| {
            levels
                .iter()
                .enumerate()
                .map(|(l, level)| {
                    level["policies"]
                        .as_array()
                        .map(|ps| {
                            ps.iter()
                                .enumerate()
                                .map(|(i, p)| policy(p, format!("{key}[{l}][{i}]"), t))
                                .collect()
                        })
                        .unwrap_or_else(|| Ok(Vec::new()))
                })
                .collect()
        })
        .unwrap_or_else(|| Ok(Vec::new()))
}

fn request(case: &Value) -> Result<Request, String> {
    let r = &case["request"];
    let principal = match &r["principal"] {
        Value::String(s) => Principal::parse(s).ok_or_else(|| format!("principal {s}"))?,
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("Anonymous") => {
            Principal::Anonymous
        }
        other => return Err(format!("principal {other}")),
    };
    let resource = Resource::new(r["resource"]["resource"].as_str().unwrap_or("*"))
        .with_account(r["resource"]["accountId"].as_str().unwrap_or_default());
    let mut context = Context::new();
    if let Some(entries) = r.get("context").and_then(Value::as_object) {
        for (k, v) in entries {
            context.insert_value(k, crate::support::context_value(v));
        }
    }
    let wildcard_only = r
        .get("wildcardOnlyAction")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let request = Request::new(
        principal,
        r["action"].as_str().unwrap_or_default(),
        resource,
        context,
    )
    .with_wildcard_only_action(wildcard_only);
    Ok(match discovery(case)? {
        Some(d) => request.with_discovery(d),
        None => request,
    })
}

/// The discovery option of a `"Discovery"`-mode case: each constraint names a key (or a
/// `/regex/`) and whether its presence and value are known.
fn discovery(case: &Value) -> Result<Option<Discovery>, String> {
    let Some(simulation) = case.get("simulation") else {
        return Ok(None);
    };
    match simulation.get("mode").and_then(Value::as_str) {
        Some("Discovery") => {}
        None | Some("Strict") => return Ok(None),
        Some(other) => return Err(format!("simulation mode {other}")),
    }
    let constraints = simulation
        .get("discoveryContextKeyConstraints")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    constraints
        .iter()
        .try_fold(Discovery::new(), |d, c| {
            let name = c["keyName"].as_str().ok_or("constraint without keyName")?;
            let flag = |f: &str| c.get(f).and_then(Value::as_bool).unwrap_or(false);
            let knowledge = KeyKnowledge::from_flags(flag("presenceIsKnown"), flag("valueIsKnown"))
                .ok_or_else(|| format!("{name}: value known without presence"))?;
            d.know(name, knowledge).map_err(|e| e.to_string())
        })
        .map(Some)
}

fn run_case(case: &Value) -> Result<Decision, String> {
    let request = request(case)?;
    let trust = request.action_lower().starts_with("sts:");
    let resource_type = if trust {
        PolicyType::Trust
    } else {
        PolicyType::Resource
    };
    let identity = policies(case, "identityPolicies", PolicyType::Identity)?;
    let boundary = policies(
        case,
        "permissionBoundaries",
        PolicyType::PermissionsBoundary,
    )?;
    let endpoint = policies(case, "endpointPolicies", PolicyType::Endpoint)?;
    let session = match case.get("sessionPolicy") {
        Some(p) => vec![policy(p, "sessionPolicy".into(), PolicyType::Session)?],
        None => Vec::new(),
    };
    let resource = match case.get("resourcePolicy") {
        Some(p) => Some(policy(p, "resourcePolicy".into(), resource_type)?),
        None => None,
    };
    let scps = org_levels(case, "serviceControlPolicies", PolicyType::Scp)?;
    let rcps = org_levels(case, "resourceControlPolicies", PolicyType::Rcp)?;
    let set = PolicySet {
        identity: &identity,
        resource: resource.as_ref(),
        resource_type,
        boundary: &boundary,
        session: &session,
        scps: &scps,
        rcps: &rcps,
        endpoint: &endpoint,
    };
    Ok(decide(&request, &set).decision)
}

fn expected(case: &Value) -> Decision {
    match case["expected"]["response"].as_str() {
        Some("Allowed") => Decision::Allowed,
        Some("ExplicitlyDenied") => Decision::ExplicitDeny,
        _ => Decision::ImplicitDeny,
    }
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "discoveryMode") {
                continue;
            }
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

#[test]
fn iam_simulate_core_engine_cases() {
    let Some(root) = crate::support::testdata("policy/iam-simulate/coreEngineTests") else {
        return;
    };
    let mut files = Vec::new();
    collect(&root, &mut files);
    let (mut passed, mut disagreed, mut total, mut discovery) = (0, 0, 0, 0);
    let mut refused = Vec::new();
    let mut failures = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&root).unwrap().display().to_string();
        let cases: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for case in cases {
            total += 1;
            if case.pointer("/simulation/mode").and_then(Value::as_str) == Some("Discovery") {
                discovery += 1;
            }
            let name = format!("{rel}: {}", case["name"].as_str().unwrap_or("?"));
            let want = expected(&case);
            let got = run_case(&case);
            let agreed = DISAGREEMENTS.iter().any(|(n, _)| *n == name);
            match got {
                Ok(got) if got == want && !agreed => passed += 1,
                Ok(got) if got != want && agreed => disagreed += 1,
                Ok(got) => failures.push(format!("{name}: expected {want:?}, got {got:?}")),
                Err(e) if e.contains(REFUSED_BY_IAM) => refused.push(name),
                Err(e) => failures.push(format!("{name}: could not run: {e}")),
            }
        }
    }
    println!(
        "iam-simulate core engine: {passed}/{total} agree ({discovery} in discovery mode), \
         {disagreed} documented disagreements, {} refused as IAM refuses them, {} failures; \
         discoveryMode/ folder skipped",
        refused.len(),
        failures.len()
    );
    for name in &refused {
        println!("  refused (identity policy with a Principal): {name}");
    }
    assert_eq!(
        disagreed,
        DISAGREEMENTS.len(),
        "a documented disagreement no longer disagrees"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
