//! Channels: the ways into an inbox (chat, email, messenger, form), and the chatflows of chat and
//! messenger channels. Admins manage them; agents read those of the inboxes they are members of.
//!
//! A chatflow's `targeting`, `availability` and `branding` are parsed by `crate::chatflows` and
//! stored in its normalized form; a bad one is 422 naming the exact path (`targeting[2].value`).
//!
//! Settings are parsed by `crate::channels` for the channel's kind. Answers never carry a
//! password or token (they show `null` and `has_<name>: true`); the chat identity secret is
//! shown to admins only.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, Authenticated};
use super::params::present;
use super::state::AppState;
use crate::bots;
use crate::channels::{ChannelSettings, SettingsError, redact};
use crate::chatflows::{Availability, Branding, ShapeError, Targeting};
use crate::domain::{
    AccountId, Channel, ChannelId, ChannelKind, ChannelPatch, Chatflow, ChatflowId, ChatflowKind,
    ChatflowPatch, InboxId, Name, NewChannel, NewChatflow,
};
use crate::store::StoreError;

/// Parsed by hand rather than by serde, whose query errors do not name the parameter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChannelQuery {
    /// Only the channels of this inbox.
    #[param(value_type = Option<String>, format = Uuid)]
    pub inbox_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannelRequest {
    pub inbox_id: InboxId,
    pub kind: ChannelKind,
    pub name: Name,
    /// The kind's settings. chat: `allowed_origins`, `require_identity_verification`.
    /// email: `imap_host`, `imap_port`, `imap_tls` (`tls`/`starttls`/`none`), `imap_username`,
    /// `imap_password`, the same five for `smtp_`, `sender_name`, `sender_address`, `signature`,
    /// `route_to`. messenger: `page_id`, `page_access_token`, `app_secret`, `verify_token`.
    /// form: `fields` (`name`, `label`, `kind`, `required`, `options`), `allowed_origins`,
    /// `thank_you`, `ticket_owner_id`.
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
}

/// A change to a channel; absent fields stay as they are. In `settings`, given keys replace the
/// stored ones and the others stay; a secret left out or sent as `null` keeps its stored value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchChannelRequest {
    /// Moves the channel to another inbox of the account.
    pub inbox_id: Option<InboxId>,
    pub name: Option<Name>,
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Map<String, Value>>,
}

/// Admins: every channel, or one inbox's. Agents: the channels of their inboxes.
#[utoipa::path(tag = "channels", params(ChannelQuery), responses(
    (status = 200, body = Vec<Channel>),
    (status = 400, body = ErrorBody, description = "Malformed query"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not a member of that inbox"),
    (status = 404, body = ErrorBody, description = "No such inbox"),
))]
#[get("/channels")]
async fn list_channels(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<ChannelQuery>,
) -> ApiResult<web::Json<Vec<Channel>>> {
    let inbox_id = match query.inbox_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(raw.parse::<InboxId>().map_err(|e| {
            ApiError::bad_request(
                "invalid_query",
                format!("inbox_id: '{raw}' is not an id ({e})"),
            )
            .with_field("inbox_id")
        })?),
    };
    let channels = match inbox_id {
        Some(inbox) => {
            // Checked first so that an unknown inbox is 404, not an empty list.
            state.store.get_inbox(who.account(), inbox).await?;
            who.require_inbox(&state, inbox).await?;
            state
                .store
                .list_channels(who.account(), Some(inbox))
                .await?
        }
        None => {
            let all = state.store.list_channels(who.account(), None).await?;
            match who.visible_inboxes(&state).await? {
                None => all,
                Some(visible) => all
                    .into_iter()
                    .filter(|c| visible.contains(&c.inbox_id))
                    .collect(),
            }
        }
    };
    Ok(web::Json(
        channels.into_iter().map(|c| shown(&who, c)).collect(),
    ))
}

