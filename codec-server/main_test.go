package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/golang-jwt/jwt/v5"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/k2kinvoice/autoinvoice/internal/payloadcrypt"
)

// The codec server as the command builds it from its environment, with an identity provider
// played by an httptest server that publishes a JWKS of keys made here.

const (
	issuer     = "https://idp.test/realms/k2k"
	audience   = "k2k-codec"
	staticCred = "cli-static-token-0123456789"
	secret     = "INV-SECRET-42"
)

// idp is an identity provider: signing keys and the JWKS it publishes (which can change, as when
// the provider rotates a key in).
type idp struct {
	rsaKey *rsa.PrivateKey
	ecKey  *ecdsa.PrivateKey
	mu     sync.Mutex
	jwks   []map[string]string
	srv    *httptest.Server
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{rsaKey: rsaKey, ecKey: ecKey}
	p.publish(t, "rsa-1", rsaKey.Public())
	p.publish(t, "ec-1", ecKey.Public())
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/jwks":
		case "/empty":
			_, _ = io.WriteString(w, `{"keys":[]}`)
			return
		default:
			http.NotFound(w, r)
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": p.jwks})
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// publish adds a public key to the JWKS, as RFC 7517 writes it.
func (p *idp) publish(t *testing.T, kid string, pub crypto.PublicKey) {
	t.Helper()
	var jwk map[string]string
	switch k := pub.(type) {
	case *rsa.PublicKey:
		jwk = map[string]string{"kty": "RSA", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		point, err := k.Bytes() // 0x04 || X || Y
		if err != nil {
			t.Fatal(err)
		}
		jwk = map[string]string{"kty": "EC", "crv": "P-256", "x": b64(point[1:33]), "y": b64(point[33:])}
	default:
		t.Fatalf("unexpected key %T", pub)
	}
	jwk["kid"], jwk["use"] = kid, "sig"
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jwks = append(p.jwks, jwk)
}

func (p *idp) jwksURL() string { return p.srv.URL + "/jwks" }

// claims are a valid access token's, for the subject.
func claims(sub string) jwt.RegisteredClaims {
	now := time.Now()
	return jwt.RegisteredClaims{Issuer: issuer, Subject: sub, Audience: jwt.ClaimStrings{audience},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute))}
}

func sign(t *testing.T, method jwt.SigningMethod, kid string, c jwt.Claims, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const testKeys = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="

// parseCLI reads the command's configuration from env as the command does (kong, with its
// validation), for "run".
func parseCLI(t *testing.T, env map[string]string) (*cli, error) {
	t.Helper()
	for _, name := range []string{"K2K_CODEC_AUTH_TOKEN", "K2K_CODEC_JWKS_URL", "K2K_CODEC_JWT_ISSUER", "K2K_CODEC_JWT_AUDIENCE"} {
		t.Setenv(name, env[name])
	}
	var c cli
	parser, err := kong.New(&c, kong.Exit(func(int) { t.Fatal("kong tried to exit") }))
	if err != nil {
		t.Fatal(err)
	}
	_, err = parser.Parse([]string{"run"})
	return &c, err
}

// codecServer starts the codec server configured by env; the access log goes to the buffer.
func codecServer(t *testing.T, env map[string]string) (*httptest.Server, *bytes.Buffer) {
	t.Helper()
	c, err := parseCLI(t, env)
	if err != nil {
		t.Fatalf("configuration refused: %v", err)
	}
	var logged bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h, err := newHandler(ctx, c, testKeys, slog.New(slog.NewJSONHandler(&logged, nil)))
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, &logged
}

// sealedBody is a /decode request body: the secret sealed with the test keys.
func sealedBody(t *testing.T) []byte {
	t.Helper()
	codec, err := payloadcrypt.ParseKeys(testKeys)
	if err != nil {
		t.Fatal(err)
	}
	encoded, err := converter.GetDefaultDataConverter().ToPayloads(secret)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := codec.Encode(encoded.GetPayloads())
	if err != nil {
		t.Fatal(err)
	}
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: sealed})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// decode posts /decode as the Temporal UI does, with authorization as the Authorization header.
func decode(t *testing.T, srv *httptest.Server, authorization string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/decode", bytes.NewReader(sealedBody(t)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusUnauthorized && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("401 without WWW-Authenticate invalid_token: %q", resp.Header.Get("WWW-Authenticate"))
	}
	return resp.StatusCode, string(out)
}

// decodedSecret is how the secret appears in a decoded payload (JSON, base64 in protojson).
var decodedSecret = base64.StdEncoding.EncodeToString([]byte(`"` + secret + `"`))

func jwtEnv(p *idp) map[string]string {
	return map[string]string{"K2K_CODEC_JWKS_URL": p.jwksURL(), "K2K_CODEC_JWT_ISSUER": issuer,
		"K2K_CODEC_JWT_AUDIENCE": audience, "K2K_CODEC_AUTH_TOKEN": staticCred}
}

