//! The two migration trees (`migrations/sqlite`, `migrations/postgres`) build
//! the same schema: each is applied to a fresh database, read back from the
//! catalog, and reduced to comparable facts (tables; columns with type family,
//! nullability, default and generation; primary keys; unique constraints and
//! indexes by columns; foreign keys with their actions; other indexes by name
//! and columns). The facts must be identical.
//!
//! Needs PostgreSQL: without `CONDUIT_TEST_POSTGRES_URL` the test says it is
//! skipped and passes. CI always sets the variable.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failed step must fail the test loudly"
)]

use std::collections::{BTreeMap, BTreeSet};

use conduit_infrastructure::db::DbTarget;
use conduit_infrastructure::testing::TestDatabase;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel::{PgConnection, SqliteConnection, sql_query};

/// One line per fact, sorted, so that two schemas compare as sets and differ
/// by readable lines.
type Facts = BTreeSet<String>;

const TABLES: [&str; 13] = [
    "account_tokens",
    "article_tags",
    "articles",
    "comments",
    "counters",
    "events",
    "favorites",
    "follows",
    "job_schedules",
    "jobs",
    "tags",
    "uploads",
    "users",
];

/// Tables the migrations do not define: Diesel's bookkeeping.
fn is_ours(table: &str) -> bool {
    table != "__diesel_schema_migrations" && !table.starts_with("sqlite_")
}

/// The family of a column type, as far as the application can tell.
fn type_family(declared: &str) -> String {
    let lower = declared.trim().to_ascii_lowercase();
    let family = match lower.as_str() {
        "integer" | "int" | "int2" | "int4" | "int8" | "smallint" | "bigint" => "integer",
        "text" => "text",
        "timestamp" | "timestamp without time zone" => "timestamp",
        "timestamptz" | "timestamp with time zone" => "timestamptz",
        "boolean" | "bool" => "boolean",
        "real" | "double precision" | "float" | "float8" | "numeric" => "number",
        other if other.starts_with("varchar") || other.starts_with("character") => "text",
        other => return format!("other({other})"),
    };
    family.to_owned()
}

/// PostgreSQL's `integer` and `smallint` are narrower than the `BigInt` the
/// Diesel schema reads, unlike SQLite's integers (always 64-bit): kept apart.
fn pg_type_family(data_type: &str) -> String {
    match data_type {
        "integer" | "smallint" => format!("32-bit or narrower integer ({data_type})"),
        other => type_family(other),
    }
}

/// A default as written, without PostgreSQL's type casts (`'x'::text`).
fn default_value(raw: &str) -> String {
    let mut value = raw.trim();
    while let Some((before, cast)) = value.rsplit_once("::") {
        if cast.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ') {
            value = before.trim();
        } else {
            break;
        }
    }
    value.trim_matches(|c| c == '(' || c == ')').to_owned()
}

fn column_fact(
    table: &str,
    name: &str,
    family: &str,
    not_null: bool,
    generated: bool,
    default: Option<&str>,
) -> String {
    let mut fact = format!("{table}.{name}: {family}");
    if not_null {
        fact.push_str(" not null");
    }
    if generated {
        fact.push_str(" generated");
    } else if let Some(default) = default {
        fact.push_str(&format!(" default {}", default_value(default)));
    }
    fact
}

fn partial(is_partial: bool) -> &'static str {
    if is_partial { " (partial)" } else { "" }
}

// ---------------------------------------------------------------- SQLite

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    declared_type: String,
    #[diesel(sql_type = BigInt)]
    not_null: i64,
    #[diesel(sql_type = Nullable<Text>)]
    default_value: Option<String>,
    #[diesel(sql_type = BigInt)]
    pk_position: i64,
}

#[derive(QueryableByName)]
struct SqliteIndex {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    is_unique: i64,
    #[diesel(sql_type = Text)]
    origin: String,
    #[diesel(sql_type = BigInt)]
    is_partial: i64,
}

#[derive(QueryableByName)]
struct SqliteIndexColumn {
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
}

