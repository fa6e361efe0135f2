//! IAM's virtual MFA device actions (docs/operations.md, "Virtual MFA devices through IAM's
//! API"): `CreateVirtualMFADevice`, `EnableMFADevice`, `DeactivateMFADevice`,
//! `ResyncMFADevice`, `ListMFADevices`, `ListVirtualMFADevices` and `DeleteVirtualMFADevice`.
//!
//! Authorized as IAM's service authorization reference has it: the create and delete actions
//! on the device's ARN (its serial, `arn:aws:iam::ACCOUNT:mfa/PATH/NAME`), the others on the
//! user's ARN, `ListVirtualMFADevices` on `*`; a serial of another account names nothing
//! (`NoSuchEntity`). The seed is made here (20 random bytes, base32), sealed under the signing
//! session key before it is stored, and shown once, in the `CreateVirtualMFADevice` answer
//! (base32 text and a QR code PNG, both base64 as IAM's blobs are); it is never logged.
//! Inputs are checked in this order: signature, parameter shapes, authorization, codes, then
//! the change ([`iam_api::change_mfa`]).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Serialize, Serializer};
use zeroize::Zeroizing;

use super::Members;
use super::roles::{Calling, Nothing, TagXml, calling, date, page, paging, required, tags};
use super::users::UserXml;
use crate::broker::{ApiError, Broker, RequestMeta, caller, iam_api};
use crate::iam::api::{self, AccountDocument, IamApiError};
use crate::iam::mfa::{self, MfaChange, StoredMfaDevice};
use crate::iam::{Origin, User, mfa_context, user_arn};
use crate::query::Params;
use crate::secret::Secret;

/// Random bytes in a new seed (RFC 4226's recommended 160 bits; 32 base32 characters).
const SEED_BYTES: usize = 20;
/// Pixels per QR module, and modules of white around the symbol (the QR standard's minimum).
const PNG_SCALE: usize = 4;
const PNG_QUIET_ZONE: usize = 4;
/// The issuer authenticator apps show for the broker's devices.
const ISSUER: &str = "sts-broker";

/// A blob of the answer that holds the seed: base64, wiped after it is written, never printed.
#[derive(Debug)]
pub struct SecretBlob(Secret);

impl Serialize for SecretBlob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.expose())
    }
}

/// `VirtualMFADevice` as `CreateVirtualMFADevice` answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreatedDeviceXml {
    pub serial_number: String,
    pub base32_string_seed: SecretBlob,
    #[serde(rename = "QRCodePNG")]
    pub qr_code_png: SecretBlob,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Members<TagXml>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateVirtualMfaDeviceResult {
    #[serde(rename = "VirtualMFADevice")]
    pub virtual_mfa_device: CreatedDeviceXml,
}

/// `VirtualMFADevice` as `ListVirtualMFADevices` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VirtualDeviceXml {
    pub serial_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserXml>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Members<TagXml>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVirtualMfaDevicesResult {
    #[serde(rename = "VirtualMFADevices")]
    pub virtual_mfa_devices: Members<VirtualDeviceXml>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// `MFADevice` as `ListMFADevices` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MfaDeviceXml {
    pub user_name: String,
    pub serial_number: String,
    pub enable_date: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListMfaDevicesResult {
    #[serde(rename = "MFADevices")]
    pub mfa_devices: Members<MfaDeviceXml>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// A user name parameter: 1–64 of `[\w+=,.@-]`.
fn user_name(params: &Params) -> Result<&str, ApiError> {
    let name = required(params, "UserName")?;
    api::check_name("userName", name, 64)?;
    Ok(name)
}

fn serial_param(params: &Params) -> Result<&str, ApiError> {
    let serial = required(params, "SerialNumber")?;
    mfa::check_serial(serial)?;
    Ok(serial)
}

/// `AuthenticationCode1` and `AuthenticationCode2`: six digits each.
fn codes(params: &Params) -> Result<(&str, &str), ApiError> {
    let first = required(params, "AuthenticationCode1")?;
    let second = required(params, "AuthenticationCode2")?;
    mfa::check_code("authenticationCode1", first)?;
    mfa::check_code("authenticationCode2", second)?;
    Ok((first, second))
}

/// The caller's account's stored document, as this replica serves it.
fn document<'a>(state: &'a Broker, caller: &Calling) -> Option<&'a AccountDocument> {
    state
        .iam_layer
        .accounts
        .get(&caller.account)
        .map(|r| &r.document)
        .filter(|d| !d.is_unusable())
}

