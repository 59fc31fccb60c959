//! The mail adapters against a real SMTP server: `tests/support/smtp_sink.py`
//! (aiosmtpd), started per test on a free port, answers each recipient as
//! its local part asks (`temp-fail…` 451, `perm-fail…` 550, …) and stores
//! what it accepts, parsed by Python's email package.
//!
//! The tests that need the sink are `#[ignore]`d, so that `cargo test`
//! needs nothing but cargo; `cargo xtask test` runs them when python3 has
//! aiosmtpd (`python3 -m pip install aiosmtpd==1.4.6`) and says so when it
//! skips them, and `--require-smtp` (CI) makes a missing aiosmtpd a failure.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions: a failed step must fail the test loudly"
)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use conduit_application::mail::{MailError, Mailer, OutgoingEmail};
use conduit_infrastructure::error::InfrastructureError;
use conduit_infrastructure::mail::{
    FileMailer, MailSettings, MailTransport, SmtpMailer, SmtpSecurity, SmtpSettings,
};
use conduit_infrastructure::smtp_sink::{Sink, parse_eml};
use serde_json::Value;

const FROM: &str = "Conduit <noreply@conduit.test>";
/// Generous: only a hung adapter should ever reach it.
const OUTER_LIMIT: Duration = Duration::from_secs(20);

fn settings(url: &str, send_timeout: Duration) -> SmtpSettings {
    let mut settings = SmtpSettings::parse(url).unwrap();
    settings.send_timeout = send_timeout;
    settings.connect_timeout = send_timeout;
    settings
}

fn mailer(url: &str) -> SmtpMailer {
    SmtpMailer::new(&settings(url, Duration::from_secs(10)), FROM).unwrap()
}

fn email(to: &str) -> OutgoingEmail {
    OutgoingEmail {
        message_id: "job-42@conduit".to_owned(),
        to: to.to_owned(),
        subject: "Welcome to Conduit".to_owned(),
        text: "Hello reader,\nwelcome to Conduit.".to_owned(),
        html: "<p>Hello <b>reader</b>, welcome to Conduit.</p>".to_owned(),
        unsubscribe: Some("https://conduit.test/unsubscribe?token=abc123".to_owned()),
    }
}

async fn send(mailer: &dyn Mailer, email: &OutgoingEmail) -> Result<(), MailError> {
    tokio::time::timeout(OUTER_LIMIT, mailer.send(email))
        .await
        .expect("the send never finished")
}

/// Every value of the header `name` in a parsed message.
fn header<'a>(message: &'a Value, name: &str) -> Vec<&'a str> {
    message["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pair| pair[0].as_str().unwrap().eq_ignore_ascii_case(name))
        .map(|pair| pair[1].as_str().unwrap())
        .collect()
}

