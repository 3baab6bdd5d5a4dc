package nats

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// ServerOptions configure an embedded JetStream server.
type ServerOptions struct {
	// Listen is host:port; the default is a free port on 127.0.0.1.
	Listen string
	// StoreDir keeps the streams, so that a killed coordinator resumes
	// with what its workers already did.
	StoreDir string
	// Creds is an nkey seed file: only clients that sign with it may
	// connect. A server that listens off this machine requires it.
	Creds string
	// TLS, when set, makes clients connect over TLS.
	TLS *tls.Config
	// Name names the server; Cluster, when set, is the cluster's name,
	// ClusterListen where its routes listen (host:port) and Routes the
	// other nodes' route URLs (nats-route://host:port,...).
	Name, Cluster, ClusterListen, Routes string
}

// Server is an embedded JetStream server.
type Server struct {
	s *server.Server
}

// StartServer starts an embedded JetStream server and waits until it
// takes connections.
func StartServer(o ServerOptions) (*Server, error) {
	host, port := "127.0.0.1", -1
	if o.Listen != "" {
		h, p, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("--listen %s: %w", o.Listen, err)
		}
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("--listen %s: the port is not a number", o.Listen)
		}
		host = h
	}
	if !loopback(host) && o.Creds == "" {
		return nil, fmt.Errorf("listening on %s lets other machines in, so it needs --creds: no anonymous remote access", o.Listen)
	}
	opts := &server.Options{Host: host, Port: port, JetStream: true, StoreDir: o.StoreDir, NoSigs: true, NoLog: true, TLSConfig: o.TLS}
	if o.TLS != nil {
		opts.TLS, opts.TLSTimeout = true, 2
	}
	opts.ServerName = o.Name
	if o.Cluster != "" {
		h, p, err := net.SplitHostPort(o.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("cluster listen %s: %w", o.ClusterListen, err)
		}
		cport, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("cluster listen %s: the port is not a number", o.ClusterListen)
		}
		opts.Cluster = server.ClusterOpts{Name: o.Cluster, Host: h, Port: cport}
		opts.Routes = server.RoutesFromStr(o.Routes)
	}
	if o.Creds != "" {
		pub, err := publicKey(o.Creds)
		if err != nil {
			return nil, err
		}
		opts.Nkeys = []*server.NkeyUser{{Nkey: pub}}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("starting the NATS server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("the NATS server did not start within 10s")
	}
	return &Server{s: s}, nil
}

// URL is where clients connect.
func (s *Server) URL() string { return s.s.ClientURL() }

// Shutdown stops the server and waits for it.
func (s *Server) Shutdown() {
	s.s.Shutdown()
	s.s.WaitForShutdown()
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// publicKey reads an nkey seed file and returns its user's public key.
func publicKey(file string) (string, error) {
	seed, err := readSeed(file)
	if err != nil {
		return "", err
	}
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	defer kp.Wipe()
	return kp.PublicKey()
}

func readSeed(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "SU") {
			return []byte(line), nil
		}
	}
	return nil, fmt.Errorf("%s holds no user nkey seed (a line starting SU); make one with zpipe creds", file)
}

// NewCreds makes a new user nkey seed, to write to a creds file.
func NewCreds() ([]byte, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	defer kp.Wipe()
	seed, err := kp.Seed()
	// Wipe clears the key's own bytes, which Seed may share.
	return append([]byte(nil), seed...), err
}

// ConnOptions say how to reach a server.
type ConnOptions struct {
	// Creds is an nkey seed file or a NATS .creds file (a user JWT and
	// seed).
	Creds string
	// RootCA, when set, is the PEM file of the CA that signed the
	// server's TLS certificate.
	RootCA string
	// Name tells the server who connects.
	Name string
	// Wait keeps trying to reach a server that is not up yet, as a
	// worker started before its coordinator must.
	Wait bool
}

// Connect connects to the servers in url (comma-separated) and keeps
// reconnecting, so that a restarted or re-elected node does not end a run.
func Connect(url string, o ConnOptions) (*natsgo.Conn, error) {
	opts := []natsgo.Option{natsgo.Name(o.Name), natsgo.MaxReconnects(-1), natsgo.ReconnectWait(250 * time.Millisecond), natsgo.RetryOnFailedConnect(o.Wait)}
	if o.Creds != "" {
		b, err := os.ReadFile(o.Creds)
		if err != nil {
			return nil, err
		}
		if strings.Contains(string(b), "BEGIN NATS USER JWT") {
			opts = append(opts, natsgo.UserCredentials(o.Creds))
		} else {
			opt, err := natsgo.NkeyOptionFromSeed(o.Creds)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", o.Creds, err)
			}
			opts = append(opts, opt)
		}
	}
	if o.RootCA != "" {
		opts = append(opts, natsgo.RootCAs(o.RootCA))
	}
	nc, err := natsgo.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", url, err)
	}
	return nc, nil
}