/// Creates a channel in an inbox (admins).
#[utoipa::path(tag = "channels", request_body = NewChannelRequest, responses(
    (status = 201, body = Channel),
    (status = 400, body = ErrorBody, description = "Malformed JSON"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not an admin"),
    (status = 413, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "A field is invalid; `field` names it, e.g. `settings.imap_port`"),
))]
#[post("/channels")]
async fn create_channel(
    state: web::Data<AppState>,
    who: Authenticated,
    body: ApiJson<NewChannelRequest>,
) -> ApiResult<HttpResponse> {
    who.require_admin()?;
    let NewChannelRequest {
        inbox_id,
        kind,
        name,
        settings,
    } = body.into_inner()?;
    let settings = ChannelSettings::parse_new(kind, &settings).map_err(settings_error)?;
    check_agents(&state, who.account(), &settings).await?;
    let channel = state
        .store
        .create_channel(
            who.account(),
            NewChannel {
                inbox_id,
                kind,
                name,
                settings: settings.to_stored(),
            },
        )
        .await?;
    if kind == ChannelKind::Messenger {
        // A connected page answers with its default live-chat chatflow. Two writes: when the
        // second fails the channel goes again, so a page is never left half connected.
        let live_chat = NewChatflow {
            channel_id: channel.id,
            name: Name::parse("Live chat").map_err(ApiError::from_invalid("name"))?,
            kind: ChatflowKind::LiveChat,
            priority: 0,
            enabled: true,
            targeting: Targeting::default().to_stored(),
            availability: Availability::default().to_stored(),
            branding: Branding::default().to_stored(),
            flow: None,
        };
        if let Err(e) = state.store.create_chatflow(who.account(), live_chat).await {
            if let Err(undo) = state.store.delete_channel(who.account(), channel.id).await {
                tracing::error!(error = %undo, channel = %channel.id, "could not undo a channel");
            }
            return Err(e.into());
        }
    }
    Ok(HttpResponse::build(StatusCode::CREATED).json(shown(&who, channel)))
}

/// One channel (admins, or members of its inbox).
#[utoipa::path(tag = "channels", params(("id" = ChannelId, Path)), responses(
    (status = 200, body = Channel),
    (status = 400, body = ErrorBody, description = "Malformed id"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not a member of the channel's inbox"),
    (status = 404, body = ErrorBody),
))]
#[get("/channels/{id}")]
async fn get_channel(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<ChannelId>,
) -> ApiResult<web::Json<Channel>> {
    let channel = state
        .store
        .get_channel(who.account(), id.into_inner())
        .await?;
    who.require_inbox(&state, channel.inbox_id).await?;
    Ok(web::Json(shown(&who, channel)))
}

