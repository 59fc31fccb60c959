//! The dependency rule, checked on the real manifests: dependencies point
//! inward only (web and infrastructure → application → domain), and the
//! frameworks stay at the edges.

#![expect(clippy::expect_used, reason = "a test: failing loudly is the point")]

use std::collections::BTreeMap;
use std::process::Command;

/// Crates each layer may not depend on (normal or build dependencies).
/// A trailing `*` matches a prefix. Library crates report errors as
/// `thiserror` enums: `anyhow` is for the binary only.
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "conduit-domain",
        &[
            "conduit-*",
            "diesel*",
            "actix*",
            "utoipa*",
            "serde_json",
            "tokio",
            "r2d2",
            "argon2",
            "jsonwebtoken",
            "reqwest",
            "anyhow",
        ],
    ),
    (
        "conduit-application",
        &[
            "conduit-infrastructure",
            "conduit-web",
            "conduit-server",
            "diesel*",
            "actix*",
            "utoipa*",
            "serde_json",
            "r2d2",
            "argon2",
            "jsonwebtoken",
            "reqwest",
            "anyhow",
        ],
    ),
    (
        "conduit-infrastructure",
        &[
            "conduit-web",
            "conduit-server",
            "actix*",
            "utoipa*",
            "anyhow",
        ],
    ),
    (
        "conduit-web",
        &[
            "conduit-infrastructure",
            "conduit-server",
            "diesel*",
            "r2d2",
            "argon2",
            "jsonwebtoken",
            "anyhow",
        ],
    ),
];

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

/// Every forbidden edge in `dependencies` (package → its dependencies).
fn violations(dependencies: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut found = Vec::new();
    for (package, forbidden) in FORBIDDEN {
        let Some(deps) = dependencies.get(*package) else {
            found.push(format!("{package} is missing from the workspace"));
            continue;
        };
        for dep in deps {
            if dep != package && forbidden.iter().any(|pattern| matches(pattern, dep)) {
                found.push(format!("{package} must not depend on {dep}"));
            }
        }
    }
    found
}

/// The workspace's packages and their normal and build dependencies, from `cargo metadata`.
fn workspace_dependencies() -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    metadata["packages"]
        .as_array()
        .expect("a package list")
        .iter()
        .map(|package| {
            let deps = package["dependencies"]
                .as_array()
                .expect("a dependency list")
                .iter()
                .filter(|dep| dep["kind"].is_null() || dep["kind"] == "build")
                .map(|dep| dep["name"].as_str().expect("a name").to_owned())
                .collect();
            (package["name"].as_str().expect("a name").to_owned(), deps)
        })
        .collect()
}

#[test]
fn dependencies_point_inward_only() {
    let dependencies = workspace_dependencies();
    let found = violations(&dependencies);
    assert!(
        found.is_empty(),
        "outward dependencies:\n{}",
        found.join("\n")
    );
    // The check really sees the edges it allows.
    assert!(dependencies["conduit-application"].contains(&"conduit-domain".to_owned()));
    assert!(dependencies["conduit-infrastructure"].contains(&"diesel".to_owned()));
}

#[test]
fn an_outward_edge_is_reported() {
    let mut dependencies = workspace_dependencies();
    dependencies
        .get_mut("conduit-domain")
        .expect("the domain crate")
        .push("diesel".to_owned());
    dependencies
        .get_mut("conduit-application")
        .expect("the application crate")
        .push("conduit-infrastructure".to_owned());
    dependencies
        .get_mut("conduit-web")
        .expect("the web crate")
        .push("conduit-infrastructure".to_owned());
    assert_eq!(
        violations(&dependencies),
        [
            "conduit-domain must not depend on diesel",
            "conduit-application must not depend on conduit-infrastructure",
            "conduit-web must not depend on conduit-infrastructure",
        ]
    );
}
