//! A lab's handout (its README in Markdown) as the page's HTML: headings,
//! lists, tables and code blocks; raw HTML in the Markdown is shown as text,
//! never obeyed.

use pulldown_cmark::{html, Event, Options, Parser};

/// `markdown` as HTML, with any HTML it holds escaped.
pub fn to_html(markdown: &str) -> String {
    let parser = Parser::new_ext(markdown, Options::ENABLE_TABLES).map(|event| match event {
        Event::Html(text) | Event::InlineHtml(text) => Event::Text(text),
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, parser);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_blocks_keep_their_language_and_html_is_only_text() {
        let page = to_html("# Lab\n\n```shell runnable\ndocker node ls\n```\n\n<script>alert(1)</script>\n");
        assert!(page.contains("<h1>Lab</h1>"), "{page}");
        assert!(page.contains("<code class=\"language-shell\">docker node ls"), "{page}");
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;"), "{page}");
    }
}
