//! PATCH bodies: telling "set to null" from "not sent".

/// Deserializes a present field (even `null`) as `Some(value)`, so PATCH bodies can tell
/// "set to null" (`Some(None)`) from "not sent" (`None`).
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(d).map(Some)
}