/// Renames a channel, moves it to another inbox, or changes its settings (admins).
#[utoipa::path(tag = "channels", params(("id" = ChannelId, Path)), request_body = PatchChannelRequest,
    responses(
        (status = 200, body = Channel),
        (status = 400, body = ErrorBody, description = "Malformed JSON or id"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Not an admin"),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A field is invalid; `field` names it"),
    )
)]
#[patch("/channels/{id}")]
async fn update_channel(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<ChannelId>,
    body: ApiJson<PatchChannelRequest>,
) -> ApiResult<web::Json<Channel>> {
    who.require_admin()?;
    let id = id.into_inner();
    let PatchChannelRequest {
        inbox_id,
        name,
        settings,
    } = body.into_inner()?;
    let current = state.store.get_channel(who.account(), id).await?;
    if let Some(inbox) = inbox_id {
        match state.store.get_inbox(who.account(), inbox).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => {
                return Err(ApiError::invalid_field(
                    "inbox_id",
                    "no such inbox in this account",
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let settings = match settings {
        Some(input) => {
            let parsed = ChannelSettings::parse_patch(current.kind, &current.settings, &input)
                .map_err(settings_error)?;
            check_agents(&state, who.account(), &parsed).await?;
            Some(parsed.to_stored())
        }
        None => None,
    };
    let channel = state
        .store
        .update_channel(
            who.account(),
            id,
            ChannelPatch {
                inbox_id,
                name,
                settings,
            },
        )
        .await?;
    Ok(web::Json(shown(&who, channel)))
}

/// Deletes a channel and its chatflows (admins). Refused while it has conversations.
#[utoipa::path(tag = "channels", params(("id" = ChannelId, Path)), responses(
    (status = 204, description = "Deleted"),
    (status = 400, body = ErrorBody, description = "Malformed id"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not an admin"),
    (status = 404, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "The channel has conversations"),
))]
#[delete("/channels/{id}")]
async fn delete_channel(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<ChannelId>,
) -> ApiResult<HttpResponse> {
    who.require_admin()?;
    state
        .store
        .delete_channel(who.account(), id.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The channel as this caller may see it.
fn shown(who: &Authenticated, mut channel: Channel) -> Channel {
    channel.settings = redact(channel.kind, &channel.settings, who.is_admin());
    channel
}

fn settings_error(e: SettingsError) -> ApiError {
    match e {
        SettingsError::Invalid { field, message } => ApiError::invalid_field(field, message),
        SettingsError::Random(_) => ApiError::internal(&e),
    }
}

/// Agents named in settings (an email channel's `route_to`) must be agents of the account.
async fn check_agents(
    state: &AppState,
    account: AccountId,
    settings: &ChannelSettings,
) -> ApiResult<()> {
    let wanted = settings.agent_ids();
    if wanted.is_empty() {
        return Ok(());
    }
    let agents = state.store.list_agents(account).await?;
    match wanted
        .iter()
        .position(|id| !agents.iter().any(|a| a.id == *id))
    {
        Some(i) => Err(ApiError::invalid_field(
            format!("settings.route_to[{i}]"),
            "not an agent of this account",
        )),
        None => Ok(()),
    }
}

/// A new chatflow of a chat or messenger channel. Shapes of `targeting`, `availability` and
/// `branding`: `docs/api.md` (Chatflows) and `crate::chatflows`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChatflowRequest {
    pub name: Name,
    pub kind: ChatflowKind,
    /// Lower is tried first when several chatflows match a page; 0 when left out.
    #[serde(default)]
    pub priority: i32,
    /// `true` when left out.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// A list of rules, all of which must match; `[]` (the default) matches every page.
    #[schema(value_type = Option<Vec<Object>>)]
    pub targeting: Option<Value>,
    /// Office hours, reply-time promise and away message; always open when left out.
    #[schema(value_type = Option<Object>)]
    pub availability: Option<Value>,
    /// Colour, welcome message, display name, avatar and meeting link.
    #[schema(value_type = Option<Object>)]
    pub branding: Option<Value>,
    /// A bot's flow (kind `bot`).
    #[schema(value_type = Option<Object>)]
    pub flow: Option<Value>,
}

fn enabled_by_default() -> bool {
    true
}

/// A change to a chatflow; absent fields stay as they are. A given `targeting`, `availability`
/// or `branding` replaces the stored one whole.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchChatflowRequest {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    pub priority: Option<i32>,
    #[serde(default, deserialize_with = "present")]
    pub enabled: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub targeting: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub availability: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub branding: Option<Value>,
    /// A new flow bumps `flow_version`; `null` removes it.
    #[serde(default, deserialize_with = "super::params::nullable")]
    #[schema(value_type = Option<Object>)]
    pub flow: Option<Option<Value>>,
}

/// The chatflows of a channel, by priority (admins, or members of the channel's inbox).
#[utoipa::path(tag = "chatflows", params(("id" = ChannelId, Path)), responses(
    (status = 200, body = Vec<Chatflow>),
    (status = 400, body = ErrorBody, description = "Malformed id"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not a member of the channel's inbox"),
    (status = 404, body = ErrorBody, description = "No such channel"),
))]
#[get("/channels/{id}/chatflows")]
async fn list_chatflows(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<ChannelId>,
) -> ApiResult<web::Json<Vec<Chatflow>>> {
    let channel = state
        .store
        .get_channel(who.account(), id.into_inner())
        .await?;
    who.require_inbox(&state, channel.inbox_id).await?;
    Ok(web::Json(
        state
            .store
            .list_chatflows(who.account(), channel.id)
            .await?,
    ))
}

