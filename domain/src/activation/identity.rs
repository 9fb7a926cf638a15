//! Identity preparation per platform: normalisation (emails, phone numbers) and hashing, as the
//! destination spec says; a value that cannot be prepared is refused with a reason.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::catalog::spec::{Hashing, Normalization};

/// Why an identity value was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Empty,
    MalformedEmail,
    MalformedPhone,
}

impl Refusal {
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Empty => "empty value",
            Refusal::MalformedEmail => "malformed email address",
            Refusal::MalformedPhone => "phone number cannot be read",
        }
    }
}

/// Whether `value` looks like one email address: one `@`, a local part, a dotted domain.
pub fn is_email(value: &str) -> bool {
    let value = value.trim();
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(char::is_whitespace)
}

/// Removes dots and a `+suffix` from the local part of addresses at the given domains.
fn canonical_gmail(email: &str, domains: &[&str]) -> String {
    match email.split_once('@') {
        Some((local, domain)) if domains.contains(&domain) => {
            let local = local.split('+').next().unwrap_or_default().replace('.', "");
            format!("{local}@{domain}")
        }
        _ => email.to_owned(),
    }
}

/// A phone number in E.164 (`+` and digits). A number without a country code is read in the
/// profile's country (ISO 3166 alpha-2), if known.
pub fn phone_e164(value: &str, country: Option<&str>) -> Result<String, Refusal> {
    let region = country.and_then(|c| {
        c.trim()
            .to_uppercase()
            .parse::<phonenumber::country::Id>()
            .ok()
    });
    let number = phonenumber::parse(region, value.trim()).map_err(|_| Refusal::MalformedPhone)?;
    if !phonenumber::is_valid(&number) {
        return Err(Refusal::MalformedPhone);
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// Normalises one value. `country` is the profile's country code, for phone numbers.
///
/// # Errors
/// A [`Refusal`] when the value is empty or cannot be read as what it should be.
pub fn normalize(
    how: Normalization,
    namespace: &str,
    value: &str,
    country: Option<&str>,
) -> Result<String, Refusal> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Refusal::Empty);
    }
    let email_like = namespace == "Email";
    if email_like && how != Normalization::None && !is_email(trimmed) {
        return Err(Refusal::MalformedEmail);
    }
    Ok(match how {
        Normalization::None => value.to_owned(),
        Normalization::TrimLowercase => trimmed.to_lowercase(),
        Normalization::TrimUppercase => trimmed.to_uppercase(),
        Normalization::EmailGoogle => {
            let lower: String = trimmed
                .to_lowercase()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            canonical_gmail(&lower, &["gmail.com", "googlemail.com"])
        }
        Normalization::EmailGmailCanonical => {
            canonical_gmail(&trimmed.to_lowercase(), &["gmail.com"])
        }
        Normalization::PhoneE164 => phone_e164(trimmed, country)?,
        Normalization::PhoneDigits => phone_e164(trimmed, country)?
            .trim_start_matches('+')
            .to_owned(),
    })
}

/// Hashes a normalised value.
pub fn hash(how: Hashing, value: &str) -> String {
    match how {
        Hashing::None => value.to_owned(),
        Hashing::Sha256Hex => format!("{:x}", Sha256::digest(value.as_bytes())),
        Hashing::Sha256Base64 => {
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(value.as_bytes()))
        }
    }
}

/// Normalises then hashes: the value exactly as the platform receives it.
///
/// # Errors
/// As [`normalize`].
pub fn prepare(
    normalization: Normalization,
    hashing: Hashing,
    namespace: &str,
    value: &str,
    country: Option<&str>,
) -> Result<String, Refusal> {
    normalize(normalization, namespace, value, country).map(|v| hash(hashing, &v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_follow_each_platforms_rules() {
        let n = |how, v| normalize(how, "Email", v, None).unwrap();
        assert_eq!(
            n(
                Normalization::TrimLowercase,
                "  Ada.Lovelace+news@GMail.com "
            ),
            "ada.lovelace+news@gmail.com"
        );
        assert_eq!(
            n(
                Normalization::EmailGoogle,
                "Ada.Lovelace+news@GoogleMail.com"
            ),
            "adalovelace@googlemail.com"
        );
        assert_eq!(
            n(Normalization::EmailGoogle, "Ada.Lovelace+x@example.com"),
            "ada.lovelace+x@example.com"
        );
        assert_eq!(
            n(
                Normalization::EmailGmailCanonical,
                " Ada.Lovelace+x@gmail.com"
            ),
            "adalovelace@gmail.com"
        );
        assert_eq!(
            n(Normalization::EmailGmailCanonical, "Ada.L+x@googlemail.com"),
            "ada.l+x@googlemail.com"
        );
        assert_eq!(
            normalize(Normalization::TrimLowercase, "Email", "not-an-email", None),
            Err(Refusal::MalformedEmail)
        );
        assert_eq!(
            normalize(Normalization::TrimLowercase, "Email", "   ", None),
            Err(Refusal::Empty)
        );
    }

    #[test]
    fn phones_become_e164_using_the_profiles_country() {
        assert_eq!(
            phone_e164("(415) 555-2671", Some("US")).unwrap(),
            "+14155552671"
        );
        assert_eq!(
            phone_e164("020 7946 0958", Some("gb")).unwrap(),
            "+442079460958"
        );
        assert_eq!(phone_e164("+49 30 901820", None).unwrap(), "+4930901820");
        assert_eq!(
            phone_e164("0176 12345678", Some("DE")).unwrap(),
            "+4917612345678"
        );
        assert_eq!(
            normalize(Normalization::PhoneDigits, "Phone", "+1 415 555 2671", None).unwrap(),
            "14155552671"
        );
        assert_eq!(phone_e164("12", Some("US")), Err(Refusal::MalformedPhone));
        assert_eq!(phone_e164("555-2671", None), Err(Refusal::MalformedPhone));
    }

    #[test]
    fn hashes_are_sha256_in_hex_or_base64() {
        // Known digests of "test@example.com".
        assert_eq!(
            hash(Hashing::Sha256Hex, "test@example.com"),
            "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
        );
        assert_eq!(
            hash(Hashing::Sha256Base64, "test@example.com"),
            "lz3+Rj7IV4X1+Vr1ujkG7tstkxwk5pgkqJ6mXbpOgTs="
        );
        assert_eq!(hash(Hashing::None, "x"), "x");
    }
}
