package mailbox_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/mailbox"
)

// FuzzParse: any bytes give a Message (maybe with an error), never a
// panic or a hang; the text is valid UTF-8 and every link is http(s).
func FuzzParse(f *testing.F) {
	f.Add([]byte(strings.ReplaceAll(multipartMail, "\n", "\r\n")))
	f.Add([]byte("Subject: x\n\nhttps://a.example/b."))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/alternative; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\n\naGk=\n--b--\n--a--\n"))
	f.Add([]byte("Content-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n<a href=3D\"http://x\">=\n"))
	f.Add([]byte("Subject: =?utf-8?b?/w==?=\n\n\xff\xfe"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, _ := mailbox.Parse(raw)
		if m.Links == nil {
			t.Fatal("nil links")
		}
		if !utf8.ValidString(m.Text) || !utf8.ValidString(m.Subject) || !utf8.ValidString(m.To) {
			t.Fatal("invalid UTF-8")
		}
		if strings.ContainsAny(m.Subject+m.To, "\r\n") {
			t.Fatalf("header with a line break: %q %q", m.Subject, m.To)
		}
		for _, l := range m.Links {
			if !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "https://") {
				t.Fatalf("link %q", l)
			}
		}
	})
}
