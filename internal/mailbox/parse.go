package mailbox

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// Message is one received mail as the mailbox shows it. Its JSON is the
// shape of messages.json: {"id","to","subject","text","links"}.
type Message struct {
	// ID names the message's file; it sorts in the order of arrival.
	ID string `json:"id"`
	// To is the envelope's recipients (the To header when unknown).
	To string `json:"to"`
	// Subject is the decoded Subject header.
	Subject string `json:"subject"`
	// Text is the text/plain part (the HTML part without its tags when
	// there is no text part).
	Text string `json:"text"`
	// Links are the http(s) URLs in Text, in order; never nil.
	Links []string `json:"links"`
	// Received is when the mailbox got the message.
	Received time.Time `json:"-"`
}

// Limits of the MIME walk, so a crafted mail cannot make it deep or long.
const (
	maxDepth = 8
	maxParts = 64
)

// deliveredTo is the header the mailbox puts in front of a stored mail
// with the envelope's recipients.
const deliveredTo = "Delivered-To"

// Parse reads a stored or received mail (RFC 5322, MIME). It never
// panics on bad input; on an error the Message holds what could be read
// (at least Links and Text are set, possibly empty).
func Parse(raw []byte) (Message, error) {
	m := Message{Links: []string{}}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return m, fmt.Errorf("mailbox: headers: %w", err)
	}
	dec := new(mime.WordDecoder)
	decode := func(v string) string {
		if d, err := dec.DecodeHeader(v); err == nil {
			v = d
		}
		return clean(v)
	}
	m.Subject = decode(msg.Header.Get("Subject"))
	m.To = decode(msg.Header.Get(deliveredTo))
	if m.To == "" {
		m.To = decode(msg.Header.Get("To"))
	}
	var p parts
	err = p.walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, 0)
	switch {
	case p.text != nil:
		m.Text = *p.text
	case p.html != nil:
		m.Text = stripTags(*p.html)
	}
	m.Text = strings.ToValidUTF8(m.Text, "\uFFFD")
	m.Links = links(m.Text)
	if err != nil {
		return m, fmt.Errorf("mailbox: body: %w", err)
	}
	return m, nil
}

// parts collects the first text/plain and text/html parts.
type parts struct {
	text, html *string
	n          int
}

func (p *parts) walk(ctype, cte string, body io.Reader, depth int) error {
	p.n++
	if p.n > maxParts {
		return errors.New("too many parts")
	}
	mt, params := "text/plain", map[string]string(nil)
	if ctype != "" {
		var err error
		if mt, params, err = mime.ParseMediaType(ctype); err != nil {
			return fmt.Errorf("content type: %w", err)
		}
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if depth >= maxDepth {
			return errors.New("parts nested too deep")
		}
		if params["boundary"] == "" {
			return errors.New("multipart without boundary")
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := p.walk(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part, depth+1); err != nil {
				return err
			}
		}
	case mt == "text/plain" && p.text == nil:
		s, err := readDecoded(cte, body)
		p.text = &s
		return err
	case mt == "text/html" && p.html == nil:
		s, err := readDecoded(cte, body)
		p.html = &s
		return err
	}
	return nil
}

// readDecoded reads a part's body, undoing its transfer encoding.
func readDecoded(cte string, r io.Reader) (string, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	b, err := io.ReadAll(r)
	return strings.ReplaceAll(string(b), "\r\n", "\n"), err
}

// clean makes a header value one line of valid UTF-8.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// stripTags turns an HTML part into rough text: tags dropped, entities
// decoded. Good enough to find the links of an HTML-only mail.
func stripTags(h string) string {
	var b strings.Builder
	in := false
	for _, r := range h {
		switch {
		case r == '<':
			in = true
		case r == '>' && in:
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	return html.UnescapeString(b.String())
}

var linkRE = regexp.MustCompile(`https?://[^\s<>"'\x60]+`)

// links returns the http(s) URLs in text, without trailing punctuation.
func links(text string) []string {
	out := []string{}
	for _, l := range linkRE.FindAllString(text, -1) {
		l = strings.TrimRight(l, ".,;:!?)]}")
		if len(l) > len("https://") {
			out = append(out, l)
		}
	}
	return out
}