#[derive(QueryableByName)]
struct SqliteForeignKey {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    target_table: String,
    #[diesel(sql_type = Text)]
    from_column: String,
    #[diesel(sql_type = Nullable<Text>)]
    to_column: Option<String>,
    #[diesel(sql_type = Text)]
    on_update: String,
    #[diesel(sql_type = Text)]
    on_delete: String,
}

fn sqlite_facts(conn: &mut SqliteConnection) -> Facts {
    let tables: Vec<String> = sql_query("SELECT name FROM sqlite_master WHERE type = 'table'")
        .load::<Name>(conn)
        .unwrap()
        .into_iter()
        .map(|row| row.name)
        .filter(|name| is_ours(name))
        .collect();
    let mut facts = Facts::new();
    let mut primary_keys = BTreeMap::new();
    for table in &tables {
        facts.insert(format!("table {table}"));
        let columns = sql_query(
            "SELECT name, type AS declared_type, \"notnull\" AS not_null, \
             dflt_value AS default_value, pk AS pk_position FROM pragma_table_info(?)",
        )
        .bind::<Text, _>(table)
        .load::<SqliteColumn>(conn)
        .unwrap();
        let mut key: Vec<&SqliteColumn> = columns.iter().filter(|c| c.pk_position > 0).collect();
        key.sort_by_key(|c| c.pk_position);
        // `INTEGER PRIMARY KEY` makes the column the rowid: never NULL, and
        // filled in when omitted, like an identity column.
        let rowid_alias = match key[..] {
            [only] if only.declared_type.eq_ignore_ascii_case("integer") => Some(only.name.clone()),
            _ => None,
        };
        for column in &columns {
            let generated = rowid_alias.as_deref() == Some(column.name.as_str());
            facts.insert(column_fact(
                table,
                &column.name,
                &type_family(&column.declared_type),
                column.not_null != 0 || generated,
                generated,
                column.default_value.as_deref(),
            ));
        }
        let key: Vec<String> = key.iter().map(|c| c.name.clone()).collect();
        if !key.is_empty() {
            facts.insert(format!("{table}: primary key ({})", key.join(", ")));
        }
        primary_keys.insert(table.clone(), key);

        let indexes = sql_query(
            "SELECT name, \"unique\" AS is_unique, origin, partial AS is_partial \
             FROM pragma_index_list(?)",
        )
        .bind::<Text, _>(table)
        .load::<SqliteIndex>(conn)
        .unwrap();
        for index in indexes {
            let columns: Vec<String> =
                sql_query("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
                    .bind::<Text, _>(&index.name)
                    .load::<SqliteIndexColumn>(conn)
                    .unwrap()
                    .into_iter()
                    .map(|c| c.name.unwrap_or_else(|| "<expression>".to_owned()))
                    .collect();
            let columns = columns.join(", ");
            let partial = partial(index.is_partial != 0);
            match (index.origin.as_str(), index.is_unique != 0) {
                // The primary key's own index: covered by the primary key fact.
                ("pk", _) => {}
                (_, true) => {
                    facts.insert(format!("{table}: unique ({columns}){partial}"));
                }
                (_, false) => {
                    facts.insert(format!(
                        "{table}: index {} ({columns}){partial}",
                        index.name
                    ));
                }
            }
        }
    }
    for table in &tables {
        let keys = sql_query(
            "SELECT id, \"table\" AS target_table, \"from\" AS from_column, \
             \"to\" AS to_column, on_update, on_delete \
             FROM pragma_foreign_key_list(?) ORDER BY id, seq",
        )
        .bind::<Text, _>(table)
        .load::<SqliteForeignKey>(conn)
        .unwrap();
        let mut by_id: BTreeMap<i64, Vec<SqliteForeignKey>> = BTreeMap::new();
        for key in keys {
            by_id.entry(key.id).or_default().push(key);
        }
        for parts in by_id.values() {
            let first = &parts[0];
            let from: Vec<&str> = parts.iter().map(|p| p.from_column.as_str()).collect();
            // `REFERENCES t` without columns means t's primary key.
            let to: Vec<String> = if parts.iter().all(|p| p.to_column.is_some()) {
                parts.iter().filter_map(|p| p.to_column.clone()).collect()
            } else {
                primary_keys
                    .get(&first.target_table)
                    .cloned()
                    .unwrap_or_default()
            };
            facts.insert(format!(
                "{table}: foreign key ({}) references {} ({}) on delete {} on update {}",
                from.join(", "),
                first.target_table,
                to.join(", "),
                first.on_delete.to_ascii_lowercase(),
                first.on_update.to_ascii_lowercase(),
            ));
        }
    }
    facts
}

// ---------------------------------------------------------------- PostgreSQL

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
    #[diesel(sql_type = Nullable<Text>)]
    default_value: Option<String>,
    #[diesel(sql_type = Bool)]
    identity: bool,
}

