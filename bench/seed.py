#!/usr/bin/env python3
"""Seeds a Conduit server with a realistic data set for the load benchmark.

Python 3 standard library only. Two sub-commands:

  seed.py api BASE_URL OUT.json [--users 200] [--articles-per-user 10] ...
      Creates everything THROUGH THE PUBLIC API (so every row is exactly what
      the application itself writes): users, articles with 1-4 tags out of
      tag-00..tag-19, 2-3 comments per article, ~10 follows and ~20 favorites
      per user. Writes OUT.json with what the scenarios need (tokens,
      credentials, usernames, slugs).

  seed.py bulk DATABASE_URL COUNT
      Additionally inserts COUNT articles straight into the database (the
      server must be stopped: it may cache what it read). SQLite through
      Python's sqlite3 module, PostgreSQL through psql. Each article gets 1-3
      of the existing tags, an author among the existing users (round robin),
      ids and created_at strictly increasing after the existing articles and a
      unique slug; a quarter of them get one favorite. favorites_count,
      tags.articles_count, users.articles_count and the article counter are
      kept consistent with the rows they count.

Everything random comes from a fixed seed, so two runs seed the same data.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

TAG_COUNT = 20
PASSWORD = "bench-password"  # every seeded user's password (8+ characters)

WORDS = (
    "rust actix diesel sqlite postgres async await future trait borrow lifetime "
    "ownership closure iterator vector string slice module crate cargo test "
    "benchmark latency throughput request response server client database index "
    "query transaction commit rollback cache memory thread worker pool socket "
    "dragon castle river mountain forest garden winter summer morning evening"
).split()


# --------------------------------------------------------------------------
# A tiny keep-alive JSON client: one http.client connection per thread.
# --------------------------------------------------------------------------


class Api:
    def __init__(self, base_url: str):
        parsed = urllib.parse.urlsplit(base_url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 80
        self.prefix = parsed.path.rstrip("/")
        self.local = threading.local()
        self.requests = 0
        self.lock = threading.Lock()

    def _connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.local.conn = conn
        return conn

    def call(self, method: str, path: str, body=None, token: str | None = None,
             ok=(200, 201)) -> tuple[int, dict]:
        """Sends one request; returns (status, parsed JSON). Raises on a
        status outside `ok`."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Token {token}"
        # The server closes idle keep-alive connections after a few seconds:
        # a request on such a connection never reached it, so one retry on a
        # fresh connection is safe even for a POST.
        for attempt in (0, 1):
            conn = self._connection(fresh=attempt > 0)
            try:
                conn.request(method, self.prefix + path, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                if attempt:
                    raise
        with self.lock:
            self.requests += 1
        parsed = json.loads(raw) if raw else {}
        if response.status not in ok:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}: {raw[:300]!r}")
        return response.status, parsed


