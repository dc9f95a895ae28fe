//! The one mapping between a Rust enum and the text it is stored and sent as.
//!
//! `text_enum!(Kind { A = "a", B = "b" })` gives `Kind::ALL`, `as_str` and `parse -> Option`;
//! `text_enum!(Kind { … } else A)` reads stored text instead: `parse -> Kind`, an unknown value
//! (written by a later release) falling back to `A`.

#[macro_export]
macro_rules! text_enum {
    ($ty:ident { $($variant:ident = $name:literal),* $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name,)* }
            }

            pub fn parse(s: &str) -> Option<$ty> {
                match s { $($name => Some($ty::$variant),)* _ => None }
            }
        }
    };
    ($ty:ident { $($variant:ident = $name:literal),* $(,)? } else $fallback:ident) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name,)* }
            }

            pub fn parse(s: &str) -> $ty {
                match s { $($name => $ty::$variant,)* _ => $ty::$fallback }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Strict {
        One,
        Two,
    }
    crate::text_enum!(Strict { One = "one", Two = "two" });

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Stored {
        Known,
        Other,
    }
    crate::text_enum!(Stored { Known = "known", Other = "other" } else Other);

    #[test]
    fn round_trips_and_falls_back() {
        for v in Strict::ALL {
            assert_eq!(Strict::parse(v.as_str()), Some(*v));
        }
        assert_eq!(Strict::parse("three"), None);
        assert_eq!(Stored::parse("known"), Stored::Known);
        assert_eq!(Stored::parse("later"), Stored::Other);
        assert_eq!(Stored::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(), ["known", "other"]);
    }
}
