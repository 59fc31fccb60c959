//! Articles: titles, slugs, bodies and tags.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{InvalidValue, check_length, check_storable, check_visible, is_invisible};
use crate::limits::{BODY_MAX, DESCRIPTION_MAX, TAG_MAX, TAGS_PER_ARTICLE_MAX, TITLE_MAX};

/// Database identity of an article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ArticleId(pub i64);

/// Longest slug derived from a title, before any collision suffix.
const SLUG_BASE_MAX: usize = 100;

/// A short, trimmed title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    /// # Errors
    /// When the title is blank or longer than the maximum.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into().trim().to_owned();
        check_visible(&value)?;
        check_length(&value, 1, TITLE_MAX)?;
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The one-line summary shown in article lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    /// # Errors
    /// When the description is blank or longer than the maximum.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into().trim().to_owned();
        check_visible(&value)?;
        check_length(&value, 1, DESCRIPTION_MAX)?;
        Ok(Self(value))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The article text (Markdown, stored exactly as sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body(String);

impl Body {
    /// # Errors
    /// When the body is blank or longer than the maximum.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        check_visible(&value)?;
        check_length(&value, 1, BODY_MAX)?;
        Ok(Self(value))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The URL name of an article: lower-case ASCII words joined by `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    /// Derives the slug of a title. Non-Latin scripts are transliterated
    /// ("Ünïcödé" → "unicode", "北京" → "bei-jing", "🚀" → "rocket"); a title
    /// with nothing to transliterate (only punctuation, say) gets the slug
    /// `article`.
    pub fn from_title(title: &Title) -> Self {
        let ascii = deunicode::deunicode_with_tofu(title.as_str(), "-");
        let mut slug = String::with_capacity(ascii.len());
        for c in ascii.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        if slug.len() > SLUG_BASE_MAX {
            slug.truncate(SLUG_BASE_MAX);
        }
        let trimmed = slug.trim_end_matches('-');
        if trimmed.is_empty() {
            Self("article".to_owned())
        } else {
            Self(trimmed.to_owned())
        }
    }

    /// The same slug with a random suffix, for when the plain one is taken.
    pub fn with_random_suffix(&self) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self(format!("{}-{}", self.0, &id[..8]))
    }

    /// Whether this slug is `base` itself or `base` with a collision suffix,
    /// that is, whether a title whose slug is `base` may keep this slug.
    pub fn has_base(&self, base: &Slug) -> bool {
        match self.0.strip_prefix(base.as_str()) {
            Some("") => true,
            Some(rest) => rest.strip_prefix('-').is_some_and(|suffix| {
                suffix.len() == 8 && suffix.chars().all(|c| c.is_ascii_hexdigit())
            }),
            None => false,
        }
    }

    /// Wraps a slug known to be well formed (read back from storage).
    pub fn from_path(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Wraps a slug taken from a URL. Any storable string is accepted: an
    /// unknown slug is simply not found. `None` for text that cannot be
    /// stored (a NUL character), which therefore names no article.
    pub fn from_request(value: impl Into<String>) -> Option<Self> {
        let value = value.into();
        check_storable(&value).ok().map(|()| Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One tag: trimmed, not blank, bounded in length.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagName(String);

impl TagName {
    /// # Errors
    /// When the tag is blank or too long.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into().trim().to_owned();
        if is_invisible(&value) {
            return Err(InvalidValue::new("can't contain a blank tag"));
        }
        check_storable(&value)?;
        if value.chars().count() > TAG_MAX {
            return Err(InvalidValue::new(format!(
                "can't contain a tag longer than {TAG_MAX} characters"
            )));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The tags of an article: de-duplicated and in alphabetical order, the order
/// in which the RealWorld contract lists them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TagList(Vec<TagName>);

impl TagList {
    /// # Errors
    /// When a tag is blank or too long, or more than the maximum are given.
    pub fn parse(values: impl IntoIterator<Item = String>) -> Result<Self, InvalidValue> {
        let mut tags = values
            .into_iter()
            .map(TagName::parse)
            .collect::<Result<Vec<_>, _>>()?;
        // Counted before de-duplication, as the documented `maxItems` of
        // `tagList` is, so that the rule and the schema agree.
        if tags.len() > TAGS_PER_ARTICLE_MAX {
            return Err(InvalidValue::new(format!(
                "can't have more than {TAGS_PER_ARTICLE_MAX} tags"
            )));
        }
        tags.sort();
        tags.dedup();
        Ok(Self(tags))
    }

    pub fn iter(&self) -> impl Iterator<Item = &TagName> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|tag| tag.0.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slug(title: &str) -> String {
        Slug::from_title(&Title::parse(title).unwrap()).into_inner()
    }

    #[test]
    fn slug_is_lower_case_words_joined_by_dashes() {
        assert_eq!(slug("How to train your dragon"), "how-to-train-your-dragon");
        assert_eq!(slug("  Hello,   World!!  "), "hello-world");
        assert_eq!(slug("C++ & Rust: 2024"), "c-rust-2024");
    }

    #[test]
    fn slug_transliterates_unicode() {
        assert_eq!(slug("Ünïcödé Çafé"), "unicode-cafe");
        assert_eq!(slug("Привет мир"), "privet-mir");
        assert_eq!(slug("北京"), "bei-jing");
    }

    #[test]
    fn slug_of_a_title_without_letters_is_article() {
        assert_eq!(slug("!!!"), "article");
        assert_eq!(slug("¿?"), "article");
    }

    #[test]
    fn slug_names_emoji() {
        assert_eq!(slug("🚀 launch"), "rocket-launch");
    }

    #[test]
    fn slug_is_bounded_and_never_ends_with_a_dash() {
        let long = slug(&"word ".repeat(40));
        assert!(long.len() <= 100);
        assert!(!long.ends_with('-'));
    }

    #[test]
    fn suffixed_slug_keeps_the_base() {
        let base = Slug::from_path("dragons");
        let suffixed = base.with_random_suffix();
        let suffix = suffixed.as_str().strip_prefix("dragons-").unwrap();
        assert_eq!(suffix.len(), 8);
        assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(suffixed, base.with_random_suffix());
    }

    #[test]
    fn a_slug_has_the_base_it_was_made_from() {
        let base = Slug::from_path("dragons");
        assert!(base.has_base(&base));
        assert!(base.with_random_suffix().has_base(&base));
        assert!(!Slug::from_path("dragons-2").has_base(&base));
        assert!(!Slug::from_path("dragonsfly").has_base(&base));
        assert!(!Slug::from_path("drag").has_base(&base));
    }

    #[test]
    fn title_is_trimmed_and_bounded() {
        assert_eq!(Title::parse("  Hi ").unwrap().as_str(), "Hi");
        assert_eq!(Title::parse("   ").unwrap_err(), InvalidValue::blank());
        assert!(Title::parse("x".repeat(201)).is_err());
    }

    #[test]
    fn body_keeps_its_whitespace_but_may_not_be_blank() {
        assert_eq!(Body::parse(" a\n").unwrap().into_inner(), " a\n");
        assert!(Body::parse(" \n ").is_err());
    }

    #[test]
    fn tags_are_trimmed_deduplicated_and_sorted() {
        let tags = TagList::parse(
            ["training ", "dragons", " training", "dragons"]
                .into_iter()
                .map(String::from),
        )
        .unwrap();
        assert_eq!(tags.to_strings(), ["dragons", "training"]);
    }

    #[test]
    fn blank_and_long_tags_are_rejected() {
        assert!(TagList::parse([" ".to_owned()]).is_err());
        assert!(TagList::parse(["x".repeat(41)]).is_err());
    }

    #[test]
    fn at_most_ten_distinct_tags() {
        let ten = (0..10).map(|i| format!("t{i}"));
        assert_eq!(TagList::parse(ten).unwrap().len(), 10);
        let eleven = (0..11).map(|i| format!("t{i}"));
        assert!(TagList::parse(eleven).is_err());
        let duplicates = (0..10).map(|i| format!("t{}", i % 5));
        assert_eq!(TagList::parse(duplicates).unwrap().len(), 5);
        let too_many_even_with_duplicates = (0..11).map(|_| "same".to_owned());
        assert!(TagList::parse(too_many_even_with_duplicates).is_err());
    }
}
