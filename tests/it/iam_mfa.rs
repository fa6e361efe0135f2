//! Virtual MFA devices through the real `aws-sdk-iam` and `aws-sdk-sts` clients: a device made
//! and enabled on one replica is used for `AssumeRole` on another (real Redis), its codes are
//! good once across both (enabling spends two), deactivating it stops it within a second, the
//! seed is nowhere in the store in clear, the QR code is a PNG of the seed's key URI, a resync
//! records the device's drift, and every bad input gets IAM's error with nothing stored.
//!
//! The brokers read a [`ManualClock`] the test sets to the start of a time step, so the codes
//! the test computes with `sts_broker::totp` are exactly those the broker expects.

use std::sync::Arc;

use aws_sdk_iam::types::{AssignmentStatusType, Tag};
use base64::Engine as _;
use sts_broker::clock::{Clock, ManualClock};
use sts_broker::totp::{STEP_SECONDS, Seed, code_at};
use time::OffsetDateTime;

use crate::harness::broker::{
    ACCOUNT, ALICE_KEY_ID, ALICE_MFA_SERIAL, ALICE_SECRET, BOB_KEY_ID, BOB_SECRET, TestBroker,
};
use crate::harness::idp::TestIdp;
use crate::harness::redis::RedisServer;
use crate::harness::signer::Signer;
use crate::iam_roles::{
    ADMIN_KEY_ID, ADMIN_SECRET, FOREIGN_KEY_ID, FOREIGN_SECRET, PROPAGATION, refused, within,
};

const BOB_ARN: &str = "arn:aws:iam::111122223333:user/bob";

/// A role bob may assume only with MFA.
fn bob_mfa_trust() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{BOB_ARN}"}},"Action":"sts:AssumeRole","Condition":{{"Bool":{{"aws:MultiFactorAuthPresent":"true"}}}}}}]}}"#
    )
}

/// A clock at the start of a time step a little ahead of now (signatures stay within their
/// fifteen minutes; the first session key is active from the start).
fn step_clock() -> Arc<ManualClock> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let step = i64::try_from(STEP_SECONDS).unwrap();
    let start = (now / step + 1) * step;
    Arc::new(ManualClock::new(
        OffsetDateTime::from_unix_timestamp(start).unwrap(),
    ))
}

/// The code a device in step with the broker shows `steps` steps from the clock's time.
fn code(seed: &Seed, clock: &ManualClock, steps: i64) -> String {
    let offset = steps * i64::try_from(STEP_SECONDS).unwrap();
    code_at(seed, clock.now() + time::Duration::seconds(offset))
}

/// One broker on the IAM tests' configuration (an IAM administrator per account) over
/// `store`, with `keys` shared by the test's replicas, reading `clock`.
async fn replica(
    idp: &TestIdp,
    store: &str,
    keys: &std::path::Path,
    clock: Arc<ManualClock>,
) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let toml = crate::iam_roles::config(dir.path(), idp, store).replace(
        "dir = \"keys\"",
        &format!("dir = {:?}", keys.to_str().unwrap()),
    );
    TestBroker::from_toml_with_clock(dir, &toml, clock).await
}

/// Every value in the Redis database as text (strings, hashes, sets, lists, sorted sets).
pub(crate) async fn redis_contents(redis: &RedisServer) -> String {
    let client = ::redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let mut out = String::new();
    for key in redis.all_keys().await {
        let kind: String = ::redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut c)
            .await
            .unwrap();
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "string" => vec![
                ::redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut c)
                    .await
                    .unwrap(),
            ],
            "hash" => ::redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut c)
                .await
                .unwrap(),
            "set" => ::redis::cmd("SMEMBERS")
                .arg(&key)
                .query_async(&mut c)
                .await
                .unwrap(),
            "list" => ::redis::cmd("LRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut c)
                .await
                .unwrap(),
            "zset" => ::redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut c)
                .await
                .unwrap(),
            // Expired since it was listed.
            "none" => Vec::new(),
            other => panic!("a value of type {other} in {key}"),
        };
        out.push_str(&key);
        out.push('\n');
        for v in values {
            out.push_str(&String::from_utf8_lossy(&v));
            out.push('\n');
        }
    }
    out
}

