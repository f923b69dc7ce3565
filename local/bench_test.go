package local_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// benchApp has an S3 stage and a stream stage that note when they start.
type benchApp struct {
	app     *pipeline.App
	mu      sync.Mutex
	started map[string]time.Time
	count   atomic.Int64
}

func newBenchApp(batch int) *benchApp {
	b := &benchApp{started: map[string]time.Time{}}
	b.app = pipeline.New("bench")
	bucket := b.app.Bucket("bench-in")
	table := b.app.Table("bench-items", pipeline.PartitionKey("id", pipeline.String))
	pipeline.OnObject(b.app, "objects", bucket.Created(), func(ctx context.Context, o triggers.Object) error {
		b.note(o.Key)
		return nil
	})
	pipeline.OnChange(b.app, "changes", table.Changes(triggers.BatchSize(batch)), func(ctx context.Context, c triggers.Change[Event]) error {
		b.note(c.New.ID)
		return nil
	})
	return b
}

func (b *benchApp) note(id string) {
	now := time.Now()
	b.mu.Lock()
	if _, ok := b.started[id]; !ok {
		b.started[id] = now
	}
	b.mu.Unlock()
	b.count.Add(1)
}

func (b *benchApp) startedAt(id string) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.started[id]
	return t, ok
}

func (b *benchApp) waitCount(tb testing.TB, n int64) {
	deadline := time.Now().Add(2 * time.Minute)
	for b.count.Load() < n {
		if time.Now().After(deadline) {
			tb.Fatalf("delivered %d of %d", b.count.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkStart measures starting the embedded environment (S3, DynamoDB,
// engine, endpoint) and creating the declared resources, in memory and
// with a fresh state directory.
func BenchmarkStart(b *testing.B) {
	for _, persistent := range []bool{false, true} {
		name := "memory"
		if persistent {
			name = "dir"
		}
		b.Run(name, func(b *testing.B) {
			ba := newBenchApp(100)
			var total time.Duration
			for i := 0; i < b.N; i++ {
				dir := ""
				if persistent {
					dir = b.TempDir()
				}
				t0 := time.Now()
				env, err := local.Start(context.Background(), ba.app, local.Options{Dir: dir, Addr: "127.0.0.1:0"})
				if err != nil {
					b.Fatal(err)
				}
				total += time.Since(t0)
				b.StopTimer()
				env.Close(context.Background())
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/start")
		})
	}
}

func percentiles(b *testing.B, lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.5), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}

// BenchmarkLatency measures the time from issuing a write with the SDK to
// the stage starting on its event: S3 PutObject to the S3 stage, DynamoDB
// PutItem to the stream stage. Writes are issued one at a time.
func BenchmarkLatency(b *testing.B) {
	b.Run("s3-put", func(b *testing.B) {
		ba := newBenchApp(100)
		env := start(b, ba.app, b.TempDir(), nil, 4)
		c := env.S3Client()
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			key := fmt.Sprint("lat-", i)
			t0 := time.Now()
			if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("bench-in"), Key: aws.String(key), Body: strings.NewReader("x")}); err != nil {
				b.Fatal(err)
			}
			for {
				if t, ok := ba.startedAt(key); ok {
					lat = append(lat, t.Sub(t0))
					break
				}
				time.Sleep(20 * time.Microsecond)
			}
		}
		percentiles(b, lat)
	})
	b.Run("dynamodb-put-stream", func(b *testing.B) {
		ba := newBenchApp(100)
		env := start(b, ba.app, b.TempDir(), nil, 4)
		c := env.DynamoDBClient()
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			id := fmt.Sprint("lat-", i)
			t0 := time.Now()
			_, err := c.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String("bench-items"), Item: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}}})
			if err != nil {
				b.Fatal(err)
			}
			for {
				if t, ok := ba.startedAt(id); ok {
					lat = append(lat, t.Sub(t0))
					break
				}
				time.Sleep(20 * time.Microsecond)
			}
		}
		percentiles(b, lat)
	})
}

// BenchmarkThroughput measures sustained delivery: b.N events written by
// concurrent SDK clients over HTTP, timed until the last is delivered.
func BenchmarkThroughput(b *testing.B) {
	b.Run("s3", func(b *testing.B) {
		ba := newBenchApp(100)
		env := start(b, ba.app, b.TempDir(), nil, 4)
		// The client skips the optional CRC32 of each body: it measures the
		// writer, not the environment, which ignores such checksums.
		c := s3.NewFromConfig(env.AWSConfig(), func(o *s3.Options) {
			o.BaseEndpoint = aws.String(env.Endpoint())
			o.UsePathStyle = true
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		})
		var next atomic.Int64
		b.ResetTimer()
		t0 := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1)
					if i > int64(b.N) {
						return
					}
					if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("bench-in"), Key: aws.String(fmt.Sprint("t-", i)), Body: strings.NewReader("x")}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		ba.waitCount(b, int64(b.N))
		b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "events/s")
	})
	b.Run("stream", func(b *testing.B) {
		ba := newBenchApp(100)
		env := start(b, ba.app, b.TempDir(), nil, 4)
		c := env.DynamoDBClient()
		var next atomic.Int64
		b.ResetTimer()
		t0 := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(25) - 25
					if i >= int64(b.N) {
						return
					}
					var reqs []types.WriteRequest
					for j := i; j < min(i+25, int64(b.N)); j++ {
						reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: fmt.Sprint("t-", j)}}}})
					}
					if _, err := c.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"bench-items": reqs}}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		ba.waitCount(b, int64(b.N))
		b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "events/s")
	})
}
