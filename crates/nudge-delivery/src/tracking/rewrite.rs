//! The HTML of a tracked email, rewritten: every `<a href="http(s)://…">` points at a
//! tracking redirect instead, and a 1×1 open pixel goes before `</body>` (or at the end).
//! A small tokenizer walks the markup: comments, `<!…>` declarations and the contents of
//! `<script>` and `<style>` are passed over untouched; attribute values may be double-quoted,
//! single-quoted or bare, with whitespace around `=`, in any letter case; a URL is read with
//! its character references decoded (`&amp;`, `&#38;`, `&#x26;`) and the new value is written
//! double-quoted and escaped. Everything but the rewritten `href` values and the pixel is
//! copied byte for byte. Pure: the caller says how a link is rewritten and which to leave.

/// The attribute that keeps a link as it is (`<a href="…" data-nudge-untracked>`).
pub const UNTRACKED_ATTRIBUTE: &str = "data-nudge-untracked";

/// `html` with its web links replaced by `click(url)` (except those `leave(url)` keeps, and
/// those marked [`UNTRACKED_ATTRIBUTE`]) and an image of `pixel_url` added.
pub fn track_html(
    html: &str,
    pixel_url: &str,
    click: impl Fn(&str) -> String,
    leave: impl Fn(&str) -> bool,
) -> String {
    let mut out = String::with_capacity(html.len() + 256);
    let bytes = html.as_bytes();
    let mut copied = 0;
    let mut i = 0;
    let mut body_end = None;
    while let Some(found) = html[i..].find('<') {
        let start = i + found;
        let rest = &html[start..];
        if rest.starts_with("<!--") {
            i = match html[start + 4..].find("-->") {
                Some(end) => start + 4 + end + 3,
                None => html.len(),
            };
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            i = html[start..]
                .find('>')
                .map_or(html.len(), |end| start + end + 1);
            continue;
        }
        let closing = rest.starts_with("</");
        let name_start = start + if closing { 2 } else { 1 };
        let name_end = name_start
            + html[name_start..]
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(html.len() - name_start);
        let name = &html[name_start..name_end];
        if name.is_empty() || !bytes[name_start].is_ascii_alphabetic() {
            i = start + 1;
            continue;
        }
        let tag = scan_tag(html, name_end);
        if closing {
            if name.eq_ignore_ascii_case("body") {
                body_end = Some(start);
            }
            i = tag.end;
            continue;
        }
        if name.eq_ignore_ascii_case("a") {
            if let Some(href) = tag.attribute("href") {
                let marked = tag.attribute(UNTRACKED_ATTRIBUTE).is_some();
                let url = decode_references(href.value(html));
                let url = url.trim_matches(|c: char| c.is_ascii_whitespace());
                if !marked && is_web_link(url) && !leave(url) {
                    out.push_str(&html[copied..href.value_start]);
                    out.push('"');
                    out.push_str(&escape_attribute(&click(url)));
                    out.push('"');
                    copied = href.value_end;
                }
            }
        }
        i = tag.end;
        if name.eq_ignore_ascii_case("script") || name.eq_ignore_ascii_case("style") {
            // Raw text: nothing inside is markup until the element's end tag.
            let closing_tag = format!("</{}", name.to_ascii_lowercase());
            i = find_ignoring_case(html, i, &closing_tag).unwrap_or(html.len());
        }
    }
    let pixel = format!(
        "<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\" \
         style=\"display:block;width:1px;height:1px;border:0\">",
        escape_attribute(pixel_url)
    );
    match body_end.filter(|&at| at >= copied) {
        Some(at) => {
            out.push_str(&html[copied..at]);
            out.push_str(&pixel);
            out.push_str(&html[at..]);
        }
        None => {
            out.push_str(&html[copied..]);
            out.push_str(&pixel);
        }
    }
    out
}

/// Whether `url` is an absolute `http:` or `https:` URL (any letter case).
fn is_web_link(url: &str) -> bool {
    let lower = |n: usize| url.get(..n).map(str::to_ascii_lowercase);
    lower(7).as_deref() == Some("http://") || lower(8).as_deref() == Some("https://")
}

/// One attribute of a tag: where its name and its value are (the value's span includes
/// its quotes; a bare name has an empty value span at its end).
#[derive(Debug, Clone, Copy)]
struct Attribute {
    name_start: usize,
    name_end: usize,
    value_start: usize,
    value_end: usize,
    quoted: bool,
}

