//! Access tokens: gridd's own (HS256 JWTs signed with a secret kept in the store, so every
//! process of a deployment checks every other's), and, when configured, the city identity
//! provider's OpenID Connect tokens, checked against its JWKS file.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::AccessError;
use crate::permission::Role;
use gridd_core::error::quote;

/// `iss` and `aud` of gridd's own tokens, and the `kid` in their header.
const GRIDD: &str = "gridd";
/// Clock skew tolerated between processes.
const LEEWAY_SECONDS: u64 = 30;

/// The claims of gridd's own access tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Always "gridd".
    pub iss: String,
    /// Always "gridd".
    pub aud: String,
    /// The account's user name.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issue time, seconds since the epoch.
    pub iat: u64,
    /// Issue time in milliseconds: compared with the account's last change, which a second
    /// is too coarse for (a password changed in the second of a sign-in must end it).
    pub issued_ms: i64,
    /// Role id.
    pub role: String,
    /// Display name.
    pub name: String,
    /// Squad of a squad member or leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub squad: Option<String>,
}

/// What an OpenID Connect token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSubject {
    /// `sub`.
    pub subject: String,
    /// `name`, else `preferred_username`, else `sub`.
    pub name: String,
    /// The role claim.
    pub role: Role,
    /// The squad claim.
    pub squad: Option<String>,
}

/// Seconds since the epoch now.
pub fn now_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Milliseconds since the epoch now.
pub fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Signs and checks gridd's own tokens.
pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenSigner {
    /// A signer with the deployment's secret.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation: validation(Algorithm::HS256, GRIDD, GRIDD),
        }
    }

    /// A token for `sub` with `role`, valid for `ttl`; returns it with its expiry (seconds).
    pub fn issue(&self, sub: &str, name: &str, role: Role, squad: Option<&str>, ttl: Duration) -> Result<(String, u64), AccessError> {
        let issued_ms = now_millis();
        let iat = u64::try_from(issued_ms / 1000).unwrap_or(0);
        let exp = iat + ttl.as_secs();
        let claims = AccessClaims {
            iss: GRIDD.into(),
            aud: GRIDD.into(),
            sub: sub.into(),
            exp,
            iat,
            issued_ms,
            role: role.id().into(),
            name: name.into(),
            squad: squad.map(str::to_owned),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(GRIDD.into());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map(|t| (t, exp))
            .map_err(|e| AccessError::Unavailable(format!("signing a token: {e}")))
    }

    /// The claims of a token this deployment signed, if it checks out.
    pub fn check(&self, token: &str) -> Result<AccessClaims, AccessError> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation).map(|d| d.claims).map_err(|e| refusal(&e))
    }
}

/// Whether a token's header names gridd as its signer (else it may be the provider's).
pub fn signed_by_gridd(token: &str) -> Result<bool, AccessError> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| refusal(&e))?;
    Ok(header.kid.as_deref() == Some(GRIDD))
}

/// Checks the city identity provider's tokens.
pub struct OidcVerifier {
    keys: JwkSet,
    issuer: String,
    audience: String,
    role_claim: String,
    squad_claim: String,
}

impl OidcVerifier {
    /// Loads the provider's JWKS file.
    pub fn load(config: &gridd_config::OidcConfig) -> Result<Self, String> {
        let keys = read_jwks(&config.jwks)?;
        Ok(Self {
            keys,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            role_claim: config.role_claim.clone(),
            squad_claim: config.squad_claim.clone(),
        })
    }

