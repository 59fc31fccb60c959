//! Diesel's view of the tables in `migrations/`. Only types that both
//! backends share appear here (see `DbConnection`).

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        username_key -> Text,
        email -> Text,
        email_key -> Text,
        password_hash -> Text,
        bio -> Nullable<Text>,
        image -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        articles_count -> BigInt,
        token_version -> BigInt,
        email_verified -> Bool,
        email_notifications -> Bool,
    }
}

diesel::table! {
    counters (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    follows (follower_id, followee_id) {
        follower_id -> BigInt,
        followee_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    articles (id) {
        id -> BigInt,
        slug -> Text,
        title -> Text,
        description -> Text,
        body -> Text,
        author_id -> BigInt,
        favorites_count -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    tags (id) {
        id -> BigInt,
        name -> Text,
        articles_count -> BigInt,
    }
}

diesel::table! {
    article_tags (article_id, tag_id) {
        article_id -> BigInt,
        tag_id -> BigInt,
    }
}

diesel::table! {
    favorites (user_id, article_id) {
        user_id -> BigInt,
        article_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    comments (id) {
        id -> BigInt,
        article_id -> BigInt,
        author_id -> BigInt,
        body -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    events (seq) {
        seq -> BigInt,
        id -> Nullable<BigInt>,
        kind -> Text,
        payload -> Text,
        origin -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    jobs (id) {
        id -> BigInt,
        queue -> Text,
        kind -> Text,
        payload -> Text,
        state -> Text,
        priority -> BigInt,
        attempt -> BigInt,
        max_attempts -> BigInt,
        run_at -> Timestamp,
        unique_key -> Nullable<Text>,
        timeout_ms -> BigInt,
        errors -> Text,
        attempted_by -> Nullable<Text>,
        created_at -> Timestamp,
        attempted_at -> Nullable<Timestamp>,
        heartbeat_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    job_schedules (name) {
        name -> Text,
        next_run_at -> Timestamp,
    }
}

diesel::table! {
    account_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        purpose -> Text,
        digest -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    uploads (id) {
        id -> BigInt,
        owner_id -> BigInt,
        file_key -> Text,
        size -> BigInt,
        width -> BigInt,
        height -> BigInt,
        thumb_key -> Nullable<Text>,
        medium_key -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(articles -> users (author_id));
diesel::joinable!(comments -> users (author_id));
diesel::joinable!(comments -> articles (article_id));
diesel::joinable!(article_tags -> articles (article_id));
diesel::joinable!(article_tags -> tags (tag_id));
diesel::joinable!(favorites -> articles (article_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    counters,
    follows,
    articles,
    tags,
    article_tags,
    favorites,
    comments,
);
