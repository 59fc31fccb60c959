#!/usr/bin/env python3
"""Prints the query plans of the statements behind the read scenarios.

    bench/explain.py sqlite:///path/to/conduit.db
    bench/explain.py postgres://postgres@127.0.0.1:5432/conduit_bench_...

The statements are the ones Conduit issues (as logged with
CONDUIT_LOG=conduit::sql=debug), with representative binds looked up in the
database: a popular tag, a prolific author, a user who favorites and follows.
SQLite plans come from EXPLAIN QUERY PLAN, PostgreSQL plans from
EXPLAIN (ANALYZE, BUFFERS OFF, TIMING OFF, COSTS OFF).
"""

import subprocess
import sys

STATEMENTS = [
    ("list: total (no filter)", "SELECT value FROM counters WHERE name = 'articles'"),
    ("list: page ids (no filter)", "SELECT id FROM articles ORDER BY id DESC LIMIT 20 OFFSET 0"),
    ("list: rows of the page", "SELECT a.id, a.slug, a.title, a.description, a.favorites_count, a.created_at, "
     "a.updated_at, u.id, u.username, u.bio, u.image FROM articles a INNER JOIN users u ON a.author_id = u.id "
     "WHERE a.id IN ({page})"),
    ("list: tags of the page", "SELECT at.article_id, t.name FROM article_tags at INNER JOIN tags t "
     "ON at.tag_id = t.id WHERE at.article_id IN ({page})"),
    ("tag filter: resolve", "SELECT id FROM tags WHERE name = '{tag_name}' LIMIT 1"),
    ("tag filter: total", "SELECT articles_count FROM tags WHERE id = {tag} LIMIT 1"),
    ("tag filter: page ids", "SELECT at.article_id FROM article_tags at INNER JOIN articles a "
     "ON at.article_id = a.id WHERE at.tag_id = {tag} ORDER BY at.article_id DESC LIMIT 20 OFFSET 0"),
    ("author filter: resolve", "SELECT id FROM users WHERE username_key = '{author_name}' LIMIT 1"),
    ("author filter: total", "SELECT articles_count FROM users WHERE id = {author} LIMIT 1"),
    ("author filter: page ids", "SELECT id FROM articles WHERE author_id = {author} ORDER BY id DESC LIMIT 20 OFFSET 0"),
    ("favorited filter: total", "SELECT COUNT(*) FROM favorites f INNER JOIN articles a ON f.article_id = a.id "
     "WHERE f.user_id = {fan}"),
    ("favorited filter: page ids", "SELECT f.article_id FROM favorites f INNER JOIN articles a "
     "ON f.article_id = a.id WHERE f.user_id = {fan} ORDER BY f.article_id DESC LIMIT 20 OFFSET 0"),
    ("tag + author: total", "SELECT COUNT(*) FROM article_tags at INNER JOIN articles a ON at.article_id = a.id "
     "WHERE at.tag_id = {tag} AND a.author_id = {author}"),
    ("tag + author: page ids", "SELECT at.article_id FROM article_tags at INNER JOIN articles a "
     "ON at.article_id = a.id WHERE at.tag_id = {tag} AND a.author_id = {author} "
     "ORDER BY at.article_id DESC LIMIT 20 OFFSET 0"),
    ("feed: total", "SELECT articles_count FROM users WHERE id IN "
     "(SELECT followee_id FROM follows WHERE follower_id = {reader})"),
    ("feed: page ids", "SELECT id FROM articles WHERE author_id IN "
     "(SELECT followee_id FROM follows WHERE follower_id = {reader}) ORDER BY id DESC LIMIT 20 OFFSET 0"),
    ("viewer: favorited among", "SELECT article_id FROM favorites WHERE user_id = {reader} AND article_id IN ({page})"),
    ("viewer: following among", "SELECT followee_id FROM follows WHERE follower_id = {reader} "
     "AND followee_id IN ({author}, {fan})"),
    ("authentication: user exists", "SELECT EXISTS (SELECT id FROM users WHERE id = {reader})"),
    ("one article by slug", "SELECT a.id, a.body, u.username FROM articles a INNER JOIN users u "
     "ON a.author_id = u.id WHERE a.slug = '{slug}' LIMIT 1"),
    ("tags in use", "SELECT articles_count, name FROM tags WHERE articles_count > 0"),
    ("profile by name", "SELECT id, username, bio, image FROM users WHERE username_key = '{author_name}' LIMIT 1"),
    ("profile: is following", "SELECT EXISTS (SELECT 1 FROM follows WHERE follower_id = {reader} "
     "AND followee_id = {author})"),
    ("comments of an article", "SELECT c.id, c.body, u.username FROM comments c INNER JOIN users u "
     "ON c.author_id = u.id WHERE c.article_id = {commented} ORDER BY c.id ASC"),
]

BINDS = {
    "tag": "SELECT id FROM tags ORDER BY articles_count DESC, name LIMIT 1",
    "tag_name": "SELECT name FROM tags ORDER BY articles_count DESC, name LIMIT 1",
    "author": "SELECT id FROM users ORDER BY articles_count DESC, id LIMIT 1",
    "author_name": "SELECT username_key FROM users ORDER BY articles_count DESC, id LIMIT 1",
    "fan": "SELECT user_id FROM favorites GROUP BY user_id ORDER BY COUNT(*) DESC, user_id LIMIT 1",
    "reader": "SELECT follower_id FROM follows GROUP BY follower_id ORDER BY COUNT(*) DESC, follower_id LIMIT 1",
    "slug": "SELECT slug FROM articles ORDER BY id LIMIT 1",
    "commented": "SELECT article_id FROM comments GROUP BY article_id ORDER BY COUNT(*) DESC LIMIT 1",
    "page": "SELECT id FROM articles ORDER BY id DESC LIMIT 20",
}


def main() -> None:
    url = sys.argv[1]
    if url.startswith(("postgres://", "postgresql://")):
        def query(sql):
            out = subprocess.run(["psql", url, "-At", "-c", sql], check=True,
                                 capture_output=True, text=True).stdout
            return [line.split("|") for line in out.splitlines() if line]

        def plan(sql):
            return [row[0] for row in query(
                "EXPLAIN (ANALYZE, BUFFERS OFF, TIMING OFF, COSTS OFF, SUMMARY OFF) " + sql)]
    else:
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite://"))

        def query(sql):
            return [list(map(str, row)) for row in conn.execute(sql)]

        def plan(sql):
            return ["  " * 0 + row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]

    binds = {}
    for name, sql in BINDS.items():
        rows = query(sql)
        binds[name] = ", ".join(row[0] for row in rows) if name == "page" else rows[0][0]
    print(f"articles: {query('SELECT COUNT(*) FROM articles')[0][0]}")
    for title, sql in STATEMENTS:
        statement = sql.format(**binds)
        print(f"\n-- {title}")
        for line in plan(statement):
            print(f"   {line}")


if __name__ == "__main__":
    main()