/// Adds a chatflow to a chat or messenger channel (admins).
#[utoipa::path(tag = "chatflows", params(("id" = ChannelId, Path)), request_body = NewChatflowRequest,
    responses(
        (status = 201, body = Chatflow),
        (status = 400, body = ErrorBody, description = "Malformed JSON or id"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Not an admin"),
        (status = 404, body = ErrorBody, description = "No such channel"),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A field is invalid; `field` names it, e.g. `targeting[2].value`, or the channel is not chat or messenger"),
    )
)]
#[post("/channels/{id}/chatflows")]
async fn create_chatflow(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<ChannelId>,
    body: ApiJson<NewChatflowRequest>,
) -> ApiResult<HttpResponse> {
    who.require_admin()?;
    let NewChatflowRequest {
        name,
        kind,
        priority,
        enabled,
        targeting,
        availability,
        branding,
        flow,
    } = body.into_inner()?;
    let channel = state
        .store
        .get_channel(who.account(), id.into_inner())
        .await?;
    if !matches!(channel.kind, ChannelKind::Chat | ChannelKind::Messenger) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_channel_kind",
            "chatflows belong to chat and messenger channels",
        ));
    }
    let targeting = match targeting {
        Some(v) => Targeting::parse(&v).map_err(shape_error)?,
        None => Targeting::default(),
    };
    let availability = match availability {
        Some(v) => Availability::parse(&v).map_err(shape_error)?,
        None => Availability::default(),
    };
    let branding = match branding {
        Some(v) => Branding::parse(&v).map_err(shape_error)?,
        None => Branding::default(),
    };
    let flow = flow_of_kind(&state, who.account(), kind, flow).await?;
    let chatflow = state
        .store
        .create_chatflow(
            who.account(),
            NewChatflow {
                channel_id: channel.id,
                name,
                kind,
                priority,
                enabled,
                targeting: targeting.to_stored(),
                availability: availability.to_stored(),
                branding: branding.to_stored(),
                flow,
            },
        )
        .await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(chatflow))
}

/// One chatflow (admins, or members of its channel's inbox).
#[utoipa::path(tag = "chatflows", params(("id" = ChatflowId, Path)), responses(
    (status = 200, body = Chatflow),
    (status = 400, body = ErrorBody, description = "Malformed id"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not a member of the channel's inbox"),
    (status = 404, body = ErrorBody),
))]
#[get("/chatflows/{id}")]
async fn get_chatflow(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<ChatflowId>,
) -> ApiResult<web::Json<Chatflow>> {
    let chatflow = state
        .store
        .get_chatflow(who.account(), id.into_inner())
        .await?;
    let channel = state
        .store
        .get_channel(who.account(), chatflow.channel_id)
        .await?;
    who.require_inbox(&state, channel.inbox_id).await?;
    Ok(web::Json(chatflow))
}

/// Changes a chatflow (admins).
#[utoipa::path(tag = "chatflows", params(("id" = ChatflowId, Path)), request_body = PatchChatflowRequest,
    responses(
        (status = 200, body = Chatflow),
        (status = 400, body = ErrorBody, description = "Malformed JSON or id"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Not an admin"),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A field is invalid; `field` names it, e.g. `availability.hours.monday[0]`"),
    )
)]
#[patch("/chatflows/{id}")]
async fn update_chatflow(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<ChatflowId>,
    body: ApiJson<PatchChatflowRequest>,
) -> ApiResult<web::Json<Chatflow>> {
    who.require_admin()?;
    let PatchChatflowRequest {
        name,
        priority,
        enabled,
        targeting,
        availability,
        branding,
        flow,
    } = body.into_inner()?;
    let targeting = targeting
        .map(|v| Targeting::parse(&v).map(|t| t.to_stored()))
        .transpose()
        .map_err(shape_error)?;
    let availability = availability
        .map(|v| Availability::parse(&v).map(|a| a.to_stored()))
        .transpose()
        .map_err(shape_error)?;
    let branding = branding
        .map(|v| Branding::parse(&v).map(|b| b.to_stored()))
        .transpose()
        .map_err(shape_error)?;
    let id = id.into_inner();
    let flow = match flow {
        None => None,
        Some(new) => {
            let kind = state.store.get_chatflow(who.account(), id).await?.kind;
            Some(flow_of_kind(&state, who.account(), kind, new).await?)
        }
    };
    let chatflow = state
        .store
        .update_chatflow(
            who.account(),
            id,
            ChatflowPatch {
                name,
                priority,
                enabled,
                targeting,
                availability,
                branding,
                flow,
            },
        )
        .await?;
    Ok(web::Json(chatflow))
}