def run_parallel(threads: int, function, items, label: str):
    """Runs function(item) for every item on a thread pool; returns the
    results in order and prints how long it took."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(function, items))
    print(f"seed: {label}: {len(results)} in {time.monotonic() - started:.1f}s",
          file=sys.stderr)
    return results


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize()


# --------------------------------------------------------------------------
# api: seeding through the public API
# --------------------------------------------------------------------------


def seed_api(args) -> None:
    api = Api(args.base_url)
    rng = random.Random(args.seed)
    started = time.monotonic()
    tags = [f"tag-{i:02d}" for i in range(TAG_COUNT)]

    # 1. Users. A rerun on the same database logs the existing ones in.
    def register(i: int) -> dict:
        user = {"username": f"bench{i:03d}", "email": f"bench{i:03d}@example.com",
                "password": PASSWORD}
        status, body = api.call("POST", "/api/users", {"user": user}, ok=(200, 201, 422))
        if status == 422:
            _, body = api.call("POST", "/api/users/login", {
                "user": {"email": user["email"], "password": PASSWORD}})
        user["token"] = body["user"]["token"]
        return user

    users = run_parallel(args.threads, register, range(args.users), "users")

    # 2. Articles, interleaved between authors so that ids mix authors the way
    # real traffic does. Parameters are drawn up front (deterministic).
    article_specs = []
    for j in range(args.articles_per_user):
        for i in range(args.users):
            article_specs.append({
                "author": i,
                "title": f"Bench {i:03d}-{j:02d} {sentence(rng, 5)}",
                "description": sentence(rng, 12),
                # Bodies of 0.5-3 KB of words, in paragraphs.
                "body": "\n\n".join(sentence(rng, rng.randint(20, 60))
                                    for _ in range(rng.randint(2, 6))),
                "tagList": rng.sample(tags, rng.randint(1, 4)),
            })

    def create_article(spec: dict) -> str:
        article = {k: spec[k] for k in ("title", "description", "body", "tagList")}
        _, body = api.call("POST", "/api/articles", {"article": article},
                           token=users[spec["author"]]["token"])
        return body["article"]["slug"]

    slugs = run_parallel(args.threads, create_article, article_specs, "articles")

    # 3. Comments: 2 or 3 per article, by random users.
    comment_specs = [(slug, rng.randrange(args.users), sentence(rng, rng.randint(8, 40)))
                     for slug in slugs for _ in range(rng.randint(2, 3))]

    def comment(spec) -> None:
        slug, author, text = spec
        api.call("POST", f"/api/articles/{slug}/comments", {"comment": {"body": text}},
                 token=users[author]["token"])

    run_parallel(args.threads, comment, comment_specs, "comments")

    # 4. Follows: each user follows `follows` others.
    follow_specs = [(i, j) for i in range(args.users)
                    for j in rng.sample([u for u in range(args.users) if u != i],
                                        min(args.follows, args.users - 1))]

    def follow(spec) -> None:
        follower, followee = spec
        api.call("POST", f"/api/profiles/{users[followee]['username']}/follow",
                 token=users[follower]["token"])

    run_parallel(args.threads, follow, follow_specs, "follows")

    # 5. Favorites: each user favorites `favorites` articles.
    favorite_specs = [(i, slug) for i in range(args.users)
                      for slug in rng.sample(slugs, min(args.favorites, len(slugs)))]

    def favorite(spec) -> None:
        user, slug = spec
        api.call("POST", f"/api/articles/{slug}/favorite", token=users[user]["token"])

    run_parallel(args.threads, favorite, favorite_specs, "favorites")

    elapsed = time.monotonic() - started
    print(f"seed: {api.requests} API requests in {elapsed:.1f}s", file=sys.stderr)

    # What the scenarios need. User 0 follows `follows` authors (S4's feed).
    out = {
        "base_url": args.base_url,
        "password": PASSWORD,
        "users": users,
        "slugs": slugs,
        "tags": tags,
        "counts": {
            "users": len(users), "articles": len(slugs), "tags": len(tags),
            "comments": len(comment_specs), "follows": len(follow_specs),
            "favorites": len(favorite_specs),
        },
        "seed_seconds": round(elapsed, 2),
        "scenario": {
            "feed_token": users[0]["token"],
            "article_slug": slugs[len(slugs) // 2],
            "comment_slug": slugs[len(slugs) // 3],
            "comment_token": users[3 % len(users)]["token"],
            "login_email": users[2 % len(users)]["email"],
            "login_password": PASSWORD,
            "profile_username": users[1 % len(users)]["username"],
            "profile_token": users[0]["token"],
        },
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


# --------------------------------------------------------------------------
# bulk: many more articles straight into the database
# --------------------------------------------------------------------------

# A ~700-byte body shared by the bulk articles (their size matters for the
# single-article and list responses, their wording does not).
BULK_BODY = ("Bulk seeded article body. " + " ".join(WORDS) + ". ") * 2

# One statement list, written for both databases: {seq} is a CTE producing
# k = 0..COUNT-1 and {ts} the created_at expression of article k. Articles
# get ids max(id)+1+k, authors round robin over the users ordered by id, tags
# (k*7 + j*3) % 20 for j < 1 + k % 3, and every fourth one favorite by the
# user (k * 13) % users.
BULK_SQL = """
CREATE TEMPORARY TABLE bulk_users AS
  SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM users;
CREATE TEMPORARY TABLE bulk_tags AS
  SELECT id, row_number() OVER (ORDER BY name) - 1 AS n FROM tags WHERE name LIKE 'tag-%';
