//! Landing pages of the areas whose features arrive in later releases; each says what the
//! area is for, so the navigation is complete from the first version.

use leptos::prelude::*;
use leptos_meta::Title;

/// The areas of the product reachable from the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Catalog,
    Browse,
    Accounts,
    Segments,
}

impl Area {
    fn title(self) -> &'static str {
        match self {
            Self::Catalog => "Destination catalog",
            Self::Browse => "Dataflows",
            Self::Accounts => "Accounts",
            Self::Segments => "Segments",
        }
    }

    fn summary(self) -> &'static str {
        match self {
            Self::Catalog => {
                "Every platform Ferry can send profiles and segments to: advertising and social \
                 networks, email-marketing tools, cloud storage and HTTP APIs."
            }
            Self::Browse => {
                "Your dataflows: which segments go to which destination, on what schedule, and \
                 how each run went."
            }
            Self::Accounts => {
                "The credentials Ferry uses to reach each platform. Secrets are stored encrypted \
                 and never shown again."
            }
            Self::Segments => {
                "The audiences you activate, defined by rules over profile attributes."
            }
        }
    }

    fn empty_state(self) -> &'static str {
        match self {
            Self::Catalog => "No destinations are installed yet.",
            Self::Browse => "No dataflows yet. Activate a segment to a destination to create one.",
            Self::Accounts => "No accounts yet.",
            Self::Segments => "No segments yet.",
        }
    }
}

/// The landing page of one area.
#[component]
pub fn AreaPage(area: Area) -> impl IntoView {
    view! {
        <Title text=area.title() />
        <header class="page-header">
            <h1>{area.title()}</h1>
            <p class="lead">{area.summary()}</p>
        </header>
        <div class="card empty-state">
            <p>{area.empty_state()}</p>
        </div>
    }
}
