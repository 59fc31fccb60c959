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

use crate::cache::CacheKey;
use crate::error::{AppError, Cause, FieldErrors};
use crate::events::DomainEvent;
use crate::personalize::followed_authors;
use crate::ports::{ArticleChanges, ArticleFilter, Database, NewArticle, UnitOfWork};
use crate::storage::Storage;
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
    /// Reads are shared (`Arc`): a cached page is handed out, not copied.
    async fn list(
        &self,
        viewer: Option<UserId>,
        filter: ArticleFilter,
        paging: Paging,
    ) -> Result<Arc<Page<ArticleView<ArticleSummary>>>, AppError>;
    async fn feed(
        &self,
        reader: UserId,
        paging: Paging,
    ) -> Result<Arc<Page<ArticleView<ArticleSummary>>>, AppError>;
    async fn get(
        &self,
        viewer: Option<UserId>,
        slug: String,
    ) -> Result<Arc<ArticleView<ArticleRecord>>, AppError>;
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
    storage: Storage<D>,
}

impl<D: Database> ArticleService<D> {
    pub fn new(storage: impl Into<Storage<D>>) -> Self {
        Self {
            storage: storage.into(),
        }
    }

    /// Runs a slug-choosing write of article content, again with a fresh
    /// suffix when a concurrent write took the slug between the check and the
    /// insert.
    async fn write_with_slug_retry<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn UnitOfWork, usize) -> Result<T, AppError> + Clone + Send + 'static,
    {
        let mut attempt = 0;
        loop {
            let mut this_try = work.clone();
            let result = self.storage.write(move |uow| this_try(uow, attempt)).await;
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
    let favorited = match viewer {
        Some(viewer) if !articles.is_empty() => {
            let ids: Vec<_> = articles.iter().map(|a| a.summary().id).collect();
            uow.articles().favorited_among(viewer, &ids)?
        }
        _ => Default::default(),
    };
    let following = followed_authors(
        uow,
        viewer,
        articles.iter().map(|article| article.summary().author.id),
    )?;
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
        .ok_or_else(|| AppError::Internal(Cause::from("personalize lost an article")))
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

/// The slug of a URL; one that cannot be stored names no article.
pub(crate) fn request_slug(slug: String) -> Result<Slug, AppError> {
    Slug::from_request(slug).ok_or(AppError::NotFound("article"))
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
    ) -> Result<Arc<Page<ArticleView<ArticleSummary>>>, AppError> {
        let storable = [&filter.tag, &filter.author, &filter.favorited_by]
            .into_iter()
            .flatten()
            .all(|name| !name.contains('\0'));
        if !storable {
            // Names that cannot be stored match nothing.
            return Ok(Arc::new(Page {
                items: Vec::new(),
                total: 0,
            }));
        }
        let key = CacheKey::Articles {
            viewer,
            filter: filter.clone(),
            paging,
        };
        self.storage
            .read_cached(key, move |uow| {
                let page = uow.articles().list(&filter, paging)?;
                personalize_page(uow, viewer, page)
            })
            .await
    }

    async fn feed(
        &self,
        reader: UserId,
        paging: Paging,
    ) -> Result<Arc<Page<ArticleView<ArticleSummary>>>, AppError> {
        let key = CacheKey::Feed { reader, paging };
        self.storage
            .read_cached(key, move |uow| {
                let page = uow.articles().feed(reader, paging)?;
                personalize_page(uow, Some(reader), page)
            })
            .await
    }

    async fn get(
        &self,
        viewer: Option<UserId>,
        slug: String,
    ) -> Result<Arc<ArticleView<ArticleRecord>>, AppError> {
        let key = CacheKey::Article {
            viewer,
            slug: slug.clone(),
        };
        let slug = request_slug(slug)?;
        self.storage
            .read_cached(key, move |uow| {
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
            now: self.storage.now(),
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
                uow.record(DomainEvent::ArticlePublished {
                    article: id,
                    author,
                    slug: slug.as_str().to_owned(),
                });
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

        let current_slug = request_slug(slug)?;
        let new_base = title.as_ref().map(Slug::from_title);
        let changes = ArticleChanges {
            slug: None,
            title: title.map(Title::into_inner),
            description: description.map(Description::into_inner),
            body: body.map(Body::into_inner),
        };
        let now = self.storage.now();
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
            uow.record(DomainEvent::ArticleUpdated {
                article: article.id,
                author: editor,
                slug: slug.as_str().to_owned(),
                previous_slug: changes.slug.is_some().then(|| article.slug.clone()),
            });
            let record = load_record(uow, &slug)?;
            personalize_one(uow, Some(editor), record)
        })
        .await
    }

    #[tracing::instrument(skip(self))]
    async fn delete(&self, editor: UserId, slug: String) -> Result<(), AppError> {
        let slug = request_slug(slug)?;
        self.storage
            .write(move |uow| {
                let article = find_own_article(uow, editor, &slug)?;
                uow.articles().delete(article.id)?;
                uow.record(DomainEvent::ArticleDeleted {
                    article: article.id,
                    author: editor,
                    slug: article.slug,
                });
                Ok(())
            })
            .await
    }

    async fn favorite(
        &self,
        user: UserId,
        slug: String,
    ) -> Result<ArticleView<ArticleRecord>, AppError> {
        let slug = request_slug(slug)?;
        let now = self.storage.now();
        self.storage
            .write(move |uow| {
                let article = find_article_ref(uow, &slug)?;
                if uow.articles().favorite(user, article.id, now)? {
                    uow.record(DomainEvent::ArticleFavorited {
                        article: article.id,
                        user,
                    });
                }
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
        let slug = request_slug(slug)?;
        self.storage
            .write(move |uow| {
                let article = find_article_ref(uow, &slug)?;
                if uow.articles().unfavorite(user, article.id)? {
                    uow.record(DomainEvent::ArticleUnfavorited {
                        article: article.id,
                        user,
                    });
                }
                let record = load_record(uow, &slug)?;
                personalize_one(uow, Some(user), record)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Mutex;

    use chrono::{DateTime, Duration, Utc};
    use conduit_domain::ArticleId;
    use conduit_domain::limits::{BODY_MAX, TAGS_PER_ARTICLE_MAX};
    use mockall::predicate::{always, eq};

    use super::*;
    use crate::error::RepoError;
    use crate::testing::{FakeDb, FakeRepos, author};

    const AUTHOR: UserId = UserId(1);
    const READER: UserId = UserId(2);

    fn summary(id: i64, slug: &str, author_id: UserId) -> ArticleSummary {
        let created_at = Utc::now() - Duration::minutes(5);
        ArticleSummary {
            id: ArticleId(id),
            slug: slug.to_owned(),
            title: "How to train your dragon".to_owned(),
            description: "Ever wonder how?".to_owned(),
            tags: vec!["dragons".to_owned(), "training".to_owned()],
            created_at,
            updated_at: created_at,
            favorites_count: 0,
            author: author(author_id),
        }
    }

    fn record(id: i64, slug: &str, author_id: UserId) -> ArticleRecord {
        ArticleRecord {
            summary: summary(id, slug, author_id),
            body: "You have to believe".to_owned(),
        }
    }

    fn article_ref(id: i64, slug: &str, author_id: UserId) -> ArticleRef {
        ArticleRef {
            id: ArticleId(id),
            author_id,
            slug: slug.to_owned(),
        }
    }

    fn input() -> NewArticleInput {
        NewArticleInput {
            title: "How to train your dragon".to_owned(),
            description: "Ever wonder how?".to_owned(),
            body: "You have to believe".to_owned(),
            tag_list: vec!["training".to_owned(), "dragons".to_owned()],
        }
    }

    fn service(db: FakeDb) -> (Arc<FakeDb>, ArticleService<FakeDb>) {
        let db = Arc::new(db);
        (Arc::clone(&db), ArticleService::new(db))
    }

    /// Whether `slug` is `base` followed by `-` and 8 hex digits.
    fn is_suffixed(slug: &str, base: &str) -> bool {
        slug.strip_prefix(base)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|suffix| {
                suffix.len() == 8 && suffix.chars().all(|c| c.is_ascii_hexdigit())
            })
    }

    /// The writes after a successful insert: tags, then the stored record
    /// under whatever slug was chosen.
    fn expect_tags_and_reload(repos: &mut FakeRepos) {
        repos
            .tags
            .expect_replace_for_article()
            .returning(|_, _| Ok(()));
        repos
            .articles
            .expect_find_by_slug()
            .returning(|slug| Ok(Some(record(10, slug.as_str(), AUTHOR))));
    }

    fn field_names(error: &AppError) -> Vec<String> {
        let AppError::Validation(errors) = error else {
            panic!("expected a validation error, got {error:?}");
        };
        errors.iter().map(|(field, _)| field.clone()).collect()
    }

    // ------------------------------------------------------------ create

    #[tokio::test]
    async fn create_uses_the_plain_slug_when_it_is_free() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .articles
                .expect_slug_exists()
                .withf(|slug| slug.as_str() == "how-to-train-your-dragon")
                .times(1)
                .returning(|_| Ok(false));
            repos
                .articles
                .expect_insert()
                .withf(|article| {
                    article.slug.as_str() == "how-to-train-your-dragon"
                        && article.title == "How to train your dragon"
                        && article.author_id == AUTHOR
                })
                .times(1)
                .returning(|_| Ok(ArticleId(10)));
            expect_tags_and_reload(repos);
        });
        let (db, service) = service(db);
        let created = service.create(AUTHOR, input()).await.unwrap();
        assert_eq!(created.article.summary.slug, "how-to-train-your-dragon");
        assert!(!created.favorited);
        assert!(!created.author.following);
        assert_eq!(created.author.username, "user1");
        assert_eq!(db.writes(), 1);
        assert_eq!(
            db.events(),
            [DomainEvent::ArticlePublished {
                article: ArticleId(10),
                author: AUTHOR,
                slug: "how-to-train-your-dragon".to_owned(),
            }]
        );
    }

    #[tokio::test]
    async fn a_create_that_fails_after_recording_its_event_leaves_no_event() {
        let db = FakeDb::new().writing(|repos| {
            repos.articles.expect_slug_exists().returning(|_| Ok(false));
            repos
                .articles
                .expect_insert()
                .returning(|_| Ok(ArticleId(10)));
            repos
                .tags
                .expect_replace_for_article()
                .returning(|_, _| Ok(()));
            repos
                .articles
                .expect_find_by_slug()
                .returning(|_| Err(RepoError::Busy));
        });
        let (db, service) = service(db);
        let error = service.create(AUTHOR, input()).await.unwrap_err();
        assert!(matches!(error, AppError::Busy), "{error:?}");
        assert_eq!(db.events(), []);
    }

    #[tokio::test]
    async fn create_suffixes_the_slug_when_the_plain_one_is_taken() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .articles
                .expect_slug_exists()
                .times(1)
                .returning(|_| Ok(true));
            repos
                .articles
                .expect_insert()
                .withf(|article| is_suffixed(article.slug.as_str(), "how-to-train-your-dragon"))
                .times(1)
                .returning(|_| Ok(ArticleId(10)));
            expect_tags_and_reload(repos);
        });
        let (_, service) = service(db);
        let created = service.create(AUTHOR, input()).await.unwrap();
        assert!(
            is_suffixed(&created.article.summary.slug, "how-to-train-your-dragon"),
            "{}",
            created.article.summary.slug
        );
    }

    #[tokio::test]
    async fn create_retries_with_a_new_slug_when_a_concurrent_create_took_it() {
        let db = FakeDb::new().writing(|repos| {
            // Checked once: the retry suffixes without asking again.
            repos
                .articles
                .expect_slug_exists()
                .times(1)
                .returning(|_| Ok(false));
            repos
                .articles
                .expect_insert()
                .withf(|article| article.slug.as_str() == "how-to-train-your-dragon")
                .times(1)
                .returning(|_| Err(RepoError::Conflict { field: "slug" }));
            repos
                .articles
                .expect_insert()
                .withf(|article| is_suffixed(article.slug.as_str(), "how-to-train-your-dragon"))
                .times(1)
                .returning(|_| Ok(ArticleId(10)));
            expect_tags_and_reload(repos);
        });
        let (db, service) = service(db);
        let created = service.create(AUTHOR, input()).await.unwrap();
        assert_eq!(db.events().len(), 1, "the failed try's event went with it");
        assert!(is_suffixed(
            &created.article.summary.slug,
            "how-to-train-your-dragon"
        ));
        assert_eq!(db.writes(), 2);
    }

    #[tokio::test]
    async fn create_gives_up_when_every_attempt_loses_the_slug() {
        let db = FakeDb::new().writing(|repos| {
            repos.articles.expect_slug_exists().returning(|_| Ok(false));
            repos
                .articles
                .expect_insert()
                .times(SLUG_ATTEMPTS)
                .returning(|_| Err(RepoError::Conflict { field: "slug" }));
            repos.tags.expect_replace_for_article().never();
            repos.articles.expect_find_by_slug().never();
        });
        let (db, service) = service(db);
        let error = service.create(AUTHOR, input()).await.unwrap_err();
        assert!(matches!(error, AppError::Conflict("slug")), "{error:?}");
        assert_eq!(db.writes(), SLUG_ATTEMPTS);
    }

    #[tokio::test]
    async fn create_does_not_retry_other_conflicts() {
        let db = FakeDb::new().writing(|repos| {
            repos.articles.expect_slug_exists().returning(|_| Ok(false));
            repos
                .articles
                .expect_insert()
                .times(1)
                .returning(|_| Err(RepoError::Conflict { field: "title" }));
        });
        let (db, service) = service(db);
        let error = service.create(AUTHOR, input()).await.unwrap_err();
        assert!(matches!(error, AppError::Conflict("title")), "{error:?}");
        assert_eq!(db.writes(), 1);
    }

    #[tokio::test]
    async fn create_reports_every_invalid_field_without_touching_the_repos() {
        // No expectation is set: any repository call would panic.
        let (db, service) = service(FakeDb::default());
        let error = service
            .create(
                AUTHOR,
                NewArticleInput {
                    title: "   ".to_owned(),
                    description: "Ever wonder how?".to_owned(),
                    body: "x".repeat(BODY_MAX + 1),
                    tag_list: (0..=TAGS_PER_ARTICLE_MAX)
                        .map(|i| format!("t{i}"))
                        .collect(),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(field_names(&error), ["body", "tagList", "title"]);
        assert_eq!(db.writes(), 0);
    }

    #[tokio::test]
    async fn create_writes_the_tags_of_the_new_article() {
        let db = FakeDb::new().writing(|repos| {
            repos.articles.expect_slug_exists().returning(|_| Ok(false));
            repos
                .articles
                .expect_insert()
                .returning(|_| Ok(ArticleId(10)));
            repos
                .tags
                .expect_replace_for_article()
                .withf(|id, tags| {
                    *id == ArticleId(10) && tags.to_strings() == ["dragons", "training"]
                })
                .times(1)
                .returning(|_, _| Ok(()));
            repos
                .articles
                .expect_find_by_slug()
                .returning(|slug| Ok(Some(record(10, slug.as_str(), AUTHOR))));
        });
        let (_, service) = service(db);
        let mut input = input();
        input.tag_list.push(" dragons ".to_owned());
        let created = service.create(AUTHOR, input).await.unwrap();
        assert_eq!(created.article.summary.tags, ["dragons", "training"]);
    }

    // ------------------------------------------------------------ update

    fn title_update(title: &str) -> ArticleUpdate {
        ArticleUpdate {
            title: Some(title.to_owned()),
            ..ArticleUpdate::default()
        }
    }

    #[tokio::test]
    async fn update_by_someone_else_is_forbidden_and_changes_nothing() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .articles
                .expect_find_ref()
                .returning(|slug| Ok(Some(article_ref(10, slug.as_str(), AUTHOR))));
            repos.articles.expect_update().never();
            repos.tags.expect_replace_for_article().never();
        });
        let (db, service) = service(db);
        let error = service
            .update(READER, "dragons".to_owned(), title_update("Mine now"))
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::Forbidden("article")), "{error:?}");
        assert_eq!(db.events(), [], "a refused write records nothing");
    }

    #[tokio::test]
    async fn update_of_an_unknown_slug_is_not_found() {
        let db = FakeDb::new().writing(|repos| {
            repos.articles.expect_find_ref().returning(|_| Ok(None));
            repos.articles.expect_update().never();
        });
        let (_, service) = service(db);
        let error = service
            .update(AUTHOR, "nothing-here".to_owned(), title_update("New"))
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::NotFound("article")), "{error:?}");
    }

    #[tokio::test]
    async fn update_with_a_new_title_moves_the_slug() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .articles
                .expect_find_ref()
                .with(eq(Slug::from_path("old-title")))
                .returning(|_| Ok(Some(article_ref(10, "old-title", AUTHOR))));
            repos
                .articles
                .expect_slug_exists()
                .withf(|slug| slug.as_str() == "brand-new-title")
                .times(1)
                .returning(|_| Ok(false));
            repos
                .articles
                .expect_update()
                .withf(|id, changes, _| {
                    *id == ArticleId(10)
                        && *changes
                            == ArticleChanges {
                                slug: Some(Slug::from_path("brand-new-title")),
                                title: Some("Brand new title".to_owned()),
                                ..ArticleChanges::default()
                            }
                })
                .times(1)
                .returning(|_, _, _| Ok(()));
            repos
                .articles
                .expect_find_by_slug()
                .with(eq(Slug::from_path("brand-new-title")))
                .returning(|slug| Ok(Some(record(10, slug.as_str(), AUTHOR))));
            repos
                .articles
                .expect_favorited_among()
                .returning(|_, _| Ok(HashSet::new()));
            // The editor is the only author: nobody to follow.
            repos.follows.expect_following_among().never();
        });
        let (db, service) = service(db);
        let updated = service
            .update(
                AUTHOR,
                "old-title".to_owned(),
                title_update("Brand new title"),
            )
            .await
            .unwrap();
        assert_eq!(updated.article.summary.slug, "brand-new-title");
        assert_eq!(
            db.events(),
            [DomainEvent::ArticleUpdated {
                article: ArticleId(10),
                author: AUTHOR,
                slug: "brand-new-title".to_owned(),
                previous_slug: Some("old-title".to_owned()),
            }]
        );
    }

    #[tokio::test]
    async fn update_to_a_title_with_a_taken_slug_suffixes_it() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .articles
                .expect_find_ref()
                .returning(|_| Ok(Some(article_ref(10, "old-title", AUTHOR))));
            repos.articles.expect_slug_exists().returning(|_| Ok(true));
            repos
                .articles
                .expect_update()
                .withf(|_, changes, _| {
                    changes
                        .slug
                        .as_ref()
                        .is_some_and(|slug| is_suffixed(slug.as_str(), "taken"))
                })
                .times(1)
                .returning(|_, _, _| Ok(()));
            repos
                .articles
                .expect_find_by_slug()
                .returning(|slug| Ok(Some(record(10, slug.as_str(), AUTHOR))));
            repos
                .articles
                .expect_favorited_among()
                .returning(|_, _| Ok(HashSet::new()));
        });
        let (_, service) = service(db);
        let updated = service
            .update(AUTHOR, "old-title".to_owned(), title_update("Taken"))
            .await
            .unwrap();
        assert!(is_suffixed(&updated.article.summary.slug, "taken"));
    }

    #[tokio::test]
    async fn update_with_a_title_of_the_same_base_keeps_a_suffixed_slug() {
        for title in ["Dragons", "dragons!", "  DRAGONS  "] {
            let db = FakeDb::new().writing(|repos| {
                repos
                    .articles
                    .expect_find_ref()
                    .returning(|_| Ok(Some(article_ref(10, "dragons-0a1b2c3d", AUTHOR))));
                repos.articles.expect_slug_exists().never();
                repos
                    .articles
                    .expect_update()
                    .withf(|_, changes, _| changes.slug.is_none() && changes.title.is_some())
                    .times(1)
                    .returning(|_, _, _| Ok(()));
                repos
                    .articles
                    .expect_find_by_slug()
                    .with(eq(Slug::from_path("dragons-0a1b2c3d")))
                    .returning(|slug| Ok(Some(record(10, slug.as_str(), AUTHOR))));
                repos
                    .articles
                    .expect_favorited_among()
                    .returning(|_, _| Ok(HashSet::new()));
            });
            let (_, service) = service(db);
            let updated = service
                .update(AUTHOR, "dragons-0a1b2c3d".to_owned(), title_update(title))
                .await
                .unwrap();
            assert_eq!(updated.article.summary.slug, "dragons-0a1b2c3d", "{title}");
        }
    }

    #[tokio::test]
    async fn update_of_other_fields_keeps_the_slug_and_replaces_the_tags() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .articles
                .expect_find_ref()
                .returning(|_| Ok(Some(article_ref(10, "dragons", AUTHOR))));
            repos.articles.expect_slug_exists().never();
            repos
                .articles
                .expect_update()
                .withf(|_, changes, _| {
                    *changes
                        == ArticleChanges {
                            body: Some("New body".to_owned()),
                            ..ArticleChanges::default()
                        }
                })
                .times(1)
                .returning(|_, _, _| Ok(()));
            repos
                .tags
                .expect_replace_for_article()
                .withf(|id, tags| *id == ArticleId(10) && tags.to_strings() == ["rust"])
                .times(1)
                .returning(|_, _| Ok(()));
            repos
                .articles
                .expect_find_by_slug()
                .returning(|slug| Ok(Some(record(10, slug.as_str(), AUTHOR))));
            repos
                .articles
                .expect_favorited_among()
                .returning(|_, _| Ok(HashSet::new()));
        });
        let (_, service) = service(db);
        service
            .update(
                AUTHOR,
                "dragons".to_owned(),
                ArticleUpdate {
                    body: Some("New body".to_owned()),
                    tag_list: Some(vec!["rust".to_owned()]),
                    ..ArticleUpdate::default()
                },
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn update_without_any_field_is_rejected() {
        let (db, service) = service(FakeDb::default());
        let error = service
            .update(AUTHOR, "dragons".to_owned(), ArticleUpdate::default())
            .await
            .unwrap_err();
        assert_eq!(field_names(&error), ["article"]);
        assert_eq!(db.writes(), 0);
    }

    #[tokio::test]
    async fn update_reports_every_invalid_field() {
        let (db, service) = service(FakeDb::default());
        let error = service
            .update(
                AUTHOR,
                "dragons".to_owned(),
                ArticleUpdate {
                    title: Some(" ".to_owned()),
                    description: Some(String::new()),
                    body: Some("\n".to_owned()),
                    tag_list: Some(vec![" ".to_owned()]),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            field_names(&error),
            ["body", "description", "tagList", "title"]
        );
        assert_eq!(db.writes(), 0);
    }

    #[tokio::test]
    async fn update_stamps_a_time_not_earlier_than_the_creation() {
        let created_at = Utc::now();
        let stamped: Arc<Mutex<Option<DateTime<Utc>>>> = Arc::default();
        let seen = Arc::clone(&stamped);
        let db = FakeDb::new().writing(move |repos| {
            repos
                .articles
                .expect_find_ref()
                .returning(|_| Ok(Some(article_ref(10, "dragons", AUTHOR))));
            repos
                .articles
                .expect_update()
                .with(always(), always(), always())
                .times(1)
                .returning(move |_, _, now| {
                    *seen.lock().unwrap() = Some(now);
                    Ok(())
                });
            repos.articles.expect_find_by_slug().returning(move |slug| {
                let mut record = record(10, slug.as_str(), AUTHOR);
                record.summary.created_at = created_at;
                Ok(Some(record))
            });
            repos
                .articles
                .expect_favorited_among()
                .returning(|_, _| Ok(HashSet::new()));
        });
        let (_, service) = service(db);
        service
            .update(
                AUTHOR,
                "dragons".to_owned(),
                ArticleUpdate {
                    description: Some("Now with more dragons".to_owned()),
                    ..ArticleUpdate::default()
                },
            )
            .await
            .unwrap();
        let now = stamped.lock().unwrap().expect("update was called");
        assert!(now >= created_at, "{now} < {created_at}");
    }

    // ------------------------------------------------------------ delete

    #[tokio::test]
    async fn delete_by_someone_else_is_forbidden() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .articles
                .expect_find_ref()
                .returning(|_| Ok(Some(article_ref(10, "dragons", AUTHOR))));
            repos.articles.expect_delete().never();
        });
        let (_, service) = service(db);
        let error = service
            .delete(READER, "dragons".to_owned())
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::Forbidden("article")), "{error:?}");
    }

    #[tokio::test]
    async fn delete_by_the_author_deletes_the_article() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .articles
                .expect_find_ref()
                .with(eq(Slug::from_path("dragons")))
                .returning(|_| Ok(Some(article_ref(10, "dragons", AUTHOR))));
            repos
                .articles
                .expect_delete()
                .with(eq(ArticleId(10)))
                .times(1)
                .returning(|_| Ok(()));
        });
        let (db, service) = service(db);
        service.delete(AUTHOR, "dragons".to_owned()).await.unwrap();
        assert_eq!(db.writes(), 1);
        assert_eq!(
            db.events(),
            [DomainEvent::ArticleDeleted {
                article: ArticleId(10),
                author: AUTHOR,
                slug: "dragons".to_owned(),
            }]
        );
    }

    #[tokio::test]
    async fn delete_of_an_unknown_slug_is_not_found() {
        let db = FakeDb::new().writing(|repos| {
            repos.articles.expect_find_ref().returning(|_| Ok(None));
            repos.articles.expect_delete().never();
        });
        let (_, service) = service(db);
        let error = service
            .delete(AUTHOR, "nothing-here".to_owned())
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::NotFound("article")), "{error:?}");
    }

    // ------------------------------------------------------------ favorites

    /// An article by `AUTHOR` that `READER` has (or has not) favorited.
    fn favorite_repos(repos: &mut FakeRepos, favorited: bool) {
        repos
            .articles
            .expect_find_ref()
            .returning(|_| Ok(Some(article_ref(10, "dragons", AUTHOR))));
        repos.articles.expect_find_by_slug().returning(move |slug| {
            let mut record = record(10, slug.as_str(), AUTHOR);
            record.summary.favorites_count = i64::from(favorited);
            Ok(Some(record))
        });
        repos
            .articles
            .expect_favorited_among()
            .with(eq(READER), eq(vec![ArticleId(10)]))
            .times(1)
            .returning(move |_, ids| {
                Ok(if favorited {
                    ids.iter().copied().collect()
                } else {
                    HashSet::new()
                })
            });
        repos
            .follows
            .expect_following_among()
            .with(eq(READER), eq(vec![AUTHOR]))
            .times(1)
            .returning(|_, _| Ok(HashSet::from([AUTHOR])));
    }

    #[tokio::test]
    async fn favorite_records_the_favorite_and_reports_it() {
        let db = FakeDb::new().writing(|repos| {
            favorite_repos(repos, true);
            repos
                .articles
                .expect_favorite()
                .with(eq(READER), eq(ArticleId(10)), always())
                .times(1)
                .returning(|_, _, _| Ok(true));
        });
        let (db, service) = service(db);
        let view = service
            .favorite(READER, "dragons".to_owned())
            .await
            .unwrap();
        assert!(view.favorited);
        assert_eq!(view.article.summary.favorites_count, 1);
        assert!(view.author.following);
        assert_eq!(
            db.events(),
            [DomainEvent::ArticleFavorited {
                article: ArticleId(10),
                user: READER
            }]
        );
    }

    #[tokio::test]
    async fn favoriting_again_changes_nothing_and_records_nothing() {
        let db = FakeDb::new().writing(|repos| {
            favorite_repos(repos, true);
            repos
                .articles
                .expect_favorite()
                .times(1)
                .returning(|_, _, _| Ok(false));
        });
        let (db, service) = service(db);
        let view = service
            .favorite(READER, "dragons".to_owned())
            .await
            .unwrap();
        assert!(view.favorited);
        assert_eq!(db.events(), []);
    }

    #[tokio::test]
    async fn unfavorite_removes_the_favorite_and_reports_it() {
        let db = FakeDb::new().writing(|repos| {
            favorite_repos(repos, false);
            repos
                .articles
                .expect_unfavorite()
                .with(eq(READER), eq(ArticleId(10)))
                .times(1)
                .returning(|_, _| Ok(true));
        });
        let (db, service) = service(db);
        let view = service
            .unfavorite(READER, "dragons".to_owned())
            .await
            .unwrap();
        assert!(!view.favorited);
        assert_eq!(view.article.summary.favorites_count, 0);
        assert_eq!(
            db.events(),
            [DomainEvent::ArticleUnfavorited {
                article: ArticleId(10),
                user: READER
            }]
        );
    }

    #[tokio::test]
    async fn favorite_of_an_unknown_slug_is_not_found() {
        let db = FakeDb::new().writing(|repos| {
            repos.articles.expect_find_ref().returning(|_| Ok(None));
            repos.articles.expect_favorite().never();
        });
        let (_, service) = service(db);
        let error = service
            .favorite(READER, "nothing-here".to_owned())
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::NotFound("article")), "{error:?}");
    }

    // ------------------------------------------------------------ reading

    /// Three articles: two by `AUTHOR`, one by `UserId(3)`.
    fn page() -> Page<ArticleSummary> {
        Page {
            items: vec![
                summary(10, "a", AUTHOR),
                summary(11, "b", UserId(3)),
                summary(12, "c", AUTHOR),
            ],
            total: 42,
        }
    }

    #[tokio::test]
    async fn list_for_an_anonymous_viewer_asks_nothing_about_the_viewer() {
        let db = FakeDb::new().reading(|repos| {
            repos
                .articles
                .expect_list()
                .with(eq(ArticleFilter::default()), eq(Paging::default()))
                .times(1)
                .returning(|_, _| Ok(page()));
            repos.articles.expect_favorited_among().never();
            repos.follows.expect_following_among().never();
        });
        let (_, service) = service(db);
        let listed = service
            .list(None, ArticleFilter::default(), Paging::default())
            .await
            .unwrap();
        assert_eq!(listed.total, 42);
        assert_eq!(listed.items.len(), 3);
        assert!(
            listed
                .items
                .iter()
                .all(|view| !view.favorited && !view.author.following)
        );
    }

    #[tokio::test]
    async fn list_for_a_viewer_personalizes_with_one_query_each() {
        let filter = ArticleFilter {
            tag: Some("dragons".to_owned()),
            ..ArticleFilter::default()
        };
        let paging = Paging::new(Some(3), Some(6)).unwrap();
        let db = FakeDb::new().reading(move |repos| {
            repos
                .articles
                .expect_list()
                .with(eq(filter), eq(paging))
                .times(1)
                .returning(|_, _| Ok(page()));
            repos
                .articles
                .expect_favorited_among()
                .withf(|user, ids| {
                    *user == READER && ids == [ArticleId(10), ArticleId(11), ArticleId(12)]
                })
                .times(1)
                .returning(|_, _| Ok(HashSet::from([ArticleId(11)])));
            repos
                .follows
                .expect_following_among()
                .withf(|user, authors| *user == READER && authors == [AUTHOR, UserId(3)])
                .times(1)
                .returning(|_, _| Ok(HashSet::from([AUTHOR])));
        });
        let (_, service) = service(db);
        let listed = service
            .list(
                Some(READER),
                ArticleFilter {
                    tag: Some("dragons".to_owned()),
                    ..ArticleFilter::default()
                },
                paging,
            )
            .await
            .unwrap();
        let flags: Vec<_> = listed
            .items
            .iter()
            .map(|view| (view.favorited, view.author.following))
            .collect();
        assert_eq!(flags, [(false, true), (true, false), (false, true)]);
    }

    #[tokio::test]
    async fn list_by_the_viewer_alone_asks_nothing_about_following() {
        let db = FakeDb::new().reading(|repos| {
            repos.articles.expect_list().returning(|_, _| {
                Ok(Page {
                    items: vec![summary(10, "a", READER), summary(11, "b", READER)],
                    total: 2,
                })
            });
            repos
                .articles
                .expect_favorited_among()
                .times(1)
                .returning(|_, _| Ok(HashSet::new()));
            repos.follows.expect_following_among().never();
        });
        let (_, service) = service(db);
        let listed = service
            .list(Some(READER), ArticleFilter::default(), Paging::default())
            .await
            .unwrap();
        assert!(listed.items.iter().all(|view| !view.author.following));
    }

    #[tokio::test]
    async fn an_empty_list_asks_nothing_about_the_viewer() {
        let db = FakeDb::new().reading(|repos| {
            repos.articles.expect_list().returning(|_, _| {
                Ok(Page {
                    items: Vec::new(),
                    total: 0,
                })
            });
            repos.articles.expect_favorited_among().never();
            repos.follows.expect_following_among().never();
        });
        let (_, service) = service(db);
        let listed = service
            .list(Some(READER), ArticleFilter::default(), Paging::default())
            .await
            .unwrap();
        assert!(listed.items.is_empty());
    }

    #[tokio::test]
    async fn feed_lists_for_the_reader_and_personalizes_for_them() {
        let paging = Paging::new(Some(5), None).unwrap();
        let db = FakeDb::new().reading(move |repos| {
            repos
                .articles
                .expect_feed()
                .with(eq(READER), eq(paging))
                .times(1)
                .returning(|_, _| Ok(page()));
            repos
                .articles
                .expect_favorited_among()
                .with(eq(READER), always())
                .times(1)
                .returning(|_, _| Ok(HashSet::new()));
            repos
                .follows
                .expect_following_among()
                .with(eq(READER), always())
                .times(1)
                .returning(|_, authors| Ok(authors.iter().copied().collect()));
        });
        let (db, service) = service(db);
        let feed = service.feed(READER, paging).await.unwrap();
        assert_eq!(feed.total, 42);
        assert!(feed.items.iter().all(|view| view.author.following));
        assert_eq!(db.writes(), 0);
    }

    #[tokio::test]
    async fn get_of_an_unknown_slug_is_not_found() {
        let db = FakeDb::new().reading(|repos| {
            repos.articles.expect_find_by_slug().returning(|_| Ok(None));
        });
        let (_, service) = service(db);
        let error = service
            .get(None, "nothing-here".to_owned())
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::NotFound("article")), "{error:?}");
    }
}