/// A serial of the caller's account, else `NoSuchEntity`: another account's devices are not
/// there for this caller.
fn own_serial(caller: &Calling, serial: &str) -> Result<(), ApiError> {
    match mfa::split_serial(serial) {
        Some((account, _)) if account == caller.account => Ok(()),
        _ => Err(mfa::no_such_device(serial).into()),
    }
}

/// `iam:<action>` on user `name` (its ARN, or at path `/` when it does not exist; a denial
/// names it at path `/`), then the user.
fn allow_user<'a>(
    state: &'a Broker,
    caller: &Calling,
    meta: &RequestMeta,
    action: &str,
    name: &str,
) -> Result<&'a Arc<User>, ApiError> {
    let shown = user_arn(&caller.account, "/", name);
    let user = state.config.iam.user_named(&caller.account, name);
    let resource = user.map_or_else(|| shown.clone(), |u| u.arn.clone());
    caller.allow_as(state, meta, action, &resource, &shown, Vec::new())?;
    user.ok_or_else(|| crate::iam::users::no_such_user(name).into())
}

/// A device defined in the configuration file: read-only here. Checked before the codes so
/// that none is spent on it.
fn not_a_file_device(state: &Broker, serial: &str) -> Result<(), ApiError> {
    match state.config.iam.mfa_device(serial) {
        Some(d) if d.origin != Origin::Api => {
            let source = match &d.origin {
                Origin::File(s) => s.as_str(),
                Origin::Api => "",
            };
            Err(IamApiError::Unmodifiable(format!(
                "Cannot modify MFA device {serial}: it is defined in the configuration file \
                 {source}; change it there."
            ))
            .into())
        }
        _ => Ok(()),
    }
}

/// `CreateVirtualMFADevice`: with tags, also `iam:TagMFADevice`.
pub async fn create_virtual_mfa_device(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<CreateVirtualMfaDeviceResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = required(params, "VirtualMFADeviceName")?;
    mfa::check_name(name)?;
    let path = params.get("Path").unwrap_or("/");
    api::check_path("path", path)?;
    let tags = tags(params)?;
    let serial = mfa::serial(&caller.account, path, name);
    if serial.len() > mfa::MAX_SERIAL {
        return Err(IamApiError::InvalidInput(format!(
            "The serial number of this device would be longer than {} characters: use a \
             shorter path or name.",
            mfa::MAX_SERIAL
        ))
        .into());
    }
    caller.allow_create(
        state,
        meta,
        ("CreateVirtualMFADevice", "TagMFADevice"),
        &serial,
        &tags,
        None,
    )?;
    let now = state.clock.now();
    let seed = new_seed()?;
    let sealed = crate::broker::sealing::seal(state, seed.as_bytes(), &mfa_context(&serial))?;
    let stored = StoredMfaDevice {
        name: name.to_owned(),
        path: path.to_owned(),
        seed: sealed,
        enabled: None,
        tags: tags.clone(),
        created: now.unix_timestamp(),
    };
    iam_api::change_mfa(state, &caller.account, &MfaChange::Create(stored)).await?;
    let account_name = state
        .config
        .iam
        .accounts
        .get(&caller.account)
        .and_then(|a| a.served_alias())
        .unwrap_or(&caller.account);
    let uri = otpauth_uri(name, account_name, &seed);
    let png = qr_png(&uri)?;
    let tags: Vec<TagXml> = tags
        .into_iter()
        .map(|t| TagXml {
            key: t.key,
            value: t.value,
        })
        .collect();
    Ok(CreateVirtualMfaDeviceResult {
        virtual_mfa_device: CreatedDeviceXml {
            serial_number: serial,
            base32_string_seed: SecretBlob(Secret::new(STANDARD.encode(seed.as_bytes()))),
            qr_code_png: SecretBlob(Secret::new(STANDARD.encode(png.as_slice()))),
            tags: (!tags.is_empty()).then(|| tags.into()),
        },
    })
}

