// Package codecauth decides who may use the codec server: operators' CLIs send a static bearer
// token (K2K_CODEC_AUTH_TOKEN), people signed in to the Temporal UI send the JWT their identity
// provider issued them, which the UI forwards when its codec "pass access token" is on. A JWT is
// verified against the provider's published keys (JWKS), its issuer and its audience.
package codecauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Config is the codec server's authentication, read from the environment. With neither the token
// nor the JWKS URL set, every caller who reaches the codec server may decode (development only).
type Config struct {
	StaticToken string   `name:"auth-token" env:"K2K_CODEC_AUTH_TOKEN" help:"Bearer token the CLI and scripts send; empty: no static token is accepted."`
	JWKSURL     string   `name:"jwks-url" env:"K2K_CODEC_JWKS_URL" help:"URL of the identity provider's JSON Web Key Set: bearer JWTs signed by its keys are accepted (the Temporal UI's pass-access-token). Needs K2K_CODEC_JWT_ISSUER and K2K_CODEC_JWT_AUDIENCE."`
	Issuer      string   `name:"jwt-issuer" env:"K2K_CODEC_JWT_ISSUER" help:"The iss a JWT must carry (the identity provider's issuer URL)."`
	Audience    []string `name:"jwt-audience" env:"K2K_CODEC_JWT_AUDIENCE" help:"Audiences a JWT's aud must name one of (comma-separated)."`
}

// Environment variable names, for configuration errors.
const (
	envToken    = "K2K_CODEC_AUTH_TOKEN"
	envJWKS     = "K2K_CODEC_JWKS_URL"
	envIssuer   = "K2K_CODEC_JWT_ISSUER"
	envAudience = "K2K_CODEC_JWT_AUDIENCE"
)

// StaticTokenPrincipal is who a caller with the static token is, in the access log.
const StaticTokenPrincipal = "static-token"

// Validate checks the configuration without reaching the network; an error names the variable.
func (c Config) Validate() error {
	var errs []error
	if c.StaticToken != strings.TrimSpace(c.StaticToken) || strings.ContainsAny(c.StaticToken, " \t\r\n") {
		errs = append(errs, fmt.Errorf("%s must not contain spaces", envToken))
	}
	jwtSet := c.JWKSURL != "" || c.Issuer != "" || len(c.Audience) > 0
	if !jwtSet {
		return errors.Join(errs...)
	}
	if c.JWKSURL == "" {
		errs = append(errs, fmt.Errorf("%s is required when %s or %s is set", envJWKS, envIssuer, envAudience))
	} else if err := checkJWKSURL(c.JWKSURL); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", envJWKS, err))
	}
	if strings.TrimSpace(c.Issuer) == "" {
		errs = append(errs, fmt.Errorf("%s is required with %s: the iss every accepted JWT carries", envIssuer, envJWKS))
	}
	if len(c.Audience) == 0 {
		errs = append(errs, fmt.Errorf("%s is required with %s: the aud a JWT must name, so tokens issued for other applications are refused", envAudience, envJWKS))
	}
	for _, a := range c.Audience {
		if strings.TrimSpace(a) == "" {
			errs = append(errs, fmt.Errorf("%s has an empty entry", envAudience))
		}
	}
	return errors.Join(errs...)
}

// checkJWKSURL accepts an absolute https URL, or http to the loopback interface (development and
// tests): keys fetched over plain HTTP from elsewhere could be replaced on the way.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL (want https://idp.example/.../jwks)", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return fmt.Errorf("%q uses http: the key set must come over https (http only to localhost)", raw)
	default:
		return fmt.Errorf("%q: scheme %q, want https", raw, u.Scheme)
	}
}

// algorithms are the JWT signing algorithms accepted: public-key signatures only, never "none" or
// an HMAC (whose secret would be the public key).
var algorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Authenticator checks the bearer credential of a request. Make it with New.
type Authenticator struct {
	static []byte
	keys   keyfunc.Keyfunc // nil: JWTs are not accepted
	parser *jwt.Parser
	issuer string
}

// Fetching the key set.
const (
	fetchTimeout = 10 * time.Second
	// Keys are fetched again this often, and when a token names a key id the set lacks (at most
	// once a minute), so a key the provider rotates in is picked up.
	refreshInterval  = time.Hour
	unknownKIDPeriod = time.Minute
)