/// Whether the replica serves `serial` as an enabled device now.
fn serves(broker: &TestBroker, serial: &str) -> bool {
    broker
        .live
        .current()
        .config
        .iam
        .mfa_device(serial)
        .is_some()
}

#[tokio::test]
async fn a_device_made_on_one_replica_is_enabled_and_used_on_another() {
    let idp = TestIdp::start().await;
    let redis = RedisServer::start().await;
    let keys = tempfile::tempdir().unwrap();
    let clock = step_clock();
    let a = replica(&idp, &redis.url(), keys.path(), Arc::clone(&clock)).await;
    let b = replica(&idp, &redis.url(), keys.path(), Arc::clone(&clock)).await;
    let iam_a = a.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let iam_b = b.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let role = iam_a
        .create_role()
        .role_name("needs-mfa")
        .assume_role_policy_document(bob_mfa_trust())
        .send()
        .await
        .unwrap();
    let role_arn = role.role().unwrap().arn().to_owned();

    // Created on A: the seed and its QR code, shown this once.
    let created = iam_a
        .create_virtual_mfa_device()
        .virtual_mfa_device_name("bob-phone")
        .tags(Tag::builder().key("team").value("ops").build().unwrap())
        .send()
        .await
        .unwrap();
    let device = created.virtual_mfa_device().unwrap();
    let serial = device.serial_number().to_owned();
    assert_eq!(serial, format!("arn:aws:iam::{ACCOUNT}:mfa/bob-phone"));
    let seed_text =
        String::from_utf8(device.base32_string_seed().unwrap().as_ref().to_vec()).unwrap();
    assert_eq!(seed_text.len(), 32, "20 bytes of base32 without padding");
    assert!(
        seed_text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    );
    let seed = Seed::from_base32(&seed_text).unwrap();
    check_qr_code(
        device.qr_code_png().unwrap().as_ref(),
        &format!("otpauth://totp/bob-phone@{ACCOUNT}?secret={seed_text}&issuer=sts-broker"),
    );

    // Nowhere in the store in clear: neither the base32 text nor its blob nor the raw bytes'
    // usual encodings.
    let raw = data_encoding::BASE32_NOPAD
        .decode(seed_text.as_bytes())
        .unwrap();
    let stored = redis_contents(&redis).await;
    assert!(stored.contains("bob-phone"), "the device is stored");
    for form in [
        seed_text.clone(),
        seed_text.to_lowercase(),
        base64::engine::general_purpose::STANDARD.encode(seed_text.as_bytes()),
        base64::engine::general_purpose::STANDARD.encode(&raw),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw),
        hex::encode(&raw),
    ] {
        assert!(
            !stored.contains(&form),
            "the seed is in the store as {form}"
        );
    }

    // B lists it unassigned within a second.
    within(PROPAGATION, || async {
        let listed = iam_b
            .list_virtual_mfa_devices()
            .assignment_status(AssignmentStatusType::Unassigned)
            .send()
            .await
            .unwrap();
        listed
            .virtual_mfa_devices()
            .iter()
            .any(|d| d.serial_number() == serial && d.user().is_none())
    })
    .await;

    // Enabled on A for bob (a user of the file) with two consecutive codes.
    iam_a
        .enable_mfa_device()
        .user_name("bob")
        .serial_number(&serial)
        .authentication_code1(code(&seed, &clock, -1))
        .authentication_code2(code(&seed, &clock, 0))
        .send()
        .await
        .unwrap();
    let took = within(PROPAGATION, || async { serves(&b, &serial) }).await;
    eprintln!("device enabled on A, served by B after {took:?}");

    // Bob assumes the role on B with a fresh code: an MFA session.
    let sts_b = b.sts_as(BOB_KEY_ID, BOB_SECRET, None);
    let assumed = sts_b
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("bob-mfa")
        .serial_number(&serial)
        .token_code(code(&seed, &clock, 1))
        .send()
        .await
        .unwrap();
    let creds = assumed.credentials().unwrap().clone();
    let record = b
        .state
        .store
        .get_session(creds.access_key_id(), &b.state.keys.snapshot())
        .await
        .unwrap()
        .unwrap();
    assert!(record.mfa_authenticated_at.is_some());

    // The codes enabling spent, and the one just used, are refused (on either replica); so is
    // a wrong code, and no code at all is refused by the trust policy.
    let sts_a = a.sts_as(BOB_KEY_ID, BOB_SECRET, None);
    for (sts, token) in [
        (&sts_a, code(&seed, &clock, 0)),
        (&sts_b, code(&seed, &clock, -1)),
        (&sts_a, code(&seed, &clock, 1)),
    ] {
        let (c, status, message) = refused(
            sts.assume_role()
                .role_arn(&role_arn)
                .role_session_name("again")
                .serial_number(&serial)
                .token_code(token)
                .send()
                .await,
        );
        assert_eq!((c.as_str(), status), ("AccessDenied", 403), "{message}");
        assert!(
            message.contains("MultiFactorAuthentication failed"),
            "{message}"
        );
    }
    let (c, _, message) = refused(
        sts_b
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name("no-mfa")
            .send()
            .await,
    );
    assert_eq!(c, "AccessDenied");
    assert!(message.contains("aws:MultiFactorAuthPresent"), "{message}");

    // Read back on B: bob's devices, the device assigned to him.
    let bobs = iam_b
        .list_mfa_devices()
        .user_name("bob")
        .send()
        .await
        .unwrap();
    let serials: Vec<&str> = bobs
        .mfa_devices()
        .iter()
        .map(|d| d.serial_number())
        .collect();
    assert_eq!(serials, [serial.as_str()]);
    assert_eq!(bobs.mfa_devices()[0].user_name(), "bob");
    let assigned = iam_b
        .list_virtual_mfa_devices()
        .assignment_status(AssignmentStatusType::Assigned)
        .send()
        .await
        .unwrap();
    let ours = assigned
        .virtual_mfa_devices()
        .iter()
        .find(|d| d.serial_number() == serial)
        .unwrap();
    assert_eq!(ours.user().unwrap().arn(), BOB_ARN);
    assert!(ours.enable_date().is_some());
    assert_eq!(ours.tags()[0].key(), "team");
    assert!(ours.base32_string_seed().is_none() && ours.qr_code_png().is_none());
    // The file's device is listed too, read-only.
    assert!(
        assigned
            .virtual_mfa_devices()
            .iter()
            .any(|d| d.serial_number() == ALICE_MFA_SERIAL)
    );

    // A device in use cannot be deleted.
    let version = a.state.store.iam_version().await.unwrap();
    let (c, status, _) = refused(
        iam_a
            .delete_virtual_mfa_device()
            .serial_number(&serial)
            .send()
            .await,
    );
    assert_eq!((c.as_str(), status), ("DeleteConflict", 409));
    assert_eq!(a.state.store.iam_version().await.unwrap(), version);

    // Deactivated on A: within a second B accepts no code of it; the session issued with it
    // keeps its MFA flag.
    iam_a
        .deactivate_mfa_device()
        .user_name("bob")
        .serial_number(&serial)
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async { !serves(&b, &serial) }).await;
    clock.advance(time::Duration::seconds(
        2 * i64::try_from(STEP_SECONDS).unwrap(),
    ));
    let (c, _, message) = refused(
        sts_b
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name("after")
            .serial_number(&serial)
            .token_code(code(&seed, &clock, 0))
            .send()
            .await,
    );
    assert_eq!(c, "AccessDenied");
    assert!(
        message.contains("MultiFactorAuthentication failed"),
        "{message}"
    );
    let session = b.sts_as(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token()),
    );
    session.get_caller_identity().send().await.unwrap();
    let record = b
        .state
        .store
        .get_session(creds.access_key_id(), &b.state.keys.snapshot())
        .await
        .unwrap()
        .unwrap();
    assert!(record.mfa_authenticated_at.is_some());

    // Deleted, then gone from every list.
    iam_a
        .delete_virtual_mfa_device()
        .serial_number(&serial)
        .send()
        .await
        .unwrap();
    within(PROPAGATION, || async {
        let listed = iam_b.list_virtual_mfa_devices().send().await.unwrap();
        listed
            .virtual_mfa_devices()
            .iter()
            .all(|d| d.serial_number() != serial)
    })
    .await;
}