/// A new seed: [`SEED_BYTES`] from the system's CSPRNG, as base32 without padding.
fn new_seed() -> Result<Zeroizing<String>, ApiError> {
    let mut raw = Zeroizing::new([0u8; SEED_BYTES]);
    crate::random::fill(raw.as_mut()).map_err(|_| ApiError::internal())?;
    Ok(Zeroizing::new(
        data_encoding::BASE32_NOPAD.encode(raw.as_ref()),
    ))
}

/// `otpauth://totp/NAME@ACCOUNT?secret=SEED&issuer=sts-broker` (Google Authenticator's key URI
/// format, as IAM's QR codes carry it: the device's name at the account's alias or id).
pub fn otpauth_uri(name: &str, account: &str, seed: &str) -> Zeroizing<String> {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const LABEL: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');
    Zeroizing::new(format!(
        "otpauth://totp/{}@{}?secret={seed}&issuer={ISSUER}",
        utf8_percent_encode(name, LABEL),
        utf8_percent_encode(account, LABEL),
    ))
}

/// The QR code of `text` as a PNG: dark modules on white, 1 bit per pixel, [`PNG_SCALE`]
/// pixels per module and a quiet zone of [`PNG_QUIET_ZONE`] modules.
pub fn qr_png(text: &str) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let failed = |what: &str| {
        tracing::error!(what, "a virtual MFA device's QR code could not be made");
        ApiError::internal()
    };
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|_| failed("symbol"))?;
    let modules = code.width();
    let dark = Zeroizing::new(
        code.to_colors()
            .iter()
            .map(|c| *c == qrcode::Color::Dark)
            .collect::<Vec<bool>>(),
    );
    let side = (modules + 2 * PNG_QUIET_ZONE) * PNG_SCALE;
    let row_bytes = side.div_ceil(8);
    // 1 is white in a 1-bit grayscale PNG.
    let mut pixels = Zeroizing::new(vec![0xffu8; row_bytes * side]);
    for y in 0..side {
        for x in 0..side {
            let (mx, my) = (x / PNG_SCALE, y / PNG_SCALE);
            let inside = (PNG_QUIET_ZONE..PNG_QUIET_ZONE + modules).contains(&mx)
                && (PNG_QUIET_ZONE..PNG_QUIET_ZONE + modules).contains(&my);
            if inside
                && dark
                    .get((my - PNG_QUIET_ZONE) * modules + (mx - PNG_QUIET_ZONE))
                    .copied()
                    .unwrap_or(false)
                && let Some(byte) = pixels.get_mut(y * row_bytes + x / 8)
            {
                *byte &= !(0x80u8 >> (x % 8));
            }
        }
    }
    let side = u32::try_from(side).map_err(|_| failed("size"))?;
    let mut out = Zeroizing::new(Vec::new());
    {
        let mut encoder = png::Encoder::new(&mut *out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::One);
        let mut writer = encoder.write_header().map_err(|_| failed("header"))?;
        writer
            .write_image_data(&pixels)
            .map_err(|_| failed("image"))?;
        writer.finish().map_err(|_| failed("end"))?;
    }
    Ok(out)
}

/// `EnableMFADevice`: two consecutive codes of the device (found within five minutes of the
/// broker's clock; the device's drift is recorded), then the device is enabled for the user.
pub async fn enable_mfa_device(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = user_name(params)?;
    let serial = serial_param(params)?;
    let pair = codes(params)?;
    let user = allow_user(state, &caller, meta, "EnableMFADevice", name)?;
    own_serial(&caller, serial)?;
    not_a_file_device(state, serial)?;
    let (_, device) = document(state, &caller)
        .and_then(|doc| mfa::find(doc, &caller.account, serial))
        .ok_or_else(|| mfa::no_such_device(serial))?;
    if device.enabled.is_some() {
        return Err(IamApiError::AlreadyExists("MFA Device is already in use.".to_owned()).into());
    }
    let now = state.clock.now();
    let secret = device.secret(&caller.account);
    let drift_steps = caller::check_mfa_pair(state, serial, &secret, pair, now).await?;
    let change = MfaChange::Enable {
        serial: serial.to_owned(),
        user: user.name.clone(),
        user_id: user.user_id.clone(),
        seed: device.seed.clone(),
        at: now.unix_timestamp(),
        drift_steps,
    };
    iam_api::change_mfa(state, &caller.account, &change).await?;
    Ok(Nothing {})
}

