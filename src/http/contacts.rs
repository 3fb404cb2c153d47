//! Contacts: the account-wide CRM. Any agent of the account may search, create, change and merge
//! them; inbox membership does not apply, because a contact may talk to several inboxes.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, patch, post, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, Authenticated};
use super::params::{nullable, page_params, parse_param, present, referenced};
use super::state::AppState;
use crate::domain::{
    AgentId, Contact, ContactId, ContactPatch, ContactQuery, EmailAddress, MAX_PROPERTIES, Name,
    NewContact, Phone, Properties,
};
use crate::store::Page;

/// Longest free-text search term, in characters.
const MAX_SEARCH_CHARS: usize = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContactSearch {
    /// Case-insensitive substring of the email, name or phone.
    q: Option<String>,
    /// Exact email address.
    email: Option<String>,
    /// Case-insensitive substring of the name.
    name: Option<String>,
    /// Substring of the phone number.
    phone: Option<String>,
    /// The `next` of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    after: Option<String>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
}

fn search_term(field: &str, raw: Option<&str>) -> ApiResult<Option<String>> {
    parse_param(field, raw, |s| {
        if s.chars().count() > MAX_SEARCH_CHARS {
            Err(format!("must be at most {MAX_SEARCH_CHARS} characters"))
        } else {
            Ok(s.to_owned())
        }
    })
}

/// Searches contacts; every given criterion must match. Newest first, keyset paged.
#[utoipa::path(tag = "contacts", params(ContactSearch), responses(
    (status = 200, body = Page<Contact>),
    (status = 400, body = ErrorBody, description = "A query parameter is malformed"),
    (status = 401, body = ErrorBody),
))]
#[get("/contacts")]
async fn search_contacts(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<ContactSearch>,
) -> ApiResult<web::Json<Page<Contact>>> {
    let q = query.into_inner();
    let criteria = ContactQuery {
        query: search_term("q", q.q.as_deref())?,
        email: parse_param("email", q.email.as_deref(), EmailAddress::parse)?,
        name: search_term("name", q.name.as_deref())?,
        phone: search_term("phone", q.phone.as_deref())?,
    };
    let page = page_params(q.after.as_deref(), q.limit.as_deref())?;
    Ok(web::Json(
        state
            .store
            .search_contacts(who.account(), criteria, page)
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContactRequest {
    email: Option<EmailAddress>,
    name: Option<Name>,
    phone: Option<Phone>,
    /// Names of 1 to 64 characters of `a-z0-9_`, at most 100; values text (≤ 1000 characters),
    /// numbers, true/false. `null` values are ignored.
    #[serde(default)]
    properties: Option<Properties>,
    /// The agent who owns the relationship.
    owner_id: Option<AgentId>,
}

/// Creates a contact. It needs at least one of email, name or phone; emails are unique in the
/// account.
#[utoipa::path(tag = "contacts", request_body = NewContactRequest, responses(
    (status = 201, body = Contact),
    (status = 400, body = ErrorBody, description = "The body is not JSON"),
    (status = 401, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "Another contact has this email"),
    (status = 413, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "A field is invalid; `field` names it"),
))]
#[post("/contacts")]
async fn create_contact(
    state: web::Data<AppState>,
    who: Authenticated,
    body: ApiJson<NewContactRequest>,
) -> ApiResult<HttpResponse> {
    let NewContactRequest {
        email,
        name,
        phone,
        properties,
        owner_id,
    } = body.into_inner()?;
    if email.is_none() && name.is_none() && phone.is_none() {
        return Err(ApiError::invalid_field(
            "email",
            "a contact needs at least one of email, name or phone",
        ));
    }
    let contact = state
        .store
        .create_contact(
            who.account(),
            NewContact {
                email,
                name,
                phone,
                properties: properties.map(Properties::into_values).unwrap_or_default(),
                owner_id,
            },
        )
        .await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(contact))
}

/// One contact.
#[utoipa::path(tag = "contacts", params(("id" = ContactId, Path)), responses(
    (status = 200, body = Contact),
    (status = 400, body = ErrorBody, description = "The id is malformed"),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
