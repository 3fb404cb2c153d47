//! Targeting: which pages a chatflow appears on, and picking the one chatflow for a page.
//!
//! A chatflow's `targeting` is a JSON list of rules, for example
//! `[{"kind": "url_starts_with", "value": "https://example.com/pricing"},
//!   {"kind": "query_param_equals", "name": "utm_source", "value": "ads"},
//!   {"kind": "visitor_is", "value": "returning"}]`.
//!
//! Rules are ANDed, as in HubSpot: a chatflow matches a page when every one of its rules does,
//! and an empty list matches every page. URL rules look at the page URL without its query string
//! and fragment (query parameters have their own rule), compared exactly (case-sensitive);
//! `url_is` ignores one trailing `/` on either side. In `url_wildcard`, `*` stands for any run of
//! characters (including none and including `/`) and the pattern must cover the whole URL.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ShapeError, from_value};
use crate::domain::Chatflow;

/// At most this many rules per chatflow: more would be a mistake, not a need.
pub const MAX_RULES: usize = 50;
/// Longest URL, pattern, parameter name or value a rule may carry.
pub const MAX_VALUE_CHARS: usize = 2048;

/// The parsed targeting of one chatflow: every rule must match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Targeting {
    pub rules: Vec<Rule>,
}

/// Whether the visitor has been on the site before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visitor {
    New,
    Returning,
}

/// One targeting rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rule {
    UrlIs {
        value: String,
    },
    UrlContains {
        value: String,
    },
    UrlStartsWith {
        value: String,
    },
    /// `*` matches any run of characters; the pattern covers the whole URL.
    UrlWildcard {
        value: String,
    },
    QueryParamEquals {
        name: String,
        value: String,
    },
    VisitorIs {
        value: Visitor,
    },
}

/// What the widget tells about the page it is on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct PageContext {
    /// The full page URL as the browser has it.
    pub url: String,
    #[serde(default)]
    pub referrer: Option<String>,
    /// The page's query parameters, in order; a name may repeat.
    #[serde(default)]
    pub query: Vec<(String, String)>,
    /// The visitor has been on the site before (the widget found its visitor token).
    #[serde(default)]
    pub returning: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RuleKind {
    UrlIs,
    UrlContains,
    UrlStartsWith,
    UrlWildcard,
    QueryParamEquals,
    VisitorIs,
}

/// The wire form before the per-kind checks: flat, so that serde's errors keep their path
/// (an internally tagged enum would buffer the rule and lose it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    kind: RuleKind,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    value: Option<Value>,
}

