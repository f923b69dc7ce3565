package s3srv

import (
	"net/url"
	"strings"
)

// EncodeKey form-encodes a key as S3 writes keys into event records: a
// space becomes "+", reserved bytes %XX, and "/" stays.
func EncodeKey(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}