/// `ResyncMFADevice`: two consecutive codes found within five minutes of the broker's clock
/// set the device's recorded drift anew, so its later codes are checked at the time its clock
/// shows. The file's devices are not resynchronized (read-only).
pub async fn resync_mfa_device(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = user_name(params)?;
    let serial = serial_param(params)?;
    let pair = codes(params)?;
    let user = allow_user(state, &caller, meta, "ResyncMFADevice", name)?;
    own_serial(&caller, serial)?;
    not_a_file_device(state, serial)?;
    let device = document(state, &caller)
        .and_then(|doc| mfa::find(doc, &caller.account, serial))
        .map(|(_, d)| d)
        .filter(|d| {
            d.enabled
                .as_ref()
                .is_some_and(|e| e.user_id == user.user_id)
        })
        .ok_or_else(|| mfa::not_enabled(serial, name))?;
    let now = state.clock.now();
    let secret = device.secret(&caller.account);
    let drift_steps = caller::check_mfa_pair(state, serial, &secret, pair, now).await?;
    let change = MfaChange::Resync {
        serial: serial.to_owned(),
        user: user.name.clone(),
        user_id: user.user_id.clone(),
        seed: device.seed.clone(),
        drift_steps,
    };
    iam_api::change_mfa(state, &caller.account, &change).await?;
    Ok(Nothing {})
}

/// `DeactivateMFADevice` (`UserName` optional: the calling user). The device accepts no code
/// from the next swap on, on every replica; sessions issued with it keep their MFA flag.
pub async fn deactivate_mfa_device(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let name = caller.named_or_self(state, params)?;
    let serial = serial_param(params)?;
    let user = allow_user(state, &caller, meta, "DeactivateMFADevice", &name)?;
    own_serial(&caller, serial)?;
    not_a_file_device(state, serial)?;
    let change = MfaChange::Deactivate {
        serial: serial.to_owned(),
        user: user.name.clone(),
        user_id: user.user_id.clone(),
    };
    iam_api::change_mfa(state, &caller.account, &change).await?;
    Ok(Nothing {})
}

