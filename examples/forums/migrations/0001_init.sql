CREATE TABLE threads (
	id          INTEGER PRIMARY KEY,
	title       TEXT NOT NULL,
	author_id   TEXT NOT NULL,
	author_name TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	last_post_at INTEGER NOT NULL,
	posts       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX threads_by_activity ON threads (last_post_at DESC);
CREATE TABLE posts (
	id          INTEGER PRIMARY KEY,
	thread_id   INTEGER NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
	author_id   TEXT NOT NULL,
	author_name TEXT NOT NULL,
	body        TEXT NOT NULL,
	created_at  INTEGER NOT NULL
);
CREATE INDEX posts_by_thread ON posts (thread_id, id);
