//! Audit lines for authorize decisions, from both front doors (`POST /authorize` and the
//! `ext_authz` listener): one line per question answered, with the forwarded request's signer
//! as `principal`, the action and resource asked, `Allow` or `Deny`, the policy decision
//! (`implicitDeny`, `explicitDeny`) or the AWS code that refused the forwarded request as
//! `reason`, and the service that asked as `caller` (none for `ext_authz`).
//!
//! Nothing is computed when the audit log is off. The forwarded request's access key id is a
//! public id and is kept (bounded); its signature, token and other headers never are.

use std::net::IpAddr;

use crate::audit::{self, AuditEvent, AuditLog, Decision};
use crate::authz::{Answer, Forwarded};
use crate::broker::ApiError;
use crate::broker::error::Fault;
use crate::sigv4;

/// Where and by whom a question was asked.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub request_id: &'a str,
    /// The client's address as far as known.
    pub source_ip: Option<IpAddr>,
    /// The service that asked (`POST /authorize`'s signer).
    pub caller: Option<&'a str>,
    pub action: &'a str,
    pub resource: &'a str,
    /// When it was answered.
    pub at: time::OffsetDateTime,
}

/// The forwarded request was authenticated and decided.
pub fn decided(log: &AuditLog, asked: &Asked<'_>, forwarded: &Forwarded<'_>, answer: &Answer) {
    if !log.is_enabled() {
        return;
    }
    let (decision, reason) = if answer.allowed() {
        (Decision::Allow, None)
    } else {
        (
            Decision::Deny,
            Some(answer.evaluation.decision.as_str().to_owned()),
        )
    };
    let principal = Some(answer.authenticated.caller().arn().to_owned());
    write(log, asked, forwarded, principal, decision, reason);
}

/// The forwarded request was refused before any decision: its signature did not verify, its
/// session is revoked or expired, or the service failed (`Error`).
pub fn refused(log: &AuditLog, asked: &Asked<'_>, forwarded: &Forwarded<'_>, e: &ApiError) {
    if !log.is_enabled() {
        return;
    }
    let decision = if e.fault() == Fault::Receiver {
        Decision::Error
    } else {
        Decision::Deny
    };
    write(
        log,
        asked,
        forwarded,
        None,
        decision,
        Some(e.code.as_str().to_owned()),
    );
}

/// A question refused before the request was looked at (no route, unsigned body...):
/// `reason` says why.
pub fn refused_early(log: &AuditLog, asked: &Asked<'_>, reason: &str) {
    if !log.is_enabled() {
        return;
    }
    log.record(&event(
        asked,
        None,
        None,
        Decision::Deny,
        Some(reason.to_owned()),
    ));
}

fn write(
    log: &AuditLog,
    asked: &Asked<'_>,
    forwarded: &Forwarded<'_>,
    principal: Option<String>,
    decision: Decision,
    reason: Option<String>,
) {
    let access_key_id = sigv4::parse(&forwarded.request)
        .ok()
        .map(|p| audit::bounded(&p.credential.access_key_id));
    log.record(&event(asked, principal, access_key_id, decision, reason));
}

fn event(
    asked: &Asked<'_>,
    principal: Option<String>,
    access_key_id: Option<String>,
    decision: Decision,
    reason: Option<String>,
) -> AuditEvent {
    AuditEvent {
        time: crate::encoding::timestamp(asked.at),
        request_id: asked.request_id.to_owned(),
        source_ip: asked.source_ip.map(|ip| ip.to_string()),
        principal,
        action: audit::bounded(asked.action),
        decision,
        reason,
        access_key_id,
        resource: Some(audit::bounded(asked.resource)),
        caller: asked.caller.map(str::to_owned),
        ..AuditEvent::default()
    }
}
