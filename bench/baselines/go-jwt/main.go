// Baseline: the Zendesk Support SDK JWT endpoint on Go's net/http and
// golang-jwt/jwt v4, written the way a Go engineer would with the standard
// library plus one JWT package: the JWKS fetched with net/http and parsed once
// into *rsa.PublicKey values cached by kid, jwt.Parser with an RS256-only
// algorithm allow-list, typed claims, HS256 signing with the secret as []byte.
//
// Built from Debian's packages with no module download (bench/run does this):
//
//	apt-get install golang-go golang-github-golang-jwt-jwt-dev
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o go-jwt .
//
//	PORT=18080 JWKS_URL=http://127.0.0.1:18081/jwks.json ISSUER=http://127.0.0.1:18081 \
//	AUDIENCE=bench-client ZENDESK_SECRET=... ./go-jwt
//
// POST /sdk/mobile/jwt   user_token=<RS256 ID token>  ->  200 {"jwt": "<HS256 Zendesk JWT>"}
//
//	401 {"error": "invalid_token"}
//	400 {"error": "invalid_request"}  (no user_token)
//
// GET  /readyz           200 once the server listens
// GET  /healthz          200
//
// Processes: one process; the Go runtime schedules goroutines over GOMAXPROCS
// threads, which defaults to the number of CPUs, so every core is used without
// forking workers. WORKERS=n sets GOMAXPROCS to n (WORKERS=1: the single-core
// shape the other baselines get with WORKERS=1).
//
// Keys: like jwks-rsa and jose's createRemoteJWKSet, fetched on first use and
// cached by kid (parsed once); an unknown kid triggers a refetch at most once a
// minute (jwks-rsa's rate limit), and a key set older than ten minutes is
// refetched on the next request (jwks-rsa's and jose's cache max age).
package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt"
)

const (
	maxBody         = 16 << 10
	jwksMaxAge      = 10 * time.Minute
	jwksMinInterval = time.Minute
)

func mustEnv(name string) string {
	v := os.Getenv(name)
	if v == "" {
		fmt.Fprintf(os.Stderr, "missing environment variable %s\n", name)
		os.Exit(2)
	}
	return v
}

// ---------------------------------------------------------------- keys

type keySet struct {
	keys    map[string]*rsa.PublicKey
	fetched time.Time
}

// jwksCache holds the parsed keys of one JWKS URL. Readers load the current
// set without locking; fetches are serialised by mu.
type jwksCache struct {
	url    string
	client *http.Client

	current atomic.Pointer[keySet]

	mu          sync.Mutex // held while fetching
	lastAttempt time.Time
}

var errUnknownKid = errors.New("no key for this kid")

func (c *jwksCache) lookup(set *keySet, kid string) *rsa.PublicKey {
	if set == nil {
		return nil
	}
	if kid == "" && len(set.keys) == 1 { // no kid in the header: a single key is unambiguous
		for _, k := range set.keys {
			return k
		}
	}
	return set.keys[kid]
}

// key returns the public key for kid, fetching the key set when it is missing,
// stale, or does not hold kid (at most once per jwksMinInterval).
func (c *jwksCache) key(kid string) (*rsa.PublicKey, error) {
	set := c.current.Load()
	if k := c.lookup(set, kid); k != nil && time.Since(set.fetched) < jwksMaxAge {
		return k, nil
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	// Another request may have fetched while this one waited.
	set = c.current.Load()
	k := c.lookup(set, kid)
	if k != nil && time.Since(set.fetched) < jwksMaxAge {
		return k, nil
	}
	if !c.lastAttempt.IsZero() && time.Since(c.lastAttempt) < jwksMinInterval {
		if k != nil {
			return k, nil // stale, but refetching is rate-limited
		}
		return nil, errUnknownKid
	}
	c.lastAttempt = time.Now()
	fresh, err := c.fetch()
	if err != nil {
		log.Printf("jwks: %v", err)
		if k != nil {
			return k, nil // keep serving the cached key while the provider is unreachable
		}
		return nil, err
	}
	c.current.Store(fresh)
	if k = c.lookup(fresh, kid); k == nil {
		return nil, errUnknownKid
	}
	return k, nil
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// fetch is not tied to the request that triggered it: the client's timeout bounds it.
func (c *jwksCache) fetch() (*keySet, error) {
	req, err := http.NewRequest(http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", c.url, resp.StatusCode)
	}
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("GET %s: %w", c.url, err)
	}
	set := &keySet{keys: make(map[string]*rsa.PublicKey, len(doc.Keys)), fetched: time.Now()}
	for _, k := range doc.Keys {
		if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "RS256") {
			continue
		}
		pub, err := rsaKey(k.N, k.E)
		if err != nil {
			log.Printf("jwks: skipping key %q: %v", k.Kid, err)
			continue
		}
		set.keys[k.Kid] = pub
	}
	return set, nil
}

