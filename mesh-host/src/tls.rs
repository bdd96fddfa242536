//! TLS setup for py2p's `"SSL"` encryption, shared by every runtime adapter.
//!
//! **This is encryption WITHOUT authentication, exactly like py2p's SSL
//! mode.** Each node serves a fresh self-signed certificate, and a dialing
//! node accepts *any* certificate: no chain, no name, no validity dates are
//! checked. It stops passive eavesdroppers; it does **not** stop an active man
//! in the middle, who can present a certificate of their own to each side.
//! What the client still checks is that the server's handshake signatures are
//! made with the key of the certificate it sent (so the TLS handshake itself
//! is sound), using the ring provider's signature algorithms.
//!
//! Nothing here opens a socket: an adapter wraps its own streams with these
//! configurations (`tokio-rustls`, `futures-rustls`, or
//! [`rustls::StreamOwned`] for blocking sockets):
//!
//! - accepted sockets become TLS servers with [`server_config`] (one
//!   certificate per node, made when the node starts, as py2p does);
//! - dialed sockets become TLS clients with [`client_config`], naming the
//!   server [`server_name`] (a placeholder: nothing checks it, and SNI is off).
//!
//! Clock and randomness: certificate generation reads no clock (rcgen's
//! default validity is the fixed span 1975..4096), but the key pair, like
//! every TLS handshake, draws from the operating system's secure random
//! number generator through ring. That is the one exception to the core's
//! "no OS randomness" rule, and it lives only behind the `tls` feature.
//! rustls itself may read the system clock inside a handshake (ticket
//! lifetimes); none of this module's own code does.

use std::fmt;
use std::io;
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme, SupportedProtocolVersion,
};

/// The rustls the configurations are made with (adapters build their TLS
/// streams on the same version).
pub use rustls;

/// The name in every node's certificate and the one clients "expect"; it is
/// never checked (see [`server_name`]). `.invalid` is reserved: it names no
/// real host.
pub const SERVER_NAME: &str = "py2p-mesh.invalid";

/// Why a TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The key pair or self-signed certificate could not be generated (the
    /// OS random number generator failed).
    #[error("could not make a self-signed certificate: {0}")]
    Certificate(#[source] rcgen::Error),
    /// rustls refused the configuration.
    #[error("rustls refused the TLS configuration: {0}")]
    Config(#[source] rustls::Error),
}

impl From<TlsError> for io::Error {
    fn from(e: TlsError) -> io::Error {
        io::Error::other(e)
    }
}

/// The only crypto provider used: ring (aws-lc-rs is never enabled).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS server configuration with a fresh self-signed certificate (an
/// ECDSA P-256 key made now), as py2p makes one per socket.
///
/// **Encryption without authentication**, like py2p's SSL mode: clients
/// ([`client_config`]) accept this certificate without checking anything
/// about it, so it stops passive eavesdroppers, not an active man in the
/// middle. No client certificate is asked for.
///
/// Make one per node and share it among its accepted connections. TLS 1.3
/// and 1.2 are offered (1.2 for older py2p peers).
///
/// # Errors
///
/// [`TlsError::Certificate`] if the OS random number generator fails.
pub fn server_config() -> Result<Arc<ServerConfig>, TlsError> {
    let certified = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_owned()])
        .map_err(TlsError::Certificate)?;
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::from(certified.signing_key);
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(TlsError::Config)?;
    Ok(Arc::new(config))
}

/// A TLS client configuration that accepts ANY server certificate, as py2p's
/// SSL mode does (`CERT_NONE`, no host name check).
///
/// **Encryption without authentication**: the certificate's chain, name and
/// dates are not checked, so this stops passive eavesdroppers, not an active
/// man in the middle. The server's handshake signatures are still verified
/// against the key in the certificate it sent (ring's algorithms), so the
/// handshake itself cannot be forged by someone without that key.
///
/// SNI is off (the name would be a placeholder anyway) and session
/// resumption is off (every node would share the one [`server_name`], so a
/// ticket from one node would be offered to another).
pub fn client_config() -> Arc<ClientConfig> {
    Arc::new(client_config_for(rustls::DEFAULT_VERSIONS))
}

/// [`client_config`] for the given TLS versions.
fn client_config_for(versions: &[&'static SupportedProtocolVersion]) -> ClientConfig {
    let provider = provider();
    let verifier = Arc::new(AcceptAnyCert {
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        // ring's default provider has suites and groups for TLS 1.3 and 1.2.
        .expect("the ring provider supports TLS 1.3 and 1.2")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.enable_sni = false;
    config.resumption = Resumption::disabled();
    config
}

/// The server name a client passes to its TLS handshake: [`SERVER_NAME`], a
/// placeholder. The verifier of [`client_config`] ignores it, and it is not
/// sent (SNI is off), so any node is reached with it.
///
/// **Encryption without authentication**: this name authenticates nothing.
pub fn server_name() -> ServerName<'static> {
    ServerName::try_from(SERVER_NAME).expect("SERVER_NAME is a valid DNS name")
}

/// py2p's `CERT_NONE`: every certificate is accepted; handshake signatures
/// are still checked against the certificate's key.
struct AcceptAnyCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for AcceptAnyCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AcceptAnyCert")
    }
}