impl Attribute {
    fn value<'h>(&self, html: &'h str) -> &'h str {
        let raw = &html[self.value_start..self.value_end];
        if self.quoted {
            &raw[1..raw.len() - 1]
        } else {
            raw
        }
    }
}

struct Tag {
    attributes: Vec<Attribute>,
    names: Vec<String>,
    /// Just past the tag's `>` (or the end of the text).
    end: usize,
}

impl Tag {
    /// The first attribute called `name` (attribute names ignore case; later duplicates
    /// are ignored, as browsers do).
    fn attribute(&self, name: &str) -> Option<Attribute> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| self.attributes[i])
    }
}

/// The attributes of the tag whose name ends at `from`, up to its `>`.
fn scan_tag(html: &str, from: usize) -> Tag {
    let bytes = html.as_bytes();
    let len = bytes.len();
    let mut attributes = Vec::new();
    let mut i = from;
    let skip_space = |mut i: usize| {
        while i < len && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        i
    };
    loop {
        i = skip_space(i);
        if i >= len {
            break;
        }
        if bytes[i] == b'>' {
            i += 1;
            break;
        }
        let name_start = i;
        while i < len && !bytes[i].is_ascii_whitespace() && !matches!(bytes[i], b'=' | b'>' | b'/')
        {
            i += 1;
        }
        // A stray '=' where a name should be: take it as part of the name, as browsers do.
        if i == name_start {
            i += 1;
        }
        let name_end = i;
        let mut j = i;
        while j < len && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        if j < len && bytes[j] == b'=' {
            j += 1;
            while j < len && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            let value_start = j;
            let quoted = j < len && matches!(bytes[j], b'"' | b'\'');
            if quoted {
                match html[j + 1..].find(bytes[j] as char) {
                    Some(end) => j += 1 + end + 1,
                    None => {
                        // An unterminated quote runs to the end: the tag is left as it is.
                        i = len;
                        break;
                    }
                }
            } else {
                while j < len && !bytes[j].is_ascii_whitespace() && bytes[j] != b'>' {
                    j += 1;
                }
            }
            attributes.push(Attribute {
                name_start,
                name_end,
                value_start,
                value_end: j,
                quoted,
            });
            i = j;
        } else {
            attributes.push(Attribute {
                name_start,
                name_end,
                value_start: name_end,
                value_end: name_end,
                quoted: false,
            });
            i = name_end;
        }
    }
    let names = attributes
        .iter()
        .map(|a| html[a.name_start..a.name_end].to_ascii_lowercase())
        .collect();
    Tag {
        attributes,
        names,
        end: i.min(len),
    }
}

fn find_ignoring_case(html: &str, from: usize, needle: &str) -> Option<usize> {
    let hay = html.as_bytes();
    let needle = needle.as_bytes();
    (from..hay.len().saturating_sub(needle.len() - 1))
        .find(|&at| hay[at..at + needle.len()].eq_ignore_ascii_case(needle))
}

