// Command testsvc is the service the end-to-end tests run in FROM scratch
// containers. Its behaviour comes from the environment:
//
//	VERSION     printed at start and served at /version (default "dev")
//	LINES=N     print "log line 1".."log line N" at start, then stay quiet
//	SAY         print this at start, SAY_TIMES times (default 1), Go escapes
//	            such as \n, \r, \x1b and \" interpreted: colours, progress bars, JSON;
//	            {n} in it is the number of the time (1, 2, …)
//	TICK=1s     otherwise print "tick N" every TICK (every 5th also to stderr)
//	EXIT_AFTER  exit after this long, with EXIT_CODE (default 1): a crash
//	CRASH_FILE  exit with EXIT_CODE (default 1) while this file exists (looked
//	            at every 200 ms): with --restart always and the file in a bind
//	            mount, a crash loop the host starts and ends
//	LISTEN      serve HTTP here: /health, /version
//	HEALTH_STATUS  the status code /health answers with (default 200)
//	ANSWER_FILE /health answers as this file says while it exists: a status
//	            code, or "hang" (no answer at all); "testsvc answer CODE|hang"
//	            (with docker exec) writes it, "testsvc answer" removes it
//	HEALTH_FILE "testsvc health" (a HEALTHCHECK) fails while this file exists;
//	            "testsvc sick" and "testsvc well" (with docker exec) make and remove it
//	ALLOCATE=200M  on SIGUSR1 (docker kill --signal USR1), allocate this much
//	            memory (K, M or G) and touch every page of it, then go on: under
//	            docker run --memory below it, the kernel's OOM killer ends it
//
// As PID 1 in a container it gets no default signal handling, so it handles
// SIGTERM itself and exits 0 at once: `docker stop` is quick.
package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "sick" || os.Args[1] == "well") {
		// Run with docker exec: make the health check fail, or pass again.
		f := os.Getenv("HEALTH_FILE")
		if f == "" {
			fmt.Fprintln(os.Stderr, "HEALTH_FILE is not set")
			os.Exit(2)
		}
		if os.Args[1] == "sick" {
			_ = os.WriteFile(f, []byte("sick\n"), 0o644)
		} else {
			_ = os.Remove(f)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "answer" {
		// Run with docker exec: change what /health answers.
		f := os.Getenv("ANSWER_FILE")
		if f == "" {
			fmt.Fprintln(os.Stderr, "ANSWER_FILE is not set")
			os.Exit(2)
		}
		if len(os.Args) > 2 {
			_ = os.WriteFile(f, []byte(os.Args[2]+"\n"), 0o644)
		} else {
			_ = os.Remove(f)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "health" {
		if f := os.Getenv("HEALTH_FILE"); f != "" {
			if _, err := os.Stat(f); err == nil {
				fmt.Println("unhealthy:", f, "exists")
				os.Exit(1)
			}
		}
		fmt.Println("healthy")
		return
	}
	version := env("VERSION", "dev")
	fmt.Printf("testsvc %s starting\n", version)
	if say := os.Getenv("SAY"); say != "" {
		text, err := strconv.Unquote(`"` + say + `"`)
		if err != nil {
			fmt.Fprintln(os.Stderr, "SAY:", err)
			os.Exit(2)
		}
		times, _ := strconv.Atoi(env("SAY_TIMES", "1"))
		for n := 1; n <= times; n++ {
			fmt.Print(strings.ReplaceAll(text, "{n}", strconv.Itoa(n)))
		}
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	allocate := make(chan os.Signal, 1)
	if os.Getenv("ALLOCATE") != "" {
		signal.Notify(allocate, syscall.SIGUSR1)
	}
	var held [][]byte

	if addr := os.Getenv("LISTEN"); addr != "" {
		http.HandleFunc("/health", health)
		http.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, version) })
		go func() {
			if err := http.ListenAndServe(addr, nil); err != nil {
				fmt.Fprintln(os.Stderr, "listen:", err)
				os.Exit(2)
			}
		}()
	}

	var crash <-chan time.Time
	if d := os.Getenv("EXIT_AFTER"); d != "" {
		after, err := time.ParseDuration(d)
		if err != nil {
			fmt.Fprintln(os.Stderr, "EXIT_AFTER:", err)
			os.Exit(2)
		}
		crash = time.After(after)
	}

	if f := os.Getenv("CRASH_FILE"); f != "" {
		ticker := time.NewTicker(200 * time.Millisecond)
		defer ticker.Stop()
		crashing := make(chan time.Time)
		go func() {
			for now := range ticker.C {
				if _, err := os.Stat(f); err == nil {
					crashing <- now
					return
				}
			}
		}()
		crash = crashing
	}

	var tick <-chan time.Time
	if n := os.Getenv("LINES"); n != "" {
		lines, _ := strconv.Atoi(n)
		for i := 1; i <= lines; i++ {
			fmt.Printf("log line %d\n", i)
		}
	} else {
		every, err := time.ParseDuration(env("TICK", "1s"))
		if err != nil {
			every = time.Second
		}
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		tick = ticker.C
	}

	for n := 1; ; n++ {
		select {
		case <-stop:
			fmt.Println("testsvc stopping")
			return
		case <-allocate:
			size, err := parseSize(os.Getenv("ALLOCATE"))
			if err != nil {
				fmt.Fprintln(os.Stderr, "ALLOCATE:", err)
				os.Exit(2)
			}
			fmt.Printf("testsvc allocating %s\n", os.Getenv("ALLOCATE"))
			for got := int64(0); got < size; got += 1 << 20 {
				chunk := make([]byte, 1<<20)
				for i := 0; i < len(chunk); i += 4096 {
					chunk[i] = 1
				}
				held = append(held, chunk)
			}
			fmt.Printf("testsvc holds %d MiB\n", len(held))
		case <-crash:
			code, _ := strconv.Atoi(env("EXIT_CODE", "1"))
			fmt.Fprintf(os.Stderr, "testsvc crashing with code %d\n", code)
			os.Exit(code)
		case <-tick:
			fmt.Printf("tick %d\n", n)
			if n%5 == 0 {
				fmt.Fprintf(os.Stderr, "tick %d (stderr)\n", n)
			}
		}
	}
}

// health answers /health: with HEALTH_STATUS, or as ANSWER_FILE says.
func health(w http.ResponseWriter, r *http.Request) {
	answer := env("HEALTH_STATUS", "200")
	if f := os.Getenv("ANSWER_FILE"); f != "" {
		if data, err := os.ReadFile(f); err == nil {
			answer = strings.TrimSpace(string(data))
		}
	}
	if answer == "hang" {
		<-r.Context().Done()
		return
	}
	code, err := strconv.Atoi(answer)
	if err != nil {
		code = http.StatusInternalServerError
	}
	w.WriteHeader(code)
	fmt.Fprintln(w, "ok")
}

// parseSize reads a size such as 200M: bytes, or K, M, G (powers of 1024).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult = 1 << 10
	case strings.HasSuffix(s, "M"):
		mult = 1 << 20
	case strings.HasSuffix(s, "G"):
		mult = 1 << 30
	}
	n, err := strconv.ParseInt(strings.TrimRight(s, "KMG"), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size such as 200M", s)
	}
	return n * mult, nil
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