impl Targeting {
    /// Parses the `targeting` JSON of a chatflow; errors name `targeting[i].field`.
    pub fn parse(value: &Value) -> Result<Self, ShapeError> {
        let raw: Vec<RawRule> = from_value("targeting", value)?;
        if raw.len() > MAX_RULES {
            return Err(ShapeError::new(
                "targeting",
                format!("at most {MAX_RULES} rules"),
            ));
        }
        let rules = raw
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.check(&format!("targeting[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { rules })
    }

    /// The normalized JSON to store.
    pub fn to_stored(&self) -> Value {
        serde_json::to_value(&self.rules).unwrap_or(Value::Array(vec![]))
    }

    /// Every rule matches the page (so an empty list matches every page).
    pub fn matches(&self, page: &PageContext) -> bool {
        self.rules.iter().all(|r| r.matches(page))
    }
}

impl RawRule {
    fn check(self, at: &str) -> Result<Rule, ShapeError> {
        let value_field = format!("{at}.value");
        let name_field = format!("{at}.name");
        let text = |v: Option<Value>, field: &str| -> Result<String, ShapeError> {
            match v {
                None | Some(Value::Null) => Err(ShapeError::new(field, "required")),
                Some(Value::String(s)) => {
                    let s = s.trim().to_owned();
                    if s.is_empty() {
                        Err(ShapeError::new(field, "must not be empty"))
                    } else if s.chars().count() > MAX_VALUE_CHARS {
                        Err(ShapeError::new(
                            field,
                            format!("at most {MAX_VALUE_CHARS} characters"),
                        ))
                    } else {
                        Ok(s)
                    }
                }
                Some(_) => Err(ShapeError::new(field, "must be a string")),
            }
        };
        let no_name = |name: &Option<String>| match name {
            Some(_) => Err(ShapeError::new(
                &name_field,
                "only a query_param_equals rule has a name",
            )),
            None => Ok(()),
        };
        match self.kind {
            RuleKind::UrlIs | RuleKind::UrlContains | RuleKind::UrlStartsWith => {
                no_name(&self.name)?;
                let value = text(self.value, &value_field)?;
                Ok(match self.kind {
                    RuleKind::UrlIs => Rule::UrlIs { value },
                    RuleKind::UrlContains => Rule::UrlContains { value },
                    _ => Rule::UrlStartsWith { value },
                })
            }
            RuleKind::UrlWildcard => {
                no_name(&self.name)?;
                let value = text(self.value, &value_field)?;
                Ok(Rule::UrlWildcard { value })
            }
            RuleKind::QueryParamEquals => {
                let name = text(self.name.map(Value::String), &name_field)?;
                // An empty value is a real case (`?preview=`), so only presence is required.
                let value = match self.value {
                    Some(Value::String(s)) if s.chars().count() <= MAX_VALUE_CHARS => s,
                    Some(Value::String(_)) => {
                        return Err(ShapeError::new(
                            value_field,
                            format!("at most {MAX_VALUE_CHARS} characters"),
                        ));
                    }
                    None | Some(Value::Null) => {
                        return Err(ShapeError::new(value_field, "required"));
                    }
                    Some(_) => return Err(ShapeError::new(value_field, "must be a string")),
                };
                Ok(Rule::QueryParamEquals { name, value })
            }
            RuleKind::VisitorIs => {
                no_name(&self.name)?;
                match self.value {
                    Some(Value::String(s)) if s == "new" => Ok(Rule::VisitorIs {
                        value: Visitor::New,
                    }),
                    Some(Value::String(s)) if s == "returning" => Ok(Rule::VisitorIs {
                        value: Visitor::Returning,
                    }),
                    None | Some(Value::Null) => Err(ShapeError::new(value_field, "required")),
                    Some(_) => Err(ShapeError::new(
                        value_field,
                        "expected `new` or `returning`",
                    )),
                }
            }
        }
    }
}

impl Rule {
    pub fn matches(&self, page: &PageContext) -> bool {
        let url = without_query(&page.url);
        match self {
            Rule::UrlIs { value } => trim_slash(url) == trim_slash(value),
            Rule::UrlContains { value } => url.contains(value.as_str()),
            Rule::UrlStartsWith { value } => url.starts_with(value.as_str()),
            Rule::UrlWildcard { value } => wildcard(value, url),
            Rule::QueryParamEquals { name, value } => {
                page.query.iter().any(|(n, v)| n == name && v == value)
            }
            Rule::VisitorIs { value } => match value {
                Visitor::New => !page.returning,
                Visitor::Returning => page.returning,
            },
        }
    }
}

fn without_query(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    &url[..end]
}

fn trim_slash(url: &str) -> &str {
    url.strip_suffix('/').unwrap_or(url)
}

/// Whole-string match where `*` is any run of characters. Greedy with backtracking to the last
/// star, so it runs in O(pattern × text) at worst, never exponentially.
fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The chatflow to show on `page`: among the enabled ones whose targeting matches, the one with
/// the lowest `priority` (ties: the oldest, then the lowest id). `None` means no widget.
/// A chatflow whose stored targeting no longer parses is skipped, never shown everywhere.
pub fn select<'a>(chatflows: &'a [Chatflow], page: &PageContext) -> Option<&'a Chatflow> {
    chatflows
        .iter()
        .filter(|c| c.enabled)
        .filter(|c| match Targeting::parse(&c.targeting) {
            Ok(t) => t.matches(page),
            Err(e) => {
                tracing::warn!(chatflow = %c.id, error = %e, "stored targeting does not parse");
                false
            }
        })
        .min_by(|a, b| order(a, b))
}

