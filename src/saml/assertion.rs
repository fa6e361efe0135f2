//! The semantic checks on a signed assertion (SAML 2.0 core and the Web Browser SSO profile, as
//! AWS applies them) and the data the broker takes from it. Every value comes from the signed
//! subset ([`Signed`]); the raw Response is consulted only to refuse (status, destination,
//! issuer). Time is a parameter.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::dom::Element;
use super::error::SamlError;
use super::signature::Signed;
use super::{NS_ASSERTION, NS_PROTOCOL};

const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// Most attributes, and values per attribute, taken from one assertion.
const MAX_ATTRIBUTES: usize = 200;
const MAX_VALUES: usize = 200;

/// What the assertion must say to be for us.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    /// The IdP's entity id (metadata), required as `Issuer`.
    pub issuer: &'a str,
    /// Required in an `AudienceRestriction`.
    pub audience: &'a str,
    /// Required as the bearer confirmation's `Recipient` and, when present, `Destination`.
    pub recipient: &'a str,
    /// Allowed clock difference, in seconds.
    pub leeway: i64,
    pub now: OffsetDateTime,
}

/// A checked assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    pub id: String,
    pub issuer: String,
    pub name_id: String,
    /// `Format` of the NameID, if given.
    pub name_id_format: Option<String>,
    pub recipient: String,
    /// The earliest `NotOnOrAfter` (confirmation data and conditions), unix seconds: the
    /// assertion is worthless after it (plus leeway).
    pub not_on_or_after: i64,
    /// The assertion's `IssueInstant`, unix seconds.
    pub issue_instant: i64,
    /// Attributes by `Name` (case-sensitive), values in document order.
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// Checks the signed response against `expect`.
pub fn check_assertion(
    signed: &Signed,
    expect: &Expect<'_>,
) -> Result<VerifiedAssertion, SamlError> {
    let now = expect.now.unix_timestamp();
    // The Response's own claims: from the signed Response when it is signed, else refused if
    // the unsigned ones disagree.
    let response = signed.response.as_ref().unwrap_or(&signed.raw);
    for r in [&signed.raw, response] {
        let status = r
            .only_child(NS_PROTOCOL, "Status")?
            .and_then(|s| s.children_named(NS_PROTOCOL, "StatusCode").next())
            .and_then(|c| c.attr("Value"));
        if status != Some(SUCCESS) {
            return Err(SamlError::Status);
        }
        if let Some(destination) = r.attr("Destination")
            && destination != expect.recipient
        {
            return Err(SamlError::Destination);
        }
        if let Some(issuer) = r.only_child(NS_ASSERTION, "Issuer")?
            && issuer.text()? != expect.issuer
        {
            return Err(SamlError::Issuer);
        }
    }

    let a = &signed.assertion;
    if a.attr("Version") != Some("2.0") {
        return Err(SamlError::Malformed(
            "the assertion version is not 2.0".into(),
        ));
    }
    let id = a.attr("ID").unwrap_or_default().to_owned();
    let issue_instant = time_attr(a, "IssueInstant")?.ok_or(SamlError::Time("IssueInstant"))?;
    let issuer = a
        .only_child(NS_ASSERTION, "Issuer")?
        .ok_or(SamlError::Issuer)?
        .text()?;
    if issuer != expect.issuer {
        return Err(SamlError::Issuer);
    }

    let subject = a
        .only_child(NS_ASSERTION, "Subject")?
        .ok_or(SamlError::NameId)?;
    let name_id_el = subject
        .only_child(NS_ASSERTION, "NameID")?
        .ok_or(SamlError::NameId)?;
    let name_id = name_id_el.text()?;
    if name_id.trim().is_empty() || name_id.len() > 1024 {
        return Err(SamlError::NameId);
    }
    let name_id_format = name_id_el.attr("Format").map(str::to_owned);

    let confirmations: Vec<_> = subject
        .children_named(NS_ASSERTION, "SubjectConfirmation")
        .collect();
    let [confirmation] = confirmations.as_slice() else {
        return Err(SamlError::SubjectConfirmation);
    };
    if confirmation.attr("Method") != Some(BEARER) {
        return Err(SamlError::SubjectConfirmation);
    }
    let data = confirmation
        .only_child(NS_ASSERTION, "SubjectConfirmationData")?
        .ok_or(SamlError::SubjectConfirmation)?;
    let recipient = data
        .attr("Recipient")
        .ok_or(SamlError::SubjectConfirmation)?;
    if recipient != expect.recipient {
        return Err(SamlError::Recipient);
    }
    let confirmation_end =
        time_attr(data, "NotOnOrAfter")?.ok_or(SamlError::SubjectConfirmation)?;
    window(
        time_attr(data, "NotBefore")?,
        Some(confirmation_end),
        now,
        expect.leeway,
        "SubjectConfirmationData",
    )?;

    let conditions = a
        .only_child(NS_ASSERTION, "Conditions")?
        .ok_or(SamlError::Audience)?;
    let conditions_end = time_attr(conditions, "NotOnOrAfter")?;
    window(
        time_attr(conditions, "NotBefore")?,
        conditions_end,
        now,
        expect.leeway,
        "Conditions",
    )?;
    let restrictions: Vec<_> = conditions
        .children_named(NS_ASSERTION, "AudienceRestriction")
        .collect();
    if restrictions.is_empty() {
        return Err(SamlError::Audience);
    }
    for r in restrictions {
        let mut ok = false;
        for audience in r.children_named(NS_ASSERTION, "Audience") {
            ok |= audience.text()? == expect.audience;
        }
        if !ok {
            return Err(SamlError::Audience);
        }
    }

    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for statement in a.children_named(NS_ASSERTION, "AttributeStatement") {
        for attribute in statement.children_named(NS_ASSERTION, "Attribute") {
            let name = attribute
                .attr("Name")
                .filter(|n| !n.is_empty() && n.len() <= 1024)
                .ok_or_else(|| SamlError::Malformed("an Attribute has no valid Name".into()))?;
            if attributes.contains_key(name) {
                return Err(SamlError::Malformed(format!(
                    "attribute {} appears twice",
                    super::error::shorten(name, 100)
                )));
            }
            if attributes.len() >= MAX_ATTRIBUTES {
                return Err(SamlError::TooComplex("too many attributes"));
            }
            let mut values = Vec::new();
            for v in attribute.children_named(NS_ASSERTION, "AttributeValue") {
                if values.len() >= MAX_VALUES {
                    return Err(SamlError::TooComplex("too many attribute values"));
                }
                values.push(v.text()?);
            }
            attributes.insert(name.to_owned(), values);
        }
    }

    let not_on_or_after = conditions_end.map_or(confirmation_end, |c| c.min(confirmation_end));
    Ok(VerifiedAssertion {
        id,
        issuer,
        name_id,
        name_id_format,
        recipient: recipient.to_owned(),
        not_on_or_after,
        issue_instant,
        attributes,
    })
}

/// `not_before - leeway <= now < not_on_or_after + leeway`.
fn window(
    not_before: Option<i64>,
    not_on_or_after: Option<i64>,
    now: i64,
    leeway: i64,
    what: &'static str,
) -> Result<(), SamlError> {
    if let Some(nb) = not_before
        && now < nb.saturating_sub(leeway)
    {
        return Err(SamlError::NotYetValid(what));
    }
    if let Some(end) = not_on_or_after
        && now >= end.saturating_add(leeway)
    {
        return Err(SamlError::Expired {
            what,
            now,
            expires: end,
        });
    }
    Ok(())
}

/// An `xs:dateTime` attribute in UTC, as unix seconds.
fn time_attr(e: &Element, name: &'static str) -> Result<Option<i64>, SamlError> {
    e.attr(name)
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339)
                .map(OffsetDateTime::unix_timestamp)
                .map_err(|_| SamlError::Time(name))
        })
        .transpose()
}
