use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder};

use crate::{Certificate, KeyError, PrivateKey};

/// What a new certificate says about itself.
#[derive(Debug, Clone)]
pub struct CertificateProfile {
    /// The subject's common name (CN).
    pub common_name: String,
    /// How long the certificate is valid, in days from now.
    pub validity_days: u32,
    /// Whether the certificate may sign other certificates (PK and KEK style keys).
    pub ca: bool,
}

/// Issue a certificate for `key`, signed by `issuer` (its own key when `issuer` is `None`,
/// making it self-signed).
///
/// The extensions are those `openssl req -x509` writes (subject and authority key
/// identifiers, basic constraints) plus a key usage, which UEFI firmware and the kernel's
/// X.509 parser both accept.
pub fn issue_certificate(
    key: &PrivateKey,
    profile: &CertificateProfile,
    issuer: Option<(&PrivateKey, &Certificate)>,
) -> Result<Certificate, KeyError> {
    let c = KeyError::crypto;
    let mut name = X509NameBuilder::new().map_err(c("building a certificate name"))?;
    name.append_entry_by_text("CN", &profile.common_name)
        .map_err(c("setting the certificate common name"))?;
    let name = name.build();

    let mut b = X509Builder::new().map_err(c("starting a certificate"))?;
    b.set_version(2)
        .map_err(c("setting the certificate version"))?;
    // A random positive 127-bit serial, as RFC 5280 recommends (at most 20 octets).
    let mut serial = BigNum::new().map_err(c("making a serial number"))?;
    serial
        .rand(127, MsbOption::MAYBE_ZERO, false)
        .map_err(c("making a serial number"))?;
    let serial = Asn1Integer::from_bn(&serial).map_err(c("making a serial number"))?;
    b.set_serial_number(&serial)
        .map_err(c("setting the serial number"))?;
    b.set_subject_name(&name)
        .map_err(c("setting the subject"))?;
    match issuer {
        Some((_, cert)) => b.set_issuer_name(cert.openssl().subject_name()),
        None => b.set_issuer_name(&name),
    }
    .map_err(c("setting the issuer"))?;
    b.set_pubkey(key.pkey())
        .map_err(c("setting the public key"))?;
    let not_before = Asn1Time::days_from_now(0).map_err(c("setting the validity"))?;
    let not_after =
        Asn1Time::days_from_now(profile.validity_days).map_err(c("setting the validity"))?;
    b.set_not_before(&not_before)
        .map_err(c("setting the validity"))?;
    b.set_not_after(&not_after)
        .map_err(c("setting the validity"))?;

    let mut constraints = BasicConstraints::new();
    if profile.ca {
        constraints.critical().ca();
    }
    let constraints = constraints
        .build()
        .map_err(c("building basic constraints"))?;
    b.append_extension(constraints)
        .map_err(c("adding basic constraints"))?;
    let mut usage = KeyUsage::new();
    usage.digital_signature();
    if profile.ca {
        usage.key_cert_sign().crl_sign();
    }
    let usage = usage.build().map_err(c("building the key usage"))?;
    b.append_extension(usage)
        .map_err(c("adding the key usage"))?;
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(issuer.map(|(_, cert)| cert.openssl().as_ref()), None))
        .map_err(c("building the subject key identifier"))?;
    b.append_extension(ski)
        .map_err(c("adding the subject key identifier"))?;
    if issuer.is_some() {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(issuer.map(|(_, cert)| cert.openssl().as_ref()), None))
            .map_err(c("building the authority key identifier"))?;
        b.append_extension(aki)
            .map_err(c("adding the authority key identifier"))?;
    }
    let signing_key = issuer.map(|(k, _)| k).unwrap_or(key);
    b.sign(signing_key.pkey(), MessageDigest::sha256())
        .map_err(c("signing the certificate"))?;
    Certificate::from_openssl(b.build())
}

/// Convenience: a self-signed certificate and a [`crate::FileSigner`] for a new key.
impl crate::FileSigner {
    /// Generate a new RSA-2048 key with a self-signed certificate.
    pub fn generate_self_signed(profile: &CertificateProfile) -> Result<Self, KeyError> {
        let key = PrivateKey::generate_rsa(2048)?;
        let cert = issue_certificate(&key, profile, None)?;
        Self::new(key, cert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificate_verifies_and_names_its_subject() {
        let profile = CertificateProfile {
            common_name: "stela test".into(),
            validity_days: 30,
            ca: true,
        };
        let signer = crate::FileSigner::generate_self_signed(&profile).expect("generate");
        let cert = crate::Signer::certificate(&signer);
        assert_eq!(cert.subject(), "CN=stela test");
        assert!(cert.is_issued_by(cert));
        let other = crate::FileSigner::generate_self_signed(&profile).expect("generate");
        assert!(!cert.is_issued_by(crate::Signer::certificate(&other)));
    }
}