#[derive(QueryableByName)]
struct PgConstraint {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    columns: String,
    #[diesel(sql_type = Text)]
    target_table: String,
    #[diesel(sql_type = Text)]
    target_columns: String,
    #[diesel(sql_type = Text)]
    on_delete: String,
    #[diesel(sql_type = Text)]
    on_update: String,
}

#[derive(QueryableByName)]
struct PgIndex {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    index_name: String,
    #[diesel(sql_type = Bool)]
    is_unique: bool,
    #[diesel(sql_type = Bool)]
    is_partial: bool,
    #[diesel(sql_type = Text)]
    columns: String,
}

/// `pg_constraint`'s one-letter referential actions.
fn pg_action(code: &str) -> String {
    match code {
        "a" => "no action",
        "r" => "restrict",
        "c" => "cascade",
        "n" => "set null",
        "d" => "set default",
        other => return format!("unknown({other})"),
    }
    .to_owned()
}

fn comma_list(columns: &str) -> String {
    columns.split(',').collect::<Vec<_>>().join(", ")
}

/// The columns of `conkey`-like arrays, in key order.
const KEY_COLUMNS: &str = "array_to_string(ARRAY(\
    SELECT a.attname::text FROM unnest({keys}) WITH ORDINALITY AS k(attnum, ord) \
    JOIN pg_attribute a ON a.attrelid = {relation} AND a.attnum = k.attnum \
    ORDER BY k.ord), ',')";

