package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// traced returns cfg with a middleware that records each AWS call of a
// sampled invocation as an X-Ray subsegment, sent to the X-Ray daemon
// Lambda runs at daemon (AWS_XRAY_DAEMON_ADDRESS). Calls outside a sampled
// invocation cost a context lookup.
func traced(cfg aws.Config, daemon string) aws.Config {
	x := &xraySender{addr: daemonUDP(daemon)}
	cfg.APIOptions = append(append([]func(*middleware.Stack) error(nil), cfg.APIOptions...), func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("NanopipeXRay", x.handle), middleware.Before)
	})
	return cfg
}

// daemonUDP is the UDP address in AWS_XRAY_DAEMON_ADDRESS, which is
// "host:port" or "tcp:host:port udp:host:port".
func daemonUDP(v string) string {
	for _, f := range strings.Fields(v) {
		if a, ok := strings.CutPrefix(f, "udp:"); ok {
			return a
		}
	}
	if v == "" || strings.Contains(v, "tcp:") {
		return "127.0.0.1:2000"
	}
	return v
}

// traceHeader returns the root and parent of the invocation's trace when
// it is sampled: aws-lambda-go puts the X-Amzn-Trace-Id header into the
// context (and _X_AMZN_TRACE_ID).
func traceHeader(ctx context.Context) (root, parent string, ok bool) {
	h, _ := ctx.Value("x-amzn-trace-id").(string)
	if h == "" {
		h = os.Getenv("_X_AMZN_TRACE_ID")
	}
	sampled := false
	for _, part := range strings.Split(h, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Root":
			root = v
		case "Parent":
			parent = v
		case "Sampled":
			sampled = v == "1"
		}
	}
	return root, parent, sampled && root != "" && parent != ""
}

type xraySender struct {
	addr string
	once sync.Once
	conn net.Conn
}

// subsegment is the X-Ray segment document of one AWS call.
type subsegment struct {
	Name      string         `json:"name"`
	ID        string         `json:"id"`
	TraceID   string         `json:"trace_id"`
	ParentID  string         `json:"parent_id"`
	Type      string         `json:"type"`
	StartTime float64        `json:"start_time"`
	EndTime   float64        `json:"end_time"`
	Namespace string         `json:"namespace"`
	AWS       map[string]any `json:"aws"`
	HTTP      map[string]any `json:"http,omitempty"`
	Error     bool           `json:"error,omitempty"`
	Fault     bool           `json:"fault,omitempty"`
	Throttle  bool           `json:"throttle,omitempty"`
}

func (x *xraySender) handle(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	root, parent, ok := traceHeader(ctx)
	if !ok {
		return next.HandleInitialize(ctx, in)
	}
	start := time.Now()
	out, md, err := next.HandleInitialize(ctx, in)
	end := time.Now()

	var id [8]byte
	rand.Read(id[:])
	seg := subsegment{
		Name:      awsmiddleware.GetServiceID(ctx),
		ID:        hex.EncodeToString(id[:]),
		TraceID:   root,
		ParentID:  parent,
		Type:      "subsegment",
		StartTime: float64(start.UnixMicro()) / 1e6,
		EndTime:   float64(end.UnixMicro()) / 1e6,
		Namespace: "aws",
		AWS:       map[string]any{"operation": awsmiddleware.GetOperationName(ctx), "region": awsmiddleware.GetRegion(ctx)},
	}
	if rid, ok := awsmiddleware.GetRequestIDMetadata(md); ok {
		seg.AWS["request_id"] = rid
	}
	status := 0
	if resp, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok && resp != nil {
		status = resp.StatusCode
	} else {
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) && re.Response != nil {
			status = re.Response.StatusCode
		}
	}
	if status != 0 {
		seg.HTTP = map[string]any{"response": map[string]any{"status": status}}
	}
	switch {
	case status == 429:
		seg.Error, seg.Throttle = true, true
	case status >= 400 && status < 500:
		seg.Error = true
	case err != nil:
		seg.Fault = true
	}
	x.send(seg)
	return out, md, err
}

// send writes the document to the daemon; tracing never fails a call.
func (x *xraySender) send(seg subsegment) {
	x.once.Do(func() { x.conn, _ = net.Dial("udp", x.addr) })
	if x.conn == nil {
		return
	}
	doc, err := json.Marshal(seg)
	if err != nil {
		return
	}
	x.conn.Write(append([]byte("{\"format\": \"json\", \"version\": 1}\n"), doc...))
}
