//! Identifiers and codes: unit-grid cell codes, division codes, squads, references, tickets.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::FieldError;
use crate::error::quote;

fn all_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

macro_rules! digit_code {
    ($(#[$doc:meta])* $name:ident, $len:expr, $what:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Number of digits in this kind of code.
            pub const LEN: usize = $len;

            /// Parses a code of exactly the right number of ASCII digits.
            pub fn parse(s: &str) -> Result<Self, String> {
                if all_digits(s, $len) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(format!("a {} is {} digits, got {}", $what, $len, quote(s)))
                }
            }

            /// The code as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(code: $name) -> String {
                code.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

digit_code!(
    /// A county-level administrative code (GB/T 2260), e.g. `320381` for 新沂市.
    AdminCode, 6, "county admin code"
);
digit_code!(
    /// A street / town (街道/镇) code: admin code + 3 digits, e.g. `320381001`.
    StreetCode, 9, "street code"
);
digit_code!(
    /// A community / village (社区/村) code: street code + 3 digits, e.g. `320381001003`.
    CommunityCode, 12, "community code"
);
digit_code!(
    /// A 15-digit unit-grid cell code: admin(6) + street(3) + community(3) + sequence(3),
    /// the sequence numbered west→east then north→south within the community.
    CellCode, 15, "cell code"
);

impl StreetCode {
    /// The county the street belongs to.
    pub fn admin(&self) -> AdminCode {
        AdminCode(self.0[..6].to_owned())
    }
}

impl CommunityCode {
    /// The street the community belongs to.
    pub fn street(&self) -> StreetCode {
        StreetCode(self.0[..9].to_owned())
    }
}

impl CellCode {
    /// The community the cell belongs to.
    pub fn community(&self) -> CommunityCode {
        CommunityCode(self.0[..12].to_owned())
    }

    /// The street the cell belongs to.
    pub fn street(&self) -> StreetCode {
        StreetCode(self.0[..9].to_owned())
    }

    /// The 3-digit sequence within the community, 1..=999.
    pub fn sequence(&self) -> u16 {
        self.0[12..].parse().unwrap_or(0)
    }

    /// Builds the code of the `sequence`-th cell of `community`.
    pub fn new(community: &CommunityCode, sequence: u16) -> Result<Self, String> {
        if !(1..=999).contains(&sequence) {
            return Err(format!("cell sequence must be 1..=999, got {sequence}"));
        }
        Ok(Self(format!("{}{sequence:03}", community.0)))
    }
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id that was already validated (or came from the store).
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(
    /// A squad (中队) or professional department id from the city's squads file, e.g. `sq-xinan`.
    SquadId
);
text_id!(
    /// A case number. It equals the reference of the report that opened the case.
    TicketId
);
text_id!(
    /// The reference intake returns for a report, e.g. `261122-0K3F9ZQ2`.
    Reference
);
text_id!(
    /// A camera's id in the city's camera registry.
    CameraId
);

impl From<Reference> for TicketId {
    fn from(r: Reference) -> Self {
        Self(r.0)
    }
}

/// Crockford base32: no I, L, O or U, so a reference read out on the phone is unambiguous.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Number of bits for the intake node id inside a reference (up to 32 intake processes).
pub const REFERENCE_NODE_BITS: u32 = 5;
/// Number of bits for the per-millisecond counter inside a reference.
pub const REFERENCE_COUNTER_BITS: u32 = 8;

impl Reference {
    /// Encodes a reference from the local date-time of acceptance, the intake node and a
    /// counter that is unique per node within one millisecond.
    ///
    /// Layout: `YYMMDD-` + 8 Crockford base32 characters holding 27 bits of milliseconds since
    /// local midnight, 5 bits of node and 8 bits of counter. Two references are equal only if
    /// all three are, so distinct (node, millisecond, counter) triples never collide.
    pub fn encode(local: chrono::NaiveDateTime, node: u8, counter: u8) -> Self {
        use chrono::Timelike;
        let ms_of_day = u64::from(local.num_seconds_from_midnight()) * 1000 + u64::from(local.nanosecond() / 1_000_000).min(999);
        let node = u64::from(node) & ((1 << REFERENCE_NODE_BITS) - 1);
        let mut bits =
            (ms_of_day << (REFERENCE_NODE_BITS + REFERENCE_COUNTER_BITS)) | (node << REFERENCE_COUNTER_BITS) | u64::from(counter);
        let mut tail = [b'0'; 8];
        for slot in tail.iter_mut().rev() {
            *slot = CROCKFORD[(bits & 31) as usize];
            bits >>= 5;
        }
        let tail = std::str::from_utf8(&tail).unwrap_or("00000000");
        Self(format!("{}-{tail}", local.format("%y%m%d")))
    }
}

/// A phone number as clients send it: 3 to 20 digits, optionally after a leading `+`
/// (surrounding spaces are dropped). `None` for an empty value.
pub fn validate_phone(field: &str, value: &str) -> Result<Option<String>, FieldError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let digits = v.strip_prefix('+').unwrap_or(v);
    if !(3..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::new(field, "must be 3 to 20 digits, optionally after a leading +"));
    }
    Ok(Some(v.to_owned()))
}

/// Checks a client id field: 1..=`max` printable ASCII characters without spaces.
pub fn validate_token(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    if value.len() > max {
        return Err(FieldError::new(field, format!("must be at most {max} characters")));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FieldError::new(field, "must be printable ASCII without spaces"));
    }
    Ok(())
}

