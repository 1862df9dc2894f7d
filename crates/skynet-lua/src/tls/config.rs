//! The state behind an `ltls.c` context object (`newctx()`): the server
//! certificate and key loaded from PEM files, an optional cipher-suite
//! restriction, and the rustls client/server configurations built from them.
//! Stands for the `SSL_CTX` side of the reference's lualib-src/ltls.c.
//!
//! Peer verification matches the reference, which creates its `SSL_CTX`
//! without `SSL_CTX_set_verify` (OpenSSL's default `SSL_VERIFY_NONE`): a
//! client accepts any server certificate chain (no trust store, no name
//! check, no expiry check) but still checks that the handshake was signed by
//! the key of the certificate the server presented; a server asks for no
//! client certificate. TLS 1.2 and 1.3 are offered (rustls has nothing older).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, DigitallySignedStruct, Error, ServerConfig, SignatureScheme, SupportedCipherSuite,
};

/// OpenSSL's names for the suites rustls implements, next to the rustls /
/// IANA name; `set_ciphers` takes either spelling.
const OPENSSL_NAMES: [(&str, &str); 9] = [
    ("TLS_AES_128_GCM_SHA256", "TLS13_AES_128_GCM_SHA256"),
    ("TLS_AES_256_GCM_SHA384", "TLS13_AES_256_GCM_SHA384"),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS13_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// The DTLS-SRTP profile names OpenSSL knows. The reference's `set_ciphers`
/// hands its argument to `SSL_CTX_set_tlsext_use_srtp`, so these are the
/// names it accepts; they change nothing for TLS over TCP, here as there.
const SRTP_PROFILES: [&str; 6] = [
    "SRTP_AES128_CM_SHA1_80",
    "SRTP_AES128_CM_SHA1_32",
    "SRTP_NULL_SHA1_80",
    "SRTP_NULL_SHA1_32",
    "SRTP_AEAD_AES_128_GCM",
    "SRTP_AEAD_AES_256_GCM",
];

/// One `newctx()` object.
#[derive(Default)]
pub(crate) struct SslCtx {
    /// Suites chosen by `set_ciphers` (all of ring's when `None`).
    suites: Option<Vec<SupportedCipherSuite>>,
    /// The certificate chain and key of `set_cert`.
    cert: Option<Arc<CertifiedKey>>,
    /// Built on first use; dropped when the settings change, so sessions
    /// made earlier keep the settings they were made with (as `SSL_new`
    /// copies the `SSL_CTX` settings).
    client: Option<Arc<ClientConfig>>,
    server: Option<Arc<ServerConfig>>,
}

impl SslCtx {
    fn provider(&self) -> CryptoProvider {
        let mut provider = ring::default_provider();
        if let Some(suites) = &self.suites {
            provider.cipher_suites = suites.clone();
        }
        provider
    }

    /// `set_cert(certfile, keyfile)`: a PEM certificate chain (leaf first)
    /// and a PEM private key (PKCS#1, PKCS#8 or SEC1) that must match it.
    pub(crate) fn set_cert(&mut self, certfile: &Path, keyfile: &Path) -> Result<(), String> {
        let chain: Vec<CertificateDer<'static>> = match CertificateDer::pem_file_iter(certfile) {
            Ok(certs) => certs.collect::<Result<_, _>>().unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        if chain.is_empty() {
            return Err("SSL_CTX_use_certificate_chain_file error:0".to_owned());
        }
        let Ok(key) = PrivateKeyDer::from_pem_file(keyfile) else {
            return Err("SSL_CTX_use_PrivateKey_file error:0".to_owned());
        };
        let provider = self.provider();
        let Ok(signing_key) = provider.key_provider.load_private_key(key) else {
            return Err("SSL_CTX_use_PrivateKey_file error:0".to_owned());
        };
        let certified = CertifiedKey::new(chain, signing_key);
        if certified.keys_match().is_err() {
            return Err("SSL_CTX_check_private_key error:0".to_owned());
        }
        self.cert = Some(Arc::new(certified));
        self.server = None;
        Ok(())
    }

    /// `set_ciphers(list)`: a `:`-separated list of cipher suite names
    /// (OpenSSL's or the IANA spelling) restricting the suites offered, and
    /// SRTP profile names (accepted, no effect). Any other name is refused
    /// with the reference's error text and leaves the context unchanged.
    pub(crate) fn set_ciphers(&mut self, list: &[u8]) -> Result<(), String> {
        let refused = || "SSL_CTX_set_tlsext_use_srtp error:1".to_owned();
        let Ok(list) = std::str::from_utf8(list) else {
            return Err(refused());
        };
        let all = ring::ALL_CIPHER_SUITES;
        let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
        for name in list.split(':') {
            if SRTP_PROFILES.contains(&name) {
                continue;
            }
            let rustls_name = OPENSSL_NAMES
                .iter()
                .find(|(openssl, _)| *openssl == name)
                .map_or(name, |(_, r)| *r);
            let Some(suite) = all.iter().find(|s| s.suite().as_str() == Some(rustls_name)) else {
                return Err(refused());
            };
            if !chosen.contains(suite) {
                chosen.push(*suite);
            }
        }
        if !chosen.is_empty() {
            self.suites = Some(chosen);
            self.client = None;
            self.server = None;
        }
        Ok(())
    }

    /// The client configuration (built once per settings).
    pub(crate) fn client_config(&mut self) -> Result<Arc<ClientConfig>, String> {
        if let Some(config) = &self.client {
            return Ok(Arc::clone(config));
        }
        let provider = Arc::new(self.provider());
        let verifier = Arc::new(AcceptAnyServer {
            algorithms: provider.signature_verification_algorithms,
        });
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("SSL_CTX_new client failed. {e}\n"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let config = Arc::new(config);
        self.client = Some(Arc::clone(&config));
        Ok(config)
    }

    /// The server configuration (built once per settings). Without a
    /// certificate it still builds: handshakes then fail, as OpenSSL's do.
    pub(crate) fn server_config(&mut self) -> Result<Arc<ServerConfig>, String> {
        if let Some(config) = &self.server {
            return Ok(Arc::clone(config));
        }
        let config = ServerConfig::builder_with_provider(Arc::new(self.provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("SSL_CTX_new server failed. {e}\n"))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(FixedCert(self.cert.clone())));
        let config = Arc::new(config);
        self.server = Some(Arc::clone(&config));
        Ok(config)
    }
}

/// Serves the `set_cert` chain to every client (none if never set).
#[derive(Debug)]
struct FixedCert(Option<Arc<CertifiedKey>>);

impl ResolvesServerCert for FixedCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.clone()
    }
}

