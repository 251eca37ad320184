package idp

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// API-key permissions (AUD-13), FusionAuth's model: a key's
// permissions.endpoints maps an endpoint to the HTTP methods it may use
// there; a key with no endpoints is a super key (every /api/* route), meant
// for the operator and the admin CLI only.
//
// An endpoint is a route pattern cut before its first path parameter:
// "/api/user" covers /api/user, /api/user/{id} (and any
// /api/user/{id}/... route); "/api/jwt/refresh" covers /api/jwt/refresh and
// /api/jwt/refresh/{id}; "/api/user/registration" covers
// /api/user/registration/{userId} and
// /api/user/registration/{userId}/{applicationId}. A fixed path segment
// names a different endpoint: "/api/user" does NOT cover /api/user/import
// or /api/user/registration (as in FusionAuth, where those are separate
// endpoints). A call outside the key's permissions answers 401 with an
// empty body, like an unknown key.

// isAPIKeyMethod reports whether a permission may name method m.
func isAPIKeyMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// apiEndpoint returns the endpoint of a ServeMux pattern: its path up to
// the first path parameter ("DELETE /api/jwt/refresh/{id}" ->
// "/api/jwt/refresh"; a route like "/api/user/{id}/unlock" belongs to
// "/api/user").
func apiEndpoint(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = pattern[i+1:]
	}
	if i := strings.Index(pattern, "/{"); i >= 0 {
		pattern = pattern[:i]
	}
	return pattern
}

// apiKeyAllows reports whether k may call the route r was matched by.
func apiKeyAllows(k *store.APIKey, r *http.Request) bool {
	if len(k.Permissions.Endpoints) == 0 {
		return true // super key
	}
	if r.Pattern == "" {
		return false
	}
	methods := k.Permissions.Endpoints[apiEndpoint(r.Pattern)]
	return slices.Contains(methods, r.Method)
}

// apiKeyCtxKey carries the authenticated *store.APIKey in the request
// context, for handlers that need the caller's own permissions.
type apiKeyCtxKey struct{}

func callerAPIKey(ctx context.Context) *store.APIKey {
	k, _ := ctx.Value(apiKeyCtxKey{}).(*store.APIKey)
	return k
}

// normalizePermissions checks every endpoint against the server's routes
// and every method against isAPIKeyMethod, and returns a canonical copy
// (upper-case methods, sorted, no duplicates). Nil endpoints stay nil (a
// super key).
func (s *core) normalizePermissions(p store.APIKeyPermissions) (store.APIKeyPermissions, error) {
	if len(p.Endpoints) == 0 {
		return store.APIKeyPermissions{}, nil
	}
	out := store.APIKeyPermissions{Endpoints: map[string][]string{}}
	for ep, methods := range p.Endpoints {
		ep = strings.TrimSuffix(strings.TrimSpace(ep), "/")
		field := "permissions.endpoints[" + ep + "]"
		if len(methods) == 0 {
			return store.APIKeyPermissions{}, invalid(field, "blank", "Name at least one HTTP method for "+ep+".")
		}
		var ms []string
		for _, m := range methods {
			m = strings.ToUpper(strings.TrimSpace(m))
			if !isAPIKeyMethod(m) {
				return store.APIKeyPermissions{}, invalid(field, "invalid", fmt.Sprintf("%q is not one of GET, POST, PUT, PATCH, DELETE.", m))
			}
			if !s.hasAPIRoute(ep, m) {
				return store.APIKeyPermissions{}, invalid(field, "invalid", fmt.Sprintf("No API route %s %s needs a key.", m, ep))
			}
			if !slices.Contains(ms, m) {
				ms = append(ms, m)
			}
		}
		sort.Strings(ms)
		out.Endpoints[ep] = append(out.Endpoints[ep], ms...)
	}
	return out, nil
}

