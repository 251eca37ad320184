package shop

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
)

// migrationFiles are the Store's schema steps, versioned in PRAGMA
// user_version (see site.OpenDB).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// catalog is the seeded product list.
var catalog = []Product{
	{1, "Brass door key", "A heavy, hand-cut key. Opens exactly one door, which is the point.", 1450},
	{2, "Gatehouse mug", "Holds 350 ml of coffee for long incident reviews.", 1200},
	{3, "Lantern", "Battery lantern with a warm glow for night shifts at the gate.", 3900},
	{4, "Padlock", "Hardened steel shackle; ships with two keys, keep them apart.", 2200},
	{5, "Notebook", "Dot-grid, 120 pages. Write down your threat model.", 950},
	{6, "Wool scarf", "Gatehouses are drafty. This helps.", 4500},
	{7, "Guest book", "Linen-bound register for everyone who passes through.", 2800},
	{8, "Wax seal kit", "Brass stamp and three sticks of red wax: tamper evidence, the old way.", 3100},
}

// Product is one catalog entry.
type Product struct {
	ID          int64
	Name        string
	Description string
	PriceCents  int64
}

// Line is one cart row.
type Line struct {
	Product
	Quantity      int
	SubtotalCents int64
}

// Cart is a user's cart.
type Cart struct {
	Lines      []Line
	Count      int // items (sum of quantities)
	TotalCents int64
}

// ErrNoProduct means the product id is not in the catalog.
var ErrNoProduct = errors.New("store: no such product")

func seed(ctx context.Context, db *sql.DB) error {
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM products").Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, p := range catalog {
		if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO products (id, name, description, price_cents) VALUES (?, ?, ?, ?)",
			p.ID, p.Name, p.Description, p.PriceCents); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Products returns the catalog.
func (a *App) Products(ctx context.Context) ([]Product, error) {
	rows, err := a.db.QueryContext(ctx, "SELECT id, name, description, price_cents FROM products ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	defer rows.Close()
	var out []Product
	for rows.Next() {
		var p Product
		if err := rows.Scan(&p.ID, &p.Name, &p.Description, &p.PriceCents); err != nil {
			return nil, fmt.Errorf("list products: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Product returns one product or ErrNoProduct.
func (a *App) Product(ctx context.Context, id int64) (Product, error) {
	var p Product
	err := a.db.QueryRowContext(ctx, "SELECT id, name, description, price_cents FROM products WHERE id = ?", id).
		Scan(&p.ID, &p.Name, &p.Description, &p.PriceCents)
	if errors.Is(err, sql.ErrNoRows) {
		return p, ErrNoProduct
	}
	if err != nil {
		return p, fmt.Errorf("get product: %w", err)
	}
	return p, nil
}

// Cart returns the user's cart.
func (a *App) Cart(ctx context.Context, userID string) (Cart, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT p.id, p.name, p.description, p.price_cents, c.quantity
		FROM cart_items c JOIN products p ON p.id = c.product_id
		WHERE c.user_id = ? ORDER BY c.added_at, p.id`, userID)
	if err != nil {
		return Cart{}, fmt.Errorf("read cart: %w", err)
	}
	defer rows.Close()
	var c Cart
	for rows.Next() {
		var l Line
		if err := rows.Scan(&l.ID, &l.Name, &l.Description, &l.PriceCents, &l.Quantity); err != nil {
			return Cart{}, fmt.Errorf("read cart: %w", err)
		}
		l.SubtotalCents = l.PriceCents * int64(l.Quantity)
		c.Lines = append(c.Lines, l)
		c.Count += l.Quantity
		c.TotalCents += l.SubtotalCents
	}
	return c, rows.Err()
}

// AddToCart adds quantity of a product to the user's cart, capping the
// line at MaxQuantity, in one statement.
func (a *App) AddToCart(ctx context.Context, userID string, productID int64, quantity int) error {
	if _, err := a.Product(ctx, productID); err != nil {
		return err
	}
	_, err := a.db.ExecContext(ctx, `INSERT INTO cart_items (user_id, product_id, quantity, added_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = min(quantity + excluded.quantity, ?)`,
		userID, productID, quantity, a.now().UnixMilli(), MaxQuantity)
	if err != nil {
		return fmt.Errorf("add to cart: %w", err)
	}
	return nil
}

// SetQuantity sets a cart line's quantity; 0 removes it. A product not in
// the cart is not added by a change of quantity.
func (a *App) SetQuantity(ctx context.Context, userID string, productID int64, quantity int) error {
	var err error
	if quantity <= 0 {
		_, err = a.db.ExecContext(ctx, "DELETE FROM cart_items WHERE user_id = ? AND product_id = ?", userID, productID)
	} else {
		_, err = a.db.ExecContext(ctx, "UPDATE cart_items SET quantity = ? WHERE user_id = ? AND product_id = ?",
			min(quantity, MaxQuantity), userID, productID)
	}
	if err != nil {
		return fmt.Errorf("change cart: %w", err)
	}
	return nil
}
