package local

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/nanopipe/nanopipe/local/internal/awsconf"
	"github.com/nanopipe/nanopipe/local/internal/dynamolocal"
	"github.com/nanopipe/nanopipe/local/internal/dynamosrv"
	"github.com/nanopipe/nanopipe/local/internal/engine"
	"github.com/nanopipe/nanopipe/local/internal/s3srv"
	"github.com/nanopipe/nanopipe/local/internal/versity"
	"github.com/nanopipe/nanopipe/pipeline"
)

// Backend names, as Options.DynamoDB and Options.S3 (and the dev
// command's --dynamodb and --s3 flags) take them.
const (
	// Embedded is the in-process S3 or DynamoDB with Streams: the
	// default, nothing to install.
	Embedded = "embedded"
	// DynamoDBLocal is AWS's DynamoDB Local:
	// "dynamodb-local" starts it, with its database under the state
	// directory (in memory without one); "dynamodb-local:URL" uses one
	// already running at URL (started with -sharedDb).
	DynamoDBLocal = "dynamodb-local"
	// VersityGW is the versitygw S3 gateway with its event webhook:
	// "versitygw" starts it, with its objects under the
	// state directory (a temporary one without it);
	// "versitygw:URL?webhook=127.0.0.1:PORT" uses a gateway already running
	// at URL, started with --access local --secret local and
	// --event-webhook-url http://127.0.0.1:PORT/.
	VersityGW = "versitygw"
)

// backends holds the external servers an Environment uses instead of the
// embedded ones; a nil field means the embedded one.
type backends struct {
	ddb        *dynamolocal.Server // started by Start, or given in Options
	ownDDB     bool
	ddbHandler http.Handler
	ddbClient  *dynamodb.Client
	streams    *dynamolocal.Streams
	s3         *versity.Server
}

// parseBackend splits "name" or "name:URL".
func parseBackend(flag, spec string, names ...string) (name, target string, err error) {
	if spec == "" {
		return Embedded, "", nil
	}
	name, target, _ = strings.Cut(spec, ":")
	for _, n := range names {
		if name == n {
			if name == Embedded && target != "" {
				break
			}
			return name, target, nil
		}
	}
	return "", "", fmt.Errorf("local: %s backend %q: use %s", flag, spec, strings.Join(names, ", ")+" (external ones may take :URL)")
}

// openBackends opens the embedded stores, or starts or reaches the
// external servers, that opts select.
func (e *Environment) openBackends(ctx context.Context, sub func(string) string) error {
	opts := e.opts
	dname, dtarget, err := parseBackend("DynamoDB", opts.DynamoDB, Embedded, DynamoDBLocal)
	if err != nil {
		return err
	}
	sname, starget, err := parseBackend("S3", opts.S3, Embedded, VersityGW)
	if err != nil {
		return err
	}
	if opts.dynamoDBLocal != nil {
		dname = DynamoDBLocal
	}
	switch {
	case dname == Embedded:
		if e.ddb, err = dynamosrv.Open(dynamosrv.Options{Dir: sub("dynamodb"), Region: awsconf.Region, Shards: opts.Shards}); err != nil {
			return err
		}
	case opts.dynamoDBLocal != nil:
		e.ext.ddb = opts.dynamoDBLocal
	case dtarget != "":
		u, err := url.Parse(dtarget)
		if err != nil || u.Host == "" {
			return fmt.Errorf("local: DynamoDB Local URL %q: want http://HOST:PORT", dtarget)
		}
		e.ext.ddb = &dynamolocal.Server{Endpoint: "http://" + u.Host}
	default:
		dbPath := ""
		if d := sub("dynamodb-local"); d != "" {
			dbPath = d
		}
		srv, err := dynamolocal.Start(ctx, dynamolocal.Options{DBPath: dbPath})
		if err != nil {
			return fmt.Errorf("local: %w", err)
		}
		e.ext.ddb, e.ext.ownDDB = srv, true
	}
	if e.ext.ddb != nil {
		cfg := awsconf.Config()
		// The engine reads DynamoDB Local directly (through its network
		// namespace when it has one), with its responses corrected.
		cfg.HTTPClient = &http.Client{Transport: dynamolocal.FixResponses(e.ext.ddb.Transport(), awsconf.Region)}
		ep := aws.String(e.ext.ddb.Endpoint)
		e.ext.ddbClient = dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = ep })
		st := dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) { o.BaseEndpoint = ep })
		e.ext.streams = dynamolocal.NewStreams(e.ext.ddbClient, st)
		e.ext.ddbHandler = e.ext.ddb.Handler(awsconf.Region, e.ext.streams.Touch)
	}
	switch {
	case sname == Embedded:
		if e.s3mem, err = s3srv.New(s3srv.Options{Dir: sub("s3"), Region: awsconf.Region}); err != nil {
			return err
		}
	default:
		vo := versity.Options{Dir: sub("versitygw"), Region: awsconf.Region}
		if starget != "" {
			u, err := url.Parse(starget)
			if err != nil || u.Host == "" {
				return fmt.Errorf("local: versitygw URL %q: want http://HOST:PORT?webhook=127.0.0.1:PORT", starget)
			}
			vo.WebhookAddr = u.Query().Get("webhook")
			if vo.WebhookAddr == "" {
				return fmt.Errorf("local: versitygw URL %q: name the address its --event-webhook-url posts to, as ?webhook=127.0.0.1:PORT", starget)
			}
			u.RawQuery = ""
			vo.Endpoint = u.String()
		}
		srv, err := versity.Start(ctx, vo)
		if err != nil {
			return fmt.Errorf("local: %w", err)
		}
		e.ext.s3 = srv
	}
	return nil
}

