//! Email templates (Askama, compiled in; the sources are under
//! `templates/email/`): one text and one HTML template over every kind of
//! email, the HTML one escaping everything users wrote.

use askama::Template;
use conduit_application::error::Cause;
use conduit_application::mail::{EmailContent, EmailTemplates, RenderedEmail};

#[derive(Template)]
#[template(path = "email/email.txt")]
struct TextEmail<'a> {
    content: &'a EmailContent,
}

#[derive(Template)]
#[template(path = "email/email.html")]
struct HtmlEmail<'a> {
    subject: &'a str,
    content: &'a EmailContent,
}

/// The templates kept in the repository.
#[derive(Debug, Default, Clone, Copy)]
pub struct AskamaTemplates;

fn subject(content: &EmailContent) -> String {
    match content {
        EmailContent::Welcome { .. } => "Welcome to Conduit: please verify your email".to_owned(),
        EmailContent::VerifyEmail { .. } => "Verify your email address".to_owned(),
        EmailContent::PasswordReset { .. } => "Reset your Conduit password".to_owned(),
        EmailContent::NewComment {
            commenter,
            article_title,
            ..
        } => format!("{commenter} commented on \"{article_title}\""),
        EmailContent::NewArticle {
            author,
            article_title,
            ..
        } => format!("New from {author}: {article_title}"),
    }
}

impl EmailTemplates for AskamaTemplates {
    fn render(&self, content: &EmailContent) -> Result<RenderedEmail, Cause> {
        let subject = subject(content);
        let text = TextEmail { content }.render()?;
        let html = HtmlEmail {
            subject: &subject,
            content,
        }
        .render()?;
        Ok(RenderedEmail {
            subject,
            text,
            html,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(comment: &str) -> EmailContent {
        EmailContent::NewComment {
            username: "jake".to_owned(),
            commenter: "anna".to_owned(),
            article_title: "Dragons & <knights>".to_owned(),
            article_url: "https://conduit.example/article/dragons".to_owned(),
            comment: comment.to_owned(),
            unsubscribe_url: "https://conduit.example/api/users/unsubscribe?token=abc".to_owned(),
        }
    }

    #[test]
    fn every_kind_renders_both_parts_with_its_links() {
        let cases = [
            EmailContent::Welcome {
                username: "jake".to_owned(),
                verify_url: "https://conduit.example/verify-email?token=abc".to_owned(),
            },
            EmailContent::VerifyEmail {
                username: "jake".to_owned(),
                verify_url: "https://conduit.example/verify-email?token=abc".to_owned(),
            },
            EmailContent::PasswordReset {
                username: "jake".to_owned(),
                reset_url: "https://conduit.example/reset-password?token=abc".to_owned(),
                valid_minutes: 30,
            },
            comment("Nice!"),
            EmailContent::NewArticle {
                username: "jake".to_owned(),
                author: "anna".to_owned(),
                article_title: "Dragons".to_owned(),
                description: "All about dragons".to_owned(),
                article_url: "https://conduit.example/article/dragons".to_owned(),
                unsubscribe_url: "https://conduit.example/api/users/unsubscribe?token=abc"
                    .to_owned(),
            },
        ];
        for content in cases {
            let rendered = AskamaTemplates.render(&content).expect("rendered");
            assert!(!rendered.subject.is_empty());
            assert!(rendered.text.starts_with("Hi jake,"), "{}", rendered.text);
            assert!(rendered.html.contains("Hi jake,"), "{}", rendered.html);
            assert!(rendered.html.starts_with("<!DOCTYPE html>"));
            for url in [
                "verify-email",
                "reset-password",
                "article/dragons",
                "unsubscribe",
            ] {
                let in_text = rendered.text.contains(url);
                let in_html = rendered.html.contains(url);
                assert_eq!(in_text, in_html, "{url} in {content:?}");
            }
            if let Some(unsubscribe) = content.unsubscribe_url() {
                assert!(rendered.text.contains(unsubscribe));
            }
        }
    }

    #[test]
    fn what_users_wrote_is_escaped_in_html_and_kept_in_text() {
        let rendered = AskamaTemplates
            .render(&comment("<script>alert(1)</script>"))
            .expect("rendered");
        assert!(!rendered.html.contains("<script>"), "{}", rendered.html);
        assert!(
            rendered.html.contains("&#60;script&#62;") || rendered.html.contains("&lt;script&gt;")
        );
        assert!(!rendered.html.contains("<knights>"));
        assert!(rendered.text.contains("<script>alert(1)</script>"));
        assert!(rendered.text.contains("Dragons & <knights>"));
        assert_eq!(
            rendered.subject,
            "anna commented on \"Dragons & <knights>\""
        );
    }
}
