//! Test doubles for the ports: `FakeDb` runs each unit of work inline on a
//! set of mockall repository mocks, so use cases are tested without a database.

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use conduit_domain::UserId;

use crate::error::AppError;
use crate::ports::{
    ArticleRepository, CommentRepository, Database, FollowRepository, MockArticleRepository,
    MockCommentRepository, MockFollowRepository, MockTagRepository, MockUserRepository,
    TagRepository, UnitOfWork, UserRepository,
};
use crate::views::{Account, Author};

/// One mock per repository; set expectations on them before the use case runs.
#[derive(Default)]
pub struct FakeRepos {
    pub users: MockUserRepository,
    pub follows: MockFollowRepository,
    pub articles: MockArticleRepository,
    pub tags: MockTagRepository,
    pub comments: MockCommentRepository,
}

impl UnitOfWork for FakeRepos {
    fn users(&mut self) -> &mut dyn UserRepository {
        &mut self.users
    }
    fn follows(&mut self) -> &mut dyn FollowRepository {
        &mut self.follows
    }
    fn articles(&mut self) -> &mut dyn ArticleRepository {
        &mut self.articles
    }
    fn tags(&mut self) -> &mut dyn TagRepository {
        &mut self.tags
    }
    fn comments(&mut self) -> &mut dyn CommentRepository {
        &mut self.comments
    }
}

/// A `Database` whose units of work run inline on `FakeRepos`.
#[derive(Default)]
pub struct FakeDb {
    repos: Mutex<FakeRepos>,
    writes: Mutex<usize>,
}

impl FakeDb {
    /// A fake database whose mocks were prepared by `setup`.
    pub fn with(setup: impl FnOnce(&mut FakeRepos)) -> Self {
        let mut repos = FakeRepos::default();
        setup(&mut repos);
        Self {
            repos: Mutex::new(repos),
            writes: Mutex::new(0),
        }
    }

    /// How many write units of work ran.
    pub fn writes(&self) -> usize {
        *self.writes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run<T>(
        &self,
        work: impl FnOnce(&mut dyn UnitOfWork) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let mut repos = self.repos.lock().unwrap_or_else(PoisonError::into_inner);
        work(&mut *repos)
    }
}

impl Database for FakeDb {
    fn read<T, F>(&self, work: F) -> impl Future<Output = Result<T, AppError>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn UnitOfWork) -> Result<T, AppError> + Send + 'static,
    {
        std::future::ready(self.run(work))
    }

    fn write<T, F>(&self, mut work: F) -> impl Future<Output = Result<T, AppError>> + Send
    where
        T: Send + 'static,
        F: FnMut(&mut dyn UnitOfWork) -> Result<T, AppError> + Send + 'static,
    {
        *self.writes.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        std::future::ready(self.run(|uow| work(uow)))
    }
}

/// A stored account named `username`, with no bio or image.
pub fn account(id: i64, username: &str) -> Account {
    Account {
        id: UserId(id),
        username: username.to_owned(),
        email: format!("{username}@example.com"),
        bio: None,
        image: None,
    }
}

/// The author `user<id>`, with no bio or image.
pub fn author(id: UserId) -> Author {
    Author {
        id,
        username: format!("user{}", id.0),
        bio: None,
        image: None,
    }
}