/// Checks a free-text field's length in characters; `required` rejects an empty value.
pub fn validate_text(field: &str, value: &str, max: usize, required: bool) -> Result<(), FieldError> {
    if required && value.trim().is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(FieldError::new(field, format!("must be at most {max} characters, got {chars}")));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(FieldError::new(field, "must not contain control characters"));
    }
    Ok(())
}

/// Most URLs (photos, frames) one request may carry.
pub const MAX_URLS: usize = 9;
/// Longest URL, in characters.
pub const MAX_URL_CHARS: usize = 500;

/// Checks one URL a client sends for a photo or a camera frame: an absolute `http://` or
/// `https://` URL (scheme in any case) with a host, at most [`MAX_URL_CHARS`] characters, no
/// control characters and no white space (a URL that needs a space writes `%20`). Terminals
/// and the browser open these links, so `javascript:`, `data:` and `file:` are refused.
///
/// This is the one URL check of the engine: [`validate_urls`] applies it to lists, and intake
/// (citizen and patrol `photo_urls`, camera `frame_url`) and `ResolveTask` (`photo_urls`) use
/// these two functions.
pub fn validate_url(field: &str, url: &str) -> Result<(), FieldError> {
    if url.is_empty() {
        return Err(FieldError::new(field, "is empty; give an http or https URL"));
    }
    let chars = url.chars().count();
    if chars > MAX_URL_CHARS {
        return Err(FieldError::new(field, format!("must be at most {MAX_URL_CHARS} characters, got {chars}")));
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(FieldError::new(field, "must not contain spaces or control characters (encode them as %20 etc.)"));
    }
    let rest = ["https://", "http://"]
        .iter()
        .find_map(|scheme| url.get(..scheme.len()).filter(|head| head.eq_ignore_ascii_case(scheme)).map(|_| &url[scheme.len()..]));
    let Some(rest) = rest else {
        return Err(FieldError::new(field, format!("must be an http or https URL, got {}", quote(url))));
    };
    if rest.split(['/', '?', '#']).next().is_none_or(str::is_empty) {
        return Err(FieldError::new(field, "has no host after the scheme"));
    }
    Ok(())
}

/// Checks a list of URLs: at most [`MAX_URLS`], each as [`validate_url`] says; an entry's
/// error names it as `field[i]`.
pub fn validate_urls(field: &str, urls: &[String]) -> Result<(), FieldError> {
    if urls.len() > MAX_URLS {
        return Err(FieldError::new(field, format!("at most {MAX_URLS} URLs, got {}", urls.len())));
    }
    urls.iter().enumerate().try_for_each(|(i, url)| validate_url(&format!("{field}[{i}]"), url))
}

/// A Chinese phone number without its country prefix (`+86`, `0086`, or `86` before an
/// 11-digit mobile number), so one number written two ways is one number; others as given.
pub fn national_number(phone: &str) -> &str {
    let trimmed = phone.trim();
    let digits = trimmed.strip_prefix('+').unwrap_or(trimmed);
    digits
        .strip_prefix("0086")
        .or_else(|| digits.strip_prefix("86").filter(|rest| rest.len() == 11))
        .filter(|rest| !rest.is_empty())
        .unwrap_or(trimmed)
}

