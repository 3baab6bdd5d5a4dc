package nats

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned makes a CA and a certificate it signs for 127.0.0.1, and
// writes the CA's PEM to a file, as a user would hand it to workers.
func selfSigned(t *testing.T) (*tls.Config, string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zpipe test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "coordinator"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, caFile
}

// An embedded server with TLS and a key admits only clients that trust
// its CA and sign with the key; the others get a clear refusal.
func TestTheServerAdmitsOnlyKeyedTLSClients(t *testing.T) {
	cfg, caFile := selfSigned(t)
	creds := filepath.Join(t.TempDir(), "run.creds")
	seed, err := NewCreds()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(creds, seed, 0o600)
	other := filepath.Join(t.TempDir(), "other.creds")
	seed, _ = NewCreds()
	os.WriteFile(other, seed, 0o600)

	srv, err := StartServer(ServerOptions{StoreDir: t.TempDir(), TLS: cfg, Creds: creds})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	// A nats:// URL, as workers are given: the server's word that it
	// requires TLS upgrades the connection.
	url := srv.URL()

	for _, tc := range []struct {
		name string
		o    ConnOptions
		want string // in the error; "" means it connects
	}{
		{"key and CA", ConnOptions{Creds: creds, RootCA: caFile}, ""},
		{"no CA", ConnOptions{Creds: creds}, "certificate signed by unknown authority"},
		{"no key", ConnOptions{RootCA: caFile}, "Authorization Violation"},
		{"another key", ConnOptions{Creds: other, RootCA: caFile}, "Authorization Violation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := Connect(url, tc.o)
			if nc != nil {
				defer nc.Close()
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
