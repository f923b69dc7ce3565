package s3srv

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzRequest sends arbitrary requests to the embedded S3: no request may
// panic (ServeHTTP turns a panic into a 500 saying so, which fails here),
// every answer has a valid status, and no key that is not UTF-8 is stored.
// Its seeds run as a normal test.
func FuzzRequest(f *testing.F) {
	deep := strings.Repeat("<a>", 20000) + strings.Repeat("</a>", 20000)
	seeds := []struct {
		method, target, headers, body string
	}{
		{"PUT", "/fuzz/k", "Content-Length: 5", "hello"},
		{"PUT", "/fuzz/k", "X-Amz-Content-Sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\nX-Amz-Decoded-Content-Length: 5", "-1\r\nhello\r\n0\r\n\r\n"},
		{"PUT", "/fuzz/k", "X-Amz-Content-Sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\nX-Amz-Decoded-Content-Length: 5", "5;chunk-signature=x\r\nhello\r\n0;chunk-signature=y\r\n\r\n"},
		{"PUT", "/fuzz/k", "X-Amz-Content-Sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\nX-Amz-Decoded-Content-Length: 99", "7fffffffffffffff\r\nhello"},
		{"PUT", "/fuzz/r/a%FFb", "", "x"},
		{"PUT", "/fuzz/k", "X-Amz-Meta-A: \xff", "x"},
		{"PUT", "/fuzz/dst", "X-Amz-Copy-Source: fuzz/k", ""},
		{"PUT", "/fuzz/dst", "X-Amz-Copy-Source: /fuzz/%zz?versionId=", ""},
		{"PUT", "/fuzz/dst", "X-Amz-Copy-Source: fuzz/k\nX-Amz-Metadata-Directive: BOGUS", ""},
		{"POST", "/fuzz?delete", "", `<Delete><Object><Key>k</Key></Object></Delete>`},
		{"POST", "/fuzz?delete", "", deep},
		{"POST", "/fuzz?delete", "", `<Delete><Object><Key>` + "\xff" + `</Key></Object></Delete>`},
		{"POST", "/fuzz/m?uploads", "", ""},
		{"POST", "/fuzz/m?uploadId=nope", "", `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>`},
		{"POST", "/fuzz/m?uploadId=nope", "", deep},
		{"PUT", "/fuzz/m?uploadId=nope&partNumber=-1", "", "x"},
		{"GET", "/fuzz/k", "Range: bytes=-0", ""},
		{"GET", "/fuzz/k", "Range: bytes=9223372036854775807-", ""},
		{"GET", "/fuzz/k?partNumber=99999999999999999999", "", ""},
		{"GET", "/fuzz/k?versionId=%00", "", ""},
		{"GET", "/fuzz?list-type=2&encoding-type=url", "", ""},
		{"GET", "/fuzz?versions&encoding-type=url&prefix=%FF", "", ""},
		{"GET", "/fuzz?encoding-type=base64", "", ""},
		{"PUT", "/fuzz?versioning", "", deep},
		{"PUT", "/fuzz/k?tagging", "", deep},
		{"DELETE", "/fuzz/k?versionId=null", "", ""},
		{"HEAD", "/", "", ""},
		{"PUT", "/new-bucket", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.headers, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, target, headers string, body []byte) {
		srv, err := New(Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.CreateBucket("fuzz"); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.st.put(Request{}, "fuzz", "k", nil, strings.NewReader("hello"), nil, putConditions{}, "ObjectCreated:Put"); err != nil {
			t.Fatal(err)
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || method == "" || strings.ContainsAny(method, " \t\r\n") {
			return
		}
		r := &http.Request{Method: method, URL: u, RequestURI: target, Host: "127.0.0.1", Header: http.Header{},
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, RemoteAddr: "127.0.0.1:1"}
		for _, line := range strings.Split(headers, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && k != "" {
				r.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code < 100 || w.Code > 599 {
			t.Fatalf("%s %s: status %d", method, target, w.Code)
		}
		if w.Code == 500 && strings.Contains(w.Body.String(), "panic serving") {
			t.Fatalf("%s %s panicked: %s", method, target, w.Body.String())
		}
		if key := strings.TrimPrefix(u.Path, "/fuzz/"); key != u.Path && !utf8.ValidString(key) && w.Code < 300 && (method == "PUT" || method == "POST") {
			t.Fatalf("%s %s: a key that is not UTF-8 was accepted (%d)", method, target, w.Code)
		}
	})
}
