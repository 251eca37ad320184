package storetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// TestDiff checks the comparison the whole suite relies on: it must see
// real differences, or every round-trip test would pass vacuously.
func TestDiff(t *testing.T) {
	zero, seven := 0, 7
	base := store.Application{
		ID: "a", Name: "n", ClientSecretHash: []byte{1},
		Config:    store.ApplicationConfig{Roles: []string{"x"}, GracePeriodSeconds: &zero},
		CreatedAt: at(0),
	}
	for _, c := range []struct {
		name   string
		change func(a *store.Application)
		field  string // "" = no difference expected
	}{
		{"identical", func(*store.Application) {}, ""},
		{"same instant, other zone", func(a *store.Application) { a.CreatedAt = at(0).In(time.FixedZone("X", 3600)) }, ""},
		{"instant 1ms later", func(a *store.Application) { a.CreatedAt = at(0).Add(time.Millisecond) }, "CreatedAt"},
		{"string", func(a *store.Application) { a.Name = "m" }, "Name"},
		{"bytes", func(a *store.Application) { a.ClientSecretHash = []byte{2} }, "ClientSecretHash"},
		{"roles", func(a *store.Application) { a.Config.Roles = []string{"y"} }, "Config.Roles"},
		{"grace nil vs 0", func(a *store.Application) { a.Config.GracePeriodSeconds = nil }, "Config.GracePeriodSeconds"},
		{"grace 0 vs 7", func(a *store.Application) { a.Config.GracePeriodSeconds = &seven }, "Config.GracePeriodSeconds"},
	} {
		want := base
		want.Config.Roles = []string{"x"}
		got := want
		c.change(&got)
		d := diff(&want, &got)
		switch {
		case c.field == "" && len(d) != 0:
			t.Errorf("%s: unexpected differences %v", c.name, d)
		case c.field != "" && (len(d) != 1 || !strings.HasPrefix(d[0], c.field+":")):
			t.Errorf("%s: differences %v, want one on %s", c.name, d, c.field)
		}
	}
	if d := diff(&store.Registration{Roles: nil}, &store.Registration{Roles: []string{}}); len(d) != 0 {
		t.Errorf("nil vs empty slice: unexpected differences %v", d)
	}
}

func TestJSONEqual(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"b":[1,2]}`, `{ "b": [1, 2], "a": 1 }`, true},
		{`{"a":1}`, `{"a":2}`, false},
		{`[1,2]`, `[2,1]`, false},
		{``, ``, true},
		{``, `{}`, false},
	} {
		if got := jsonEqual(json.RawMessage(c.a), json.RawMessage(c.b)); got != c.want {
			t.Errorf("jsonEqual(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
