use conduit_application::error::RepoError;
use conduit_application::ports::TagRepository;
use conduit_domain::{ArticleId, TagList};
use diesel::prelude::*;

use crate::db::errors::OrRepoError;
use crate::db::schema::{article_tags, tags};
use crate::db::{DbConnection, DieselUow, per_backend};

/// Makes `wanted` the tags of `article`, touching only the links that change
/// and keeping each tag's `articles_count` in step.
fn replace_for_article(conn: &mut DbConnection, article: i64, wanted: &TagList) -> QueryResult<()> {
    let current: Vec<(i64, String)> = article_tags::table
        .inner_join(tags::table)
        .filter(article_tags::article_id.eq(article))
        .select((tags::id, tags::name))
        .load(conn)?;

    let removed: Vec<i64> = current
        .iter()
        .filter(|(_, name)| !wanted.iter().any(|tag| tag.as_str() == name))
        .map(|(id, _)| *id)
        .collect();
    if !removed.is_empty() {
        diesel::delete(
            article_tags::table
                .filter(article_tags::article_id.eq(article))
                .filter(article_tags::tag_id.eq_any(&removed)),
        )
        .execute(conn)?;
        diesel::update(tags::table.filter(tags::id.eq_any(&removed)))
            .set(tags::articles_count.eq(tags::articles_count - 1))
            .execute(conn)?;
    }

    let added: Vec<&str> = wanted
        .iter()
        .map(|tag| tag.as_str())
        .filter(|tag| !current.iter().any(|(_, name)| name == tag))
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    let new_tags: Vec<_> = added.iter().map(|name| tags::name.eq(*name)).collect();
    per_backend!(conn, |conn| diesel::insert_into(tags::table)
        .values(&new_tags)
        .on_conflict_do_nothing()
        .execute(conn))?;
    let added_ids: Vec<i64> = tags::table
        .filter(tags::name.eq_any(&added))
        .select(tags::id)
        .load(conn)?;
    let links: Vec<_> = added_ids
        .iter()
        .map(|tag_id| {
            (
                article_tags::article_id.eq(article),
                article_tags::tag_id.eq(*tag_id),
            )
        })
        .collect();
    per_backend!(conn, |conn| diesel::insert_into(article_tags::table)
        .values(&links)
        .execute(conn))?;
    diesel::update(tags::table.filter(tags::id.eq_any(&added_ids)))
        .set(tags::articles_count.eq(tags::articles_count + 1))
        .execute(conn)?;
    Ok(())
}

impl TagRepository for DieselUow<'_> {
    fn replace_for_article(&mut self, article: ArticleId, tags: &TagList) -> Result<(), RepoError> {
        replace_for_article(self.conn, article.0, tags).or_repo_error()
    }

    fn in_use(&mut self) -> Result<Vec<String>, RepoError> {
        let mut tags: Vec<(i64, String)> = tags::table
            .filter(tags::articles_count.gt(0))
            .select((tags::articles_count, tags::name))
            .load(self.conn)
            .or_repo_error()?;
        // Ties are broken by code point here, not by the database's collation.
        tags.sort_unstable_by(|(count_a, name_a), (count_b, name_b)| {
            count_b.cmp(count_a).then_with(|| name_a.cmp(name_b))
        });
        Ok(tags.into_iter().map(|(_, name)| name).collect())
    }
}