fn postgres_facts(conn: &mut PgConnection) -> Facts {
    let mut facts = Facts::new();
    let tables = sql_query(
        "SELECT table_name::text AS name FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .load::<Name>(conn)
    .unwrap();
    for table in tables.iter().filter(|t| is_ours(&t.name)) {
        facts.insert(format!("table {}", table.name));
    }

    let columns = sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS name, \
         data_type::text AS data_type, is_nullable = 'YES' AS nullable, \
         column_default::text AS default_value, is_identity = 'YES' AS identity \
         FROM information_schema.columns WHERE table_schema = 'public'",
    )
    .load::<PgColumn>(conn)
    .unwrap();
    for column in columns.iter().filter(|c| is_ours(&c.table_name)) {
        let generated = column.identity
            || column
                .default_value
                .as_deref()
                .is_some_and(|default| default.starts_with("nextval("));
        facts.insert(column_fact(
            &column.table_name,
            &column.name,
            &pg_type_family(&column.data_type),
            !column.nullable,
            generated,
            column.default_value.as_deref(),
        ));
    }

    let constraints = sql_query(format!(
        "SELECT c.contype::text AS kind, t.relname::text AS table_name, \
         {columns} AS columns, COALESCE(f.relname::text, '') AS target_table, \
         {target_columns} AS target_columns, \
         c.confdeltype::text AS on_delete, c.confupdtype::text AS on_update \
         FROM pg_constraint c \
         JOIN pg_class t ON t.oid = c.conrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         LEFT JOIN pg_class f ON f.oid = c.confrelid \
         WHERE n.nspname = 'public' AND c.contype IN ('p', 'u', 'f')",
        columns = KEY_COLUMNS
            .replace("{keys}", "c.conkey")
            .replace("{relation}", "c.conrelid"),
        target_columns = KEY_COLUMNS
            .replace("{keys}", "c.confkey")
            .replace("{relation}", "c.confrelid"),
    ))
    .load::<PgConstraint>(conn)
    .unwrap();
    for constraint in constraints.iter().filter(|c| is_ours(&c.table_name)) {
        let table = &constraint.table_name;
        let columns = comma_list(&constraint.columns);
        facts.insert(match constraint.kind.as_str() {
            "p" => format!("{table}: primary key ({columns})"),
            "u" => format!("{table}: unique ({columns})"),
            _ => format!(
                "{table}: foreign key ({columns}) references {} ({}) on delete {} on update {}",
                constraint.target_table,
                comma_list(&constraint.target_columns),
                pg_action(&constraint.on_delete),
                pg_action(&constraint.on_update),
            ),
        });
    }

    // Indexes that back a primary key or unique constraint were covered above.
    let indexes = sql_query(
        "SELECT t.relname::text AS table_name, ic.relname::text AS index_name, \
         i.indisunique AS is_unique, i.indpred IS NOT NULL AS is_partial, \
         array_to_string(ARRAY(\
             SELECT pg_get_indexdef(i.indexrelid, k, true) \
             FROM generate_series(1, i.indnkeyatts::int) AS k ORDER BY k), ',') AS columns \
         FROM pg_index i \
         JOIN pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_class t ON t.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = 'public' AND NOT EXISTS (\
             SELECT 1 FROM pg_constraint c \
             WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))",
    )
    .load::<PgIndex>(conn)
    .unwrap();
    for index in indexes.iter().filter(|i| is_ours(&i.table_name)) {
        let table = &index.table_name;
        let columns = comma_list(&index.columns);
        let partial = partial(index.is_partial);
        facts.insert(if index.is_unique {
            format!("{table}: unique ({columns}){partial}")
        } else {
            format!("{table}: index {} ({columns}){partial}", index.index_name)
        });
    }
    facts
}

fn tables_of(facts: &Facts) -> Vec<&str> {
    facts
        .iter()
        .filter_map(|fact| fact.strip_prefix("table "))
        .collect()
}

fn listing<'a>(facts: impl Iterator<Item = &'a String>) -> String {
    let lines: Vec<String> = facts.map(|fact| format!("    {fact}")).collect();
    if lines.is_empty() {
        "    (nothing)".to_owned()
    } else {
        lines.join("\n")
    }
}

#[tokio::test]
async fn the_sqlite_and_postgres_migrations_build_the_same_schema() {
    let Ok(admin) = std::env::var("CONDUIT_TEST_POSTGRES_URL") else {
        println!(
            "skipped: set CONDUIT_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) \
             to compare the SQLite and PostgreSQL schemas"
        );
        return;
    };
    let sqlite_db = TestDatabase::sqlite();
    let postgres_db = TestDatabase::postgres(&admin);
    drop(sqlite_db.migrated().await);
    drop(postgres_db.migrated().await);

    let DbTarget::Sqlite(path) = DbTarget::parse(sqlite_db.url()) else {
        panic!("TestDatabase::sqlite gave a non-SQLite URL");
    };
    let sqlite = sqlite_facts(&mut SqliteConnection::establish(&path.to_string_lossy()).unwrap());
    let postgres = postgres_facts(&mut PgConnection::establish(postgres_db.url()).unwrap());

    // The introspection itself works: both sides see every table, so equal
    // facts cannot come from two empty readings.
    assert_eq!(tables_of(&sqlite), TABLES, "tables read from SQLite");
    assert_eq!(tables_of(&postgres), TABLES, "tables read from PostgreSQL");
    assert!(
        sqlite == postgres,
        "the migrations build different schemas\n  only in migrations/sqlite:\n{}\n  only in migrations/postgres:\n{}",
        listing(sqlite.difference(&postgres)),
        listing(postgres.difference(&sqlite)),
    );
    println!(
        "the migrations agree on {} schema facts:\n{}",
        sqlite.len(),
        listing(sqlite.iter())
    );
}
