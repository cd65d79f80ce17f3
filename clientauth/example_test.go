package clientauth_test

import (
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tenantauth/tenantauth/clientauth"
)

// The key of RFC 8037 Appendix A, so that the output is fixed.
func exampleKey() ed25519.PrivateKey {
	seed, _ := base64.RawURLEncoding.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	return ed25519.NewKeyFromSeed(seed)
}

func ExampleDPoP_Proof() {
	d, err := clientauth.NewDPoP(exampleKey())
	if err != nil {
		panic(err)
	}
	now := time.Now()
	proof, err := d.Proof("GET", "https://API.example.com:443/v1/items?page=2", "the-access-token", "", now)
	if err != nil {
		panic(err)
	}

	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(proof, ".")[0])
	var h struct {
		Typ, Alg string
		JWK      map[string]string
	}
	_ = json.Unmarshal(header, &h)
	fmt.Println("typ:", h.Typ, "alg:", h.Alg, "jwk kty:", h.JWK["kty"], "has d:", h.JWK["d"] != "")

	// What a resource server does with the request (the stand-in verifier).
	jkt, err := clientauth.VerifyProof(proof, "GET", "https://api.example.com/v1/items?page=3", "the-access-token",
		d.Thumbprint(), "", now, nil)
	fmt.Println("verified:", err == nil, "jkt:", jkt)
	// Output:
	// typ: dpop+jwt alg: EdDSA jwk kty: OKP has d: false
	// verified: true jkt: kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k
}

func ExamplePrivateKeyJWT() {
	key := exampleKey()
	auth := clientauth.PrivateKeyJWT{Key: key, KeyID: "key-2025", Audience: "https://idp.example.com/token"}
	params, err := auth.Params("my-client", time.Now())
	if err != nil {
		panic(err)
	}
	fmt.Println(auth.Method(), params.Get("client_assertion_type"))
	fmt.Println(auth) // the key never shows

	// The token endpoint's side, as a stand-in server checks it.
	err = clientauth.VerifyAssertion(params.Get("client_assertion"), []crypto.PublicKey{key.Public()},
		"https://idp.example.com/token", "my-client", time.Now(), nil)
	fmt.Println("verified:", err == nil)
	// Output:
	// private_key_jwt urn:ietf:params:oauth:client-assertion-type:jwt-bearer
	// clientauth.PrivateKeyJWT{KeyID:"key-2025", Audience:"https://idp.example.com/token", Lifetime:0s, Key:[REDACTED]}
	// verified: true
}

func ExampleUseDPoPNonce() {
	// A resource server's 401 asking for a nonce (RFC 9449 §9).
	h := http.Header{}
	h.Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`)
	h.Set("DPoP-Nonce", "eyJ7S_zG.eyJH0-Z.HX4w-7v")

	if clientauth.UseDPoPNonce(h) {
		nonce, ok := clientauth.NonceFrom(h)
		fmt.Println("retry with nonce", nonce, ok)
	}
	// Output:
	// retry with nonce eyJ7S_zG.eyJH0-Z.HX4w-7v true
}

func ExampleThumbprint() {
	jkt, _ := clientauth.Thumbprint(exampleKey().Public())
	fmt.Println(jkt)
	// Output:
	// kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k
}