/// The content of the single part of type `content_type`, line ends normalised.
fn part(message: &Value, content_type: &str) -> String {
    let parts: Vec<&Value> = message["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|part| part["content_type"] == content_type)
        .collect();
    assert_eq!(parts.len(), 1, "one {content_type} part in {message:#}");
    parts[0]["content"]
        .as_str()
        .unwrap()
        .replace("\r\n", "\n")
        .trim_end()
        .to_owned()
}

/// Checks what every test email must look like once parsed.
fn assert_is_the_test_email(message: &Value, sent: &OutgoingEmail) {
    assert_eq!(header(message, "Message-ID"), ["<job-42@conduit>"]);
    assert_eq!(header(message, "From"), [FROM]);
    assert_eq!(header(message, "To"), [sent.to.as_str()]);
    assert_eq!(header(message, "Subject"), [sent.subject.as_str()]);
    assert_eq!(header(message, "Date").len(), 1);
    assert_eq!(message["content_type"], "multipart/alternative");
    assert_eq!(part(message, "text/plain"), sent.text);
    assert_eq!(part(message, "text/html"), sent.html);
    assert_eq!(message["defects"], Value::Array(vec![]), "{message:#}");
}

fn is_transient(result: &Result<(), MailError>) -> bool {
    matches!(result, Err(MailError::Transient(_)))
}

fn is_permanent(result: &Result<(), MailError>) -> bool {
    matches!(result, Err(MailError::Permanent(_)))
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd: run by `cargo xtask test`"]
async fn a_sent_email_arrives_with_its_headers_both_parts_and_one_click_unsubscribe() {
    let sink = Sink::start();
    let mailer = mailer(&sink.url());
    let sent = email("reader@example.test");

    send(&mailer, &sent).await.unwrap();

    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["mail_from"], "noreply@conduit.test");
    assert_eq!(
        messages[0]["rcpt_tos"],
        serde_json::json!(["reader@example.test"])
    );
    let message = &messages[0]["message"];
    assert_is_the_test_email(message, &sent);
    assert_eq!(
        header(message, "List-Unsubscribe"),
        ["<https://conduit.test/unsubscribe?token=abc123>"]
    );
    assert_eq!(
        header(message, "List-Unsubscribe-Post"),
        ["List-Unsubscribe=One-Click"]
    );
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd: run by `cargo xtask test`"]
async fn an_email_without_an_unsubscribe_url_has_no_list_headers() {
    let sink = Sink::start();
    let mailer = mailer(&sink.url());
    let sent = OutgoingEmail {
        unsubscribe: None,
        ..email("reader@example.test")
    };

    send(&mailer, &sent).await.unwrap();

    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let message = &messages[0]["message"];
    assert_is_the_test_email(message, &sent);
    assert!(header(message, "List-Unsubscribe").is_empty());
    assert!(header(message, "List-Unsubscribe-Post").is_empty());
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd: run by `cargo xtask test`"]
async fn a_451_to_the_recipient_is_transient() {
    let sink = Sink::start();
    let result = send(&mailer(&sink.url()), &email("temp-fail@example.test")).await;
    assert!(is_transient(&result), "{result:?}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd: run by `cargo xtask test`"]
async fn a_550_to_the_recipient_is_permanent() {
    let sink = Sink::start();
    let result = send(&mailer(&sink.url()), &email("perm-fail@example.test")).await;
    assert!(is_permanent(&result), "{result:?}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd: run by `cargo xtask test`"]
async fn a_452_after_the_data_is_transient() {
    let sink = Sink::start();
    let result = send(&mailer(&sink.url()), &email("data-temp-fail@example.test")).await;
    assert!(is_transient(&result), "{result:?}");
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd: run by `cargo xtask test`"]
async fn a_554_after_the_data_is_permanent() {
    let sink = Sink::start();
    let result = send(&mailer(&sink.url()), &email("data-perm-fail@example.test")).await;
    assert!(is_permanent(&result), "{result:?}");
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd: run by `cargo xtask test`"]
async fn a_refused_email_leaves_the_connection_usable_for_the_next() {
    let sink = Sink::start();
    let mailer = mailer(&sink.url());

    let refused = send(&mailer, &email("perm-fail@example.test")).await;
    let accepted = send(&mailer, &email("reader@example.test")).await;

    assert!(is_permanent(&refused), "{refused:?}");
    accepted.unwrap();
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd: run by `cargo xtask test`"]
async fn an_unparseable_recipient_is_permanent_and_nothing_is_sent() {
    let sink = Sink::start();
    let result = send(&mailer(&sink.url()), &email("not an address")).await;
    assert!(is_permanent(&result), "{result:?}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn nothing_listening_is_transient() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mailer = SmtpMailer::new(
        &settings(&format!("smtp://127.0.0.1:{port}"), Duration::from_secs(2)),
        FROM,
    )
    .unwrap();

    let result = send(&mailer, &email("reader@example.test")).await;

    assert!(is_transient(&result), "{result:?}");
}

#[tokio::test]
async fn a_server_that_never_answers_is_transient_after_the_send_timeout() {
    // The kernel completes the handshake for a listener that never calls
    // accept: the client is connected and waits for a greeting forever.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mailer = SmtpMailer::new(
        &settings(&format!("smtp://127.0.0.1:{port}"), Duration::from_secs(2)),
        FROM,
    )
    .unwrap();

    let result = send(&mailer, &email("reader@example.test")).await;

    assert!(is_transient(&result), "{result:?}");
    drop(silent);
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd: run by `cargo xtask test`"]
async fn a_pooled_connection_dropped_by_a_server_restart_is_never_permanent() {
    let sink = Sink::start();
    let mailer = mailer(&sink.url());
    send(&mailer, &email("first@example.test")).await.unwrap();

    let sink = sink.restart();
    let second = send(&mailer, &email("second@example.test")).await;
    let third = send(&mailer, &email("third@example.test")).await;

    assert!(second.is_ok() || is_transient(&second), "{second:?}");
    third.unwrap();
    let recipients: Vec<Value> = sink
        .messages()
        .iter()
        .map(|message| message["rcpt_tos"][0].clone())
        .collect();
    assert!(recipients.contains(&Value::from("first@example.test")));
    assert!(recipients.contains(&Value::from("third@example.test")));
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd: run by `cargo xtask test`"]
async fn a_pooled_connection_the_server_closed_while_idle_is_never_permanent() {
    let sink = Sink::closing_idle_after(0.5);
    let mailer = mailer(&sink.url());
    send(&mailer, &email("first@example.test")).await.unwrap();

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = send(&mailer, &email("second@example.test")).await;
    let third = send(&mailer, &email("third@example.test")).await;

    assert!(second.is_ok() || is_transient(&second), "{second:?}");
    third.unwrap();
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd: run by `cargo xtask test`"]
async fn the_file_mailer_writes_one_parseable_eml_per_email() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("data").join("mail");
    let mailer = FileMailer::new(&mail_dir, FROM).unwrap();
    let first = email("reader@example.test");
    let second = OutgoingEmail {
        message_id: "job-43@conduit".to_owned(),
        ..email("other@example.test")
    };

    mailer.send(&first).await.unwrap();
    mailer.send(&second).await.unwrap();

    let mut files: Vec<PathBuf> = std::fs::read_dir(&mail_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    for (path, id) in files.iter().zip(["job-42@conduit", "job-43@conduit"]) {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(name.ends_with(&format!("-{id}.eml")), "{name}");
    }
    let bytes = std::fs::read_to_string(&files[0]).unwrap();
    for line in [
        "Message-ID: <job-42@conduit>",
        "From: Conduit <noreply@conduit.test>",
        "To: reader@example.test",
        "Subject: Welcome to Conduit",
        "List-Unsubscribe: <https://conduit.test/unsubscribe?token=abc123>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "Content-Type: multipart/alternative",
    ] {
        assert!(bytes.contains(line), "{line:?} missing from:\n{bytes}");
    }
    let parsed = parse_eml(&files[0]);
    assert_is_the_test_email(&parsed, &first);
    let parsed = parse_eml(&files[1]);
    assert_eq!(header(&parsed, "Message-ID"), ["<job-43@conduit>"]);
    assert_eq!(header(&parsed, "To"), ["other@example.test"]);
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd: run by `cargo xtask test`"]
async fn the_file_mailer_writes_what_the_smtp_server_receives() {
    let sink = Sink::start();
    let dir = tempfile::tempdir().unwrap();
    let sent = email("reader@example.test");

    send(&mailer(&sink.url()), &sent).await.unwrap();
    FileMailer::new(dir.path(), FROM)
        .unwrap()
        .send(&sent)
        .await
        .unwrap();

    let file = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let from_file = parse_eml(&file);
    let received = &sink.messages()[0]["message"];
    // Only the date and the MIME boundary may differ between two builds.
    let names = |message: &Value| -> Vec<String> {
        message["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| pair[0].as_str().unwrap().to_ascii_lowercase())
            .collect()
    };
    assert_eq!(names(&from_file), names(received));
    for name in ["Message-ID", "From", "To", "Subject", "List-Unsubscribe"] {
        assert_eq!(header(&from_file, name), header(received, name));
    }
    assert_eq!(from_file["parts"], received["parts"]);
}

#[tokio::test]
async fn a_message_id_with_a_path_separator_stays_inside_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("mail");
    let mailer = FileMailer::new(&mail_dir, FROM).unwrap();

    mailer
        .send(&OutgoingEmail {
            message_id: "a/b@conduit".to_owned(),
            ..email("reader@example.test")
        })
        .await
        .unwrap();
    let dotted = mailer
        .send(&OutgoingEmail {
            message_id: "../../escape@conduit".to_owned(),
            ..email("reader@example.test")
        })
        .await;

    assert!(is_permanent(&dotted), "{dotted:?}");
    let names: Vec<String> = std::fs::read_dir(&mail_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with("-a_b@conduit.eml"), "{names:?}");
    let outside: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(outside.len(), 1, "only the mail directory: {outside:?}");
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd: run by `cargo xtask test`"]
async fn a_line_break_in_the_subject_cannot_add_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = FileMailer::new(dir.path(), FROM).unwrap();

    mailer
        .send(&OutgoingEmail {
            subject: "Hello\r\nBcc: victim@example.test".to_owned(),
            ..email("reader@example.test")
        })
        .await
        .unwrap();

    let file = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let parsed = parse_eml(&file);
    assert!(header(&parsed, "Bcc").is_empty(), "{parsed:#}");
    assert_eq!(header(&parsed, "Subject").len(), 1);
}

#[tokio::test]
async fn a_bad_unsubscribe_url_is_permanent() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = FileMailer::new(dir.path(), FROM).unwrap();

    for url in ["javascript:alert(1)", "not a url", "/relative"] {
        let result = mailer
            .send(&OutgoingEmail {
                unsubscribe: Some(url.to_owned()),
                ..email("reader@example.test")
            })
            .await;
        assert!(is_permanent(&result), "{url}: {result:?}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn a_directory_that_cannot_be_created_is_transient() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("mail");
    std::fs::write(&blocker, b"a file where the directory should be").unwrap();
    let mailer = FileMailer::new(&blocker, FROM).unwrap();

    let result = mailer.send(&email("reader@example.test")).await;

    assert!(is_transient(&result), "{result:?}");
}

#[test]
fn the_three_url_schemes_choose_the_security_and_default_port() {
    let plain = SmtpSettings::parse("smtp://localhost:2525").unwrap();
    assert_eq!(plain.security, SmtpSecurity::Plain);
    assert_eq!((plain.host.as_str(), plain.port), ("localhost", 2525));
    assert_eq!(plain.credentials, None);
    assert_eq!(SmtpSettings::parse("smtp://localhost").unwrap().port, 25);

    let starttls = SmtpSettings::parse("smtp+starttls://user:pass@mail.example.com:587").unwrap();
    assert_eq!(starttls.security, SmtpSecurity::StartTls);
    assert_eq!(
        (starttls.host.as_str(), starttls.port),
        ("mail.example.com", 587)
    );
    let credentials = starttls.credentials.unwrap();
    assert_eq!(
        (credentials.user.as_str(), credentials.password.as_str()),
        ("user", "pass")
    );
    assert_eq!(
        SmtpSettings::parse("smtp+starttls://u:p@mail.example.com")
            .unwrap()
            .port,
        587
    );

    let implicit = SmtpSettings::parse("smtps://user:pass@mail.example.com").unwrap();
    assert_eq!(implicit.security, SmtpSecurity::ImplicitTls);
    assert_eq!(implicit.port, 465);
    assert_eq!(
        SmtpSettings::parse("smtps://u:p@[::1]:2465").unwrap().host,
        "::1"
    );
}

#[test]
fn user_and_password_are_percent_decoded() {
    let settings =
        SmtpSettings::parse("smtps://apikey%40example.com:p%40ss%3Aw%2Frd%25@mail.example.com")
            .unwrap();
    let credentials = settings.credentials.unwrap();
    assert_eq!(credentials.user, "apikey@example.com");
    assert_eq!(credentials.password, "p@ss:w/rd%");
}

#[test]
fn an_unknown_scheme_a_missing_host_or_clear_text_credentials_are_invalid() {
    for url in [
        "http://mail.example.com",
        "smtp+ssl://mail.example.com",
        "mail.example.com:25",
        "smtp://",
        "smtps://user:pass@:465",
        "smtp://mail.example.com:25/path",
        "smtp://mail.example.com:25?tls=required",
        "smtp://user:secret@mail.example.com:25",
    ] {
        match SmtpSettings::parse(url) {
            Err(InfrastructureError::Invalid(message)) => {
                assert!(message.contains("CONDUIT_SMTP_URL"), "{url}: {message}");
                assert!(!message.contains("secret"), "{url}: {message}");
            }
            other => panic!("{url}: expected Invalid, got {other:?}"),
        }
    }
}

#[test]
fn debug_and_redacted_never_show_the_password() {
    let settings = SmtpSettings::parse("smtps://user:hunter2%21@mail.example.com").unwrap();
    let debug = format!("{settings:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("user"), "{debug}");
    assert_eq!(settings.redacted(), "smtps://user:***@mail.example.com:465");

    let mail = MailSettings::new(
        Some("smtps://user:hunter2%21@mail.example.com"),
        FROM,
        "data/mail",
    )
    .unwrap();
    let debug = format!("{mail:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
}

#[test]
fn without_an_smtp_url_mail_goes_to_files() {
    for url in [None, Some(""), Some("  ")] {
        let settings = MailSettings::new(url, FROM, "data/mail").unwrap();
        assert_eq!(
            settings.transport,
            MailTransport::Files(PathBuf::from("data/mail"))
        );
    }
}

#[test]
fn a_sender_that_is_not_an_address_is_invalid() {
    let result = MailSettings::new(None, "no address here", "data/mail");
    assert!(
        matches!(result, Err(InfrastructureError::Invalid(_))),
        "{result:?}"
    );
    assert!(FileMailer::new("data/mail", "@").is_err());
}

#[tokio::test]
async fn the_smtp_mailer_debug_never_shows_the_password() {
    let settings = SmtpSettings::parse("smtp+starttls://user:hunter2@mail.example.com").unwrap();
    let mailer = SmtpMailer::new(&settings, FROM).unwrap();
    let debug = format!("{mailer:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
}
