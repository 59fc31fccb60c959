use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use conduit_application::error::RepoError;
use conduit_application::ports::{ArticleChanges, ArticleFilter, ArticleRepository, NewArticle};
use conduit_application::views::{ArticleRecord, ArticleRef, ArticleSummary, Page};
use conduit_domain::{ArticleId, Paging, Slug, UserId};
use diesel::prelude::*;

use crate::db::errors::OrRepoError;
use crate::db::rows::{ArticleChangesRow, ArticleSummaryRow, AuthorRow, NewArticleRow, utc};
use crate::db::schema::{article_tags, articles, counters, favorites, follows, tags, users};
use crate::db::{DbConnection, DieselUow, MultiBackend, per_backend};

/// List filters resolved to ids: `None` fields do not filter.
#[derive(Default)]
struct ResolvedFilter {
    tag_id: Option<i64>,
    author_id: Option<i64>,
    favorited_by: Option<i64>,
    /// Feed: only articles by authors this user follows.
    followed_by: Option<i64>,
}

impl ResolvedFilter {
    /// Resolves tag and user names to ids, one indexed look-up each. `None`
    /// when a name matches nothing, so the list is empty without more queries.
    fn resolve(conn: &mut DbConnection, filter: &ArticleFilter) -> QueryResult<Option<Self>> {
        let mut resolved = Self::default();
        if let Some(tag) = &filter.tag {
            match tags::table
                .filter(tags::name.eq(tag))
                .select(tags::id)
                .first::<i64>(conn)
                .optional()?
            {
                Some(id) => resolved.tag_id = Some(id),
                None => return Ok(None),
            }
        }
        for (name, slot) in [
            (&filter.author, &mut resolved.author_id),
            (&filter.favorited_by, &mut resolved.favorited_by),
        ] {
            if let Some(name) = name {
                match users::table
                    .filter(users::username_key.eq(name.to_ascii_lowercase()))
                    .select(users::id)
                    .first::<i64>(conn)
                    .optional()?
                {
                    Some(id) => *slot = Some(id),
                    None => return Ok(None),
                }
            }
        }
        Ok(Some(resolved))
    }
}

/// The row of `counters` that counts every article.
const ARTICLES_COUNTER: &str = "articles";

/// Runs `$finish` on the query of the articles matching `$filter`, built
/// from the table whose index serves it best: `article_tags (tag_id,
/// article_id)` for a tag, `favorites (user_id, article_id)` for a user's
/// favorites, otherwise `articles` (primary key or `(author_id, id)`).
/// `$order` is the article id column of the driving table, newest first.
macro_rules! with_matching {
    ($filter:expr, |$query:ident, $order:ident| $finish:expr) => {{
        let filter: &ResolvedFilter = $filter;
        macro_rules! narrow {
            ($boxed:ident) => {
                if let Some(author_id) = filter.author_id {
                    $boxed = $boxed.filter(articles::author_id.eq(author_id));
                }
                if let Some(reader) = filter.followed_by {
                    $boxed = $boxed.filter(
                        articles::author_id.eq_any(
                            follows::table
                                .filter(follows::follower_id.eq(reader))
                                .select(follows::followee_id),
                        ),
                    );
                }
            };
        }
        if let Some(tag_id) = filter.tag_id {
            let mut $query = article_tags::table
                .inner_join(articles::table)
                .filter(article_tags::tag_id.eq(tag_id))
                .into_boxed::<MultiBackend>();
            narrow!($query);
            if let Some(user_id) = filter.favorited_by {
                $query = $query.filter(
                    articles::id.eq_any(
                        favorites::table
                            .filter(favorites::user_id.eq(user_id))
                            .select(favorites::article_id),
                    ),
                );
            }
            let $order = article_tags::article_id;
            $finish
        } else if let Some(user_id) = filter.favorited_by {
            let mut $query = favorites::table
                .inner_join(articles::table)
                .filter(favorites::user_id.eq(user_id))
                .into_boxed::<MultiBackend>();
            narrow!($query);
            let $order = favorites::article_id;
            $finish
        } else {
            let mut $query = articles::table.into_boxed::<MultiBackend>();
            narrow!($query);
            let $order = articles::id;
            $finish
        }
    }};
}