fn order(a: &Chatflow, b: &Chatflow) -> Ordering {
    let key = |c: &Chatflow| (c.priority, c.created_at, c.id);
    key(a).cmp(&key(b))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;
    use time::OffsetDateTime;

    use super::*;
    use crate::domain::{AccountId, ChannelId, ChatflowId, ChatflowKind, Name};

    fn page(url: &str, query: &[(&str, &str)], returning: bool) -> PageContext {
        PageContext {
            url: url.to_owned(),
            referrer: None,
            query: query
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            returning,
        }
    }

    #[test]
    fn each_rule_kind_matches_the_pages_it_names_and_no_others() {
        let shop = "https://shop.test/pricing/plans?utm_source=ads#top";
        // (rules, url, query, returning, expected)
        type Case<'a> = (Value, &'a str, Vec<(&'a str, &'a str)>, bool, bool);
        let cases: Vec<Case> = vec![
            (json!([]), shop, vec![], false, true),
            (
                json!([{"kind": "url_is", "value": "https://shop.test/pricing/plans"}]),
                shop,
                vec![],
                false,
                true,
            ),
            (
                json!([{"kind": "url_is", "value": "https://shop.test/pricing/plans/"}]),
                shop,
                vec![],
                false,
                true,
            ),
            (
                json!([{"kind": "url_is", "value": "https://shop.test/pricing"}]),
                shop,
                vec![],
                false,
                false,
            ),
            (
                json!([{"kind": "url_contains", "value": "/pricing/"}]),
                shop,
                vec![],
                false,
                true,
            ),
            (
                json!([{"kind": "url_contains", "value": "utm_source"}]),
                shop,
                vec![],
                false,
                false,
            ),
            (
                json!([{"kind": "url_contains", "value": "/Pricing/"}]),
                shop,
                vec![],
                false,
                false,
            ),
            (
                json!([{"kind": "url_starts_with", "value": "https://shop.test/pricing"}]),
                shop,
                vec![],
                false,
                true,
            ),
            (
                json!([{"kind": "url_starts_with", "value": "https://shop.test/blog"}]),
                shop,
                vec![],
                false,
                false,
            ),
            (
                json!([{"kind": "url_wildcard", "value": "https://*.test/*/plans"}]),
                shop,
                vec![],
                false,
                true,
            ),
            (
                json!([{"kind": "url_wildcard", "value": "https://shop.test/*"}]),
                shop,
                vec![],
                false,
                true,
            ),
            (
                json!([{"kind": "url_wildcard", "value": "*plans"}]),
                shop,
                vec![],
                false,
                true,
            ),
            (
                json!([{"kind": "url_wildcard", "value": "https://shop.test/*/blog"}]),
                shop,
                vec![],
                false,
                false,
            ),
            (
                json!([{"kind": "url_wildcard", "value": "https://shop.test/pricing"}]),
                shop,
                vec![],
                false,
                false,
            ),
            (
                json!([{"kind": "query_param_equals", "name": "utm_source", "value": "ads"}]),
                shop,
                vec![("utm_source", "ads")],
                false,
                true,
            ),
            (
                json!([{"kind": "query_param_equals", "name": "utm_source", "value": "ads"}]),
                shop,
                vec![("utm_source", "mail")],
                false,
                false,
            ),
            (
                json!([{"kind": "query_param_equals", "name": "utm_source", "value": "ads"}]),
                shop,
                vec![("utm_source", "mail"), ("utm_source", "ads")],
                false,
                true,
            ),
            (
                json!([{"kind": "query_param_equals", "name": "ref", "value": "ads"}]),
                shop,
                vec![("utm_source", "ads")],
                false,
                false,
            ),
            (
                json!([{"kind": "visitor_is", "value": "new"}]),
                shop,
                vec![],
                false,
                true,
            ),
            (
                json!([{"kind": "visitor_is", "value": "new"}]),
                shop,
                vec![],
                true,
                false,
            ),
            (
                json!([{"kind": "visitor_is", "value": "returning"}]),
                shop,
                vec![],
                true,
                true,
            ),
            (
                json!([{"kind": "visitor_is", "value": "returning"}]),
                shop,
                vec![],
                false,
                false,
            ),
            // Rules are ANDed: one failing rule is enough to refuse the page.
            (
                json!([{"kind": "url_contains", "value": "pricing"}, {"kind": "visitor_is", "value": "returning"}]),
                shop,
                vec![],
                true,
                true,
            ),
            (
                json!([{"kind": "url_contains", "value": "pricing"}, {"kind": "visitor_is", "value": "returning"}]),
                shop,
                vec![],
                false,
                false,
            ),
        ];
        for (i, (rules, url, query, returning, expected)) in cases.into_iter().enumerate() {
            let targeting = Targeting::parse(&rules).unwrap_or_else(|e| panic!("case {i}: {e}"));
            assert_eq!(
                targeting.matches(&page(url, &query, returning)),
                expected,
                "case {i}: {rules} on {url} {query:?} returning={returning}"
            );
        }
    }

    #[test]
    fn stored_form_round_trips() {
        let rules = json!([
            {"kind": "url_is", "value": "https://a.test/"},
            {"kind": "query_param_equals", "name": "p", "value": ""},
            {"kind": "visitor_is", "value": "returning"},
        ]);
        let parsed = Targeting::parse(&rules).unwrap();
        assert_eq!(parsed.to_stored(), rules);
        assert_eq!(Targeting::parse(&parsed.to_stored()).unwrap(), parsed);
    }

    #[test]
    fn bad_rules_name_the_exact_field() {
        let ok = json!({"kind": "url_is", "value": "https://a.test"});
        let cases: Vec<(Value, &str)> = vec![
            (json!({"kind": "url_is"}), "targeting"),
            (
                json!([ok, {"kind": "url_matches", "value": "x"}]),
                "targeting[1].kind",
            ),
            (
                json!([ok, ok, {"kind": "url_is", "value": ""}]),
                "targeting[2].value",
            ),
            (json!([{"kind": "url_contains"}]), "targeting[0].value"),
            (
                json!([{"kind": "url_wildcard", "value": 3}]),
                "targeting[0].value",
            ),
            (
                json!([{"kind": "url_is", "value": "x", "name": "n"}]),
                "targeting[0].name",
            ),
            (
                json!([{"kind": "query_param_equals", "value": "x"}]),
                "targeting[0].name",
            ),
            (
                json!([{"kind": "query_param_equals", "name": "n"}]),
                "targeting[0].value",
            ),
            (
                json!([{"kind": "visitor_is", "value": "old"}]),
                "targeting[0].value",
            ),
            (json!([{"value": "x"}]), "targeting[0].kind"),
            (
                json!([{"kind": "url_is", "value": "x", "extra": 1}]),
                "targeting[0].extra",
            ),
        ];
        for (input, field) in cases {
            let e = Targeting::parse(&input).unwrap_err();
            assert_eq!(e.field, field, "{input}: {e}");
        }
        let too_many = Value::Array(vec![ok; MAX_RULES + 1]);
        assert_eq!(Targeting::parse(&too_many).unwrap_err().field, "targeting");
    }

    fn flow(name: &str, priority: i32, enabled: bool, targeting: Value, age: i64) -> Chatflow {
        Chatflow {
            id: ChatflowId::new(),
            account_id: AccountId::new(),
            channel_id: ChannelId::new(),
            name: Name::parse(name).unwrap(),
            kind: ChatflowKind::LiveChat,
            priority,
            enabled,
            targeting,
            availability: json!({}),
            branding: json!({}),
            flow: None,
            flow_version: 1,
            created_at: OffsetDateTime::UNIX_EPOCH + time::Duration::days(1000 - age),
        }
    }

    #[test]
    fn select_picks_the_first_enabled_match_by_priority() {
        let pricing = json!([{"kind": "url_starts_with", "value": "https://shop.test/pricing"}]);
        let returning = json!([{"kind": "visitor_is", "value": "returning"}]);
        let flows = vec![
            flow("everywhere", 10, true, json!([]), 0),
            flow("pricing", 5, true, pricing.clone(), 0),
            flow("returning", 1, true, returning, 0),
            flow("disabled pricing", 0, false, pricing.clone(), 0),
            flow("pricing, older twin", 5, true, pricing, 5),
            flow("broken", -1, true, json!({"not": "a list"}), 0),
        ];
        let cases: Vec<(PageContext, &str)> = vec![
            (page("https://shop.test/", &[], false), "everywhere"),
            (
                page("https://shop.test/pricing", &[], false),
                "pricing, older twin",
            ),
            (page("https://shop.test/pricing", &[], true), "returning"),
        ];
        for (p, expected) in cases {
            let chosen = select(&flows, &p).map(|c| c.name.as_str().to_owned());
            assert_eq!(chosen.as_deref(), Some(expected), "{p:?}");
        }
    }

    #[test]
    fn select_shows_no_widget_when_nothing_matches() {
        let blog = json!([{"kind": "url_contains", "value": "/blog"}]);
        let flows = vec![
            flow("blog", 1, true, blog, 0),
            flow("disabled everywhere", 0, false, json!([]), 0),
        ];
        assert!(select(&flows, &page("https://shop.test/pricing", &[], false)).is_none());
        assert!(select(&[], &page("https://shop.test/", &[], false)).is_none());
    }

    #[test]
    fn wildcard_needs_the_whole_url_and_stays_linear() {
        assert!(wildcard("a*b*c", "aXXbYYc"));
        assert!(!wildcard("a*b*c", "aXXbYYcd"));
        assert!(wildcard("**", ""));
        assert!(!wildcard("a", ""));
        let long = "a".repeat(2000);
        assert!(!wildcard(&format!("{}b", "*a".repeat(30)), &long));
    }
}
