package idp

import (
	"encoding/json"
	"io"
	"strconv"
)

func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

// remarshal converts v to a JSON object map (claims for introspection).
func remarshal(v any, out *map[string]any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func itoa(i int) string { return strconv.Itoa(i) }