impl ResolvedFilter {
    fn is_only(&self, tag: bool, author: bool, favorited: bool, followed: bool) -> bool {
        self.tag_id.is_some() == tag
            && self.author_id.is_some() == author
            && self.favorited_by.is_some() == favorited
            && self.followed_by.is_some() == followed
    }

    /// How many articles match, from a maintained counter where one exists
    /// (no filter, one tag, one author, the feed), else by counting index entries.
    fn total(&self, conn: &mut DbConnection) -> QueryResult<i64> {
        if self.is_only(false, false, false, false) {
            return counters::table
                .find(ARTICLES_COUNTER)
                .select(counters::value)
                .first(conn);
        }
        if let (Some(tag_id), true) = (self.tag_id, self.is_only(true, false, false, false)) {
            return tags::table
                .find(tag_id)
                .select(tags::articles_count)
                .first(conn);
        }
        if let (Some(author_id), true) = (self.author_id, self.is_only(false, true, false, false)) {
            return users::table
                .find(author_id)
                .select(users::articles_count)
                .first(conn);
        }
        if let (Some(reader), true) = (self.followed_by, self.is_only(false, false, false, true)) {
            let counts: Vec<i64> = users::table
                .filter(
                    users::id.eq_any(
                        follows::table
                            .filter(follows::follower_id.eq(reader))
                            .select(follows::followee_id),
                    ),
                )
                .select(users::articles_count)
                .load(conn)?;
            return Ok(counts.into_iter().sum());
        }
        with_matching!(self, |query, _order| query.count().get_result(conn))
    }

    /// The ids of one page, newest first, read from an index only.
    fn page_ids(&self, conn: &mut DbConnection, paging: Paging) -> QueryResult<Vec<i64>> {
        let (limit, offset) = sql_bounds(paging);
        with_matching!(self, |query, order| query
            .select(order)
            .order(order.desc())
            .limit(limit)
            .offset(offset)
            .load(conn))
    }
}

/// Page bounds as SQL integers. `Paging` caps both far below `i64::MAX`.
fn sql_bounds(paging: Paging) -> (i64, i64) {
    (
        i64::from(paging.limit()),
        i64::try_from(paging.offset()).unwrap_or(i64::MAX),
    )
}

/// The tags of each article, in one query, alphabetical (by code point) per article.
fn tags_of(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<HashMap<i64, Vec<String>>> {
    let mut by_article: HashMap<i64, Vec<String>> = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(by_article);
    }
    let rows = article_tags::table
        .inner_join(tags::table)
        .filter(article_tags::article_id.eq_any(ids))
        .select((article_tags::article_id, tags::name))
        .load::<(i64, String)>(conn)?;
    for (article_id, name) in rows {
        by_article.entry(article_id).or_default().push(name);
    }
    // Sorted here, by code point, rather than by the database's collation,
    // which differs between servers.
    for names in by_article.values_mut() {
        names.sort_unstable();
    }
    Ok(by_article)
}

fn summary(row: ArticleSummaryRow, author: AuthorRow, tags: Vec<String>) -> ArticleSummary {
    ArticleSummary {
        id: ArticleId(row.id),
        slug: row.slug,
        title: row.title,
        description: row.description,
        tags,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
        favorites_count: row.favorites_count,
        author: author.into(),
    }
}

