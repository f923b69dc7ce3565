package dynamolocal

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// fixTransport corrects what DynamoDB Local writes differently from
// DynamoDB in its responses: in GetRecords, an empty map attribute is
// written {} instead of {"M":{}} (aws-sdk-go-v2 then decodes it as a
// wrong value), and awsRegion is "ddblocal".
type fixTransport struct {
	rt     http.RoundTripper
	region string
}

// FixResponses wraps rt so that DynamoDB Local's responses read as
// DynamoDB's: see the package comment. region replaces "ddblocal" in the
// records' awsRegion.
func FixResponses(rt http.RoundTripper, region string) http.RoundTripper {
	return &fixTransport{rt: rt, region: region}
}

func (t *fixTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK || r.Header.Get("X-Amz-Target") != "DynamoDBStreams_20120810.GetRecords" {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	body = FixRecords(body, t.region)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp.Header.Del("X-Amz-Crc32")
	return resp, nil
}

// FixRecords rewrites a GetRecords response body of DynamoDB Local: empty
// maps become {"M":{}} and awsRegion "ddblocal" becomes region. A body it
// cannot parse is returned as it is.
func FixRecords(body []byte, region string) []byte {
	if !bytes.Contains(body, []byte("{}")) && !bytes.Contains(body, []byte(`"ddblocal"`)) {
		return body
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var out map[string]any
	if dec.Decode(&out) != nil {
		return body
	}
	recs, _ := out["Records"].([]any)
	for _, r := range recs {
		rec, ok := r.(map[string]any)
		if !ok {
			continue
		}
		if rec["awsRegion"] == "ddblocal" && region != "" {
			rec["awsRegion"] = region
		}
		d, _ := rec["dynamodb"].(map[string]any)
		for _, k := range []string{"Keys", "NewImage", "OldImage"} {
			if m, ok := d[k].(map[string]any); ok {
				fixMap(m)
			}
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(out) != nil {
		return body
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// fixMap fixes the attribute values of a map of attributes.
func fixMap(m map[string]any) {
	for k, v := range m {
		m[k] = fixValue(v)
	}
}

func fixValue(v any) any {
	av, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if len(av) == 0 {
		return map[string]any{"M": map[string]any{}}
	}
	if m, ok := av["M"].(map[string]any); ok {
		fixMap(m)
	}
	if l, ok := av["L"].([]any); ok {
		for i := range l {
			l[i] = fixValue(l[i])
		}
	}
	return av
}

// isWrite reports whether a DynamoDB operation (X-Amz-Target) may write
// stream records.
func isWrite(target string) bool {
	op, ok := strings.CutPrefix(target, "DynamoDB_20120810.")
	if !ok {
		return false
	}
	switch op {
	case "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems", "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction":
		return true
	}
	return false
}
