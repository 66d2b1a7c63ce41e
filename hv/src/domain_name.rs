//! What a logical domain may be called: the one rule every outside name
//! passes (host descriptions, `migrate-domain`'s target name, the name a
//! source shim asks a target to use).
//!
//! A domain name is 1 to [`NAME_CAPACITY`] bytes of ASCII letters, digits,
//! `-`, `_` and `.`, and starts with a letter or a digit (as `ldm` names
//! domains). So a name is never empty, never holds a newline, a `/` or a
//! space, never starts with `.` (no `..`), and fits every wire that
//! carries it.

use crate::resources::{Name, NAME_CAPACITY};
use core::fmt;

/// Why a text is not a domain name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainNameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`NAME_CAPACITY`] bytes.
    TooLong {
        /// Its length in bytes.
        length: usize,
    },
    /// A character outside letters, digits, `-`, `_` and `.`.
    BadCharacter {
        /// The character.
        character: char,
        /// Its byte offset in the name.
        offset: usize,
    },
    /// The first character is not a letter or a digit.
    BadStart {
        /// The character.
        character: char,
    },
}

impl fmt::Display for DomainNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainNameError::Empty => f.write_str("a domain name cannot be empty"),
            DomainNameError::TooLong { length } => write!(
                f,
                "a domain name holds at most {NAME_CAPACITY} bytes, this one {length}"
            ),
            DomainNameError::BadCharacter { character, offset } => write!(
                f,
                "a domain name holds letters, digits, '-', '_' and '.' only, not {character:?} (at byte {offset})"
            ),
            DomainNameError::BadStart { character } => write!(
                f,
                "a domain name starts with a letter or a digit, not {character:?}"
            ),
        }
    }
}

impl core::error::Error for DomainNameError {}

/// `text` as a domain name, or why it is not one.
pub fn domain_name(text: &str) -> Result<Name, DomainNameError> {
    let Some(first) = text.chars().next() else {
        return Err(DomainNameError::Empty);
    };
    if text.len() > NAME_CAPACITY {
        return Err(DomainNameError::TooLong { length: text.len() });
    }
    if !first.is_ascii_alphanumeric() {
        return Err(DomainNameError::BadStart { character: first });
    }
    if let Some((offset, character)) = text
        .char_indices()
        .find(|(_, character)| !(character.is_ascii_alphanumeric() || "-_.".contains(*character)))
    {
        return Err(DomainNameError::BadCharacter { character, offset });
    }
    let mut name = Name::new();
    // Checked above: at most NAME_CAPACITY bytes.
    name.push_str(text)
        .map_err(|()| DomainNameError::TooLong { length: text.len() })?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_the_guide_and_the_tests_pass() {
        for name in ["primary", "ldg1", "ldg-src", "ldg_2.test", "9lives"] {
            assert_eq!(domain_name(name).map(|name| name.len()), Ok(name.len()));
        }
        let longest = std::string::String::from("x").repeat(NAME_CAPACITY);
        assert!(domain_name(&longest).is_ok());
    }

    #[test]
    fn empty_long_newline_slash_and_dot_names_are_refused() {
        assert_eq!(domain_name(""), Err(DomainNameError::Empty));
        let long = std::string::String::from("x").repeat(NAME_CAPACITY + 1);
        assert_eq!(
            domain_name(&long),
            Err(DomainNameError::TooLong {
                length: NAME_CAPACITY + 1
            })
        );
        assert_eq!(
            domain_name("ldg1\nrm"),
            Err(DomainNameError::BadCharacter {
                character: '\n',
                offset: 4
            })
        );
        assert_eq!(
            domain_name("../etc"),
            Err(DomainNameError::BadStart { character: '.' })
        );
        assert_eq!(
            domain_name("a/../b"),
            Err(DomainNameError::BadCharacter {
                character: '/',
                offset: 1
            })
        );
        assert_eq!(
            domain_name("-n"),
            Err(DomainNameError::BadStart { character: '-' })
        );
        assert_eq!(
            domain_name("ldg é"),
            Err(DomainNameError::BadCharacter {
                character: ' ',
                offset: 3
            })
        );
        let error = domain_name("a b").map(|_| ()).expect_err("a space");
        let message = std::format!("{error}");
        assert!(message.contains("' '"), "{message}");
    }
}
