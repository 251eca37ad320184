package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
)

//go:embed templates/*.txt templates/*.html
var builtin embed.FS

// names are the templates a Sender knows: one pair per Template* name.
var names = []string{
	TemplateVerifyEmail, TemplateSignupExisting, TemplatePasswordReset,
	TemplatePasswordChanged, TemplateEmailChangeVerify, TemplateEmailChanged,
}

// pair is one mail's templates; html is nil for a text-only mail.
type pair struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// htmlPage wraps an HTML template (the body's content) into a document,
// so templates stay short and an operator's cannot forget the charset.
var htmlPage = htmltemplate.Must(htmltemplate.New("page").Parse(
	`<!DOCTYPE html>` + "\n" + `<html lang="en"><head><meta charset="utf-8"><title>{{.Subject}}</title></head>` +
		"\n<body>\n{{.Body}}</body></html>\n"))

// loadTemplates parses the built-in templates and, when dir is set, the
// operator's replacements (Config.TemplateDir).
func loadTemplates(dir string) (map[string]pair, error) {
	sub, _ := fs.Sub(builtin, "templates")
	out := make(map[string]pair, len(names))
	for _, n := range names {
		p, err := parsePair(sub, n, true)
		if err != nil {
			return nil, fmt.Errorf("built-in template %s: %w", n, err)
		}
		out[n] = p
	}
	if dir == "" {
		return out, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("template directory: %w", err)
	}
	known := make(map[string]bool, len(names))
	for _, n := range names {
		known[n] = true
	}
	for _, e := range ents {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".txt" && ext != ".html") {
			continue
		}
		if n := strings.TrimSuffix(e.Name(), ext); !known[n] {
			return nil, fmt.Errorf("template directory: %s is no template's file (names: %s)", e.Name(), strings.Join(names, ", "))
		}
	}
	ops := os.DirFS(dir)
	for _, n := range names {
		_, errTxt := fs.Stat(ops, n+".txt")
		_, errHTML := fs.Stat(ops, n+".html")
		switch {
		case errTxt == nil:
			p, err := parsePair(ops, n, false)
			if err != nil {
				return nil, fmt.Errorf("template %s in %s: %w", n, dir, err)
			}
			out[n] = p
		case errHTML == nil:
			return nil, fmt.Errorf("template directory: %s.html without %s.txt (the subject is the text part's first line)", n, n)
		}
	}
	return out, nil
}

// parsePair parses NAME.txt and NAME.html from fsys; the HTML file is
// optional unless needHTML.
func parsePair(fsys fs.FS, name string, needHTML bool) (pair, error) {
	var p pair
	b, err := fs.ReadFile(fsys, name+".txt")
	if err != nil {
		return p, err
	}
	if !bytes.HasPrefix(b, []byte("Subject:")) {
		return p, fmt.Errorf("%s.txt must start with a \"Subject: …\" line", name)
	}
	if p.text, err = texttemplate.New(name + ".txt").Option("missingkey=error").Parse(string(b)); err != nil {
		return p, err
	}
	b, err = fs.ReadFile(fsys, name+".html")
	if errors.Is(err, fs.ErrNotExist) && !needHTML {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	if p.html, err = htmltemplate.New(name + ".html").Option("missingkey=error").Parse(string(b)); err != nil {
		return p, err
	}
	return p, nil
}

// rendered is one mail's content.
type rendered struct {
	subject, text, html string
}

// render executes the pair with d. The subject is the text's first line
// ("Subject: …"); a blank line after it is dropped.
func (p pair) render(d Data) (rendered, error) {
	var r rendered
	var buf bytes.Buffer
	if err := p.text.Execute(&buf, d); err != nil {
		return r, err
	}
	head, body, _ := strings.Cut(buf.String(), "\n")
	r.subject = strings.TrimSpace(strings.TrimPrefix(head, "Subject:"))
	if r.subject == "" {
		return r, errors.New("empty subject")
	}
	if strings.ContainsFunc(r.subject, isControl) {
		return r, errors.New("subject has a control character")
	}
	r.text = strings.TrimPrefix(strings.TrimPrefix(body, "\r"), "\n")
	if p.html == nil {
		return r, nil
	}
	buf.Reset()
	if err := p.html.Execute(&buf, d); err != nil {
		return r, err
	}
	var page bytes.Buffer
	// Body is the trusted template's output, already escaped by
	// html/template.
	if err := htmlPage.Execute(&page, struct {
		Subject string
		Body    htmltemplate.HTML
	}{r.subject, htmltemplate.HTML(buf.String())}); err != nil { //nolint:gosec // see above
		return r, err
	}
	r.html = page.String()
	return r, nil
}

// isControl reports a C0 control character or DEL (CR and LF among them):
// none belongs in a header value.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
