//! A list page costs the same number of SQL statements whatever its size: no
//! query per article, per author or per tag (the N+1 pattern).
//!
//! Each test counts the statements of one `ArticleService::list` (or `feed`)
//! unit of work with a viewer, so the count includes `favorited_among` and
//! `following_among`, once when the page holds one article and once when it
//! holds twenty articles by twenty authors with tags, favorites and follows.
//! Statements are counted by the instrumentation that
//! `DbSettings::query_counter` installs on every pooled connection.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failed step must fail the test loudly"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use conduit_application::articles::{ArticleService, ArticleUseCases};
use conduit_application::ports::{ArticleFilter, Database, NewArticle};
use conduit_application::views::{ArticleSummary, ArticleView, Page};
use conduit_domain::{Paging, UserId, Username};
use conduit_infrastructure::db::{DbSettings, DieselDatabase};
use conduit_infrastructure::testing::{TestDatabase, at, new_article, new_user, tag_list};

/// Which page is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listing {
    Everything,
    ByTag,
    ByAuthor,
    FavoritedByFan,
    Feed,
}

struct World {
    db: Arc<DieselDatabase>,
    queries: Arc<AtomicUsize>,
    viewer: UserId,
    articles: i64,
    _test_db: TestDatabase,
}

impl World {
    /// A migrated database whose connections count their statements, with a
    /// viewer (who will follow every author and favorite every other article)
    /// and a fan (who will favorite every article).
    async fn new() -> Self {
        let test_db = TestDatabase::new();
        let queries = Arc::new(AtomicUsize::new(0));
        let settings = DbSettings {
            query_counter: Some(Arc::clone(&queries)),
            ..test_db.settings()
        };
        let db = Arc::new(test_db.open(settings).await);
        let viewer = db
            .write(|uow| {
                uow.users().insert(&new_user("fan"))?;
                Ok(uow.users().insert(&new_user("viewer"))?.id)
            })
            .await
            .unwrap()
            .value;
        Self {
            db,
            queries,
            viewer,
            articles: 0,
            _test_db: test_db,
        }
    }

    /// Adds articles until there are `total`. Article `n` is by `author-n`,
    /// or by `solo` for the author listing; it carries the tag `common` and
    /// two more; the fan favorites it, the viewer favorites it when `n` is
    /// odd and follows its author.
    async fn seed_until(&mut self, total: i64, listing: Listing) {
        let viewer = self.viewer;
        let from = self.articles + 1;
        self.db
            .write(move |uow| {
                let fan = uow
                    .users()
                    .find_by_username(&Username::parse("fan").unwrap())?
                    .unwrap()
                    .id;
                for n in from..=total {
                    let name = if listing == Listing::ByAuthor {
                        "solo".to_owned()
                    } else {
                        format!("author-{n}")
                    };
                    let author = match uow
                        .users()
                        .find_by_username(&Username::parse(name.as_str()).unwrap())?
                    {
                        Some(author) => author.id,
                        None => uow.users().insert(&new_user(&name))?.id,
                    };
                    let id = uow.articles().insert(&NewArticle {
                        now: at(n),
                        ..new_article(&format!("article-{n}"), author)
                    })?;
                    uow.tags().replace_for_article(
                        id,
                        &tag_list(&["common", &format!("tag-{n}"), &format!("group-{}", n % 3)]),
                    )?;
                    uow.articles().favorite(fan, id, at(n))?;
                    if n % 2 == 1 {
                        uow.articles().favorite(viewer, id, at(n))?;
                    }
                    uow.follows().follow(viewer, author, at(n))?;
                }
                Ok(())
            })
            .await
            .unwrap();
        self.articles = total;
    }

    /// The page the application serves for `listing`, and how many SQL
    /// statements it cost.
    async fn measure(&self, listing: Listing) -> (usize, Page<ArticleView<ArticleSummary>>) {
        let service = ArticleService::new(Arc::clone(&self.db));
        let filter = match listing {
            Listing::Everything | Listing::Feed => ArticleFilter::default(),
            Listing::ByTag => ArticleFilter {
                tag: Some("common".to_owned()),
                ..ArticleFilter::default()
            },
            Listing::ByAuthor => ArticleFilter {
                author: Some("solo".to_owned()),
                ..ArticleFilter::default()
            },
            Listing::FavoritedByFan => ArticleFilter {
                favorited_by: Some("fan".to_owned()),
                ..ArticleFilter::default()
            },
        };
        let paging = Paging::new(Some(20), None).unwrap();
        let before = self.queries.load(Ordering::SeqCst);
        let page = match listing {
            Listing::Feed => service.feed(self.viewer, paging).await,
            _ => service.list(Some(self.viewer), filter, paging).await,
        }
        .unwrap();
        (
            self.queries.load(Ordering::SeqCst) - before,
            std::sync::Arc::unwrap_or_clone(page),
        )
    }
}

/// Measures `listing` with one article, then with twenty, and checks that
/// both pages cost the same.
async fn assert_constant_cost(listing: Listing) {
    let mut world = World::new().await;

    world.seed_until(1, listing).await;
    let (one, page) = world.measure(listing).await;
    assert_eq!((page.items.len(), page.total), (1, 1), "{listing:?}");
    world.seed_until(20, listing).await;
    let (twenty, page) = world.measure(listing).await;

    println!("{listing:?}: a page of 1 article costs {one} queries, a page of 20 costs {twenty}");
    assert_eq!((page.items.len(), page.total), (20, 20), "{listing:?}");
    // The page was really personalized and joined: not a vacuous comparison.
    assert!(page.items.iter().all(|item| item.author.following));
    assert_eq!(page.items.iter().filter(|item| item.favorited).count(), 10);
    assert!(page.items.iter().all(|item| item.article.tags.len() == 3));
    assert!(
        one > 0,
        "no statement was counted: is the query counter installed?"
    );
    assert_eq!(
        one, twenty,
        "{listing:?}: a page of 20 articles must cost as many queries as a page of 1"
    );
}

#[tokio::test]
async fn a_page_of_all_articles_costs_as_many_queries_for_twenty_articles_as_for_one() {
    assert_constant_cost(Listing::Everything).await;
}

#[tokio::test]
async fn a_page_filtered_by_tag_costs_as_many_queries_for_twenty_articles_as_for_one() {
    assert_constant_cost(Listing::ByTag).await;
}

#[tokio::test]
async fn a_page_filtered_by_author_costs_as_many_queries_for_twenty_articles_as_for_one() {
    assert_constant_cost(Listing::ByAuthor).await;
}

#[tokio::test]
async fn a_page_filtered_by_favoriter_costs_as_many_queries_for_twenty_articles_as_for_one() {
    assert_constant_cost(Listing::FavoritedByFan).await;
}

#[tokio::test]
async fn a_feed_page_costs_as_many_queries_for_twenty_articles_as_for_one() {
    assert_constant_cost(Listing::Feed).await;
}
