//! Articles, the feed and favorites.
//!
//! Slugs: an article's slug is derived from its title; when that slug is taken
//! (or taken by a concurrent create, which the unique constraint reports) it
//! gets a random 8-hex-digit suffix. Changing the title moves the slug (the
//! RealWorld contract asks for it), unless the new title gives the same slug;
//! the old URL then answers 404.

use std::sync::Arc;

use async_trait::async_trait;
use conduit_domain::{Body, Description, Paging, Slug, TagList, Title, UserId};

use crate::error::{AppError, FieldErrors};
use crate::ports::{ArticleChanges, ArticleFilter, Database, NewArticle, UnitOfWork};
use crate::users::now;
use crate::views::{ArticleRecord, ArticleRef, ArticleSummary, ArticleView, Page};

/// How often a write is tried again when a concurrent write took its slug.
const SLUG_ATTEMPTS: usize = 4;

/// An article as submitted for creation.
#[derive(Debug, Clone, Default)]
pub struct NewArticleInput {
    pub title: String,
    pub description: String,
    pub body: String,
    pub tag_list: Vec<String>,
}

/// Changes to an article as submitted; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default)]
pub struct ArticleUpdate {
    pub title: Option<String>,
    pub description: Option<String>,
    pub body: Option<String>,
    pub tag_list: Option<Vec<String>>,
}

/// The article use cases, as the HTTP layer sees them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ArticleUseCases: Send + Sync {
    async fn list(
        &self,
        viewer: Option<UserId>,
        filter: ArticleFilter,
        paging: Paging,
    ) -> Result<Page<ArticleView<ArticleSummary>>, AppError>;
    async fn feed(
        &self,
        reader: UserId,
        paging: Paging,
    ) -> Result<Page<ArticleView<ArticleSummary>>, AppError>;
    async fn get(
        &self,
        viewer: Option<UserId>,
        slug: String,
    ) -> Result<ArticleView<ArticleRecord>, AppError>;
    async fn create(
        &self,
        author: UserId,
        input: NewArticleInput,
    ) -> Result<ArticleView<ArticleRecord>, AppError>;
    /// Only the author may update an article.
    async fn update(
        &self,
        editor: UserId,
        slug: String,
        update: ArticleUpdate,
    ) -> Result<ArticleView<ArticleRecord>, AppError>;
    /// Only the author may delete an article; its comments, favorites and tag
    /// links go with it.
    async fn delete(&self, editor: UserId, slug: String) -> Result<(), AppError>;
    /// Favorites an article (idempotent).
    async fn favorite(
        &self,
        user: UserId,
        slug: String,
    ) -> Result<ArticleView<ArticleRecord>, AppError>;
    /// Unfavorites an article (idempotent).
    async fn unfavorite(
        &self,
        user: UserId,
        slug: String,
    ) -> Result<ArticleView<ArticleRecord>, AppError>;
}

pub struct ArticleService<D> {
    db: Arc<D>,
}

impl<D: Database> ArticleService<D> {
    pub fn new(db: Arc<D>) -> Self {
        Self { db }
    }