// A JWT from the identity provider (as the Temporal UI forwards it) decodes; anything short of a
// valid one is refused with 401 and a body that says why; the CLI's static token still works.
func TestJWTAndStaticTokenAuthentication(t *testing.T) {
	p := newIDP(t)
	srv, logged := codecServer(t, jwtEnv(p))
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	expired := claims("ops-alice")
	expired.IssuedAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Hour))
	expired.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	wrongIssuer := claims("ops-alice")
	wrongIssuer.Issuer = "https://evil.test/"
	wrongAudience := claims("ops-alice")
	wrongAudience.Audience = jwt.ClaimStrings{"some-other-app"}
	noSubject := claims("")
	noExpiry := claims("ops-alice")
	noExpiry.ExpiresAt = nil
	none := sign(t, jwt.SigningMethodNone, "rsa-1", claims("ops-alice"), jwt.UnsafeAllowNoneSignatureType)
	rsaPub, err := json.Marshal(p.jwks[0]) // HS256 keyed with the public key: the algorithm-confusion attack
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, authorization string
		status              int
		body                string // a substring of the answer
	}{
		{"RSA-signed JWT", "Bearer " + sign(t, jwt.SigningMethodRS256, "rsa-1", claims("ops-alice"), p.rsaKey), 200, decodedSecret},
		{"ECDSA-signed JWT", "Bearer " + sign(t, jwt.SigningMethodES256, "ec-1", claims("ops-bob"), p.ecKey), 200, decodedSecret},
		{"JWT without kid", "Bearer " + sign(t, jwt.SigningMethodRS256, "", claims("ops-carol"), p.rsaKey), 200, decodedSecret},
		{"scheme in lower case", "bearer " + sign(t, jwt.SigningMethodRS256, "rsa-1", claims("ops-alice"), p.rsaKey), 200, decodedSecret},
		{"static token", "Bearer " + staticCred, 200, decodedSecret},
		{"no Authorization", "", 401, "send Authorization: Bearer"},
		{"basic auth", "Basic b3BzOnB3", 401, "not a bearer token"},
		{"wrong static token", "Bearer not-the-token", 401, "neither the codec server's token nor a well-formed JWT"},
		{"wrong issuer", "Bearer " + sign(t, jwt.SigningMethodRS256, "rsa-1", wrongIssuer, p.rsaKey), 401, "issuer is not " + issuer},
		{"wrong audience", "Bearer " + sign(t, jwt.SigningMethodRS256, "rsa-1", wrongAudience, p.rsaKey), 401, "audience is not"},
		{"expired", "Bearer " + sign(t, jwt.SigningMethodRS256, "rsa-1", expired, p.rsaKey), 401, "expired"},
		{"no expiry", "Bearer " + sign(t, jwt.SigningMethodRS256, "rsa-1", noExpiry, p.rsaKey), 401, "required claim"},
		{"no subject", "Bearer " + sign(t, jwt.SigningMethodRS256, "rsa-1", noSubject, p.rsaKey), 401, "no subject"},
		{"unknown kid", "Bearer " + sign(t, jwt.SigningMethodRS256, "rotated-away", claims("ops-alice"), other), 401, `key "rotated-away", which the issuer's key set does not hold`},
		{"unknown kid again (no refetch yet)", "Bearer " + sign(t, jwt.SigningMethodRS256, "rotated-away", claims("ops-alice"), other), 401, `key "rotated-away", which the issuer's key set does not hold`},
		{"bad signature", "Bearer " + sign(t, jwt.SigningMethodRS256, "rsa-1", claims("ops-alice"), other), 401, "signature does not verify"},
		{"tampered claims", "Bearer " + tamper(t, sign(t, jwt.SigningMethodRS256, "rsa-1", claims("ops-alice"), p.rsaKey)), 401, "signature does not verify"},
		{"alg none", "Bearer " + none, 401, `signing algorithm "none" is not accepted`},
		{"HS256 with the public key", "Bearer " + sign(t, jwt.SigningMethodHS256, "rsa-1", claims("ops-alice"), rsaPub), 401, `signing algorithm "HS256" is not accepted`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := decode(t, srv, tc.authorization)
			t.Logf("%d %s", status, strings.TrimSpace(body))
			if status != tc.status || !strings.Contains(body, tc.body) {
				t.Errorf("decode = %d %q, want %d with %q", status, body, tc.status, tc.body)
			}
			if status == 401 && (!strings.HasPrefix(body, "unauthorized: ") || strings.Contains(body, decodedSecret)) {
				t.Errorf("401 body %q: want the reason, and no payload", body)
			}
		})
	}

	// The access log says who decoded (the JWT subject, or static-token) and never a payload.
	access := accessLog(t, logged)
	for _, want := range []string{"ops-alice", "ops-bob", "ops-carol", "static-token"} {
		if !slices.ContainsFunc(access, func(e map[string]any) bool { return e["who"] == want && e["status"] == 200.0 }) {
			t.Errorf("no access log entry for a decode by %s:\n%s", want, logged)
		}
	}
	if !slices.ContainsFunc(access, func(e map[string]any) bool {
		r, _ := e["refused"].(string)
		return e["status"] == 401.0 && e["who"] == "" && strings.Contains(r, "expired")
	}) {
		t.Errorf("no access log entry for the refused expired token:\n%s", logged)
	}
	if strings.Contains(logged.String(), secret) || strings.Contains(logged.String(), decodedSecret) {
		t.Errorf("the access log holds a payload:\n%s", logged)
	}
}

