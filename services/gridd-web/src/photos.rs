//! Photos of a case, kept in the store with it: a squad's terminal uploads its after-photos
//! (`POST /v1/tickets/{id}/photos`, the image as the body) before it reports the task handled
//! with their URLs; whoever may read the case reads them (`GET /v1/photos/{photo}`).
//!
//! - Only JPEG, PNG and WebP, recognised by their first bytes as well as the declared
//!   `Content-Type`, so what is served back as an image is one.
//! - At most [`MAX_PHOTO_BYTES`] per photo and [`MAX_PHOTOS_PER_CASE`] per case, so one case
//!   cannot fill the database.
//! - The id is derived from the case and the bytes: a terminal that resends a photo after
//!   losing the reply gets the stored one back (200 instead of 201), nothing is stored twice.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gridd_access::Grant;
use gridd_core::FieldError;
use gridd_core::ids::TicketId;
use gridd_ingest::IntakeSink;
use gridd_proto::tonic::Status;
use gridd_store::{Photo, Store, StoreError};

use crate::{Services, status_response};

/// Largest photo accepted, in bytes: a phone photo scaled for evidence is well under it.
pub const MAX_PHOTO_BYTES: usize = 5 * 1024 * 1024;
/// Most photos one case keeps.
pub const MAX_PHOTOS_PER_CASE: u64 = 20;

/// The image types accepted, with the bytes each file starts with.
const IMAGE_TYPES: &[(&str, &str)] = &[("image/jpeg", "JPEG"), ("image/png", "PNG"), ("image/webp", "WebP")];

/// Whether `bytes` start as an image of `content_type` does.
fn looks_like(content_type: &str, bytes: &[u8]) -> bool {
    match content_type {
        "image/jpeg" => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/webp" => bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        _ => false,
    }
}

fn refused(reason: impl Into<String>) -> Status {
    gridd_proto::status::invalid_argument(&FieldError::new("photo", reason))
}

/// The declared image type, checked against the body; the refusal names what is wrong.
fn checked_type(headers: &HeaderMap, body: &[u8]) -> Result<&'static str, Status> {
    let declared = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = declared.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let Some((content_type, name)) = IMAGE_TYPES.iter().find(|(t, _)| *t == essence) else {
        return Err(refused(format!(
            "Content-Type {} is not an accepted image type (image/jpeg, image/png, image/webp)",
            gridd_access::quote(declared)
        )));
    };
    if body.is_empty() {
        return Err(refused("is empty"));
    }
    if body.len() > MAX_PHOTO_BYTES {
        return Err(refused(format!("is {} bytes; at most {MAX_PHOTO_BYTES} bytes are accepted", body.len())));
    }
    if !looks_like(content_type, body) {
        return Err(refused(format!("is not a {name} image, though its Content-Type says so")));
    }
    Ok(content_type)
}

/// A refusal decided inside the store transaction, or the store's failure.
enum PhotoError {
    Refused(Status),
    Store(StoreError),
}

impl From<StoreError> for PhotoError {
    fn from(e: StoreError) -> Self {
        PhotoError::Store(e)
    }
}

impl PhotoError {
    fn into_response(self) -> Response {
        match self {
            PhotoError::Refused(status) => status_response(&status),
            PhotoError::Store(e) => status_response(&gridd_proto::status::unavailable("photos", &e)),
        }
    }
}

