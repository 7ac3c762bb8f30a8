//! What the user reads about a failure besides the error line: the `hint:` that says what to do.
//! (Progress and results will join here as the reporter grows.)

pub mod hint;
