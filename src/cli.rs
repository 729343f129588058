//! cli (being implemented).
