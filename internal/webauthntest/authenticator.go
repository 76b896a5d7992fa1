package webauthntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// Authenticator holds passkeys (discoverable credentials) and answers
// ceremonies as the browser at Origin would. Change its fields between
// ceremonies to misbehave. Not safe for concurrent use.
type Authenticator struct {
	// Origin is the page's origin written into clientDataJSON.
	Origin string
	// RPID, when set, is hashed into authenticator data instead of the
	// RP ID the options name (a phishing site's authenticator data).
	RPID string
	// NoUserVerification clears the UV flag.
	NoUserVerification bool
	// Type overrides clientDataJSON's type (default webauthn.create or
	// webauthn.get).
	Type string

	creds []*Credential
}

// Credential is one passkey the authenticator holds.
type Credential struct {
	ID         []byte
	RPID       string
	UserHandle []byte
	Key        *ecdsa.PrivateKey
	// SignCount is the counter the next assertion increments and sends.
	SignCount uint32
}

// New returns an authenticator acting for pages at origin.
func New(origin string) *Authenticator { return &Authenticator{Origin: origin} }

// Credentials are the passkeys held, oldest first.
func (a *Authenticator) Credentials() []*Credential { return a.creds }

var enc = base64.RawURLEncoding

// decodeB64 reads base64url with or without padding.
func decodeB64(s string) ([]byte, error) {
	if b, err := enc.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.URLEncoding.DecodeString(s)
}

type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

type requestOptions struct {
	PublicKey struct {
		Challenge        string `json:"challenge"`
		RPID             string `json:"rpId"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

// flags of authenticator data
const (
	flagUP = 0x01
	flagUV = 0x04
	flagAT = 0x40
)

func (a *Authenticator) clientData(typ, challenge string) []byte {
	if a.Type != "" {
		typ = a.Type
	}
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}

func (a *Authenticator) authData(rpID string, flags byte, count uint32) []byte {
	if a.RPID != "" {
		rpID = a.RPID
	}
	h := sha256.Sum256([]byte(rpID))
	if !a.NoUserVerification {
		flags |= flagUV
	}
	out := append(h[:], flags|flagUP)
	return binary.BigEndian.AppendUint32(out, count)
}

// Create answers creation options (navigator.credentials.create's JSON)
// with a new passkey and returns the response JSON.
func (a *Authenticator) Create(options []byte) ([]byte, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("creation options: %w", err)
	}
	user, err := decodeB64(o.PublicKey.User.ID)
	if err != nil || o.PublicKey.RP.ID == "" || o.PublicKey.Challenge == "" {
		return nil, errors.New("creation options: rp.id, user.id and challenge are required")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	c := &Credential{ID: make([]byte, 16), RPID: o.PublicKey.RP.ID, UserHandle: user, Key: key}
	rand.Read(c.ID)
	ecdh, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	raw := ecdh.Bytes() // 0x04 | X | Y
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, XCoord: raw[1:33], YCoord: raw[33:],
	})
	if err != nil {
		return nil, err
	}
	ad := a.authData(c.RPID, flagAT, c.SignCount)
	ad = append(ad, make([]byte, 16)...) // AAGUID: none
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(c.ID)))
	ad = append(append(ad, c.ID...), cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		return nil, err
	}
	a.creds = append(a.creds, c)
	return json.Marshal(map[string]any{
		"id": enc.EncodeToString(c.ID), "rawId": enc.EncodeToString(c.ID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    enc.EncodeToString(a.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": enc.EncodeToString(att),
			"transports":        []string{"internal"},
		},
		"clientExtensionResults": map[string]any{},
	})
}

// Get answers request options (navigator.credentials.get's JSON) with an
// assertion by the newest passkey for the RP ID (among those allowed, if
// the options list any) and returns the response JSON.
func (a *Authenticator) Get(options []byte) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("request options: %w", err)
	}
	var c *Credential
	for i := len(a.creds) - 1; i >= 0 && c == nil; i-- {
		cand := a.creds[i]
		if cand.RPID != o.PublicKey.RPID {
			continue
		}
		if len(o.PublicKey.AllowCredentials) == 0 {
			c = cand
		}
		for _, allowed := range o.PublicKey.AllowCredentials {
			if id, _ := decodeB64(allowed.ID); string(id) == string(cand.ID) {
				c = cand
			}
		}
	}
	if c == nil {
		return nil, fmt.Errorf("no passkey for %q", o.PublicKey.RPID)
	}
	return a.Assert(c, o.PublicKey.Challenge)
}

// Assert signs challenge (base64url, as the options carry it) with c,
// counting one more signature.
func (a *Authenticator) Assert(c *Credential, challenge string) ([]byte, error) {
	c.SignCount++
	ad := a.authData(c.RPID, 0, c.SignCount)
	cd := a.clientData("webauthn.get", challenge)
	h := sha256.Sum256(cd)
	sig, err := ecdsa.SignASN1(rand.Reader, c.Key, sha256Sum(append(append([]byte(nil), ad...), h[:]...)))
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": enc.EncodeToString(c.ID), "rawId": enc.EncodeToString(c.ID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    enc.EncodeToString(cd),
			"authenticatorData": enc.EncodeToString(ad),
			"signature":         enc.EncodeToString(sig),
			"userHandle":        enc.EncodeToString(c.UserHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
}

func sha256Sum(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}