// hasAPIRoute reports whether some /api/* route answers method at
// endpoint ep (asking the server's own mux, so the list cannot drift from
// the routes).
func (s *core) hasAPIRoute(ep, method string) bool {
	if !strings.HasPrefix(ep, "/api/") || strings.ContainsAny(ep, "{}?#") {
		return false
	}
	if s.routes == nil {
		return true // no route table: only the syntax is checked
	}
	id := uuid.Nil.String()
	for _, p := range []string{ep, ep + "/" + id, ep + "/" + id + "/" + id} {
		req, err := http.NewRequest(method, "http://idp"+p, nil)
		if err != nil {
			return false
		}
		_, pattern := s.routes.Handler(req)
		if pattern != "" && strings.HasPrefix(pattern, method+" ") && apiEndpoint(pattern) == ep {
			return true
		}
	}
	return false
}

// permissionsWithin reports whether every method of inner is allowed by
// outer; a super key (no endpoints) allows everything, and only a super key
// may hold a super key's powers.
func permissionsWithin(inner, outer store.APIKeyPermissions) bool {
	if len(outer.Endpoints) == 0 {
		return true
	}
	if len(inner.Endpoints) == 0 {
		return false
	}
	for ep, ms := range inner.Endpoints {
		for _, m := range ms {
			if !slices.Contains(outer.Endpoints[ep], m) {
				return false
			}
		}
	}
	return true
}

// FormatPermissions renders permissions for people: "super key" or
// "/api/jwt/refresh:DELETE /api/user:GET,POST".
func FormatPermissions(p store.APIKeyPermissions) string {
	if len(p.Endpoints) == 0 {
		return "super key (all endpoints)"
	}
	eps := make([]string, 0, len(p.Endpoints))
	for ep := range p.Endpoints {
		eps = append(eps, ep)
	}
	sort.Strings(eps)
	for i, ep := range eps {
		eps[i] = ep + ":" + strings.Join(p.Endpoints[ep], ",")
	}
	return strings.Join(eps, " ")
}

// ParseEndpointPermission parses the CLI's "/api/user:GET,POST" into
// endpoint and methods.
func ParseEndpointPermission(s string) (string, []string, error) {
	ep, ms, ok := strings.Cut(s, ":")
	if !ok || ep == "" || ms == "" {
		return "", nil, fmt.Errorf("endpoint permission %q: want /api/path:METHOD[,METHOD...]", s)
	}
	return ep, strings.Split(ms, ","), nil
}

// apiKeyJSON is FusionAuth's API key object (the subset Gatehouse keeps).
type apiKeyJSON struct {
	ID          string                  `json:"id,omitempty"`
	Key         string                  `json:"key,omitempty"`
	Permissions store.APIKeyPermissions `json:"permissions"`
	MetaData    struct {
		Attributes struct {
			Description string `json:"description,omitempty"`
		} `json:"attributes"`
	} `json:"metaData"`
	InsertInstant int64 `json:"insertInstant,omitempty"`
}

// handleCreateAPIKey is POST /api/api-key. The new key's permissions must
// lie within the caller's (FusionAuth: "equal or greater permissions"), so
// only a super key can create a super key, and a scoped key cannot widen
// itself.
func (s *Server) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		APIKey apiKeyJSON `json:"apiKey"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.badJSON(w)
		return
	}
	in := req.APIKey
	perms, err := s.normalizePermissions(in.Permissions)
	if err != nil {
		writeAdminError(w, err, "apiKey.")
		return
	}
	if caller := callerAPIKey(r.Context()); caller == nil || !permissionsWithin(perms, caller.Permissions) {
		writeEmpty(w, http.StatusUnauthorized)
		return
	}
	key, rec, err := s.admin.createAPIKey(r.Context(), in.Key, in.MetaData.Attributes.Description, perms)
	if err != nil {
		writeAdminError(w, err, "apiKey.")
		return
	}
	var out apiKeyJSON
	out.ID, out.Key, out.Permissions, out.InsertInstant = rec.ID, key, rec.Permissions, rec.CreatedAt.UnixMilli()
	out.MetaData.Attributes.Description = rec.Description
	writeJSON(w, http.StatusOK, map[string]any{"apiKey": out})
}
