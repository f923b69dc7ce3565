package s3srv

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// listParams are the query parameters of ListObjects and ListObjectsV2; a
// bucket GET with any other parameter is another operation.
var listParams = map[string]bool{
	"list-type": true, "prefix": true, "delimiter": true, "max-keys": true, "continuation-token": true,
	"start-after": true, "fetch-owner": true, "encoding-type": true, "marker": true, "x-id": true,
	"optional-object-attributes": true,
}

func isListing(r *http.Request, q url.Values) bool {
	if r.Method != http.MethodGet {
		return false
	}
	for k := range q {
		if !listParams[k] {
			return false
		}
	}
	return true
}

// list serves ListObjects and ListObjectsV2 through gofakes3, checking
// max-keys and continuation-token as S3 does and completing the answer:
// KeyCount is written even when it is 0, MaxKeys even when it is 0.
//
// Continuation tokens are opaque to clients; this server's carry the key
// to continue after and a checksum, so that a token it did not issue is
// refused (400 InvalidArgument) instead of being read as a key.
func (s *Server) list(w http.ResponseWriter, r *http.Request, bucket string) error {
	q := r.URL.Query()
	maxKeys := 1000
	if v, ok := q["max-keys"]; ok {
		n, err := strconv.ParseInt(v[0], 10, 32)
		if err != nil {
			return &Error{http.StatusBadRequest, "InvalidArgument", "Provided max-keys not an integer or within integer range", ""}
		}
		if n < 0 {
			return &Error{http.StatusBadRequest, "InvalidArgument", "Argument maxKeys must be an integer between 0 and 2147483647", ""}
		}
		maxKeys = int(n)
	}
	v2 := q.Get("list-type") == "2"
	token, hasToken := q["continuation-token"]
	if v2 && hasToken {
		marker, ok := openToken(token[0])
		if !ok {
			return &Error{http.StatusBadRequest, "InvalidArgument", "The continuation token provided is incorrect", ""}
		}
		// gofakes3 reads its own form of token: the key, base64-encoded.
		q.Set("continuation-token", base64.URLEncoding.EncodeToString([]byte(marker)))
		r.URL.RawQuery = q.Encode()
	}
	buf := &bufferedResponse{header: w.Header(), status: http.StatusOK}
	s.fake.ServeHTTP(buf, r)
	body := buf.body.Bytes()
	if buf.status == http.StatusOK && bytes.Contains(body, []byte("<ListBucketResult")) {
		body = completeListing(body, v2, maxKeys, token)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(buf.status)
	w.Write(body) // an error here means the client is gone
	return nil
}

var (
	nextTokenRE = regexp.MustCompile(`<NextContinuationToken>([^<]*)</NextContinuationToken>`)
	tokenRE     = regexp.MustCompile(`<ContinuationToken>[^<]*</ContinuationToken>`)
)

// completeListing rewrites gofakes3's listing: this server's tokens, and
// the KeyCount and MaxKeys that gofakes3 omits when they are 0.
func completeListing(body []byte, v2 bool, maxKeys int, token []string) []byte {
	var extra string
	if !bytes.Contains(body, []byte("<MaxKeys>")) {
		extra += "<MaxKeys>" + strconv.Itoa(maxKeys) + "</MaxKeys>"
	}
	if v2 {
		body = nextTokenRE.ReplaceAllFunc(body, func(m []byte) []byte {
			inner := nextTokenRE.FindSubmatch(m)[1]
			marker, err := base64.URLEncoding.DecodeString(string(inner))
			if err != nil {
				return m
			}
			return []byte("<NextContinuationToken>" + sealToken(string(marker)) + "</NextContinuationToken>")
		})
		if len(token) > 0 {
			var esc bytes.Buffer
			xmlEscape(&esc, token[0])
			body = tokenRE.ReplaceAll(body, []byte("<ContinuationToken>"+esc.String()+"</ContinuationToken>"))
		}
		if !bytes.Contains(body, []byte("<KeyCount>")) {
			extra += "<KeyCount>0</KeyCount>"
		}
	}
	if extra == "" {
		return body
	}
	i := bytes.LastIndex(body, []byte("</ListBucketResult>"))
	if i < 0 {
		return body
	}
	return append(body[:i:i], append([]byte(extra), body[i:]...)...)
}

// sealToken makes a continuation token for the key to continue after.
func sealToken(marker string) string {
	return "1" + base64.RawURLEncoding.EncodeToString([]byte(marker)) + fmt.Sprintf(".%08x", crc32.ChecksumIEEE([]byte(marker)))
}

// openToken returns the key a token of sealToken continues after.
func openToken(tok string) (string, bool) {
	body, sum, ok := strings.Cut(strings.TrimPrefix(tok, "1"), ".")
	if !ok || !strings.HasPrefix(tok, "1") || len(sum) != 8 {
		return "", false
	}
	marker, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || fmt.Sprintf("%08x", crc32.ChecksumIEEE(marker)) != sum {
		return "", false
	}
	return string(marker), true
}

func xmlEscape(b *bytes.Buffer, s string) {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")
	b.WriteString(r.Replace(s))
}

// bufferedResponse holds gofakes3's answer so that list can complete it.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) WriteHeader(status int)      { b.status = status }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
