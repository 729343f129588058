//! state (being implemented).