/// The flow a chatflow of `kind` may have: a bot needs a valid one, live chat has none.
async fn flow_of_kind(
    state: &AppState,
    account: AccountId,
    kind: ChatflowKind,
    flow: Option<Value>,
) -> ApiResult<Option<Value>> {
    match (kind, flow) {
        (ChatflowKind::Bot, Some(flow)) => Ok(Some(checked_flow(state, account, flow).await?)),
        (ChatflowKind::Bot, None) => Err(ApiError::invalid_field(
            "flow",
            "a bot chatflow needs a flow",
        )),
        (ChatflowKind::LiveChat, Some(_)) => Err(ApiError::invalid_field(
            "flow",
            "only bot chatflows have a flow; leave it out for live chat",
        )),
        (ChatflowKind::LiveChat, None) => Ok(None),
    }
}

/// A bot flow as it will be stored: valid (`bots::validate`, errors naming `flow.steps.<id>…`)
/// and handing off only to teams and agents of the account.
async fn checked_flow(state: &AppState, account: AccountId, flow: Value) -> ApiResult<Value> {
    let parsed = bots::validate(&flow)
        .map_err(|e| ApiError::invalid_field(e.field_under("flow"), e.message))?;
    for (id, step) in &parsed.steps {
        let bots::Step::Handoff(handoff) = step else {
            continue;
        };
        let field = || format!("flow.steps.{id}.to");
        match handoff.to {
            Some(bots::HandoffTarget::TeamId(team)) => {
                match state.store.get_team(account, team).await {
                    Ok(_) => {}
                    Err(StoreError::NotFound { .. }) => {
                        return Err(ApiError::invalid_field(
                            field(),
                            "no such team in this account",
                        ));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Some(bots::HandoffTarget::AgentId(agent)) => {
                match state.store.get_agent(account, agent).await {
                    Ok(a) if a.active => {}
                    Ok(_) | Err(StoreError::NotFound { .. }) => {
                        return Err(ApiError::invalid_field(
                            field(),
                            "no such active agent in this account",
                        ));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Some(bots::HandoffTarget::Inbox) | None => {}
        }
    }
    Ok(flow)
}

/// Deletes a chatflow (admins).
#[utoipa::path(tag = "chatflows", params(("id" = ChatflowId, Path)), responses(
    (status = 204, description = "Deleted"),
    (status = 400, body = ErrorBody, description = "Malformed id"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Not an admin"),
    (status = 404, body = ErrorBody),
))]
#[delete("/chatflows/{id}")]
async fn delete_chatflow(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<ChatflowId>,
) -> ApiResult<HttpResponse> {
    who.require_admin()?;
    state
        .store
        .delete_chatflow(who.account(), id.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

fn shape_error(e: ShapeError) -> ApiError {
    ApiError::invalid_field(e.field, e.message)
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_channels)
        .service(create_channel)
        .service(get_channel)
        .service(update_channel)
        .service(delete_channel)
        .service(list_chatflows)
        .service(create_chatflow)
        .service(get_chatflow)
        .service(update_chatflow)
        .service(delete_chatflow);
}
