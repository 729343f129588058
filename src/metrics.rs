//! metrics (being implemented).
