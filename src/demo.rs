//! demo (being implemented).
