// Package payloadcrypt encrypts Temporal payloads with AES-256-GCM, so workflow histories hold no
// invoice numbers, amounts or company names in plain text. Each encrypted payload names the key
// that sealed it; rotation adds a new key for writing while older keys still read.
package payloadcrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// Metadata keys and the encoding this codec writes.
const (
	MetadataEncoding = converter.MetadataEncoding
	MetadataKeyID    = "encryption-key-id"
	Encoding         = "binary/encrypted"
)

// TestKeys is a fixed, public key ring for tests and for the histories they record (so replay
// tests can read them). Never use it for real data.
const TestKeys = "test-2026-11:" + "dGVzdC1vbmx5LWtleS1ub3QtZm9yLXJlYWwtZGF0YSE="

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Codec is a converter.PayloadCodec over a key ring: Encode seals with the first key, Decode opens
// with whichever key the payload names. Payloads it did not seal pass through unchanged, so
// histories written before encryption was turned on still read.
type Codec struct {
	writeID string
	keys    map[string]cipher.AEAD
}

// ParseKeys reads a key ring from "id:base64key,id:base64key,…" (K2K_PAYLOAD_KEYS). The first
// key encrypts; all of them decrypt. Each key is 32 bytes (AES-256), standard base64.
func ParseKeys(spec string) (*Codec, error) {
	c := &Codec{keys: map[string]cipher.AEAD{}}
	for i, item := range strings.Split(spec, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok || !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("K2K_PAYLOAD_KEYS item %d: want id:base64key with an id of letters, digits, '.', '_' or '-'", i+1)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("K2K_PAYLOAD_KEYS key %q: want 32 bytes in standard base64 (openssl rand -base64 32)", id)
		}
		if _, dup := c.keys[id]; dup {
			return nil, fmt.Errorf("K2K_PAYLOAD_KEYS: key id %q appears twice", id)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, err
		}
		if c.keys[id], err = cipher.NewGCM(block); err != nil {
			return nil, err
		}
		if i == 0 {
			c.writeID = id
		}
	}
	return c, nil
}

// Encode seals each payload (metadata and data) with the writing key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		sealed, err := c.seal(plain, c.writeID)
		if err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{MetadataEncoding: []byte(Encoding), MetadataKeyID: []byte(c.writeID)},
			Data:     sealed,
		}
	}
	return out, nil
}

// seal seals plain with the writing key, aad bound in: the nonce, then the ciphertext.
func (c *Codec) seal(plain []byte, aad string) ([]byte, error) {
	aead := c.keys[c.writeID]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, []byte(aad)), nil
}

// open opens what seal sealed with key id (a key of the ring), aad bound in; what names it in errors.
func (c *Codec) open(data []byte, id, aad, what string) ([]byte, error) {
	aead, ok := c.keys[id]
	if !ok {
		return nil, fmt.Errorf("%s sealed with key %q, which is not in K2K_PAYLOAD_KEYS", what, id)
	}
	if len(data) < aead.NonceSize() {
		return nil, fmt.Errorf("%s is too short", what)
	}
	plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("%s sealed with key %q does not open: %w", what, id, err)
	}
	return plain, nil
}

// Decode opens payloads this codec sealed, with the key each names, and passes others through.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		plain, err := c.open(p.GetData(), id, id, "payload")
		if err != nil {
			return nil, err
		}
		var decoded commonpb.Payload
		if err := proto.Unmarshal(plain, &decoded); err != nil {
			return nil, err
		}
		out[i] = &decoded
	}
	return out, nil
}

// DataConverter is the SDK's default converter with this codec after it.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// sealedPrefix starts a text SealText sealed: "sealed:", the key's ID, ":", and the nonce and
// ciphertext in standard base64.
const sealedPrefix = "sealed:"

// SealText seals a secret to store (a webhook or accounting export signing secret) with the
// writing key; the key's ID is bound in as additional data.
func (c *Codec) SealText(plain string) (string, error) {
	sealed, err := c.seal([]byte(plain), "text:"+c.writeID)
	if err != nil {
		return "", err
	}
	return sealedPrefix + c.writeID + ":" + base64.StdEncoding.EncodeToString(sealed), nil
}

// OpenText opens a text SealText sealed, with the key it names; a text that is not sealed (stored
// before sealing was turned on) comes back as it is.
func (c *Codec) OpenText(stored string) (string, error) {
	rest, sealed := strings.CutPrefix(stored, sealedPrefix)
	if !sealed {
		return stored, nil
	}
	id, b64, _ := strings.Cut(rest, ":")
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", errors.New("stored secret is not a sealed text")
	}
	plain, err := c.open(data, id, "text:"+id, "stored secret")
	return string(plain), err
}