/// The PNG is a QR code of exactly `uri`: its signature, its size (the symbol and a quiet zone
/// of four modules, four pixels each), and every pixel.
fn check_qr_code(png_bytes: &[u8], uri: &str) {
    assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
    let symbol =
        qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M).unwrap();
    let modules = symbol.width();
    let side = (modules + 8) * 4;
    let mut reader = png::Decoder::new(std::io::Cursor::new(png_bytes.to_vec()))
        .read_info()
        .unwrap();
    let (width, height) = (reader.info().width, reader.info().height);
    assert_eq!((width as usize, height as usize), (side, side));
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(frame.bit_depth, png::BitDepth::One);
    let colors = symbol.to_colors();
    for y in 0..side {
        for x in 0..side {
            let dark = pixels[y * frame.line_size + x / 8] & (0x80 >> (x % 8)) == 0;
            let (mx, my) = ((x / 4).wrapping_sub(4), (y / 4).wrapping_sub(4));
            let expected =
                mx < modules && my < modules && colors[my * modules + mx] == qrcode::Color::Dark;
            assert_eq!(dark, expected, "pixel ({x}, {y})");
        }
    }
}

#[tokio::test]
async fn a_resync_records_the_drift_the_codes_are_then_checked_at() {
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let clock = step_clock();
    let broker = replica(&idp, "memory://", keys.path(), Arc::clone(&clock)).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let created = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name("alice-spare")
        .path("/spare/")
        .send()
        .await
        .unwrap();
    let device = created.virtual_mfa_device().unwrap();
    let serial = device.serial_number().to_owned();
    assert_eq!(
        serial,
        format!("arn:aws:iam::{ACCOUNT}:mfa/spare/alice-spare")
    );
    let seed = Seed::from_base32(
        std::str::from_utf8(device.base32_string_seed().unwrap().as_ref()).unwrap(),
    )
    .unwrap();
    // The device's clock runs three minutes ahead: enabling finds its codes and records it.
    iam.enable_mfa_device()
        .user_name("alice")
        .serial_number(&serial)
        .authentication_code1(code(&seed, &clock, 5))
        .authentication_code2(code(&seed, &clock, 6))
        .send()
        .await
        .unwrap();
    // Alice now has two devices: the file's and this one.
    let listed = iam
        .list_mfa_devices()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.mfa_devices().len(), 2);
    let admin = "arn:aws:iam::111122223333:role/admin";
    let sts = broker.sts_as(ALICE_KEY_ID, ALICE_SECRET, None);
    let assume = |token: String| {
        let sts = sts.clone();
        let serial = serial.clone();
        async move {
            sts.assume_role()
                .role_arn(admin)
                .role_session_name("alice")
                .serial_number(serial)
                .token_code(token)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| e.into_service_error().to_string())
        }
    };
    clock.advance(time::Duration::seconds(30));
    // What the device shows now (its clock's step), not what the broker's clock would give.
    assert!(assume(code(&seed, &clock, 6)).await.is_ok());
    assert!(assume(code(&seed, &clock, 0)).await.is_err());

    // Its clock set right, a resync with two codes of now records no drift any more.
    let (c, status, _) = refused(
        iam.resync_mfa_device()
            .user_name("alice")
            .serial_number(&serial)
            .authentication_code1(code(&seed, &clock, -20))
            .authentication_code2(code(&seed, &clock, -19))
            .send()
            .await,
    );
    assert_eq!((c.as_str(), status), ("InvalidAuthenticationCode", 403));
    iam.resync_mfa_device()
        .user_name("alice")
        .serial_number(&serial)
        .authentication_code1(code(&seed, &clock, -1))
        .authentication_code2(code(&seed, &clock, 0))
        .send()
        .await
        .unwrap();
    clock.advance(time::Duration::seconds(30));
    assert!(assume(code(&seed, &clock, 0)).await.is_ok());

    // The file's device is not resynchronized here.
    let (c, status, message) = refused(
        iam.resync_mfa_device()
            .user_name("alice")
            .serial_number(ALICE_MFA_SERIAL)
            .authentication_code1("123456")
            .authentication_code2("234567")
            .send()
            .await,
    );
    assert_eq!(
        (c.as_str(), status),
        ("UnmodifiableEntity", 400),
        "{message}"
    );
}