/// `POST /v1/tickets/{id}/photos`.
pub async fn upload<S: Store, K: IntakeSink>(
    State(services): State<Services<S, K>>,
    Path(ticket): Path<String>,
    Extension(grant): Extension<Grant>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = match checked_type(&headers, &body) {
        Ok(t) => t,
        Err(status) => return status_response(&status),
    };
    let ticket = TicketId::new(ticket);
    let photo = Photo {
        id: gridd_store::photo_id(&ticket, &body),
        ticket_id: ticket,
        content_type: content_type.to_owned(),
        bytes: body.to_vec(),
        uploaded_by: grant.identity.subject.clone(),
        uploaded_at: services.dispatch.now(),
    };
    let stored = services.store.write(move |tx| -> Result<(bool, Photo), PhotoError> {
        // Reading the case locks it (PostgreSQL), so two uploads cannot both pass the limit.
        let case = tx
            .ticket(&photo.ticket_id)?
            .ok_or_else(|| PhotoError::Refused(Status::not_found(format!("no case {}", gridd_access::quote(photo.ticket_id.as_str())))))?;
        grant.check_case_squad(case.id.as_str(), case.squad.as_ref()).map_err(|e| PhotoError::Refused(e.status()))?;
        if case.state.is_terminal() {
            return Err(PhotoError::Refused(Status::failed_precondition(format!(
                "case {} is {} and takes no more photos",
                case.id,
                case.state.name()
            ))));
        }
        if tx.photo(&photo.id)?.is_some() {
            return Ok((false, photo.clone()));
        }
        let (count, _) = tx.photo_usage(&case.id)?;
        if count >= MAX_PHOTOS_PER_CASE {
            return Err(PhotoError::Refused(Status::failed_precondition(format!(
                "case {} already has {count} photos, the most one case keeps",
                case.id
            ))));
        }
        Ok((tx.put_photo(&photo)?, photo.clone()))
    });
    match stored.await {
        Ok((created, photo)) => {
            let status = if created { StatusCode::CREATED } else { StatusCode::OK };
            let body = serde_json::json!({
                "id": photo.id,
                "url": format!("/v1/photos/{}", photo.id),
                "bytes": photo.bytes.len(),
                "contentType": photo.content_type,
            });
            (status, [(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/photos/{photo}`.
pub async fn download<S: Store, K: IntakeSink>(
    State(services): State<Services<S, K>>,
    Path(id): Path<String>,
    Extension(grant): Extension<Grant>,
) -> Response {
    let missing = || status_response(&Status::not_found(format!("no photo {}", gridd_access::quote(&id))));
    let lookup_id = id.clone();
    let found = services
        .store
        .read(move |tx| -> Result<_, StoreError> {
            let Some(photo) = tx.photo(&lookup_id)? else { return Ok(None) };
            let squad = tx.ticket(&photo.ticket_id)?.and_then(|t| t.squad);
            Ok(Some((photo, squad)))
        })
        .await;
    let (photo, squad) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return missing(),
        Err(e) => return status_response(&gridd_proto::status::unavailable("photos", &e)),
    };
    // A photo is as private as its case: out of reach reads as absent, naming nothing.
    if grant.check_case_squad(photo.ticket_id.as_str(), squad.as_ref()).is_err() {
        return missing();
    }
    let mut response = photo.bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&photo.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    // The bytes behind an id never change; the browser may keep them, for this user only.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=604800, immutable"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).expect("header"));
        headers
    }

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn accepted_images_are_what_they_say() {
        assert_eq!(checked_type(&typed("image/png"), PNG).expect("a PNG"), "image/png");
        assert_eq!(checked_type(&typed("image/jpeg"), &[0xFF, 0xD8, 0xFF, 0xE0]).expect("a JPEG"), "image/jpeg");
        assert_eq!(checked_type(&typed("IMAGE/WEBP; q=1"), b"RIFF\0\0\0\0WEBPVP8 ").expect("a WebP"), "image/webp");
    }

    #[test]
    fn other_bodies_are_refused_naming_the_reason() {
        let reason = |headers: HeaderMap, body: &[u8]| checked_type(&headers, body).expect_err("refused").message().to_owned();
        assert!(reason(typed("image/gif"), b"GIF89a").contains("\"image/gif\" is not an accepted image type"));
        assert!(reason(HeaderMap::new(), PNG).contains("is not an accepted image type"));
        assert!(reason(typed("image/jpeg"), PNG).contains("is not a JPEG image"));
        assert!(reason(typed("image/png"), b"").contains("is empty"));
        let huge = [PNG, &vec![0; MAX_PHOTO_BYTES]].concat();
        assert!(reason(typed("image/png"), &huge).contains("at most 5242880 bytes"));
    }
}
