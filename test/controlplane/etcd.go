package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// etcdServer is the embedded etcd the apiserver stores everything in.
type etcdServer struct {
	e         *embed.Etcd
	clientURL string
}

// startEtcd starts a single-member etcd on loopback. Test data is disposable, so fsync
// is off: it is the dominant cost of every write on a slow disk.
func startEtcd(ctx context.Context, dataDir, logFile string, clientPort, peerPort int) (*etcdServer, error) {
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", clientPort)}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", peerPort)}

	cfg := embed.NewConfig()
	cfg.Name = "kube-testenv"
	cfg.Dir = dataDir
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.UnsafeNoFsync = true
	cfg.Logger = "zap"
	// At "warn", etcd logs every slow request, which on a busy 2-core test machine is most.
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{logFile}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return &etcdServer{e: e, clientURL: clientURL.String()}, nil
	case err := <-e.Err():
		e.Close()
		return nil, err
	case <-ctx.Done():
		e.Close()
		return nil, errors.New("interrupted while starting etcd")
	case <-time.After(time.Minute):
		e.Close()
		return nil, errors.New("etcd not ready after 1m")
	}
}

func (s *etcdServer) errs() <-chan error { return s.e.Err() }

func (s *etcdServer) close() { s.e.Close() }