/// An attribute value with its character references decoded: the common named ones and
/// numeric ones; anything else stays as written.
fn decode_references(value: &str) -> String {
    if !value.contains('&') {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').filter(|&end| end <= 12).and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    let number = name.strip_prefix('#')?;
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => number.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }?;
            Some((c, end + 1))
        });
        match decoded {
            Some((c, used)) => {
                out.push(c);
                rest = &rest[used..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Text made safe inside a double-quoted attribute value.
fn escape_attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIXEL: &str = "https://n.example/t/o/P";

    fn click(url: &str) -> String {
        format!("https://n.example/t/c/[{url}]")
    }

    fn track(html: &str) -> String {
        track_html(html, PIXEL, click, |url| {
            url.starts_with("https://n.example/")
        })
    }

    fn pixel() -> String {
        format!(
            "<img src=\"{PIXEL}\" width=\"1\" height=\"1\" alt=\"\" \
             style=\"display:block;width:1px;height:1px;border:0\">"
        )
    }

    fn check(html: &str, want_body: &str) {
        let want = format!("<html><body>{want_body}{}</body></html>", pixel());
        assert_eq!(
            track(&format!("<html><body>{html}</body></html>")),
            want,
            "{html}"
        );
    }

    #[test]
    fn web_links_are_rewritten_whatever_their_quoting_and_case() {
        check(
            r#"<a href="https://shop.example/cart">Cart</a>"#,
            r#"<a href="https://n.example/t/c/[https://shop.example/cart]">Cart</a>"#,
        );
        check(
            r#"<a href='http://shop.example/a'>A</a>"#,
            r#"<a href="https://n.example/t/c/[http://shop.example/a]">A</a>"#,
        );
        check(
            r#"<A HREF=https://shop.example/b class=x>B</A>"#,
            r#"<A HREF="https://n.example/t/c/[https://shop.example/b]" class=x>B</A>"#,
        );
        check(
            "<a class=\"btn\"\n   href = \"  HTTPS://shop.example/c \"\n>C</a>",
            "<a class=\"btn\"\n   href = \"https://n.example/t/c/[HTTPS://shop.example/c]\"\n>C</a>",
        );
        check(
            r#"<a title="a > b" href="https://shop.example/d">D</a>"#,
            r#"<a title="a > b" href="https://n.example/t/c/[https://shop.example/d]">D</a>"#,
        );
    }

    #[test]
    fn entities_are_decoded_in_the_url_and_escaped_in_the_new_value() {
        check(
            r#"<a href="https://shop.example/?a=1&amp;b=2&#38;c=&quot;3&quot;">Q</a>"#,
            r#"<a href="https://n.example/t/c/[https://shop.example/?a=1&amp;b=2&amp;c=&quot;3&quot;]">Q</a>"#,
        );
        assert_eq!(decode_references("a&#x26;b&unknown;c&"), "a&b&unknown;c&");
    }

    #[test]
    fn other_links_are_left_alone() {
        for html in [
            r#"<a href="mailto:ana@example.com">mail</a>"#,
            r#"<a href="tel:+15555550100">call</a>"#,
            r##"<a href="#top">top</a>"##,
            r#"<a href="/relative">rel</a>"#,
            r#"<a href="https://n.example/unsubscribe/1.x.y">unsubscribe</a>"#,
            r#"<a data-nudge-untracked href="https://shop.example/raw">raw</a>"#,
            r#"<a href="https://shop.example/raw" DATA-NUDGE-UNTRACKED="">raw</a>"#,
            r#"<a name="anchor">no href</a>"#,
            r#"<link href="https://shop.example/style.css">"#,
            r#"<area href="https://shop.example/map">"#,
            r#"<abbr title="https://x.example">x</abbr>"#,
            r#"<!-- <a href="https://shop.example/commented">c</a> -->"#,
            r#"<style>a[href="https://shop.example/"] { color: red }</style>"#,
            r#"<script>var a = '<a href="https://shop.example/s">';</script>"#,
            "a < b and <3 or <= 4",
        ] {
            check(html, html);
        }
    }

    #[test]
    fn the_pixel_goes_before_the_last_body_end_or_at_the_end() {
        let upper = track("<HTML><BODY><p>Hi</p></BODY></HTML>");
        assert_eq!(
            upper,
            format!("<HTML><BODY><p>Hi</p>{}</BODY></HTML>", pixel())
        );
        assert_eq!(track("<p>Hi</p>"), format!("<p>Hi</p>{}", pixel()));
        let commented = track("<body>x<!-- </body> --></body>");
        assert_eq!(
            commented,
            format!("<body>x<!-- </body> -->{}</body>", pixel())
        );
        let tricky = track_html("<p>", "https://n.example/t/o/\"&", click, |_| false);
        assert!(tricky.ends_with("src=\"https://n.example/t/o/&quot;&amp;\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;width:1px;height:1px;border:0\">"), "{tricky}");
    }

    #[test]
    fn broken_markup_is_copied_as_it_is() {
        for html in [
            r#"<a href="https://shop.example/open"#,
            "<a href=",
            "<",
            "<a",
            "<!--",
            "<script>never closed <a href=\"https://x.example\">",
        ] {
            assert_eq!(track(html), format!("{html}{}", pixel()), "{html}");
        }
    }

    #[test]
    fn several_links_and_multibyte_text() {
        let html = "<p>Größe</p><a href=\"https://a.example/ä\">ä</a> · <a href=\"https://b.example\">b</a>";
        assert_eq!(
            track(html),
            format!(
                "<p>Größe</p><a href=\"https://n.example/t/c/[https://a.example/ä]\">ä</a> · \
                 <a href=\"https://n.example/t/c/[https://b.example]\">b</a>{}",
                pixel()
            )
        );
    }
}
