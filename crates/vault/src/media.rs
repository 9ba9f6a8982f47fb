//! Media types as a manifest carries them.
//!
//! A manifest's media type is written by whoever publishes the version and read back by every
//! reader, and nodes put it into HTTP headers when they serve the file. So it must be a media
//! type in the syntax of RFC 9110 §8.3.1 and nothing else: `type/subtype` (tokens), optionally
//! followed by `;` parameters in visible ASCII, with no control characters that could end a
//! header line.

/// Longest media type accepted, in bytes.
pub const MAX_MEDIA_TYPE: usize = 255;

/// `Ok` if `text` is a media type such as `audio/mpeg` or `text/plain; charset=utf-8`;
/// otherwise an error saying what is wrong and what is expected.
pub fn check_media_type(text: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "{text:?} is not a media type ({why}): use type/subtype, e.g. audio/mpeg or text/plain"
        ))
    };
    if text.len() > MAX_MEDIA_TYPE {
        return bad(&format!("longer than {MAX_MEDIA_TYPE} bytes"));
    }
    let (essence, parameters) = text.split_once(';').unwrap_or((text, ""));
    let Some((kind, subtype)) = essence.trim_end().split_once('/') else {
        return bad("no '/'");
    };
    let token = |t: &str| !t.is_empty() && t.bytes().all(is_token_byte);
    if !token(kind) || !token(subtype) {
        return bad("the type and subtype are words of letters, digits and !#$&-^_.+");
    }
    if !parameters
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return bad("parameters are printable ASCII");
    }
    Ok(())
}

/// A `tchar` of RFC 9110 §5.6.2.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The essence of a media type (`type/subtype`, lower case, without parameters).
pub fn media_essence(text: &str) -> String {
    text.split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_are_checked() {
        for good in [
            "audio/mpeg",
            "video/mp4",
            "text/plain; charset=utf-8",
            "application/vnd.api+json",
            "application/octet-stream",
        ] {
            assert_eq!(check_media_type(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "audio",
            "/mpeg",
            "audio/",
            "audio /mpeg",
            "text/html\r\nSet-Cookie: a=b",
            "text/plain; charset=\u{7f}",
            "audio/mp\u{e9}g",
        ] {
            let err = check_media_type(bad).expect_err(bad);
            assert!(err.contains("type/subtype"), "{err}");
        }
        assert!(check_media_type(&format!("a/{}", "b".repeat(300))).is_err());
        assert_eq!(media_essence(" Text/HTML ; charset=x"), "text/html");
    }

    proptest::proptest! {
        /// Whatever text is offered, an accepted media type is printable ASCII (so it can never
        /// end or split an HTTP header line) of at most MAX_MEDIA_TYPE bytes with a '/'.
        #[test]
        fn an_accepted_media_type_is_safe_in_a_header(text in "\\PC{0,40}|[a-z]{1,8}/[a-z+.-]{1,12}(; [ -~]{0,20})?") {
            if check_media_type(&text).is_ok() {
                proptest::prop_assert!(text.len() <= MAX_MEDIA_TYPE);
                proptest::prop_assert!(text.contains('/'));
                proptest::prop_assert!(text.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)));
            }
        }
    }
}