    /// Who a provider's token names, if it checks out.
    pub fn check(&self, token: &str) -> Result<OidcSubject, AccessError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| refusal(&e))?;
        let jwk = match &header.kid {
            Some(kid) => self.keys.find(kid),
            None if self.keys.keys.len() == 1 => self.keys.keys.first(),
            None => None,
        }
        .ok_or_else(|| AccessError::unauthenticated("token signed by a key that is neither gridd's nor the identity provider's"))?;
        let key =
            DecodingKey::from_jwk(jwk).map_err(|e| AccessError::unauthenticated(format!("the provider's key cannot check tokens: {e}")))?;
        let validation = validation(header.alg, &self.issuer, &self.audience);
        let claims =
            jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, &key, &validation).map_err(|e| refusal(&e))?.claims;
        self.subject(&claims)
    }

    fn subject(&self, claims: &serde_json::Map<String, serde_json::Value>) -> Result<OidcSubject, AccessError> {
        let text = |name: &str| claims.get(name).and_then(serde_json::Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        let subject = text("sub").ok_or_else(|| AccessError::unauthenticated("the token has no sub claim"))?;
        let role = match claims.get(&self.role_claim) {
            Some(serde_json::Value::String(r)) => Role::parse(r).ok(),
            Some(serde_json::Value::Array(rs)) => rs.iter().filter_map(serde_json::Value::as_str).find_map(|r| Role::parse(r).ok()),
            _ => None,
        }
        .ok_or_else(|| AccessError::unauthenticated(format!("the token's {} claim names no gridd role", quote(&self.role_claim))))?;
        let squad = text(&self.squad_claim);
        if role.needs_squad() && squad.is_none() {
            return Err(AccessError::unauthenticated(format!(
                "role {} needs a squad in the {} claim",
                role.id(),
                quote(&self.squad_claim)
            )));
        }
        let name = text("name").or_else(|| text("preferred_username")).unwrap_or_else(|| subject.clone());
        Ok(OidcSubject { subject, name, role, squad })
    }
}

/// What every token must carry and satisfy. jsonwebtoken checks `iss` and `aud` only when a
/// token has them, so they are required explicitly; a token valid only later (`nbf`) is
/// refused too.
fn validation(alg: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut v = Validation::new(alg);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.validate_nbf = true;
    v.leeway = LEEWAY_SECONDS;
    v
}

fn read_jwks(path: &Path) -> Result<JwkSet, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let keys: JwkSet = serde_json::from_str(&text).map_err(|e| format!("{}: not a JWKS: {e}", path.display()))?;
    if keys.keys.is_empty() {
        return Err(format!("{}: the JWKS has no keys", path.display()));
    }
    Ok(keys)
}

/// Why a token was refused, in words a client developer can act on.
fn refusal(e: &jsonwebtoken::errors::Error) -> AccessError {
    let why = match e.kind() {
        ErrorKind::ExpiredSignature => "the token has expired; refresh it or sign in again",
        ErrorKind::InvalidSignature => "the token's signature does not check out",
        ErrorKind::InvalidIssuer => "the token's issuer is not trusted",
        ErrorKind::InvalidAudience => "the token is not meant for gridd (audience)",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => "the token's algorithm is not accepted",
        ErrorKind::MissingRequiredClaim(claim) => return AccessError::unauthenticated(format!("the token lacks the {claim} claim")),
        _ => "the token is malformed",
    };
    AccessError::unauthenticated(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> TokenSigner {
        TokenSigner::new(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn a_token_checks_out_with_its_claims() {
        let (token, exp) = signer().issue("li.na", "李娜", Role::SquadMember, Some("sq-1"), Duration::from_secs(60)).expect("issue");
        assert!(signed_by_gridd(&token).expect("header"));
        let claims = signer().check(&token).expect("valid");
        assert_eq!(
            (claims.sub.as_str(), claims.role.as_str(), claims.squad.as_deref(), claims.exp),
            ("li.na", "squad_member", Some("sq-1"), exp)
        );
    }

    #[test]
    fn tampered_foreign_and_expired_tokens_are_refused_with_a_reason() {
        let (token, _) = signer().issue("a", "a", Role::Dispatcher, None, Duration::from_secs(60)).expect("issue");
        let other = TokenSigner::new(b"another secret, another deployment");
        assert_eq!(other.check(&token).expect_err("foreign").to_string(), "unauthenticated: the token's signature does not check out");

        // Change the payload and keep the signature. (Its first character is always there;
        // replacing a letter that happens not to occur would change nothing.)
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}{}", if parts[1].starts_with('e') { 'f' } else { 'e' }, &parts[1][1..]);
        let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert!(signer().check(&tampered).is_err());

        let mut claims = signer().check(&token).expect("valid");
        claims.exp = now_seconds() - 3600;
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(GRIDD.into());
        let expired =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef")).expect("encode");
        assert_eq!(
            signer().check(&expired).expect_err("expired").to_string(),
            "unauthenticated: the token has expired; refresh it or sign in again"
        );
    }

    #[test]
    fn unsigned_and_garbage_tokens_are_malformed() {
        // {"alg":"none","typ":"JWT"}.{"sub":"admin"}.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiJ9.";
        assert!(signed_by_gridd(none).is_err());
        assert!(signer().check(none).is_err());
        for garbage in ["", "abc", "a.b.c", &"x".repeat(10_000)] {
            assert!(signer().check(garbage).is_err(), "{garbage:.20}");
        }
    }
}
