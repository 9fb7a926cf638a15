//! Data-usage policies: which field labels forbid which marketing actions, and consent fields
//! that exclude profiles from actions they did not agree to.

use serde::{Deserialize, Serialize};

/// Label → marketing actions it forbids, with the reason in plain words.
pub const POLICIES: &[(&str, &[&str], &str)] = &[
    (
        "C1",
        &["export_to_third_party"],
        "its data may not be exported to a third party",
    ),
    (
        "C2",
        &["export_to_third_party", "email_targeting"],
        "its data may not go to a third party, email service providers included",
    ),
    (
        "C3",
        &["combine_with_pii"],
        "it may not be combined with directly identifiable data",
    ),
    (
        "C4",
        &["onsite_advertising", "cross_site_targeting"],
        "it may not be used for on-site or cross-site ad targeting",
    ),
    (
        "C5",
        &[
            "onsite_advertising",
            "cross_site_targeting",
            "email_targeting",
        ],
        "it may not be used for interest-based targeting or personalisation",
    ),
    (
        "C6",
        &["onsite_advertising"],
        "it may not be used for on-site ad targeting",
    ),
    (
        "C7",
        &["cross_site_targeting"],
        "it may not be used for cross-site targeting",
    ),
    (
        "C9",
        &["data_science"],
        "it may not be used in data science workflows",
    ),
    (
        "C12",
        &[
            "email_targeting",
            "onsite_advertising",
            "cross_site_targeting",
            "combine_with_pii",
            "export_to_third_party",
            "data_science",
            "sms_targeting",
        ],
        "it may not be exported at all",
    ),
    (
        "S1",
        &["export_to_third_party", "cross_site_targeting"],
        "precise geolocation may not leave for third parties or cross-site targeting",
    ),
];

/// A policy a planned activation would break, said plainly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub label: String,
    pub action: String,
    /// What carries the label: `field loyalty.tier` or `segment "Gold" (its rule reads …)`.
    pub source: String,
    pub message: String,
}

/// A field carrying labels, reached by a mapping or a segment's rule.
pub struct Labelled<'a> {
    pub source: String,
    pub path: &'a str,
    pub labels: &'a [String],
}

/// Every (label, action) clash among the labelled fields.
pub fn violations(actions: &[String], fields: &[Labelled<'_>]) -> Vec<Violation> {
    let mut found = Vec::new();
    for field in fields {
        for label in field.labels {
            let Some((_, forbidden, why)) = POLICIES.iter().find(|(l, _, _)| l == label) else {
                continue;
            };
            for action in actions.iter().filter(|a| forbidden.contains(&a.as_str())) {
                let violation = Violation {
                    label: label.clone(),
                    action: action.clone(),
                    source: field.source.clone(),
                    message: format!(
                        "{} uses {} labelled {label}: {why}, so it cannot be activated for {}.",
                        field.source,
                        field.path,
                        action_title(action)
                    ),
                };
                if !found.contains(&violation) {
                    found.push(violation);
                }
            }
        }
    }
    found
}

fn action_title(code: &str) -> &str {
    crate::catalog::spec::MARKETING_ACTIONS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, t)| t)
}

/// The consent field each marketing action needs to be "y".
pub fn consent_fields(actions: &[String]) -> Vec<&'static str> {
    let mut fields = Vec::new();
    for action in actions {
        let field = match action.as_str() {
            "email_targeting" => Some("consents.marketing.email.val"),
            "sms_targeting" => Some("consents.marketing.sms.val"),
            "onsite_advertising" | "cross_site_targeting" => Some("consents.marketing.ads.val"),
            _ => None,
        };
        if let Some(field) = field
            && !fields.contains(&field)
        {
            fields.push(field);
        }
    }
    fields
}

/// Whether a profile's attributes give every consent the actions need. A missing consent is
/// no consent.
pub fn consented(attributes: &serde_json::Value, fields: &[&str]) -> bool {
    fields.iter().all(|path| {
        let mut value = attributes;
        for part in path.split('.') {
            match value.get(part) {
                Some(v) => value = v,
                None => return false,
            }
        }
        value.as_str() == Some("y")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_forbid_their_actions_and_explain_why() {
        let labels = vec!["C2".to_owned(), "I1".to_owned()];
        let fields = [Labelled {
            source: "field personalEmail.address".into(),
            path: "personalEmail.address",
            labels: &labels,
        }];
        let actions = vec!["email_targeting".to_owned(), "data_science".to_owned()];
        let found = violations(&actions, &fields);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].label, "C2");
        assert_eq!(found[0].action, "email_targeting");
        assert!(
            found[0]
                .message
                .contains("cannot be activated for Email targeting"),
            "{}",
            found[0].message
        );
        assert!(violations(&["data_science".to_owned()], &fields).is_empty());
        let everything = vec!["C12".to_owned()];
        let fields = [Labelled {
            source: "segment \"X\"".into(),
            path: "loyalty.tier",
            labels: &everything,
        }];
        assert_eq!(violations(&["sms_targeting".to_owned()], &fields).len(), 1);
    }

    #[test]
    fn consent_needs_every_relevant_yes_and_missing_means_no() {
        let actions = vec![
            "email_targeting".to_owned(),
            "onsite_advertising".to_owned(),
            "cross_site_targeting".to_owned(),
        ];
        let fields = consent_fields(&actions);
        assert_eq!(
            fields,
            ["consents.marketing.email.val", "consents.marketing.ads.val"]
        );
        let yes = serde_json::json!({"consents": {"marketing": {"email": {"val": "y"}, "ads": {"val": "y"}}}});
        let no_ads = serde_json::json!({"consents": {"marketing": {"email": {"val": "y"}, "ads": {"val": "n"}}}});
        let missing = serde_json::json!({"consents": {"marketing": {"email": {"val": "y"}}}});
        assert!(consented(&yes, &fields));
        assert!(!consented(&no_ads, &fields));
        assert!(!consented(&missing, &fields));
        assert!(consented(
            &missing,
            &consent_fields(&["data_science".to_owned()])
        ));
    }
}
