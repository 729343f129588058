//! health (being implemented).
