package mailbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"os"
	"slices"
	"strings"
)

// Paths of the mailbox's web page.
const (
	// JSONPath lists every message, oldest first.
	JSONPath = "/messages.json"
	// MessagePath is the prefix of one message's page (MessagePath+ID).
	MessagePath = "/messages/"
	cssPath     = "/mailbox.css"
)

// csp allows the page its own stylesheet and nothing else: no script,
// no inline style, no form.
const csp = "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; " +
	"form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

const css = `body{font-family:system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;line-height:1.5;color:#1a1a1a;background:#fff}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #ccc;vertical-align:top}
pre{white-space:pre-wrap;overflow-wrap:anywhere;font-family:ui-monospace,monospace;background:#f5f5f5;padding:1rem}
a{color:#0b57d0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}
dt{font-weight:bold}
dd{margin:0;overflow-wrap:anywhere}
`

var pages = template.Must(template.New("layout").Parse(`{{define "head"}}<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.}}</title>
<link rel="stylesheet" href="` + cssPath + `">
</head>
<body>
{{end}}
{{define "list"}}{{template "head" "Mailbox"}}<main>
<h1>Mailbox</h1>
<p>Every mail the demo sends lands here, newest first. Open one to read it and follow its links.</p>
{{if .}}<table>
<thead><tr><th scope="col">Subject</th><th scope="col">To</th><th scope="col">Received</th></tr></thead>
<tbody>
{{range .}}<tr><td><a href="` + MessagePath + `{{.ID}}">{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</a></td><td>{{.To}}</td><td><time datetime="{{.Received.UTC.Format "2006-01-02T15:04:05Z07:00"}}">{{.Received.Format "2006-01-02 15:04:05"}}</time></td></tr>
{{end}}</tbody>
</table>
{{else}}<p>No mail yet.</p>
{{end}}</main>
</body>
</html>
{{end}}
{{define "message"}}{{template "head" (or .Subject "Message")}}<main>
<p><a href="/">Back to the mailbox</a></p>
<h1>{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</h1>
<dl>
<dt>To</dt><dd>{{.To}}</dd>
<dt>Received</dt><dd><time datetime="{{.Received.UTC.Format "2006-01-02T15:04:05Z07:00"}}">{{.Received.Format "2006-01-02 15:04:05"}}</time></dd>
</dl>
<pre>{{range .Segments}}{{if .Link}}<a href="{{.Text}}">{{.Text}}</a>{{else}}{{.Text}}{{end}}{{end}}</pre>
</main>
</body>
</html>
{{end}}
{{define "notfound"}}{{template "head" "Not found"}}<main>
<h1>Not found</h1>
<p>No such message. <a href="/">Back to the mailbox</a></p>
</main>
</body>
</html>
{{end}}`))

// segment is a piece of a message's text: a link or plain text.
type segment struct {
	Text string
	Link bool
}

// segments cuts text into plain pieces and the links that links finds.
func segments(text string) []segment {
	var out []segment
	last := 0
	for _, loc := range linkRE.FindAllStringIndex(text, -1) {
		l := strings.TrimRight(text[loc[0]:loc[1]], ".,;:!?)]}")
		if len(l) <= len("https://") {
			continue
		}
		if loc[0] > last {
			out = append(out, segment{Text: text[last:loc[0]]})
		}
		out = append(out, segment{Text: l, Link: true})
		last = loc[0] + len(l)
	}
	if last < len(text) {
		out = append(out, segment{Text: text[last:]})
	}
	return out
}

// Handler serves the mailbox's pages: GET / (the list), GET
// /messages/{id} (one message with clickable links), GET /messages.json,
// GET /healthz (readiness, design §6) and the stylesheet.
func (m *Mailbox) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", m.list)
	mux.HandleFunc("GET "+MessagePath+"{id}", m.one)
	mux.HandleFunc("GET "+JSONPath, m.json)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET "+cssPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		_, _ = w.Write([]byte(css))
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) { m.render(w, http.StatusNotFound, "notfound", nil) })
	return headers(mux)
}

// headers sets the security headers of every answer; the mail holds
// secrets (reset links), so nothing is cached.
func headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

func (m *Mailbox) list(w http.ResponseWriter, _ *http.Request) {
	msgs, err := m.Messages()
	if err != nil {
		m.log.Error("mailbox: list", "err", err)
		http.Error(w, "cannot read the mailbox", http.StatusInternalServerError)
		return
	}
	slices.Reverse(msgs)
	m.render(w, http.StatusOK, "list", msgs)
}

func (m *Mailbox) one(w http.ResponseWriter, r *http.Request) {
	msg, err := m.Message(r.PathValue("id"))
	if errors.Is(err, os.ErrNotExist) {
		m.render(w, http.StatusNotFound, "notfound", nil)
		return
	}
	if err != nil {
		m.log.Error("mailbox: read message", "err", err)
		http.Error(w, "cannot read the message", http.StatusInternalServerError)
		return
	}
	m.render(w, http.StatusOK, "message", struct {
		Message
		Segments []segment
	}{msg, segments(msg.Text)})
}

func (m *Mailbox) json(w http.ResponseWriter, _ *http.Request) {
	msgs, err := m.Messages()
	if err != nil {
		m.log.Error("mailbox: list", "err", err)
		http.Error(w, "cannot read the mailbox", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(msgs)
}

func (m *Mailbox) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		m.log.Error("mailbox: render", "page", name, "err", err)
		http.Error(w, "cannot render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