#[tokio::test]
async fn repeated_wrong_codes_lock_enabling_as_they_lock_assuming() {
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let clock = step_clock();
    let broker = replica(&idp, "memory://", keys.path(), Arc::clone(&clock)).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    let created = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name("guessed")
        .send()
        .await
        .unwrap();
    let device = created.virtual_mfa_device().unwrap();
    let serial = device.serial_number().to_owned();
    let seed = Seed::from_base32(
        std::str::from_utf8(device.base32_string_seed().unwrap().as_ref()).unwrap(),
    )
    .unwrap();
    let version = broker.state.store.iam_version().await.unwrap();
    let enable = |first: String, second: String| {
        iam.enable_mfa_device()
            .user_name("bob")
            .serial_number(&serial)
            .authentication_code1(first)
            .authentication_code2(second)
            .send()
    };
    let right = (code(&seed, &clock, -1), code(&seed, &clock, 0));
    for _ in 0..5 {
        // The right codes in the wrong order.
        let (c, status, _) = refused(enable(right.1.clone(), right.0.clone()).await);
        assert_eq!((c.as_str(), status), ("InvalidAuthenticationCode", 403));
    }
    let (c, _, _) = refused(enable(right.0.clone(), right.1.clone()).await);
    assert_eq!(
        c, "InvalidAuthenticationCode",
        "a locked device takes no code"
    );
    assert_eq!(broker.state.store.iam_version().await.unwrap(), version);
}