/// The client side of `SSL_VERIFY_NONE`: any chain is taken, the handshake
/// signatures are still checked against the presented certificate.
#[derive(Debug)]
struct AcceptAnyServer {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_names_in_both_spellings_restrict_the_suites() {
        let mut ctx = SslCtx::default();
        ctx.set_ciphers(b"ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_256_GCM_SHA384")
            .expect("known names");
        let names: Vec<_> = ctx
            .suites
            .as_ref()
            .expect("restricted")
            .iter()
            .map(|s| s.suite().as_str().unwrap_or("?"))
            .collect();
        assert_eq!(
            names,
            [
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS13_AES_256_GCM_SHA384"
            ]
        );
        assert_eq!(
            ctx.client_config()
                .expect("client config")
                .crypto_provider()
                .cipher_suites
                .len(),
            2
        );
    }

    #[test]
    fn srtp_profiles_are_accepted_and_unknown_names_refused() {
        let mut ctx = SslCtx::default();
        ctx.set_ciphers(b"SRTP_AES128_CM_SHA1_80")
            .expect("srtp profile");
        assert!(ctx.suites.is_none());
        let err = ctx.set_ciphers(b"RC4-MD5").expect_err("unknown");
        assert_eq!(err, "SSL_CTX_set_tlsext_use_srtp error:1");
        assert!(ctx.suites.is_none());
    }

    #[test]
    fn missing_files_give_the_reference_errors() {
        let mut ctx = SslCtx::default();
        let none = Path::new("/nonexistent/skynet-tls-test.pem");
        let err = ctx.set_cert(none, none).expect_err("no cert file");
        assert_eq!(err, "SSL_CTX_use_certificate_chain_file error:0");
        assert!(ctx.cert.is_none());
    }
}
