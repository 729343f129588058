pub mod events;
pub mod smtp;