CREATE TEMPORARY TABLE bulk_base AS
  SELECT (SELECT coalesce(max(id), 0) FROM articles) AS id,
         (SELECT max(created_at) FROM articles) AS created_at,
         (SELECT count(*) FROM bulk_users) AS users,
         (SELECT count(*) FROM bulk_tags) AS tags;

INSERT INTO articles (id, slug, title, description, body, author_id, favorites_count,
                      created_at, updated_at)
  WITH {seq}
  SELECT b.id + 1 + s.k, 'bulk-article-' || s.k, 'Bulk article ' || s.k,
         'A bulk seeded article for the large benchmark data set', '{body}',
         u.id, CASE WHEN s.k % 4 = 0 THEN 1 ELSE 0 END, {ts}, {ts}
  FROM seq s CROSS JOIN bulk_base b JOIN bulk_users u ON u.n = s.k % b.users;

INSERT INTO article_tags (article_id, tag_id)
  WITH {seq}
  SELECT b.id + 1 + s.k, t.id
  FROM seq s CROSS JOIN bulk_base b
  JOIN (SELECT 0 AS j UNION ALL SELECT 1 UNION ALL SELECT 2) js ON js.j <= s.k % 3
  JOIN bulk_tags t ON t.n = (s.k * 7 + js.j * 3) % b.tags;

INSERT INTO favorites (user_id, article_id, created_at)
  WITH {seq}
  SELECT u.id, b.id + 1 + s.k, {ts}
  FROM seq s CROSS JOIN bulk_base b JOIN bulk_users u ON u.n = (s.k * 13) % b.users
  WHERE s.k % 4 = 0;

UPDATE tags SET articles_count =
  (SELECT count(*) FROM article_tags WHERE article_tags.tag_id = tags.id);
UPDATE users SET articles_count =
  (SELECT count(*) FROM articles WHERE articles.author_id = users.id);
UPDATE counters SET value = (SELECT count(*) FROM articles) WHERE name = 'articles';
"""


def seed_bulk(args) -> None:
    started = time.monotonic()
    url = args.database_url
    count = int(args.count)
    if url.startswith("postgres://") or url.startswith("postgresql://"):
        sql = BULK_SQL.format(
            seq=f"seq(k) AS (SELECT generate_series(0, {count - 1}))",
            ts="b.created_at + (s.k + 1) * interval '1 millisecond'",
            body=BULK_BODY,
        )
        # The identity sequence does not see explicit ids: move it past them.
        sql += "SELECT setval(pg_get_serial_sequence('articles', 'id'), max(id)) FROM articles;\n"
        sql += "ANALYZE;\n"
        subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-1", "-c", sql],
                       check=True, stdout=subprocess.DEVNULL)
    else:
        import sqlite3

        path = url.removeprefix("sqlite://")
        # Diesel writes SQLite timestamps as text, '%Y-%m-%d %H:%M:%S.%f'.
        sql = BULK_SQL.format(
            seq=f"RECURSIVE seq(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM seq WHERE k < {count - 1})",
            ts="strftime('%Y-%m-%d %H:%M:%f', b.created_at, '+' || ((s.k + 1) / 1000.0) || ' seconds')",
            body=BULK_BODY,
        )
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA foreign_keys = ON")
        # No ANALYZE here: Conduit never runs it on SQLite, so the planner
        # sees what it would see in production. (PostgreSQL's autovacuum would
        # analyze the new rows on its own; it is done above right away so that
        # its timing does not vary between runs.)
        db.executescript("BEGIN;\n" + sql + "COMMIT;\n")
        db.close()
    print(f"seed: bulk: {count} articles in {time.monotonic() - started:.1f}s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    api = sub.add_parser("api", help="seed through the public API")
    api.add_argument("base_url")
    api.add_argument("out")
    api.add_argument("--users", type=int, default=200)
    api.add_argument("--articles-per-user", type=int, default=10)
    api.add_argument("--follows", type=int, default=10)
    api.add_argument("--favorites", type=int, default=20)
    api.add_argument("--threads", type=int, default=8)
    api.add_argument("--seed", type=int, default=42)
    bulk = sub.add_parser("bulk", help="bulk-insert articles into the database")
    bulk.add_argument("database_url")
    bulk.add_argument("count")
    args = parser.parse_args()
    if args.command == "api":
        seed_api(args)
    else:
        seed_bulk(args)


if __name__ == "__main__":
    main()