// New validates c and, with a JWKS URL, fetches the key set once, so a wrong URL fails at start;
// the keys are refreshed in the background until ctx ends. client fetches the keys (nil: one with a
// timeout). log receives refresh failures.
func New(ctx context.Context, c Config, client *http.Client, log *slog.Logger) (*Authenticator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	a := &Authenticator{static: []byte(c.StaticToken), issuer: c.Issuer}
	if c.JWKSURL == "" {
		return a, nil
	}
	if client == nil {
		client = &http.Client{Timeout: fetchTimeout}
	}
	no := false
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{c.JWKSURL}, keyfunc.Override{
		Client:                    client,
		HTTPTimeout:               fetchTimeout,
		NoErrorReturnFirstHTTPReq: &no,
		RateLimitWaitMax:          fetchTimeout,
		RefreshInterval:           refreshInterval,
		RefreshUnknownKID:         rate.NewLimiter(rate.Every(unknownKIDPeriod), 1),
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				log.WarnContext(ctx, "codec auth: cannot refresh the JWT key set", "url", u, "error", err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: cannot fetch the key set from %s: %w", envJWKS, c.JWKSURL, err)
	}
	keys, err := kf.Storage().KeyReadAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: reading the key set from %s: %w", envJWKS, c.JWKSURL, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: the key set at %s holds no key this server can verify with", envJWKS, c.JWKSURL)
	}
	// Only keys published for signatures (or with no "use") verify tokens.
	a.keys, err = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: kf.Storage(), UseWhitelist: []jwkset.USE{jwkset.UseSig, ""}})
	if err != nil {
		return nil, err
	}
	a.parser = jwt.NewParser(jwt.WithValidMethods(algorithms), jwt.WithIssuer(c.Issuer), jwt.WithAudience(c.Audience...),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(30*time.Second))
	return a, nil
}

// Enabled reports whether requests are checked at all.
func (a *Authenticator) Enabled() bool { return a != nil && (len(a.static) > 0 || a.keys != nil) }

// Error is why a request is refused; its message is fit for the caller.
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

func refuse(format string, args ...any) error { return &Error{Reason: fmt.Sprintf(format, args...)} }

// Authenticate returns who sent r: the subject of its JWT, or StaticTokenPrincipal. An error is an
// *Error saying why the credential is refused.
func (a *Authenticator) Authenticate(r *http.Request) (string, error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return "", refuse("send Authorization: Bearer <token>: the Temporal UI's access token (codec pass-access-token) or the codec server's token")
	}
	scheme, credential, _ := strings.Cut(header, " ")
	credential = strings.TrimSpace(credential)
	if !strings.EqualFold(scheme, "Bearer") || credential == "" {
		return "", refuse("the Authorization header is not a bearer token")
	}
	if len(a.static) > 0 && subtle.ConstantTimeCompare([]byte(credential), a.static) == 1 {
		return StaticTokenPrincipal, nil
	}
	if a.keys == nil {
		return "", refuse("the bearer token is not the codec server's token")
	}
	return a.verifyJWT(r.Context(), credential)
}

// verifyJWT checks the token's signature against the key set, its algorithm, issuer, audience and
// times, and returns its subject.
func (a *Authenticator) verifyJWT(ctx context.Context, raw string) (string, error) {
	var claims jwt.RegisteredClaims
	token, err := a.parser.ParseWithClaims(raw, &claims, a.keys.KeyfuncCtx(ctx))
	if err != nil {
		return "", a.explain(ctx, token, err)
	}
	if claims.Subject == "" {
		return "", refuse("the token has no subject (sub), so the decode could not be attributed")
	}
	return claims.Subject, nil
}

// explain turns a JWT validation failure into the reason the caller is told.
func (a *Authenticator) explain(ctx context.Context, token *jwt.Token, err error) error {
	alg := ""
	kid := ""
	if token != nil {
		alg, _ = token.Header["alg"].(string)
		kid, _ = token.Header["kid"].(string)
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse("the bearer token is neither the codec server's token nor a well-formed JWT")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && !slices.Contains(algorithms, alg):
		return refuse("the token's signing algorithm %q is not accepted (want one of %s)", alg, strings.Join(algorithms, ", "))
	case errors.Is(err, jwkset.ErrKeyNotFound), kid != "" && errors.Is(err, jwt.ErrTokenUnverifiable) && !a.holds(ctx, kid):
		// Not found, or not looked for again yet (the set is fetched anew at most once a minute).
		return refuse("the token is signed with key %q, which the issuer's key set does not hold", kid)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse("the token's signature does not verify with the issuer's keys")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return refuse("the token cannot be verified with the issuer's keys: %v", err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse("the token has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return refuse("the token is not valid yet")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return refuse("the token's issuer is not %s", a.issuer)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return refuse("the token's audience is not this codec server's")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return refuse("the token lacks a required claim: %v", err)
	}
	return refuse("the token is not valid: %v", err)
}

// holds reports whether the key set, as last fetched, has a key with this id.
func (a *Authenticator) holds(ctx context.Context, kid string) bool {
	keys, err := a.keys.Storage().KeyReadAll(ctx)
	if err != nil {
		return true // unknown: let the caller see the verification error itself
	}
	return slices.ContainsFunc(keys, func(k jwkset.JWK) bool { return k.Marshal().KID == kid })
}