/// One page of articles: the total (usually a counter), the page's ids from
/// an index, the rows joined with their authors, and the tags of all of
/// them. Four queries whatever the page size, and none that reads more rows
/// than it returns (but for deep offsets, which must skip what they pass).
fn page(
    conn: &mut DbConnection,
    filter: &ResolvedFilter,
    paging: Paging,
) -> QueryResult<Page<ArticleSummary>> {
    let total = u64::try_from(filter.total(conn)?).unwrap_or_default();
    if total == 0 || paging.offset() >= total {
        return Ok(Page {
            items: Vec::new(),
            total,
        });
    }
    let ids = filter.page_ids(conn, paging)?;
    if ids.is_empty() {
        return Ok(Page {
            items: Vec::new(),
            total,
        });
    }
    let mut rows = articles::table
        .inner_join(users::table)
        .filter(articles::id.eq_any(&ids))
        .select((ArticleSummaryRow::as_select(), AuthorRow::as_select()))
        .load::<(ArticleSummaryRow, AuthorRow)>(conn)?;
    rows.sort_unstable_by_key(|(article, _)| std::cmp::Reverse(article.id));
    let mut tags = tags_of(conn, &ids)?;
    let items = rows
        .into_iter()
        .map(|(article, author)| {
            let article_tags = tags.remove(&article.id).unwrap_or_default();
            summary(article, author, article_tags)
        })
        .collect();
    Ok(Page { items, total })
}

fn find_by_slug(conn: &mut DbConnection, slug: &str) -> QueryResult<Option<ArticleRecord>> {
    let Some((row, body, author)) = articles::table
        .inner_join(users::table)
        .filter(articles::slug.eq(slug))
        .select((
            ArticleSummaryRow::as_select(),
            articles::body,
            AuthorRow::as_select(),
        ))
        .first::<(ArticleSummaryRow, String, AuthorRow)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let tags = tags_of(conn, &[row.id])?
        .remove(&row.id)
        .unwrap_or_default();
    Ok(Some(ArticleRecord {
        summary: summary(row, author, tags),
        body,
    }))
}

/// Counts a new (`+1`) or deleted (`-1`) article by `author_id`.
fn count_article(conn: &mut DbConnection, author_id: i64, change: i64) -> QueryResult<()> {
    diesel::update(users::table.find(author_id))
        .set(users::articles_count.eq(users::articles_count + change))
        .execute(conn)?;
    diesel::update(counters::table.find(ARTICLES_COUNTER))
        .set(counters::value.eq(counters::value + change))
        .execute(conn)?;
    Ok(())
}

fn delete(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
    let Some(author_id) = articles::table
        .find(id)
        .select(articles::author_id)
        .first::<i64>(conn)
        .optional()?
    else {
        return Ok(());
    };
    count_article(conn, author_id, -1)?;
    // The links go by cascade; the counters they feed are kept here.
    diesel::update(
        tags::table.filter(
            tags::id.eq_any(
                article_tags::table
                    .filter(article_tags::article_id.eq(id))
                    .select(article_tags::tag_id),
            ),
        ),
    )
    .set(tags::articles_count.eq(tags::articles_count - 1))
    .execute(conn)?;
    diesel::delete(articles::table.find(id)).execute(conn)?;
    Ok(())
}

