//! Reusable pieces of the interface: the page layout, the error view and loading/error states.

pub mod error_view;
pub mod feedback;
pub mod forms;
pub mod layout;