#[tokio::test]
async fn every_bad_input_gets_iams_error_and_stores_nothing() {
    let idp = TestIdp::start().await;
    let keys = tempfile::tempdir().unwrap();
    let clock = step_clock();
    let broker = replica(&idp, "memory://", keys.path(), Arc::clone(&clock)).await;
    let iam = broker.iam_as(ADMIN_KEY_ID, ADMIN_SECRET);
    iam.create_virtual_mfa_device()
        .virtual_mfa_device_name("kept")
        .send()
        .await
        .unwrap();
    iam.create_user().user_name("dora").send().await.unwrap();
    let version = broker.state.store.iam_version().await.unwrap();
    let kept = format!("arn:aws:iam::{ACCOUNT}:mfa/kept");
    let foreign = "arn:aws:iam::444455556666:mfa/kept";

    let admin = Signer::new(ADMIN_KEY_ID, ADMIN_SECRET, None);
    let url = format!("{}/", broker.endpoint);
    let raw = |body: String| {
        let signer = &admin;
        let broker = &broker;
        let url = url.clone();
        async move {
            let ct = ("content-type", "application/x-www-form-urlencoded");
            let mut req = broker
                .http()
                .post(&url)
                .header(ct.0, ct.1)
                .body(body.clone());
            for (k, v) in signer.sign("iam", "POST", &url, &[ct], body.as_bytes()) {
                req = req.header(k, v);
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            let code = text
                .split("<Code>")
                .nth(1)
                .and_then(|t| t.split("</Code>").next())
                .unwrap_or_default()
                .to_owned();
            (code, status, text)
        }
    };
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let base = "Version=2010-05-08&Action=";
    let codes = "&AuthenticationCode1=123456&AuthenticationCode2=654321";
    let long_path = format!("/{}/", "p".repeat(240));
    let cases: Vec<(String, &str, u16)> = vec![
        (
            format!("{base}CreateVirtualMFADevice"),
            "ValidationError",
            400,
        ),
        (
            format!(
                "{base}CreateVirtualMFADevice&VirtualMFADeviceName={}",
                "n".repeat(227)
            ),
            "ValidationError",
            400,
        ),
        (
            format!("{base}CreateVirtualMFADevice&VirtualMFADeviceName=a%2Fb"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}CreateVirtualMFADevice&VirtualMFADeviceName=x&Path=nope"),
            "ValidationError",
            400,
        ),
        (
            format!(
                "{base}CreateVirtualMFADevice&VirtualMFADeviceName=x&Tags.member.1.Key=aws%3Ax&Tags.member.1.Value=v"
            ),
            "InvalidInput",
            400,
        ),
        (
            format!(
                "{base}CreateVirtualMFADevice&VirtualMFADeviceName=x&Path={}",
                enc(&long_path)
            ),
            "InvalidInput",
            400,
        ),
        (
            format!("{base}CreateVirtualMFADevice&VirtualMFADeviceName=KEPT"),
            "EntityAlreadyExists",
            409,
        ),
        (
            format!("{base}CreateVirtualMFADevice&VirtualMFADeviceName=Alice"),
            "EntityAlreadyExists",
            409,
        ),
        (
            format!("{base}EnableMFADevice&SerialNumber={}{codes}", enc(&kept)),
            "ValidationError",
            400,
        ),
        (
            format!("{base}EnableMFADevice&UserName=bob{codes}"),
            "ValidationError",
            400,
        ),
        (
            format!(
                "{base}EnableMFADevice&UserName=bob&SerialNumber={}&AuthenticationCode1=123456",
                enc(&kept)
            ),
            "ValidationError",
            400,
        ),
        (
            format!(
                "{base}EnableMFADevice&UserName=bob&SerialNumber={}&AuthenticationCode1=12345&AuthenticationCode2=123456",
                enc(&kept)
            ),
            "ValidationError",
            400,
        ),
        (
            format!(
                "{base}EnableMFADevice&UserName=bob&SerialNumber={}&AuthenticationCode1=123456&AuthenticationCode2=12345a",
                enc(&kept)
            ),
            "ValidationError",
            400,
        ),
        (
            format!("{base}EnableMFADevice&UserName=bob&SerialNumber=short{codes}"),
            "ValidationError",
            400,
        ),
        (
            format!(
                "{base}EnableMFADevice&UserName=nobody&SerialNumber={}{codes}",
                enc(&kept)
            ),
            "NoSuchEntity",
            404,
        ),
        (
            format!(
                "{base}EnableMFADevice&UserName=bob&SerialNumber={}{codes}",
                enc(&format!("arn:aws:iam::{ACCOUNT}:mfa/absent"))
            ),
            "NoSuchEntity",
            404,
        ),
        (
            format!(
                "{base}EnableMFADevice&UserName=bob&SerialNumber={}{codes}",
                enc(foreign)
            ),
            "NoSuchEntity",
            404,
        ),
        (
            format!(
                "{base}EnableMFADevice&UserName=bob&SerialNumber={}{codes}",
                enc(ALICE_MFA_SERIAL)
            ),
            "UnmodifiableEntity",
            400,
        ),
        (
            format!(
                "{base}EnableMFADevice&UserName=bob&SerialNumber={}{codes}",
                enc(&kept)
            ),
            "InvalidAuthenticationCode",
            403,
        ),
        (
            format!("{base}DeactivateMFADevice&UserName=bob"),
            "ValidationError",
            400,
        ),
        (
            format!(
                "{base}DeactivateMFADevice&UserName=bob&SerialNumber={}",
                enc(&kept)
            ),
            "NoSuchEntity",
            404,
        ),
        (
            format!(
                "{base}DeactivateMFADevice&UserName=alice&SerialNumber={}",
                enc(ALICE_MFA_SERIAL)
            ),
            "UnmodifiableEntity",
            400,
        ),
        (
            format!(
                "{base}DeactivateMFADevice&UserName=nobody&SerialNumber={}",
                enc(&kept)
            ),
            "NoSuchEntity",
            404,
        ),
        (
            format!(
                "{base}ResyncMFADevice&UserName=bob&SerialNumber={}{codes}",
                enc(&kept)
            ),
            "NoSuchEntity",
            404,
        ),
        (
            format!(
                "{base}ResyncMFADevice&UserName=bob&SerialNumber={}",
                enc(&kept)
            ),
            "ValidationError",
            400,
        ),
        (
            format!("{base}DeleteVirtualMFADevice"),
            "ValidationError",
            400,
        ),
        (
            format!(
                "{base}DeleteVirtualMFADevice&SerialNumber={}",
                enc(&format!("arn:aws:iam::{ACCOUNT}:mfa/absent"))
            ),
            "NoSuchEntity",
            404,
        ),
        (
            format!("{base}DeleteVirtualMFADevice&SerialNumber={}", enc(foreign)),
            "NoSuchEntity",
            404,
        ),
        (
            format!(
                "{base}DeleteVirtualMFADevice&SerialNumber={}",
                enc(ALICE_MFA_SERIAL)
            ),
            "UnmodifiableEntity",
            400,
        ),
        (
            format!("{base}ListVirtualMFADevices&AssignmentStatus=Some"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}ListVirtualMFADevices&MaxItems=0"),
            "ValidationError",
            400,
        ),
        (
            format!("{base}ListVirtualMFADevices&Marker=zz"),
            "InvalidInput",
            400,
        ),
        (
            format!("{base}ListMFADevices&UserName=nobody"),
            "NoSuchEntity",
            404,
        ),
    ];
    for (body, code, status) in cases {
        let (got, got_status, text) = raw(body.clone()).await;
        assert_eq!((got.as_str(), got_status), (code, status), "{body}: {text}");
        assert_eq!(
            broker.state.store.iam_version().await.unwrap(),
            version,
            "{body} stored something"
        );
    }

    // A device enabled for an API user: neither can be deleted while it is.
    let created = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name("dora-phone")
        .send()
        .await
        .unwrap();
    let device = created.virtual_mfa_device().unwrap();
    let serial = device.serial_number().to_owned();
    let seed = Seed::from_base32(
        std::str::from_utf8(device.base32_string_seed().unwrap().as_ref()).unwrap(),
    )
    .unwrap();
    iam.enable_mfa_device()
        .user_name("dora")
        .serial_number(&serial)
        .authentication_code1(code(&seed, &clock, 0))
        .authentication_code2(code(&seed, &clock, 1))
        .send()
        .await
        .unwrap();
    let version = broker.state.store.iam_version().await.unwrap();
    let (c, status, message) = refused(iam.delete_user().user_name("dora").send().await);
    assert_eq!((c.as_str(), status), ("DeleteConflict", 409));
    assert!(message.contains("MFA"), "{message}");
    let (c, status, _) = refused(
        iam.enable_mfa_device()
            .user_name("bob")
            .serial_number(&serial)
            .authentication_code1(code(&seed, &clock, 2))
            .authentication_code2(code(&seed, &clock, 3))
            .send()
            .await,
    );
    assert_eq!((c.as_str(), status), ("EntityAlreadyExists", 409));
    let (c, _, _) = refused(
        iam.deactivate_mfa_device()
            .user_name("bob")
            .serial_number(&serial)
            .send()
            .await,
    );
    assert_eq!(c, "NoSuchEntity", "enabled for dora, not bob");
    assert_eq!(broker.state.store.iam_version().await.unwrap(), version);

    // Another account's administrator sees none of it and deletes none of it.
    let foreign_iam = broker.iam_as(FOREIGN_KEY_ID, FOREIGN_SECRET);
    let theirs = foreign_iam.list_virtual_mfa_devices().send().await.unwrap();
    assert!(theirs.virtual_mfa_devices().is_empty());
    let (c, status, _) = refused(
        foreign_iam
            .delete_virtual_mfa_device()
            .serial_number(&kept)
            .send()
            .await,
    );
    assert_eq!((c.as_str(), status), ("NoSuchEntity", 404));
    // A caller without iam: rights is refused and nothing is stored.
    let bob = broker.iam_as(BOB_KEY_ID, BOB_SECRET);
    let (c, status, _) = refused(
        bob.create_virtual_mfa_device()
            .virtual_mfa_device_name("mine")
            .send()
            .await,
    );
    assert_eq!((c.as_str(), status), ("AccessDenied", 403));
    let (c, _, _) = refused(
        bob.enable_mfa_device()
            .user_name("bob")
            .serial_number(&kept)
            .authentication_code1("123456")
            .authentication_code2("654321")
            .send()
            .await,
    );
    assert_eq!(c, "AccessDenied");
    assert_eq!(broker.state.store.iam_version().await.unwrap(), version);

    // Lists page with markers: every device once.
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let page = iam
            .list_virtual_mfa_devices()
            .max_items(1)
            .set_marker(marker)
            .send()
            .await
            .unwrap();
        seen.extend(
            page.virtual_mfa_devices()
                .iter()
                .map(|d| d.serial_number().to_owned()),
        );
        if !page.is_truncated() {
            break;
        }
        marker = page.marker().map(str::to_owned);
    }
    assert_eq!(seen, [ALICE_MFA_SERIAL.to_owned(), serial, kept]);
}
