//! Requests signed by the AWS SDK's own signer (`aws-sigv4`), as a real client signs them.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;

/// Who signs: an access key, its secret, and a session token for minted credentials.
#[derive(Debug, Clone)]
pub struct Signer {
    pub access_key_id: String,
    pub secret: String,
    pub token: Option<String>,
    /// The credential scope's region: `us-east-1` unless [`Signer::in_region`] says otherwise.
    pub region: String,
}

impl Signer {
    pub fn new(access_key_id: &str, secret: &str, token: Option<&str>) -> Signer {
        Signer {
            access_key_id: access_key_id.to_owned(),
            secret: secret.to_owned(),
            token: token.map(str::to_owned),
            region: "us-east-1".to_owned(),
        }
    }

    /// The same signer scoping its signatures to `region` (any text, as a hostile client may).
    pub fn in_region(mut self, region: &str) -> Signer {
        self.region = region.to_owned();
        self
    }

    /// The headers SigV4 adds (`authorization`, `x-amz-date`, the token...) for `method` on
    /// `url` with `headers` and `body`, signed for `service` in its region at `time`.
    /// `declare_payload` also signs `x-amz-content-sha256`, as S3 clients do.
    #[allow(clippy::too_many_arguments)]
    pub fn sign_at(
        &self,
        service: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        declare_payload: bool,
        time: SystemTime,
    ) -> Vec<(String, String)> {
        let identity = Credentials::new(
            &self.access_key_id,
            &self.secret,
            self.token.clone(),
            None,
            "test",
        )
        .into();
        let mut settings = SigningSettings::default();
        if declare_payload {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region.as_str())
            .name(service)
            .time(time)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            method,
            url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        instructions
            .headers()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }

    /// [`Signer::sign_at`] now, without declaring the payload.
    pub fn sign(
        &self,
        service: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<(String, String)> {
        self.sign_at(
            service,
            method,
            url,
            headers,
            body,
            false,
            SystemTime::now(),
        )
    }
}