    /// Runs a slug-choosing write, again with a fresh suffix when a concurrent
    /// write took the slug between the check and the insert.
    async fn write_with_slug_retry<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn UnitOfWork, usize) -> Result<T, AppError> + Clone + Send + 'static,
    {
        let mut attempt = 0;
        loop {
            let mut this_try = work.clone();
            let result = self.db.write(move |uow| this_try(uow, attempt)).await;
            match result {
                Err(AppError::Conflict("slug")) if attempt + 1 < SLUG_ATTEMPTS => {
                    tracing::debug!(attempt, "slug taken concurrently, retrying");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// The caller-dependent parts of one or more articles.
trait Personalize {
    fn summary(&self) -> &ArticleSummary;
}

impl Personalize for ArticleSummary {
    fn summary(&self) -> &ArticleSummary {
        self
    }
}

impl Personalize for ArticleRecord {
    fn summary(&self) -> &ArticleSummary {
        &self.summary
    }
}

/// Adds `favorited` and `author.following` for `viewer`, with at most two
/// queries for any number of articles.
fn personalize<A: Personalize>(
    uow: &mut dyn UnitOfWork,
    viewer: Option<UserId>,
    articles: Vec<A>,
) -> Result<Vec<ArticleView<A>>, AppError> {
    let (favorited, following) = match viewer {
        Some(viewer) if !articles.is_empty() => {
            let ids: Vec<_> = articles.iter().map(|a| a.summary().id).collect();
            let mut authors: Vec<_> = articles.iter().map(|a| a.summary().author.id).collect();
            authors.sort_unstable();
            authors.dedup();
            authors.retain(|author| *author != viewer);
            let favorited = uow.articles().favorited_among(viewer, &ids)?;
            let following = if authors.is_empty() {
                Default::default()
            } else {
                uow.follows().following_among(viewer, &authors)?
            };
            (favorited, following)
        }
        _ => Default::default(),
    };
    Ok(articles
        .into_iter()
        .map(|article| {
            let summary = article.summary();
            let is_favorited = favorited.contains(&summary.id);
            let author = summary
                .author
                .clone()
                .viewed(following.contains(&summary.author.id));
            ArticleView {
                article,
                favorited: is_favorited,
                author,
            }
        })
        .collect())
}

fn personalize_one(
    uow: &mut dyn UnitOfWork,
    viewer: Option<UserId>,
    record: ArticleRecord,
) -> Result<ArticleView<ArticleRecord>, AppError> {
    personalize(uow, viewer, vec![record])?
        .pop()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("personalize lost an article")))
}

fn personalize_page(
    uow: &mut dyn UnitOfWork,
    viewer: Option<UserId>,
    page: Page<ArticleSummary>,
) -> Result<Page<ArticleView<ArticleSummary>>, AppError> {
    Ok(Page {
        items: personalize(uow, viewer, page.items)?,
        total: page.total,
    })
}

/// Loads an article's identity and checks that `editor` wrote it.
fn find_own_article(
    uow: &mut dyn UnitOfWork,
    editor: UserId,
    slug: &Slug,
) -> Result<ArticleRef, AppError> {
    let article = find_article_ref(uow, slug)?;
    if article.author_id != editor {
        return Err(AppError::Forbidden("article"));
    }
    Ok(article)
}

pub(crate) fn find_article_ref(
    uow: &mut dyn UnitOfWork,
    slug: &Slug,
) -> Result<ArticleRef, AppError> {
    uow.articles()
        .find_ref(slug)?
        .ok_or(AppError::NotFound("article"))
}

fn load_record(uow: &mut dyn UnitOfWork, slug: &Slug) -> Result<ArticleRecord, AppError> {
    uow.articles()
        .find_by_slug(slug)?
        .ok_or(AppError::NotFound("article"))
}

/// The slug for a title: the plain one when free on the first try, a suffixed
/// one otherwise.
fn choose_slug(uow: &mut dyn UnitOfWork, base: &Slug, attempt: usize) -> Result<Slug, AppError> {
    if attempt == 0 && !uow.articles().slug_exists(base)? {
        Ok(base.clone())
    } else {
        Ok(base.with_random_suffix())
    }
}

#[async_trait]
impl<D: Database> ArticleUseCases for ArticleService<D> {
    async fn list(
        &self,
        viewer: Option<UserId>,
        filter: ArticleFilter,
        paging: Paging,
    ) -> Result<Page<ArticleView<ArticleSummary>>, AppError> {
        self.db
            .read(move |uow| {
                let page = uow.articles().list(&filter, paging)?;
                personalize_page(uow, viewer, page)
            })
            .await
    }

    async fn feed(
        &self,
        reader: UserId,
        paging: Paging,
    ) -> Result<Page<ArticleView<ArticleSummary>>, AppError> {
        self.db
            .read(move |uow| {
                let page = uow.articles().feed(reader, paging)?;
                personalize_page(uow, Some(reader), page)
            })
            .await
    }

    async fn get(
        &self,
        viewer: Option<UserId>,
        slug: String,
    ) -> Result<ArticleView<ArticleRecord>, AppError> {
        let slug = Slug::from_path(slug);
        self.db
            .read(move |uow| {
                let record = load_record(uow, &slug)?;
                personalize_one(uow, viewer, record)
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(author_id = author.0))]
    async fn create(
        &self,
        author: UserId,
        input: NewArticleInput,
    ) -> Result<ArticleView<ArticleRecord>, AppError> {
        let mut errors = FieldErrors::new();
        let title = errors.check("title", Title::parse(input.title));
        let description = errors.check("description", Description::parse(input.description));
        let body = errors.check("body", Body::parse(input.body));
        let tags = errors.check("tagList", TagList::parse(input.tag_list));
        let (Some(title), Some(description), Some(body), Some(tags)) =
            (title, description, body, tags)
        else {
            return Err(AppError::Validation(errors));
        };

        let base = Slug::from_title(&title);
        let article = NewArticle {
            slug: base.clone(),
            title: title.into_inner(),
            description: description.into_inner(),
            body: body.into_inner(),
            author_id: author,
            now: now(),
        };
        let record = self
            .write_with_slug_retry(move |uow, attempt| {
                let slug = choose_slug(uow, &base, attempt)?;
                let article = NewArticle {
                    slug: slug.clone(),
                    ..article.clone()
                };
                let id = uow.articles().insert(&article)?;
                uow.tags().replace_for_article(id, &tags)?;
                load_record(uow, &slug)
            })
            .await?;
        tracing::info!(slug = %record.summary.slug, "article created");
        let author = record.summary.author.clone().viewed(false);
        Ok(ArticleView {
            article: record,
            favorited: false,
            author,
        })
    }

    #[tracing::instrument(skip(self, update))]
    async fn update(
        &self,
        editor: UserId,
        slug: String,
        update: ArticleUpdate,
    ) -> Result<ArticleView<ArticleRecord>, AppError> {
        let mut errors = FieldErrors::new();
        if update.title.is_none()
            && update.description.is_none()
            && update.body.is_none()
            && update.tag_list.is_none()
        {
            errors.add("article", "must contain at least one field to change");
        }
        let title = update
            .title
            .and_then(|value| errors.check("title", Title::parse(value)));
        let description = update
            .description
            .and_then(|value| errors.check("description", Description::parse(value)));
        let body = update
            .body
            .and_then(|value| errors.check("body", Body::parse(value)));
        let tags = update
            .tag_list
            .and_then(|value| errors.check("tagList", TagList::parse(value)));
        errors.into_result()?;

        let current_slug = Slug::from_path(slug);
        let new_base = title.as_ref().map(Slug::from_title);
        let changes = ArticleChanges {
            slug: None,
            title: title.map(Title::into_inner),
            description: description.map(Description::into_inner),
            body: body.map(Body::into_inner),
        };
        let now = now();
        self.write_with_slug_retry(move |uow, attempt| {
            let article = find_own_article(uow, editor, &current_slug)?;
            let stored_slug = Slug::from_path(article.slug.clone());
            let slug = match &new_base {
                Some(base) if !stored_slug.has_base(base) => choose_slug(uow, base, attempt)?,
                _ => stored_slug,
            };
            let changes = ArticleChanges {
                slug: (slug.as_str() != article.slug).then(|| slug.clone()),
                ..changes.clone()
            };
            uow.articles().update(article.id, &changes, now)?;
            if let Some(tags) = &tags {
                uow.tags().replace_for_article(article.id, tags)?;
            }
            let record = load_record(uow, &slug)?;
            personalize_one(uow, Some(editor), record)
        })
        .await
    }

    #[tracing::instrument(skip(self))]
    async fn delete(&self, editor: UserId, slug: String) -> Result<(), AppError> {
        let slug = Slug::from_path(slug);
        self.db
            .write(move |uow| {
                let article = find_own_article(uow, editor, &slug)?;
                Ok(uow.articles().delete(article.id)?)
            })
            .await
    }

    async fn favorite(
        &self,
        user: UserId,
        slug: String,
    ) -> Result<ArticleView<ArticleRecord>, AppError> {
        let slug = Slug::from_path(slug);
        let now = now();
        self.db
            .write(move |uow| {
                let article = find_article_ref(uow, &slug)?;
                uow.articles().favorite(user, article.id, now)?;
                let record = load_record(uow, &slug)?;
                personalize_one(uow, Some(user), record)
            })
            .await
    }

    async fn unfavorite(
        &self,
        user: UserId,
        slug: String,
    ) -> Result<ArticleView<ArticleRecord>, AppError> {
        let slug = Slug::from_path(slug);
        self.db
            .write(move |uow| {
                let article = find_article_ref(uow, &slug)?;
                uow.articles().unfavorite(user, article.id)?;
                let record = load_record(uow, &slug)?;
                personalize_one(uow, Some(user), record)
            })
            .await
    }
}
