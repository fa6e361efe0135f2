//! Claim checks on a token whose signature has been verified (RFC 7519 §4.1, OIDC Core
//! §3.1.3.7 items 2–3 and 9–10, as STS applies them to `AssumeRoleWithWebIdentity`).
//!
//! Pure: "now" is an argument. `iss` must equal the provider's issuer exactly (or one of the
//! spellings the operator listed); `aud` (a string or an
//! array of strings) must contain one of its client ids; `sub` must be a non-empty string; `exp`
//! is required and `nbf`/`iat` optional, all non-negative integer NumericDates (STS refuses
//! fractional timestamps). `exp <= now - leeway` is expired; `nbf` or `iat` after
//! `now + leeway` is refused. No other claim is interpreted here.

use std::time::Duration;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::error::OidcError;

/// What the provider expects of a token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expectations<'a> {
    /// The configured issuer; compared exactly.
    pub issuer: &'a str,
    /// Other spellings the operator accepts, compared exactly.
    pub accepted_issuers: &'a [String],
    pub client_ids: &'a [String],
    pub leeway: Duration,
}

/// The checked claims a caller needs besides the full claim set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    pub subject: String,
    /// The client id that matched, in the token's `aud` order.
    pub audience: String,
    pub expires_at: OffsetDateTime,
}

/// Checks `claims` against `expect` at time `now`.
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    expect: &Expectations<'_>,
    now: OffsetDateTime,
) -> Result<Checked, OidcError> {
    match claims.get("iss") {
        Some(Value::String(iss))
            if iss == expect.issuer || expect.accepted_issuers.iter().any(|a| a == iss) => {}
        Some(Value::String(iss)) => return Err(OidcError::unknown_issuer(iss)),
        Some(_) => {
            return Err(OidcError::InvalidClaim {
                claim: "iss",
                reason: "is not a string",
            });
        }
        None => return Err(OidcError::MissingClaim("iss")),
    }

    let audience = matching_audience(claims.get("aud"), expect.client_ids)?.to_owned();

    let subject = match claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
        Some(Value::String(_)) => {
            return Err(OidcError::InvalidClaim {
                claim: "sub",
                reason: "is empty",
            });
        }
        Some(_) => {
            return Err(OidcError::InvalidClaim {
                claim: "sub",
                reason: "is not a string",
            });
        }
        None => return Err(OidcError::MissingClaim("sub")),
    };

    let exp = numeric_date(claims, "exp")?.ok_or(OidcError::MissingClaim("exp"))?;
    let nbf = numeric_date(claims, "nbf")?;
    let iat = numeric_date(claims, "iat")?;
    let expires_at =
        OffsetDateTime::from_unix_timestamp(exp).map_err(|_| OidcError::InvalidClaim {
            claim: "exp",
            reason: "is out of range",
        })?;

    let now_s = now.unix_timestamp();
    let leeway = i64::try_from(expect.leeway.as_secs()).unwrap_or(i64::MAX);
    if exp.saturating_add(leeway) <= now_s {
        return Err(OidcError::Expired {
            now: now_s,
            expires: exp,
        });
    }
    if let Some(nbf) = nbf
        && nbf > now_s.saturating_add(leeway)
    {
        return Err(OidcError::NotYetValid {
            now: now_s,
            not_before: nbf,
        });
    }
    if let Some(iat) = iat
        && iat > now_s.saturating_add(leeway)
    {
        return Err(OidcError::IssuedInFuture {
            now: now_s,
            issued_at: iat,
        });
    }

    Ok(Checked {
        subject,
        audience,
        expires_at,
    })
}

/// The issuer without one trailing `/`, to build the discovery URL (OIDC Discovery §4).
pub(crate) fn normalize_issuer(issuer: &str) -> &str {
    issuer.strip_suffix('/').unwrap_or(issuer)
}

/// The first entry of `aud` that is a configured client id.
fn matching_audience<'c>(
    aud: Option<&'c Value>,
    client_ids: &[String],
) -> Result<&'c str, OidcError> {
    let configured = |a: &str| client_ids.iter().any(|id| id == a);
    match aud {
        Some(Value::String(a)) if configured(a) => Ok(a),
        Some(Value::Array(items)) => {
            if !items.iter().all(Value::is_string) {
                return Err(OidcError::InvalidClaim {
                    claim: "aud",
                    reason: "is not a string or an array of strings",
                });
            }
            items
                .iter()
                .filter_map(Value::as_str)
                .find(|a| configured(a))
                .ok_or(OidcError::IncorrectAudience)
        }
        Some(Value::String(_)) | None => Err(OidcError::IncorrectAudience),
        Some(_) => Err(OidcError::InvalidClaim {
            claim: "aud",
            reason: "is not a string or an array of strings",
        }),
    }
}