func (e *Environment) closeBackends() error {
	var errs []error
	if e.ext.s3 != nil {
		errs = append(errs, e.ext.s3.Close())
	}
	if e.ext.ownDDB {
		errs = append(errs, e.ext.ddb.Close())
	}
	return errors.Join(errs...)
}

// objectSource is where the engine gets S3 events from.
func (e *Environment) objectSource() engine.ObjectSource {
	if e.ext.s3 != nil {
		return e.ext.s3
	}
	return objectSource{e.s3mem}
}

// streamSource is where the engine reads table streams from.
func (e *Environment) streamSource() engine.StreamSource {
	if e.ext.streams != nil {
		return e.ext.streams
	}
	return embeddedStreams{e.ddb}
}

func (e *Environment) s3Handler() http.Handler {
	if e.ext.s3 != nil {
		return e.ext.s3
	}
	return e.s3mem
}

func (e *Environment) dynamoHandler() http.Handler {
	if e.ext.ddbHandler != nil {
		return e.ext.ddbHandler
	}
	return e.ddb
}

// Backends names the backends in use, as the dev command prints them:
// "embedded", "dynamodb-local (private network namespace)", ...
func (e *Environment) Backends() (s3, dynamoDB string) {
	s3, dynamoDB = Embedded, Embedded
	if e.ext.s3 != nil {
		s3 = VersityGW + " " + e.ext.s3.Endpoint()
	}
	if e.ext.ddb != nil {
		dynamoDB = DynamoDBLocal
		if e.ext.ddb.Isolated {
			dynamoDB += " (in a private network namespace)"
		} else {
			dynamoDB += " " + e.ext.ddb.Endpoint
		}
	}
	return s3, dynamoDB
}

func (e *Environment) createBucket(b *pipeline.Bucket) error {
	if e.ext.s3 != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return e.ext.s3.CreateBucket(ctx, b.Name(), b.IsVersioned())
	}
	if err := e.s3mem.CreateBucket(b.Name()); err != nil {
		return fmt.Errorf("local: create bucket %s: %w", b.Name(), err)
	}
	if b.IsVersioned() {
		if err := e.s3mem.SetVersioning(b.Name(), "Enabled"); err != nil {
			return fmt.Errorf("local: enable versioning on %s: %w", b.Name(), err)
		}
	}
	return nil
}

