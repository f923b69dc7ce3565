package local_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// soakApp copies every upload under in/ to out/, failing 10% of its
// invocations at random.
func soakApp() *pipeline.App {
	app := pipeline.New("soak")
	b := app.Bucket("soak-inbox")
	pipeline.OnObject(app, "copy", b.Created(triggers.Prefix("in/"), triggers.Retries(2)), func(ctx context.Context, o triggers.Object) error {
		if rand.Float64() < 0.1 {
			return errors.New("injected fault")
		}
		return b.Put(ctx, "out/"+strings.TrimPrefix(o.Key, "in/"), []byte("x"))
	}).Writes(b.Keys("out/", ""))
	return app
}

const soakChildEnv = "NANOPIPE_SOAK_CHILD" // DIR|ADDR: run the soak's dev server

func TestMain(m *testing.M) {
	if v := os.Getenv(soakChildEnv); v != "" {
		os.Exit(soakChild(v))
	}
	os.Exit(m.Run())
}

// soakChild is a dev server in a process of its own: it runs until SIGTERM
// (a clean stop) or SIGKILL.
func soakChild(v string) int {
	dir, addr, _ := strings.Cut(v, "|")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	env, err := local.Start(context.Background(), soakApp(), local.Options{Dir: dir, Addr: addr, AsyncRetryDelay: 5 * time.Millisecond})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("ready")
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := env.Close(ctx); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	return 0
}

// TestSoak writes concurrently while a dev server process is started,
// stopped cleanly and killed with SIGKILL, over and over, with 10% of the
// stage's invocations failing. Afterwards every acknowledged upload is
// stored and its event was processed or dead-lettered: none is lost.
func TestSoak(t *testing.T) {
	const cycles, writers = 10, 4
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	var mu sync.Mutex
	var acked []string
	attempts := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 5 * time.Second}
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%06d", w, n)
				req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/soak-inbox/in/"+key, strings.NewReader(key))
				resp, err := client.Do(req)
				mu.Lock()
				attempts++
				if err == nil && resp.StatusCode == 200 {
					acked = append(acked, key)
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(2 * time.Millisecond) // the server is down
					continue
				}
				resp.Body.Close()
			}
		}()
	}

	clean, killed := 0, 0
	for c := range cycles {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), soakChildEnv+"="+dir+"|"+addr)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		if strings.TrimSpace(line) != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("cycle %d: the dev server did not start: %q", c, line)
		}
		time.Sleep(time.Duration(300+rand.IntN(400)) * time.Millisecond)
		if c%2 == 0 {
			cmd.Process.Signal(syscall.SIGTERM)
			clean++
		} else {
			cmd.Process.Kill()
			killed++
		}
		err = cmd.Wait()
		if c%2 == 0 && err != nil {
			t.Errorf("cycle %d: the clean stop failed: %v", c, err)
		}
	}
	close(stop)
	wg.Wait()

	// A last start delivers what is still queued.
	env, err := local.Start(context.Background(), soakApp(), local.Options{Dir: dir, Addr: "127.0.0.1:0", AsyncRetryDelay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(context.Background())
	idle(t, env)

	stored := map[string]bool{}
	p := s3.NewListObjectsV2Paginator(env.S3Client(), &s3.ListObjectsV2Input{Bucket: aws.String("soak-inbox")})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			stored[*o.Key] = true
		}
	}
	lettered := map[string]bool{}
	for _, l := range letters(t, env) {
		lettered[strings.TrimPrefix(l.Summary, "ObjectCreated:Put s3://soak-inbox/in/")] = true
	}
	present, processed, deadLettered, lost := 0, 0, 0, 0
	for _, k := range acked {
		if !stored["in/"+k] {
			lost++
			t.Errorf("acknowledged upload in/%s is not stored", k)
			continue
		}
		present++
		switch {
		case stored["out/"+k]:
			processed++
		case lettered[k]:
			deadLettered++
		default:
			lost++
			t.Errorf("the event of acknowledged upload in/%s was neither processed nor dead-lettered", k)
		}
	}
	t.Logf("soak: %d cycles (%d clean stops, %d kill -9), %d PUTs, %d acknowledged, %d stored, %d processed, %d dead-lettered, %d lost",
		cycles, clean, killed, attempts, len(acked), present, processed, deadLettered, lost)
	if len(acked) == 0 {
		t.Fatal("no upload was acknowledged")
	}
}