#[get("/contacts/{id}")]
async fn get_contact(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<ContactId>,
) -> ApiResult<web::Json<Contact>> {
    Ok(web::Json(
        state
            .store
            .get_contact(who.account(), id.into_inner())
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPatchRequest {
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<EmailAddress>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    name: Option<Option<Name>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    phone: Option<Option<Phone>>,
    /// Merged into the stored properties; a `null` value removes that property.
    #[serde(default, deserialize_with = "present")]
    properties: Option<Properties>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid)]
    owner_id: Option<Option<AgentId>>,
}

/// Changes a contact. Absent fields stay as they are; the contact must keep at least one of
/// email, name or phone.
#[utoipa::path(tag = "contacts", params(("id" = ContactId, Path)), request_body = ContactPatchRequest, responses(
    (status = 200, body = Contact),
    (status = 400, body = ErrorBody, description = "The body is not JSON or the id is malformed"),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "Another contact has this email"),
    (status = 413, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "A field is invalid; `field` names it"),
))]
#[patch("/contacts/{id}")]
async fn update_contact(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<ContactId>,
    body: ApiJson<ContactPatchRequest>,
) -> ApiResult<web::Json<Contact>> {
    let id = id.into_inner();
    let patch = body.into_inner()?;
    let current = state.store.get_contact(who.account(), id).await?;

    let keeps = |change: Option<bool>, now: bool| change.unwrap_or(now);
    let identified = keeps(
        patch.email.as_ref().map(Option::is_some),
        current.email.is_some(),
    ) || keeps(
        patch.name.as_ref().map(Option::is_some),
        current.name.is_some(),
    ) || keeps(
        patch.phone.as_ref().map(Option::is_some),
        current.phone.is_some(),
    );
    if !identified {
        return Err(ApiError::invalid_field(
            "email",
            "a contact needs at least one of email, name or phone; this change would clear all three",
        ));
    }
    if let Some(properties) = &patch.properties {
        let mut names: std::collections::BTreeSet<&String> = current.properties.keys().collect();
        for (name, value) in properties.iter() {
            if value.is_null() {
                names.remove(name);
            } else {
                names.insert(name);
            }
        }
        if names.len() > MAX_PROPERTIES {
            return Err(ApiError::invalid_field(
                "properties",
                format!("a contact may have at most {MAX_PROPERTIES} properties"),
            ));
        }
    }

    let contact = state
        .store
        .update_contact(
            who.account(),
            id,
            ContactPatch {
                email: patch.email,
                name: patch.name,
                phone: patch.phone,
                properties: patch.properties.map(Properties::into_map),
                owner_id: patch.owner_id,
            },
        )
        .await?;
    Ok(web::Json(contact))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The duplicate: its conversations and tickets move to the kept contact, then it is deleted.
    merged_id: ContactId,
}

/// Merges a duplicate into this contact: empty fields and missing properties are filled from the
/// duplicate, its conversations and tickets move here, and the duplicate is deleted.
#[utoipa::path(tag = "contacts", params(("id" = ContactId, Path, description = "The contact kept")),
    request_body = MergeRequest, responses(
    (status = 200, body = Contact, description = "The kept contact after the merge"),
    (status = 400, body = ErrorBody, description = "The body is not JSON or the id is malformed"),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody, description = "No such kept contact"),
    (status = 413, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "`merged_id` is unknown or the contact itself"),
))]
#[post("/contacts/{id}/merge")]
async fn merge_contacts(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<ContactId>,
    body: ApiJson<MergeRequest>,
) -> ApiResult<web::Json<Contact>> {
    let kept = id.into_inner();
    let merged = body.into_inner()?.merged_id;
    state.store.get_contact(who.account(), kept).await?;
    referenced(
        state.store.get_contact(who.account(), merged).await,
        "merged_id",
    )?;
    if kept == merged {
        return Err(ApiError::invalid_field(
            "merged_id",
            "a contact cannot be merged with itself",
        ));
    }
    Ok(web::Json(
        state
            .store
            .merge_contacts(who.account(), kept, merged)
            .await?,
    ))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(search_contacts)
        .service(create_contact)
        .service(get_contact)
        .service(update_contact)
        .service(merge_contacts);
}