fn favorite(
    conn: &mut DbConnection,
    user: i64,
    article: i64,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let row = (
        favorites::user_id.eq(user),
        favorites::article_id.eq(article),
        favorites::created_at.eq(now.naive_utc()),
    );
    let inserted = per_backend!(conn, |conn| diesel::insert_into(favorites::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(conn))?;
    if inserted > 0 {
        diesel::update(articles::table.find(article))
            .set(articles::favorites_count.eq(articles::favorites_count + 1))
            .execute(conn)?;
    }
    Ok(inserted > 0)
}

fn unfavorite(conn: &mut DbConnection, user: i64, article: i64) -> QueryResult<bool> {
    let deleted = diesel::delete(favorites::table.find((user, article))).execute(conn)?;
    if deleted > 0 {
        diesel::update(articles::table.find(article))
            .set(articles::favorites_count.eq(articles::favorites_count - 1))
            .execute(conn)?;
    }
    Ok(deleted > 0)
}

impl ArticleRepository for DieselUow<'_> {
    fn slug_exists(&mut self, slug: &Slug) -> Result<bool, RepoError> {
        diesel::select(diesel::dsl::exists(
            articles::table.filter(articles::slug.eq(slug.as_str())),
        ))
        .get_result(self.conn)
        .or_repo_error()
    }

    fn insert(&mut self, article: &NewArticle) -> Result<ArticleId, RepoError> {
        let now = article.now.naive_utc();
        let id = diesel::insert_into(articles::table)
            .values(NewArticleRow {
                slug: article.slug.as_str(),
                title: &article.title,
                description: &article.description,
                body: &article.body,
                author_id: article.author_id.0,
                favorites_count: 0,
                created_at: now,
                updated_at: now,
            })
            .returning(articles::id)
            .get_result::<i64>(self.conn)
            .or_repo_error()?;
        count_article(self.conn, article.author_id.0, 1).or_repo_error()?;
        Ok(ArticleId(id))
    }

    fn find_ref(&mut self, slug: &Slug) -> Result<Option<ArticleRef>, RepoError> {
        articles::table
            .filter(articles::slug.eq(slug.as_str()))
            .select((articles::id, articles::author_id, articles::slug))
            .first::<(i64, i64, String)>(self.conn)
            .optional()
            .or_repo_error()
            .map(|found| {
                found.map(|(id, author_id, slug)| ArticleRef {
                    id: ArticleId(id),
                    author_id: UserId(author_id),
                    slug,
                })
            })
    }

    fn find_by_slug(&mut self, slug: &Slug) -> Result<Option<ArticleRecord>, RepoError> {
        find_by_slug(self.conn, slug.as_str()).or_repo_error()
    }

    fn find_by_id(&mut self, id: ArticleId) -> Result<Option<ArticleRecord>, RepoError> {
        let slug = articles::table
            .find(id.0)
            .select(articles::slug)
            .first::<String>(self.conn)
            .optional()
            .or_repo_error()?;
        match slug {
            Some(slug) => find_by_slug(self.conn, &slug).or_repo_error(),
            None => Ok(None),
        }
    }

    fn update(
        &mut self,
        id: ArticleId,
        changes: &ArticleChanges,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        diesel::update(articles::table.find(id.0))
            .set(ArticleChangesRow {
                slug: changes.slug.as_ref().map(Slug::as_str),
                title: changes.title.as_deref(),
                description: changes.description.as_deref(),
                body: changes.body.as_deref(),
                updated_at: now.naive_utc(),
            })
            .execute(self.conn)
            .or_repo_error()?;
        Ok(())
    }

    fn delete(&mut self, id: ArticleId) -> Result<(), RepoError> {
        delete(self.conn, id.0).or_repo_error()
    }

    fn list(
        &mut self,
        filter: &ArticleFilter,
        paging: Paging,
    ) -> Result<Page<ArticleSummary>, RepoError> {
        match ResolvedFilter::resolve(self.conn, filter).or_repo_error()? {
            Some(resolved) => page(self.conn, &resolved, paging).or_repo_error(),
            None => Ok(Page {
                items: Vec::new(),
                total: 0,
            }),
        }
    }

    fn feed(&mut self, reader: UserId, paging: Paging) -> Result<Page<ArticleSummary>, RepoError> {
        let filter = ResolvedFilter {
            followed_by: Some(reader.0),
            ..ResolvedFilter::default()
        };
        page(self.conn, &filter, paging).or_repo_error()
    }

    fn favorite(
        &mut self,
        user: UserId,
        article: ArticleId,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        favorite(self.conn, user.0, article.0, now).or_repo_error()
    }

    fn unfavorite(&mut self, user: UserId, article: ArticleId) -> Result<bool, RepoError> {
        unfavorite(self.conn, user.0, article.0).or_repo_error()
    }

    fn favorited_among(
        &mut self,
        user: UserId,
        candidates: &[ArticleId],
    ) -> Result<HashSet<ArticleId>, RepoError> {
        if candidates.is_empty() {
            return Ok(HashSet::new());
        }
        favorites::table
            .filter(favorites::user_id.eq(user.0))
            .filter(favorites::article_id.eq_any(candidates.iter().map(|id| id.0)))
            .select(favorites::article_id)
            .load::<i64>(self.conn)
            .or_repo_error()
            .map(|ids| ids.into_iter().map(ArticleId).collect())
    }
}