func rsaKey(n, e string) (*rsa.PublicKey, error) {
	nb, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(n, "="))
	if err != nil {
		return nil, fmt.Errorf("n: %w", err)
	}
	eb, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(e, "="))
	if err != nil {
		return nil, fmt.Errorf("e: %w", err)
	}
	if len(eb) == 0 || len(eb) > 4 {
		return nil, errors.New("e out of range")
	}
	exp := 0
	for _, b := range eb {
		exp = exp<<8 | int(b)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: exp}
	if pub.N.BitLen() < 2048 || exp < 3 || exp%2 == 0 {
		return nil, errors.New("weak or malformed RSA key")
	}
	return pub, nil
}

// ---------------------------------------------------------------- tokens

// idClaims are the claims read from the upstream ID token.
type idClaims struct {
	jwt.RegisteredClaims
	Email string `json:"email"`
	Name  string `json:"name"`
}

// zendeskClaims are the claims of the Zendesk SDK JWT: iat (whole seconds),
// jti (never reused), email, name, external_id.
type zendeskClaims struct {
	IssuedAt   int64  `json:"iat"`
	ID         string `json:"jti"`
	Email      string `json:"email"`
	Name       string `json:"name"`
	ExternalID string `json:"external_id"`
}

func (zendeskClaims) Valid() error { return nil }

type service struct {
	jwks     *jwksCache
	parser   *jwt.Parser
	issuer   string
	audience string
	secret   []byte
}

func (s *service) verify(raw string) (*idClaims, error) {
	claims := new(idClaims)
	_, err := s.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (interface{}, error) {
		kid, _ := t.Header["kid"].(string)
		return s.jwks.key(kid)
	})
	if err != nil {
		return nil, err
	}
	// Valid() has checked exp, nbf and iat when present (no leeway, like the
	// other baselines' defaults); issuer, audience and exp are required here.
	switch {
	case !claims.VerifyIssuer(s.issuer, true):
		return nil, errors.New("wrong issuer")
	case !claims.VerifyAudience(s.audience, true):
		return nil, errors.New("wrong audience")
	case claims.ExpiresAt == nil:
		return nil, errors.New("no exp")
	}
	return claims, nil
}

func newJTI() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// ---------------------------------------------------------------- HTTP

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (s *service) sdkJWT(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method_not_allowed"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	userToken := r.PostFormValue("user_token") // parses an application/x-www-form-urlencoded body only
	if userToken == "" {
		writeJSON(w, http.StatusBadRequest, errorBody{"invalid_request", "user_token is required"})
		return
	}
	claims, err := s.verify(userToken)
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: "invalid_token"})
		return
	}
	if claims.Subject == "" || claims.Email == "" || claims.Name == "" {
		writeJSON(w, http.StatusUnauthorized, errorBody{"invalid_token", "sub, email and name are required"})
		return
	}
	jti, err := newJTI()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "server_error"})
		return
	}
	// jwt.NewWithClaims writes the header {"alg":"HS256","typ":"JWT"}.
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, zendeskClaims{
		IssuedAt:   time.Now().Unix(),
		ID:         jti,
		Email:      claims.Email,
		Name:       claims.Name,
		ExternalID: claims.Subject,
	}).SignedString(s.secret)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "server_error"})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		JWT string `json:"jwt"`
	}{signed})
}

func status(v string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method_not_allowed"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": v})
	}
}

func main() {
	port := mustEnv("PORT")
	s := &service{
		jwks: &jwksCache{
			url:    mustEnv("JWKS_URL"),
			client: &http.Client{Timeout: 30 * time.Second},
		},
		parser:   jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()})),
		issuer:   mustEnv("ISSUER"),
		audience: mustEnv("AUDIENCE"),
		secret:   []byte(mustEnv("ZENDESK_SECRET")),
	}
	if v := os.Getenv("WORKERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "WORKERS must be a whole number >= 1, not %q\n", v)
			os.Exit(2)
		}
		runtime.GOMAXPROCS(n)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/sdk/mobile/jwt", s.sdkJWT)
	mux.HandleFunc("/readyz", status("ready"))
	mux.HandleFunc("/healthz", status("ok"))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "not_found"})
	})

	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.Default(),
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-done
}
