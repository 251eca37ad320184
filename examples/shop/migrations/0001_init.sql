CREATE TABLE products (
	id          INTEGER PRIMARY KEY,
	name        TEXT NOT NULL,
	description TEXT NOT NULL,
	price_cents INTEGER NOT NULL CHECK (price_cents >= 0)
);
CREATE TABLE cart_items (
	user_id    TEXT NOT NULL,
	product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
	quantity   INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 99),
	added_at   INTEGER NOT NULL,
	PRIMARY KEY (user_id, product_id)
) WITHOUT ROWID;
