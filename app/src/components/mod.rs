//! Reusable pieces of the interface: the page layout and the error view.

pub mod error_view;
pub mod layout;