/// A NumericDate claim: absent, or a non-negative integer number of seconds.
fn numeric_date(
    claims: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<i64>, OidcError> {
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(seconds) if seconds >= 0 => Ok(Some(seconds)),
            _ => Err(OidcError::InvalidClaim {
                claim,
                reason: "is not a non-negative integer NumericDate",
            }),
        },
        Some(_) => Err(OidcError::InvalidClaim {
            claim,
            reason: "is not a non-negative integer NumericDate",
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::oidc::testkit::{payload_of, testdata};

    const ISS: &str = "https://idp.example";
    const NOW: i64 = 1_700_000_000;

    fn ids() -> Vec<String> {
        vec!["sts.amazonaws.com".into(), "other".into()]
    }

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).unwrap()
    }

    fn check(claims: Value, leeway: u64) -> Result<Checked, OidcError> {
        let ids = ids();
        let expect = Expectations {
            issuer: ISS,
            accepted_issuers: &[],
            client_ids: &ids,
            leeway: Duration::from_secs(leeway),
        };
        check_claims(claims.as_object().unwrap(), &expect, at(NOW))
    }

    fn base() -> Value {
        json!({"iss": ISS, "aud": "sts.amazonaws.com", "sub": "repo:o/r:ref:refs/heads/main", "exp": NOW + 600})
    }

    fn with(changes: Value) -> Value {
        let mut claims = base();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    #[test]
    fn accepts_a_good_token() {
        let checked = check(base(), 0).unwrap();
        assert_eq!(checked.subject, "repo:o/r:ref:refs/heads/main");
        assert_eq!(checked.audience, "sts.amazonaws.com");
        assert_eq!(checked.expires_at, at(NOW + 600));
    }

    #[test]
    fn listed_issuer_spellings_are_accepted_exactly() {
        let ids = ids();
        let also = vec!["https://idp.example/".to_owned()];
        let expect = Expectations {
            issuer: ISS,
            accepted_issuers: &also,
            client_ids: &ids,
            leeway: Duration::ZERO,
        };
        let mut claims = base();
        claims["iss"] = json!("https://idp.example/");
        assert!(check_claims(claims.as_object().unwrap(), &expect, at(NOW)).is_ok());
        claims["iss"] = json!("https://idp.example//");
        assert!(check_claims(claims.as_object().unwrap(), &expect, at(NOW)).is_err());
    }

    #[test]
    fn issuer_compares_exactly() {
        for other in [
            "https://idp.example/",
            "https://IDP.example",
            "https://idp.example/x",
            "http://idp.example",
            "https://idp.example//",
        ] {
            assert!(
                matches!(
                    check(with(json!({ "iss": other })), 0),
                    Err(OidcError::UnknownIssuer { .. })
                ),
                "{other}"
            );
        }
        assert!(matches!(
            check(with(json!({"iss": null})), 0),
            Err(OidcError::MissingClaim("iss"))
        ));
    }

    #[test]
    fn audience_must_contain_a_client_id() {
        let aud = |v: Value| check(with(json!({ "aud": v })), 0);
        assert_eq!(
            aud(json!(["x", "other", "sts.amazonaws.com"]))
                .unwrap()
                .audience,
            "other"
        );
        assert!(matches!(
            aud(json!("sts.amazonaws.com ")),
            Err(OidcError::IncorrectAudience)
        ));
        assert!(matches!(
            aud(json!("STS.amazonaws.com")),
            Err(OidcError::IncorrectAudience)
        ));
        assert!(matches!(aud(json!([])), Err(OidcError::IncorrectAudience)));
        assert!(matches!(
            aud(json!(["sts.amazonaws.com", 1])),
            Err(OidcError::InvalidClaim { claim: "aud", .. })
        ));
        assert!(matches!(
            aud(json!({"sts.amazonaws.com": true})),
            Err(OidcError::InvalidClaim { claim: "aud", .. })
        ));
        assert!(matches!(
            check(with(json!({"aud": null})), 0),
            Err(OidcError::IncorrectAudience)
        ));
        assert_eq!(
            OidcError::IncorrectAudience.to_string(),
            "Incorrect token audience"
        );
    }

    #[test]
    fn subject_is_a_required_string() {
        assert!(matches!(
            check(with(json!({"sub": null})), 0),
            Err(OidcError::MissingClaim("sub"))
        ));
        assert!(matches!(
            check(with(json!({"sub": 42})), 0),
            Err(OidcError::InvalidClaim { claim: "sub", .. })
        ));
        assert!(matches!(
            check(with(json!({"sub": ""})), 0),
            Err(OidcError::InvalidClaim { claim: "sub", .. })
        ));
    }

    #[test]
    fn times_are_integers_checked_with_leeway() {
        type Expect = fn(&Result<Checked, OidcError>) -> bool;
        let ok: Expect = |r| r.is_ok();
        let expired: Expect = |r| matches!(r, Err(OidcError::Expired { .. }));
        let early: Expect = |r| matches!(r, Err(OidcError::NotYetValid { .. }));
        let future: Expect = |r| matches!(r, Err(OidcError::IssuedInFuture { .. }));
        let bad: Expect = |r| matches!(r, Err(OidcError::InvalidClaim { .. }));
        let missing: Expect = |r| matches!(r, Err(OidcError::MissingClaim("exp")));
        let cases: Vec<(&str, Value, u64, Expect)> = vec![
            ("exp one second ahead", json!({"exp": NOW + 1}), 0, ok),
            ("exp now", json!({"exp": NOW}), 0, expired),
            ("exp now, leeway 1", json!({"exp": NOW}), 1, ok),
            (
                "exp 60s ago, leeway 60",
                json!({"exp": NOW - 60}),
                60,
                expired,
            ),
            ("exp 59s ago, leeway 60", json!({"exp": NOW - 59}), 60, ok),
            ("exp missing", json!({"exp": null}), 0, missing),
            (
                "exp float",
                json!({"exp": (NOW + 600) as f64 + 0.5}),
                0,
                bad,
            ),
            (
                "exp integral float",
                json!({"exp": (NOW + 600) as f64}),
                0,
                bad,
            ),
            (
                "exp string",
                json!({"exp": (NOW + 600).to_string()}),
                0,
                bad,
            ),
            ("exp negative", json!({"exp": -1}), 0, bad),
            ("exp beyond i64", json!({"exp": u64::MAX}), 0, bad),
            (
                "exp beyond year 9999",
                json!({"exp": 253_402_300_800_i64}),
                0,
                bad,
            ),
            ("nbf now", json!({"nbf": NOW}), 0, ok),
            ("nbf one second ahead", json!({"nbf": NOW + 1}), 0, early),
            ("nbf 30s ahead, leeway 30", json!({"nbf": NOW + 30}), 30, ok),
            ("nbf float", json!({"nbf": 1.5}), 0, bad),
            ("iat now", json!({"iat": NOW}), 0, ok),
            ("iat one second ahead", json!({"iat": NOW + 1}), 0, future),
            ("iat 5s ahead, leeway 5", json!({"iat": NOW + 5}), 5, ok),
            ("iat null", json!({"iat": [1]}), 0, bad),
        ];
        for (name, changes, leeway, expected) in cases {
            let result = check(with(changes), leeway);
            assert!(expected(&result), "{name}: {result:?}");
        }
        let msg = check(with(json!({"exp": NOW - 10})), 0)
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            format!(
                "Token expired: current date/time {NOW} must be before the expiration date/time {}",
                NOW - 10
            )
        );
    }

    /// The claim sets of nginx-auth-jwt's named tokens (their signatures are HS*/none for
    /// these, refused earlier, so only the claims are checked here), at 2023-01-01.
    #[test]
    fn nginx_auth_jwt_claim_vectors() {
        let Some(dir) = testdata("jwt/nginx-auth-jwt") else {
            return;
        };
        let text = std::fs::read_to_string(dir.join("tokens.json")).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        let now = at(1_672_531_200);
        type Expect = fn(&Result<Checked, OidcError>) -> bool;
        let cases: [(&str, Expect); 13] = [
            ("test1_jwt", |r| r.is_ok()),
            ("test1_invalid_exp_jwt", |r| {
                matches!(r, Err(OidcError::Expired { .. }))
            }),
            ("test1_invalid_exp_negative_jwt", |r| {
                matches!(r, Err(OidcError::InvalidClaim { claim: "exp", .. }))
            }),
            ("test1_invalid_iat_jwt", |r| {
                matches!(r, Err(OidcError::InvalidClaim { claim: "iat", .. }))
            }),
            ("test1_missing_iss_jwt", |r| {
                matches!(r, Err(OidcError::MissingClaim("iss")))
            }),
            ("test1_missing_sub_jwt", |r| {
                matches!(r, Err(OidcError::MissingClaim("sub")))
            }),
            ("test1_missing_iat_jwt", |r| r.is_ok()),
            ("test1_with_nbf_jwt", |r| r.is_ok()),
            ("test1_with_invalid_nbf_jwt", |r| {
                matches!(r, Err(OidcError::NotYetValid { .. }))
            }),
            ("test1_with_nonce_jwt", |r| r.is_ok()),
            (
                "test10_jwt",
                |r| matches!(r, Ok(c) if c.audience == "test10.audience.example.com"),
            ),
            ("require_claim_jwt", |r| {
                matches!(r, Err(OidcError::IncorrectAudience))
            }),
            ("require_claim_real_jwt", |r| {
                matches!(
                    r,
                    Err(OidcError::IncorrectAudience | OidcError::InvalidClaim { .. })
                )
            }),
        ];
        for (name, expected) in cases {
            let token = doc["tokens"][name]["token"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} missing"));
            let claims = payload_of(token);
            let issuer = claims
                .get("iss")
                .and_then(Value::as_str)
                .unwrap_or("https://test1.issuer.example.com")
                .to_owned();
            let n = name.trim_start_matches("test").split('_').next().unwrap();
            let ids = vec![format!("test{n}.audience.example.com")];
            let expect = Expectations {
                issuer: &issuer,
                accepted_issuers: &[],
                client_ids: &ids,
                leeway: Duration::ZERO,
            };
            let result = check_claims(&claims, &expect, now);
            assert!(expected(&result), "{name}: {result:?}");
        }
    }

    /// Tink's timing and audience cases that carry integer times (its float cases are refused
    /// here by design, as STS refuses them).
    #[test]
    fn tink_claim_vectors() {
        let Some(dir) = testdata("jwt/tink-jwt-validation") else {
            return;
        };
        let text = std::fs::read_to_string(dir.join("cases.json")).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        let cases = doc["cases"].as_array().unwrap();
        let names = [
            "exp_same_time_expired",
            "exp_one_second_before_ok",
            "exp_3s_late_skew3_expired",
            "exp_2s_late_skew3_ok",
            "nbf_same_time_ok",
            "nbf_one_second_before_invalid",
            "nbf_3s_early_skew3_ok",
            "nbf_3s_early_skew2_invalid",
            "iat_same_time_ok",
            "iat_future_invalid",
            "iat_3s_future_skew3_ok",
            "iat_3s_future_skew2_invalid",
            "aud_array_match_first",
            "aud_array_match_second",
            "aud_case_mismatch",
            "aud_trailing_space_mismatch",
            "aud_string_match",
            "aud_array_wrong_type",
            "aud_empty_array",
            "exp_float_before",
            "nbf_float_after_ok",
        ];
        for name in names {
            let case = cases
                .iter()
                .find(|c| c["name"] == name)
                .unwrap_or_else(|| panic!("{name} missing"));
            let v = &case["validator"];
            let mut claims = payload_of(case["token"].as_str().unwrap());
            // Fill in what STS requires and tink's case leaves out.
            claims.entry("iss").or_insert(json!(ISS));
            claims.entry("sub").or_insert(json!("s"));
            claims.entry("exp").or_insert(json!(i64::from(u32::MAX)));
            let audience = v["expected_audience"].as_str().unwrap_or("joe").to_owned();
            claims.entry("aud").or_insert(json!(audience));
            let ids = vec![audience];
            let now = v["fixed_now"].as_f64().map_or(NOW, |t| t as i64);
            let expect = Expectations {
                issuer: ISS,
                accepted_issuers: &[],
                client_ids: &ids,
                leeway: Duration::from_secs(v["clock_skew"].as_u64().unwrap_or(0)),
            };
            let ours = check_claims(&claims, &expect, at(now)).is_ok();
            let tink_valid = case["expected"] == "valid";
            let float_time = name.contains("float");
            // With fractional times ours differs from tink by design: refused, whatever tink says.
            assert_eq!(ours, tink_valid && !float_time, "tink case {name}");
        }
    }
}