/// `DeleteVirtualMFADevice`: refused while it is enabled (`DeleteConflict`).
pub async fn delete_virtual_mfa_device(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<Nothing, ApiError> {
    let caller = calling(state, meta).await?;
    let serial = serial_param(params)?;
    own_serial(&caller, serial)?;
    caller.allow(state, meta, "DeleteVirtualMFADevice", serial)?;
    let change = MfaChange::Delete {
        serial: serial.to_owned(),
    };
    iam_api::change_mfa(state, &caller.account, &change).await?;
    Ok(Nothing {})
}

/// `ListMFADevices` (`UserName` optional: the calling user; paged): the user's enabled
/// devices, the file's and the API's.
pub async fn list_mfa_devices(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListMfaDevicesResult, ApiError> {
    let caller = calling(state, meta).await?;
    let name = caller.named_or_self(state, params)?;
    let paging = paging(params)?;
    let user = allow_user(state, &caller, meta, "ListMFADevices", &name)?;
    let found = state
        .config
        .iam
        .mfa_devices()
        .filter(|d| d.user_arn == user.arn)
        .map(|d| {
            (
                d.serial.clone(),
                MfaDeviceXml {
                    user_name: user.name.clone(),
                    serial_number: d.serial.clone(),
                    enable_date: date(d.enabled),
                },
            )
        })
        .collect();
    let (found, marker) = page(found, &paging);
    Ok(ListMfaDevicesResult {
        mfa_devices: found.into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

/// Which devices `ListVirtualMFADevices` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Assignment {
    Assigned,
    Unassigned,
    Any,
}

impl Assignment {
    fn lists(self, assigned: bool) -> bool {
        match self {
            Assignment::Assigned => assigned,
            Assignment::Unassigned => !assigned,
            Assignment::Any => true,
        }
    }
}

fn assignment(params: &Params) -> Result<Assignment, ApiError> {
    match params.get("AssignmentStatus") {
        None | Some("Any") => Ok(Assignment::Any),
        Some("Assigned") => Ok(Assignment::Assigned),
        Some("Unassigned") => Ok(Assignment::Unassigned),
        Some(other) => Err(api::constraint(
            "assignmentStatus",
            other,
            "satisfy enum value set: [Unassigned, Any, Assigned]",
        )
        .into()),
    }
}

/// `ListVirtualMFADevices` (`AssignmentStatus`, paged): the caller's account's devices, the
/// file's (always assigned) and the API's, with their user when assigned.
pub async fn list_virtual_mfa_devices(
    state: &Broker,
    params: &Params,
    meta: &RequestMeta,
) -> Result<ListVirtualMfaDevicesResult, ApiError> {
    let caller = calling(state, meta).await?;
    let status = assignment(params)?;
    let paging = paging(params)?;
    caller.allow(state, meta, "ListVirtualMFADevices", "*")?;
    let iam = &state.config.iam;
    let mut found = Vec::new();
    if status.lists(true) {
        for d in iam.mfa_devices().filter(|d| d.origin != Origin::Api) {
            if mfa::split_serial(&d.serial).is_none_or(|(a, _)| a != caller.account) {
                continue;
            }
            found.push((
                d.serial.clone(),
                VirtualDeviceXml {
                    serial_number: d.serial.clone(),
                    user: iam.user(&d.user_arn).map(|u| UserXml::of(u, false)),
                    enable_date: Some(date(d.enabled)),
                    tags: None,
                },
            ));
        }
    }
    for stored in document(state, &caller)
        .map(|doc| doc.mfa_devices.values())
        .into_iter()
        .flatten()
    {
        if !status.lists(stored.enabled.is_some()) {
            continue;
        }
        let serial = stored.serial(&caller.account);
        let user = stored.enabled.as_ref().and_then(|e| {
            iam.user_named(&caller.account, &e.user)
                .filter(|u| u.user_id == e.user_id)
        });
        let tags: Vec<TagXml> = stored
            .tags
            .iter()
            .map(|t| TagXml {
                key: t.key.clone(),
                value: t.value.clone(),
            })
            .collect();
        found.push((
            serial.clone(),
            VirtualDeviceXml {
                serial_number: serial,
                user: user.map(|u| UserXml::of(u, false)),
                enable_date: stored.enabled.as_ref().map(|e| {
                    date(
                        time::OffsetDateTime::from_unix_timestamp(e.at)
                            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
                    )
                }),
                tags: (!tags.is_empty()).then(|| tags.into()),
            },
        ));
    }
    let (found, marker) = page(found, &paging);
    Ok(ListVirtualMfaDevicesResult {
        virtual_mfa_devices: found.into(),
        is_truncated: marker.is_some(),
        marker,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_a_png_of_the_symbol_with_its_quiet_zone() {
        let uri = otpauth_uri("phone+1", "my-co", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/phone%2B1@my-co?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=sts-broker"
        );
        let png = qr_png(&uri).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let code = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M)
            .unwrap();
        let side = (code.width() + 2 * PNG_QUIET_ZONE) * PNG_SCALE;
        let mut reader = png::Decoder::new(std::io::Cursor::new(png.to_vec()))
            .read_info()
            .unwrap();
        let info = reader.info();
        assert_eq!(
            (info.width as usize, info.height as usize),
            (side, side),
            "modules {}",
            code.width()
        );
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut buf).unwrap();
        let pixel = |x: usize, y: usize| buf[y * frame.line_size + x / 8] & (0x80 >> (x % 8)) == 0;
        // Every module's pixels are the symbol's; the quiet zone is white.
        let colors = code.to_colors();
        for y in 0..side {
            for x in 0..side {
                let (mx, my) = (x / PNG_SCALE, y / PNG_SCALE);
                let expected = mx >= PNG_QUIET_ZONE
                    && my >= PNG_QUIET_ZONE
                    && mx < PNG_QUIET_ZONE + code.width()
                    && my < PNG_QUIET_ZONE + code.width()
                    && colors[(my - PNG_QUIET_ZONE) * code.width() + mx - PNG_QUIET_ZONE]
                        == qrcode::Color::Dark;
                assert_eq!(pixel(x, y), expected, "({x}, {y})");
            }
        }
    }

    #[test]
    fn seeds_are_random_base32_of_twenty_bytes() {
        let a = new_seed().unwrap();
        let b = new_seed().unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(crate::totp::Seed::from_base32(&a).is_ok());
        let blob = SecretBlob(Secret::new(a.to_string()));
        assert!(!format!("{blob:?}").contains(a.as_str()));
    }
}