impl ServerCertVerifier for AcceptAnyCert {
    /// No check at all: encryption without authentication, as in py2p.
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use rustls::{ClientConnection, Connection, ServerConnection};

    use super::*;

    /// Moves every TLS record `from` has to send into `to`; true if any moved.
    fn pump(from: &mut Connection, to: &mut Connection) -> bool {
        let mut buf = Vec::new();
        while from.wants_write() {
            from.write_tls(&mut buf).expect("write_tls to a Vec");
        }
        if buf.is_empty() {
            return false;
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            to.read_tls(&mut rd).expect("read_tls from a slice");
            to.process_new_packets().expect("a valid TLS exchange");
        }
        true
    }

    /// Pumps both ways until neither side has anything to send (bounded).
    fn settle(client: &mut Connection, server: &mut Connection) {
        for _ in 0..20 {
            let a = pump(client, server);
            let b = pump(server, client);
            if !a && !b {
                return;
            }
        }
        panic!("the TLS exchange never settled");
    }

    fn read_all(conn: &mut Connection) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            match conn.reader().read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        out
    }

    fn connect() -> (Connection, Connection) {
        let client = ClientConnection::new(client_config(), server_name()).expect("client");
        let server =
            ServerConnection::new(server_config().expect("server config")).expect("server");
        (Connection::Client(client), Connection::Server(server))
    }

    #[test]
    fn any_client_completes_a_handshake_with_a_fresh_self_signed_server() {
        let (mut client, mut server) = connect();
        settle(&mut client, &mut server);
        assert!(!client.is_handshaking());
        assert!(!server.is_handshaking());
        assert_eq!(
            client.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        // The certificate is the self-signed one, taken unchecked.
        assert_eq!(client.peer_certificates().map(<[_]>::len), Some(1));

        client
            .writer()
            .write_all(b"hello from the client")
            .expect("write");
        settle(&mut client, &mut server);
        assert_eq!(read_all(&mut server), b"hello from the client");
        server.writer().write_all(b"and back").expect("write");
        settle(&mut client, &mut server);
        assert_eq!(read_all(&mut client), b"and back");
    }

    #[test]
    fn tls12_works_too() {
        let tls12 = client_config_for(&[&rustls::version::TLS12]);
        let client = ClientConnection::new(Arc::new(tls12), server_name()).expect("client");
        let server = ServerConnection::new(server_config().expect("server")).expect("server");
        let (mut client, mut server) = (Connection::Client(client), Connection::Server(server));
        settle(&mut client, &mut server);
        assert_eq!(
            client.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_2)
        );
    }

    #[test]
    fn every_server_config_has_its_own_certificate() {
        let (mut c1, mut s1) = connect();
        let (mut c2, mut s2) = connect();
        settle(&mut c1, &mut s1);
        settle(&mut c2, &mut s2);
        assert_ne!(c1.peer_certificates(), c2.peer_certificates());
    }

    #[test]
    fn a_plaintext_peer_is_a_handshake_error_not_a_hang() {
        let mut server = ServerConnection::new(server_config().expect("server")).expect("server");
        // A py2p frame header: a 4-byte big-endian length, then msgpack.
        let mut rd: &[u8] = b"\x00\x00\x00\x20\x94\xa7whisper";
        server.read_tls(&mut rd).expect("read_tls");
        assert!(server.process_new_packets().is_err());
    }

    #[test]
    fn handshake_signatures_are_still_checked() {
        // A server whose certificate is one key's and whose signatures are
        // another's: the client must refuse it although it trusts any cert.
        let shown = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_owned()]).expect("cert");
        let other = rcgen::KeyPair::generate().expect("key");
        let provider = provider();
        let signer = provider
            .key_provider
            .load_private_key(PrivateKeyDer::from(other))
            .expect("signing key");
        let certified = rustls::sign::CertifiedKey::new(vec![shown.cert.der().clone()], signer);
        let resolver = Arc::new(rustls::sign::SingleCertAndKey::from(certified));
        let forged = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_cert_resolver(resolver);
        let mut server =
            Connection::Server(ServerConnection::new(Arc::new(forged)).expect("server"));
        let mut client = Connection::Client(
            ClientConnection::new(client_config(), server_name()).expect("client"),
        );
        pump(&mut client, &mut server);
        let mut records = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut records).expect("write_tls");
        }
        let mut rd = &records[..];
        let mut refused = false;
        while !rd.is_empty() && !refused {
            client.read_tls(&mut rd).expect("read_tls");
            refused = client.process_new_packets().is_err();
        }
        assert!(refused, "a bad handshake signature must be refused");
    }
}
