package shop

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/exampletest"
)

// The catalog is seeded once; the cart adds, caps, changes and removes,
// and survives reopening the database.
func TestCatalogAndCart(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "store.db")
	a := exampletest.Open(t, New, db)
	ps, err := a.Products(ctx)
	if err != nil || len(ps) != len(catalog) {
		t.Fatalf("products %d %v", len(ps), err)
	}
	if err := a.AddToCart(ctx, "u1", 999, 1); !errors.Is(err, ErrNoProduct) {
		t.Fatalf("unknown product: %v", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.AddToCart(ctx, "u1", 1, 2))
	must(a.AddToCart(ctx, "u1", 1, 3))
	must(a.AddToCart(ctx, "u1", 2, 90))
	must(a.AddToCart(ctx, "u1", 2, 90)) // capped at MaxQuantity
	must(a.AddToCart(ctx, "u2", 3, 1))
	c, err := a.Cart(ctx, "u1")
	must(err)
	if len(c.Lines) != 2 || c.Lines[0].Quantity != 5 || c.Lines[1].Quantity != MaxQuantity || c.Count != 5+MaxQuantity ||
		c.TotalCents != 5*1450+MaxQuantity*1200 {
		t.Fatalf("cart %+v", c)
	}
	must(a.SetQuantity(ctx, "u1", 1, 7))
	must(a.SetQuantity(ctx, "u1", 2, 0))
	must(a.SetQuantity(ctx, "u1", 4, 3)) // not in the cart: not added
	a.Close()

	a = exampletest.Open(t, New, db)
	defer a.Close()
	if ps, _ := a.Products(ctx); len(ps) != len(catalog) {
		t.Fatalf("catalog seeded twice: %d", len(ps))
	}
	c, _ = a.Cart(ctx, "u1")
	if len(c.Lines) != 1 || c.Lines[0].ID != 1 || c.Lines[0].Quantity != 7 {
		t.Fatalf("cart after reopen %+v", c)
	}
	if c, _ := a.Cart(ctx, "u2"); c.Count != 1 {
		t.Fatalf("other user's cart %+v", c)
	}
	if money(1205) != "$12.05" || money(0) != "$0.00" {
		t.Fatal("money format")
	}
}
