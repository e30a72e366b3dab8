//! Input errors: what is wrong, in which file, at which JSON path or line, and what was
//! expected. Every one of them ends the program with exit status 2.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// The file as the user named it.
    pub file: String,
    /// Where in the file: a JSON path (`cloud.instances[0].security_groups[1]`) or
    /// `line L column C` for a syntax error; empty when the whole file is at fault.
    pub location: String,
    pub message: String,
}

impl InputError {
    pub fn new(file: &str, location: impl Into<String>, message: impl Into<String>) -> InputError {
        InputError {
            file: file.to_string(),
            location: location.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.location, self.message)
        }
    }
}

impl std::error::Error for InputError {}
