// Package sign is an example card application: a network HSM. POST /sign
// with the PIN as the HTTP Basic password and a SHA-256 digest as the body
// (32 raw bytes, or 64 hex digits) returns the card key's signature over
// it: ECDSA P-256 (ASN.1 DER, as openssl dgst -verify reads it) or, on a
// card holding an RSA key, RSA-PSS with SHA-256 and a salt as long as the
// hash (RFC 8017 §8.1). A wrong PIN counts down the tries like the vault.
package sign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/hex"

	"netcard/applet"
	"netcard/http"
)

// App is the signing application.
type App struct{}

// Manifest declares it: no records, the key only with this request's PIN.
var Manifest = applet.Manifest{Name: "sign", Policy: applet.SignWithPIN, RAM: 0}

// Routes implements applet.App.
func (App) Routes() []applet.Route { return []applet.Route{{Path: "/sign"}} }

// Head checks the method and the PIN before the body is read.
func (App) Head(c *applet.Ctx, r *http.Request) applet.Answer {
	if string(r.Method) != "POST" || string(r.Path) != "/sign" {
		return applet.Answer{Status: 405, Msg: "POST /sign only\n", Extra: "Allow: POST\r\n"}
	}
	return c.CheckPIN(r)
}

// Serve signs the digest.
func (App) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {
	var d [32]byte
	switch b := r.Body; {
	case len(b) == 32:
		copy(d[:], b)
	case len(b) == 64 || len(b) == 65 && b[64] == '\n':
		if _, err := hex.Decode(d[:], b[:64]); err != nil {
			applet.Text(w, 400, "body: a SHA-256 digest, 32 bytes or 64 hex digits\n")
			return
		}
	default:
		applet.Text(w, 400, "body: a SHA-256 digest, 32 bytes or 64 hex digits\n")
		return
	}
	var opts crypto.SignerOpts = crypto.SHA256
	switch c.Public().(type) {
	case *ecdsa.PublicKey:
	case *rsa.PublicKey:
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	default:
		applet.Text(w, 503, "the card holds no key\n")
		return
	}
	sig, err := c.Sign(d[:], opts)
	if err != nil {
		applet.Text(w, 403, err.Error()+"\n")
		return
	}
	w.Header.Status = 200
	w.Header.ContentType = "application/octet-stream"
	w.Header.CacheControl = "no-store"
	w.Write(sig)
}