/// Masks a phone number for display: `13812345678` → `138****5678`.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = national_number(phone).chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

/// The local date a reference's first six characters name; `None` if it does not parse.
pub fn reference_date(reference: &Reference) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(reference.as_str().get(..6)?, "%y%m%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_code_structure() {
        let code = CellCode::parse("320381001003012").expect("valid");
        assert_eq!(code.street().as_str(), "320381001");
        assert_eq!(code.community().as_str(), "320381001003");
        assert_eq!(code.sequence(), 12);
        assert!(CellCode::parse("32038100100301").is_err());
        assert!(CellCode::parse("32038100100301x").is_err());
    }

    #[test]
    fn references_differ_by_counter_and_node() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).and_then(|d| d.and_hms_milli_opt(9, 30, 0, 123)).expect("valid time");
        let a = Reference::encode(t, 0, 0);
        let b = Reference::encode(t, 0, 1);
        let c = Reference::encode(t, 1, 0);
        assert!(a.as_str().starts_with("261122-"));
        assert_eq!(a.as_str().len(), 15);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(reference_date(&a), chrono::NaiveDate::from_ymd_opt(2026, 11, 22));
    }

    #[test]
    fn code_errors_quote_a_short_prefix() {
        let huge = "9".repeat(1 << 20);
        let e = StreetCode::parse(&huge).expect_err("too long");
        assert!(e.starts_with("a street code is 9 digits, got \""), "{e}");
        assert!(e.ends_with('…') && e.len() < 120, "{e}");
    }

    #[test]
    fn urls_are_http_or_https_without_spaces() {
        assert_eq!(validate_url("u", "https://img.example.cn/a/1.jpg?x=1"), Ok(()));
        assert_eq!(validate_url("u", "HTTP://img.example.cn/1.jpg"), Ok(()));
        for bad in ["javascript:alert(1)", "data:image/png;base64,AAAA", "ftp://x/1.jpg", "file:///etc/passwd", "//x/1.jpg", ""] {
            let e = validate_url("photo_urls[0]", bad).expect_err(bad);
            assert_eq!(e.field, "photo_urls[0]", "{bad}");
        }
        let e = validate_url("u", "javascript:alert(1)").expect_err("scheme");
        assert!(e.reason.contains("http or https"), "{e}");
        for bad in ["https://x/a\nb.jpg", "https://x/a b.jpg", "https://x/a\tb.jpg", "https://x/a\u{3000}b.jpg", "https://x/\u{7f}"] {
            let e = validate_url("u", bad).expect_err(bad);
            assert!(e.reason.contains("spaces or control characters"), "{bad}: {e}");
        }
        assert!(validate_url("u", "https:///nohost").expect_err("host").reason.contains("no host"));
        assert!(validate_url("u", "https://").is_err());
        let long = format!("https://x/{}", "a".repeat(MAX_URL_CHARS));
        assert!(validate_url("u", &long).expect_err("long").reason.contains("at most 500"));
    }

    #[test]
    fn url_lists_are_capped_and_name_the_entry() {
        let ok = vec!["https://x/1.jpg".to_string(); MAX_URLS];
        assert_eq!(validate_urls("photo_urls", &ok), Ok(()));
        let many = vec!["https://x/1.jpg".to_string(); 50];
        let e = validate_urls("photo_urls", &many).expect_err("too many");
        assert_eq!((e.field.as_str(), e.reason.as_str()), ("photo_urls", "at most 9 URLs, got 50"));
        let mixed = vec!["https://x/1.jpg".to_string(), "data:text/html,hi".to_string()];
        assert_eq!(validate_urls("photo_urls", &mixed).map_err(|e| e.field), Err("photo_urls[1]".into()));
    }

    #[test]
    fn phone_masking() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("12345"), "*****");
        // One number, however the country prefix is written.
        for written in ["+8613812345678", "008613812345678", "8613812345678", " 13812345678 "] {
            assert_eq!(mask_phone(written), "138****5678", "{written}");
        }
        assert_eq!(national_number("+4420712345678"), "+4420712345678", "other countries are kept as given");
    }
}