// tamper changes the subject of a signed JWT, keeping its signature.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = b64(bytes.Replace(payload, []byte("ops-alice"), []byte("ops-mallo"), 1))
	return strings.Join(parts, ".")
}

func accessLog(t *testing.T, logged *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(logged.String()), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if e["msg"] == "codec request" {
			out = append(out, e)
		}
	}
	return out
}

// A key the provider rotates in after the codec server started is fetched when a token names it.
func TestKeyRotatedInIsFetched(t *testing.T) {
	p := newIDP(t)
	srv, _ := codecServer(t, jwtEnv(p))
	next, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.publish(t, "ec-2", next.Public())
	if status, body := decode(t, srv, "Bearer "+sign(t, jwt.SigningMethodES256, "ec-2", claims("ops-dave"), next)); status != 200 {
		t.Errorf("decode with the rotated-in key = %d %q, want 200", status, body)
	}
}

// With only JWTs configured, a static-looking token is refused; with nothing configured, anyone
// may decode (today's development behaviour), logged as anonymous.
func TestJWTOnlyAndNoAuthentication(t *testing.T) {
	p := newIDP(t)
	env := jwtEnv(p)
	delete(env, "K2K_CODEC_AUTH_TOKEN")
	srv, _ := codecServer(t, env)
	if status, _ := decode(t, srv, "Bearer "+staticCred); status != 401 {
		t.Errorf("static token with none configured = %d, want 401", status)
	}
	if status, _ := decode(t, srv, "Bearer "+sign(t, jwt.SigningMethodRS256, "rsa-1", claims("ops-alice"), p.rsaKey)); status != 200 {
		t.Errorf("JWT = %d, want 200", status)
	}

	open, logged := codecServer(t, nil)
	if status, body := decode(t, open, ""); status != 200 || !strings.Contains(body, decodedSecret) {
		t.Errorf("decode with no authentication configured = %d %q, want 200", status, body)
	}
	if !strings.Contains(logged.String(), "neither K2K_CODEC_AUTH_TOKEN nor K2K_CODEC_JWKS_URL is set") ||
		!strings.Contains(logged.String(), `"who":"anonymous"`) {
		t.Errorf("log lacks the warning or the anonymous decode:\n%s", logged)
	}
}

// A wrong configuration stops the command at start with an error naming the variable.
func TestConfigurationErrorsNameTheVariable(t *testing.T) {
	p := newIDP(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"issuer and audience missing", map[string]string{"K2K_CODEC_JWKS_URL": p.jwksURL()},
			[]string{"K2K_CODEC_JWT_ISSUER is required", "K2K_CODEC_JWT_AUDIENCE is required"}},
		{"JWKS URL missing", map[string]string{"K2K_CODEC_JWT_ISSUER": issuer, "K2K_CODEC_JWT_AUDIENCE": audience},
			[]string{"K2K_CODEC_JWKS_URL is required"}},
		{"JWKS over http elsewhere", map[string]string{"K2K_CODEC_JWKS_URL": "http://idp.example/jwks", "K2K_CODEC_JWT_ISSUER": issuer, "K2K_CODEC_JWT_AUDIENCE": audience},
			[]string{"K2K_CODEC_JWKS_URL", "must come over https"}},
		{"JWKS URL relative", map[string]string{"K2K_CODEC_JWKS_URL": "/jwks", "K2K_CODEC_JWT_ISSUER": issuer, "K2K_CODEC_JWT_AUDIENCE": audience},
			[]string{"K2K_CODEC_JWKS_URL", "not an absolute URL"}},
		{"token with a space", map[string]string{"K2K_CODEC_AUTH_TOKEN": "two words"}, []string{"K2K_CODEC_AUTH_TOKEN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseCLI(t, tc.env)
			if err == nil {
				t.Fatal("configuration accepted")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}

	// A JWKS URL that answers no key set fails at start, not at the first decode.
	for name, tc := range map[string]struct{ url, want string }{
		"404":         {p.srv.URL + "/nowhere", "cannot fetch the key set from " + p.srv.URL + "/nowhere"},
		"unreachable": {"http://127.0.0.1:1/jwks", "cannot fetch the key set from http://127.0.0.1:1/jwks"},
		"no keys":     {p.srv.URL + "/empty", "holds no key"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := parseCLI(t, map[string]string{"K2K_CODEC_JWKS_URL": tc.url, "K2K_CODEC_JWT_ISSUER": issuer, "K2K_CODEC_JWT_AUDIENCE": audience})
			if err != nil {
				t.Fatal(err)
			}
			_, err = newHandler(t.Context(), c, testKeys, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err == nil || !strings.Contains(err.Error(), "K2K_CODEC_JWKS_URL: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("newHandler = %v, want an error naming K2K_CODEC_JWKS_URL", err)
			}
		})
	}
}