// ensureTable creates a declared table, or brings its stream, time to
// live and global indexes in line with the declaration when it exists.
func (e *Environment) ensureTable(t dynamosrv.Table) error {
	if e.ext.ddbClient == nil {
		return e.indexFix(e.ddb.Ensure(t))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := e.ext.ddbClient
	d, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.Name)})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		in := &dynamodb.CreateTableInput{
			TableName:            aws.String(t.Name),
			BillingMode:          types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(t.PK.Name), AttributeType: types.ScalarAttributeType(t.PK.Type)}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(t.PK.Name), KeyType: types.KeyTypeHash}},
		}
		if t.SK != nil {
			in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(t.SK.Name), AttributeType: types.ScalarAttributeType(t.SK.Type)})
			in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String(t.SK.Name), KeyType: types.KeyTypeRange})
		}
		if t.StreamView != "" {
			in.StreamSpecification = &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewType(t.StreamView)}
		}
		addIndexes(in, t.Indexes)
		if _, err := c.CreateTable(ctx, in); err != nil {
			return fmt.Errorf("local: create table %s in DynamoDB Local: %w", t.Name, err)
		}
	case err != nil:
		return fmt.Errorf("local: describe table %s in DynamoDB Local: %w", t.Name, err)
	default:
		if err := e.addIndexesDDBLocal(c, t, d.Table); err != nil {
			return e.indexFix(err)
		}
		cur := d.Table.StreamSpecification
		on := cur != nil && aws.ToBool(cur.StreamEnabled)
		if on && (t.StreamView == "" || string(cur.StreamViewType) != t.StreamView) {
			if _, err := c.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String(t.Name), StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(false)}}); err != nil {
				return fmt.Errorf("local: disable the stream of %s in DynamoDB Local: %w", t.Name, err)
			}
			on = false
		}
		if !on && t.StreamView != "" {
			if _, err := c.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String(t.Name), StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewType(t.StreamView)}}); err != nil {
				return fmt.Errorf("local: enable the stream of %s in DynamoDB Local: %w", t.Name, err)
			}
		}
	}
	if t.TTLAttr != "" {
		_, err := c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(t.Name), TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(t.TTLAttr), Enabled: aws.Bool(true)}})
		var ve interface{ ErrorMessage() string }
		if err != nil && !(errors.As(err, &ve) && strings.Contains(ve.ErrorMessage(), "already enabled")) {
			return fmt.Errorf("local: time to live of %s in DynamoDB Local: %w", t.Name, err)
		}
	}
	return nil
}

// streamARN returns the ARN of a table's enabled stream, "" without one.
func (e *Environment) streamARN(table string) string {
	if e.ext.streams != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		arn, _ := e.ext.streams.StreamARN(ctx, table)
		return arn
	}
	if arn, on, err := e.ddb.StreamARN(table); err == nil && on {
		return arn
	}
	return ""
}

// backendFlags declares the --s3 and --dynamodb flags of the commands that
// start an environment.
func backendFlags(fs *flag.FlagSet) (s3, dynamoDB *string) {
	s3 = fs.String("s3", Embedded, "where buckets live: embedded, versitygw (started here, from .tools/bin), or versitygw:URL?webhook=127.0.0.1:PORT (a running gateway)")
	dynamoDB = fs.String("dynamodb", Embedded, "where tables live: embedded, dynamodb-local (started here, from .tools/dynamodb-local), or dynamodb-local:URL (a running one, with -sharedDb)")
	return s3, dynamoDB
}

// addIndexes adds a table's secondary indexes to its creation, projecting
// every attribute.
func addIndexes(in *dynamodb.CreateTableInput, ixs []dynamosrv.Index) {
	defined := map[string]bool{}
	for _, d := range in.AttributeDefinitions {
		defined[aws.ToString(d.AttributeName)] = true
	}
	for _, ix := range ixs {
		var ks []types.KeySchemaElement
		for _, k := range []struct {
			d    *dynamosrv.KeyDef
			role types.KeyType
		}{{&ix.PK, types.KeyTypeHash}, {ix.SK, types.KeyTypeRange}} {
			if k.d == nil {
				continue
			}
			ks = append(ks, types.KeySchemaElement{AttributeName: aws.String(k.d.Name), KeyType: k.role})
			if !defined[k.d.Name] {
				defined[k.d.Name] = true
				in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(k.d.Name), AttributeType: types.ScalarAttributeType(k.d.Type)})
			}
		}
		p := &types.Projection{ProjectionType: types.ProjectionTypeAll}
		if ix.Local {
			in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{IndexName: aws.String(ix.Name), KeySchema: ks, Projection: p})
		} else {
			in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{IndexName: aws.String(ix.Name), KeySchema: ks, Projection: p})
		}
	}
}
